"""Big files through the speed harness: a 50,000-row lesson log is read whole, a 5,000-row one imported.

These check that the harness behind `scripts/bench.py import` runs and counts right; they assert no
timings (the project measures speed in benchmarks, never in unit tests — the ratios are printed).
"""

from __future__ import annotations

import legacy_fixtures as lf
from xl_ledger.migrate.bench import time_read


def test_a_50k_row_log_is_read_whole(tmp_path):
    path = lf.log_xlsx(tmp_path / "big_log.xlsx", rows=50_000)
    result = time_read(path, repeat=2)
    print(f"\n50k-row log: fastexcel {result['fastexcel']:.3f}s, reader {result['reader']:.3f}s, ratio {result['ratio']:.2f}x")
    assert result["records"] == 50_000


def test_the_import_harness_imports_5k_lessons(tmp_path):
    """The whole import (scripts/bench.py import) at 5,000 rows: every lesson becomes a session."""
    from xl_ledger.template import template_path
    from xl_ledger.migrate.bench import time_import

    path = lf.log_xlsx(tmp_path / "log_5k.xlsx", rows=5_000)
    r = time_import(path, template_path(), repeat=1)
    print(f"\n5k-row import: fastexcel {r['fastexcel']:.3f}s, dry run {r['dry_run']:.3f}s ({r['dry_run_ratio']:.1f}x), "
          f"import {r['import']:.3f}s ({r['import_ratio']:.1f}x), floor {r['floor']:.3f}s ({r['floor_ratio']:.1f}x); "
          f"phases {r['import_phases']}")
    assert (r["sessions"], r["log_rows"]) == (5_000, 5_040)
