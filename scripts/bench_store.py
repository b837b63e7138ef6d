"""Measure the file store against the floor: fastexcel's raw read of the Log sheet.

    python scripts/bench_store.py 10000 100000 [1000000]

For each size N it builds a workbook whose Log has N rows (in the store's appendable layout, as a
Post leaves it), then times, each in a fresh process (so caches and allocator state do not carry
over): the raw read (fastexcel load_sheet("Log") → Arrow), FileStore.read_log(), FileStore.head(),
and a commit of 100 rows plus an engine sheet; and prints the ratios to the raw read and peak memory.
scripts/bench.py can import `build(path, n)` and `measure(path, what)`.
"""

from __future__ import annotations

import gc
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))


def build(path: Path, n: int) -> Path:
    """A workbook with an n-row Log (sealed, realistic texts), committed through the FileStore."""
    from test_store_support import build_workbook
    from test_store_support import log_rows

    from xl_ledger.book.filestore import FileStore
    from xl_ledger.book.store import Change
    from xl_ledger.core.chain import GENESIS

    build_workbook(path)
    store = FileStore(path)
    seq, prev = 0, GENESIS
    step = 200_000  # bounded memory while building big logs
    while seq < n:
        rows = log_rows(min(step, n - seq), seq + 1, prev)
        store.commit(Change(seq, prev, tuple(rows)))
        seq, prev = rows[-1][0], rows[-1][15]
    return path


def measure(path: Path, what: str) -> dict:
    """Time one operation in this process. what: raw | read_log | head | commit100."""
    gc.collect()
    t = time.perf_counter()
    if what == "raw":
        import fastexcel

        fastexcel.read_excel(str(path)).load_sheet("Log").to_arrow()
    elif what == "read_log":
        from xl_ledger.book.filestore import FileStore

        FileStore(path).read_log()
    elif what == "head":
        from xl_ledger.book.filestore import FileStore

        FileStore(path).head()
    elif what == "commit100":
        import datetime as dt

        from test_store_support import log_rows

        from xl_ledger.book.filestore import FileStore
        from xl_ledger.book.store import Change

        store = FileStore(path)
        t = time.perf_counter()  # the Post has already read the log; time head check + write
        seq, last = store.head()
        rows = log_rows(100, seq + 1, last)
        packages = [[f"PK{i}", "ST1", "P10", "lessons", 10, 2, 0, 8, 80.5, dt.date(2026, 4, 1), "active"]
                    for i in range(500)]
        store.commit(Change(seq, last, tuple(rows), {"Packages": packages}))
    else:
        raise SystemExit(f"unknown measurement {what}")
    seconds = time.perf_counter() - t
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": seconds, "peak_mb": peak_mb}


def _fresh(path: Path, what: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--measure", str(path), what], check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout)


def main(argv: list[str]) -> None:
    if argv[:1] == ["--measure"]:
        print(json.dumps(measure(Path(argv[1]), argv[2])))
        return
    sizes = [int(a) for a in argv] or [10_000, 100_000]
    print(f"{'rows':>9} {'raw s':>7} {'read_log':>15} {'head':>13} {'commit 100':>15} {'file MB':>8} {'peak MB':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            path = build(Path(tmp) / f"log{n}.xlsx", n)
            runs = {w: min((_fresh(path, w) for _ in range(3 if n <= 100_000 else 1)),
                         key=lambda r: r["seconds"]) for w in ("raw", "read_log", "head", "commit100")}
            raw = runs["raw"]["seconds"]
            cell = lambda w: f"{runs[w]['seconds']:.3f} ({runs[w]['seconds'] / raw:.2f}x)"  # noqa: E731
            peak = max(r["peak_mb"] for r in runs.values())
            print(f"{n:>9} {raw:>7.3f} {cell('read_log'):>15} {cell('head'):>13} {cell('commit100'):>15} "
                  f"{path.stat().st_size / 1e6:>8.1f} {peak:>8.0f}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
