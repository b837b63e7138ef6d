"""Read speed of the legacy reader against fastexcel's raw read of the same file.

The whole import (phase 1 + 2) is budgeted at 3x fastexcel's read time; the reader's share should
stay within about 1-2x. `scripts/` and tests call `time_read(path)`; `python -m
xl_ledger.migrate.bench FILE` prints the figures.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import fastexcel

from xl_ledger.migrate.extract import read_with_mapping
from xl_ledger.migrate.layouts import detect_mapping
from xl_ledger.migrate.sources import open_legacy


def _best(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def time_read(path: str | Path, repeat: int = 3) -> dict[str, float]:
    """Best-of-`repeat` seconds: fastexcel loading every sheet vs our open + detect + read (no writes).

    Returns {"fastexcel": s, "reader": s, "ratio": reader / fastexcel, "records": n}.
    """
    path = Path(path)

    def raw() -> None:
        reader = fastexcel.read_excel(str(path))
        for name in reader.sheet_names:
            reader.load_sheet(name, header_row=None).to_arrow()

    records = 0

    def ours() -> None:
        nonlocal records
        source = open_legacy(path)
        result = read_with_mapping(source, detect_mapping(source))
        records = len(result.lessons) + len(result.purchases) + len(result.balance_lines)

    t_raw = _best(raw, repeat)
    t_ours = _best(ours, repeat)
    return {"fastexcel": t_raw, "reader": t_ours, "ratio": t_ours / t_raw, "records": records}


if __name__ == "__main__":  # pragma: no cover
    for arg in sys.argv[1:]:
        r = time_read(arg)
        print(f"{arg}: fastexcel {r['fastexcel']:.3f}s, reader {r['reader']:.3f}s ({r['ratio']:.2f}x), {r['records']} records")
