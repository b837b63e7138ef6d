"""Speed harness: a 50,000-row lesson log read by our reader vs fastexcel's raw read of the same file.

The budget for the whole import (phase 1 + 2) is 3x fastexcel; the reader should sit near 1-2x.
Timing on shared CI machines is noisy, so the assertion here only guards against gross regressions
(something quadratic); `python -m xl_ledger.migrate.bench FILE` prints the real ratio.
"""

from __future__ import annotations

import legacy_fixtures as lf
from xl_ledger.migrate.bench import time_read


def test_50k_row_log_read_speed(tmp_path):
    path = lf.log_xlsx(tmp_path / "big_log.xlsx", rows=50_000)
    result = time_read(path, repeat=2)
    print(f"\n50k-row log: fastexcel {result['fastexcel']:.3f}s, reader {result['reader']:.3f}s, ratio {result['ratio']:.2f}x")
    assert result["records"] == 50_000
    assert result["ratio"] < 8, result


def test_import_speed_harness(tmp_path):
    """The whole import (scripts/bench.py import) at 5,000 rows: runs, and nothing grows quadratically
    (the bound is loose on purpose; the measured ratios are in the bench output and the report)."""
    from xl_ledger.book.template import template_path
    from xl_ledger.migrate.bench import time_import

    path = lf.log_xlsx(tmp_path / "log_5k.xlsx", rows=5_000)
    r = time_import(path, template_path(), repeat=1)
    print(f"\n5k-row import: fastexcel {r['fastexcel']:.3f}s, dry run {r['dry_run']:.3f}s ({r['dry_run_ratio']:.1f}x), "
          f"import {r['import']:.3f}s ({r['import_ratio']:.1f}x); phases {r['import_phases']}")
    assert (r["sessions"], r["log_rows"]) == (5_000, 5_040)
    assert r["import"] < 30
