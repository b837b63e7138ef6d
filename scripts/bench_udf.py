"""Measure the worksheet functions against their targets on xlwings' own in-memory book.

    python scripts/bench_udf.py 100000        (or: python scripts/bench.py udf 100000)

Builds a workbook whose Log holds N sealed rows of a synthetic studio (bench.synthetic_studio), opens
it as xlwings' in-memory book (the remote interpreter; PRO code, used here under its noncommercial
key like the tests — the product never imports it), and times, in this process:
  raw read   the Log's block read through xlwings: Range.value (what xlwings code normally does) and
             Range.raw_value (no value conversion: the floor)
  cold       LEDGER_BALANCE with an empty cache: read (raw_value) + decode + fold, then the answer
  warm       median of LEDGER_BALANCE over 1,000 calls for different students, cache filled
  sheet      500 LEDGER_BALANCE calls for 500 students starting from an empty cache (a recalculation)
Raw reads, cold calls and the 500-call sheet are medians of REPEAT runs.
Targets: warm <= 1 ms; cold <= 1.5 x raw read (Range.value); sheet <= 1.2 x cold. The ratio to
Range.raw_value is printed too: decoding and folding 100k rows in the core cost several raw reads.
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))
os.environ.setdefault("XLWINGS_LICENSE_KEY", "noncommercial")  # the in-memory book only; see above
REPEAT = 5  # raw reads, cold calls and 500-call sheets are each the median of this many runs


def build_book(n: int):
    import xlwings as xw

    from bench import synthetic_studio
    from xl_ledger.book.livestore import HEAD_NAME
    from xl_ledger.core import chain
    from xl_ledger.core.journal import entry_to_row

    entries = synthetic_studio(n)
    rows = chain.seal([entry_to_row(e) for e in entries], chain.GENESIS)
    values = [list(chain.LOG_COLUMNS)] + [list(r) for r in rows]
    students = sorted({e.event.student_id for e in entries if e.event.kind == "student_set"},
                      key=lambda s: int(s[1:]))
    data = {"version": xw.__version__, "client": "VBA",
            "book": {"name": "studio.xlsm", "active_sheet_index": 0, "selection": "A1"},
            "sheets": [{"name": "Balances", "values": [["student_id"]] + [[s] for s in students], "pictures": [],
                        "tables": [], "used_range_address": f"A1:A{len(students) + 1}"},
                       {"name": "Log", "values": values, "pictures": [], "tables": [],
                        "used_range_address": f"A1:Q{len(values)}"}],
            "names": [{"name": HEAD_NAME, "refers_to": f'="{rows[-1][0]} {rows[-1][15]}"', "book_scope": True,
                       "scope_sheet_index": None, "scope_sheet_name": None, "sheet_index": None, "address": None}]}
    return xw.Book(json=data), students, max(e.event.effective_date for e in entries)


def _median(fn, runs: int = REPEAT) -> float:
    """Median seconds of `runs` calls (the in-memory book's reads vary by ~2x from run to run)."""
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def measure(n: int) -> dict:
    from xl_ledger.excel import cache
    from xl_ledger.excel import udfs

    book, students, as_of = build_book(n)
    log = book.sheets["Log"]
    last = log.used_range.last_cell
    block = log.range((1, 1), (last.row, last.column))
    read_value = _median(lambda: block.value)
    read_raw = _median(lambda: block.raw_value)
    caller = book.sheets["Balances"]["B2"]

    def cold_call():
        cache.clear()
        udfs.LEDGER_BALANCE(students[0], None, as_of, caller=caller)

    cold = _median(cold_call)

    warm = []
    for i in range(1000):
        t = time.perf_counter()
        udfs.LEDGER_BALANCE(students[i % len(students)], None, as_of, caller=caller)
        warm.append(time.perf_counter() - t)

    def sheet_of_500():
        cache.clear()
        for i in range(500):
            udfs.LEDGER_BALANCE(students[i % len(students)], None, as_of, caller=caller)

    sheet = _median(sheet_of_500)
    return {"rows": n, "students": len(students), "read_value_s": read_value, "read_raw_s": read_raw,
            "cold_s": cold, "warm_median_ms": statistics.median(warm) * 1000, "sheet500_s": sheet}


def report(r: dict) -> None:
    print(f"worksheet functions on a {r['rows']:,}-row Log ({r['students']} students), xlwings in-memory book")
    print(f"  raw read   Range.value {r['read_value_s']:.3f} s   Range.raw_value {r['read_raw_s']:.3f} s")
    print(f"  cold call  {r['cold_s']:.3f} s  = {r['cold_s'] / r['read_value_s']:.2f} x Range.value read, "
          f"{r['cold_s'] / r['read_raw_s']:.2f} x raw_value read   (target <= 1.5 x)")
    print(f"  warm call  median {r['warm_median_ms']:.3f} ms   (target <= 1 ms)")
    print(f"  500 calls  {r['sheet500_s']:.3f} s = {r['sheet500_s'] / r['cold_s']:.2f} x one cold call   "
          "(target <= 1.2 x)")


def main(argv: list[str]) -> None:
    for n in [int(x) for x in argv] or [100_000]:
        report(measure(n))


if __name__ == "__main__":
    main(sys.argv[1:])
