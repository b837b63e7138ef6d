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


def time_import(path: str | Path, template: str | Path, repeat: int = 2) -> dict[str, float]:
    """Best-of-`repeat` seconds for the whole import of `path` into a fresh copy of `template`:
    fastexcel's raw read of the legacy file, the dry run (read + plan + events + fold + report, no
    write) and the real import (the same plus the one commit of Log, engine sheets and input rows).
    Detection runs each time (no saved mapping is reused), as on a first import. Also the floor:
    fastexcel's read plus `time_floor` of the Log rows the import wrote.
    """
    import datetime as dt
    import shutil
    import tempfile

    from xl_ledger.book.filestore import FileStore
    from xl_ledger.migrate.importer import import_legacy
    from xl_ledger.migrate.mapping import mapping_path_for

    path = Path(path)
    now = dt.datetime(2026, 1, 1, 9, 0, tzinfo=dt.timezone.utc)

    def raw() -> None:
        reader = fastexcel.read_excel(str(path))
        for name in reader.sheet_names:
            reader.load_sheet(name, header_row=None).to_arrow()

    out: dict[str, float] = {"fastexcel": _best(raw, repeat)}
    with tempfile.TemporaryDirectory() as tmp:
        legacy = Path(tmp) / path.name
        shutil.copy(path, legacy)
        last: list[Path] = []
        for mode, dry in (("dry_run", True), ("import", False)):
            def one() -> None:
                # A fresh folder each run: an import leaves a checkpoint beside the studio, and a new
                # template copied over the same path would be (rightly) refused as a Log cut short.
                studio = Path(tempfile.mkdtemp(dir=tmp)) / "studio.xlsm"
                last[:] = [studio]
                shutil.copy(template, studio)
                mapping_path_for(legacy).unlink(missing_ok=True)
                report = import_legacy(legacy, studio, operator="bench", now=now, dry_run=dry)
                out["sessions"] = report.sessions
                out["log_rows"] = report.log_rows
                out[f"{mode}_phases"] = report.seconds

            out[mode] = _best(one, repeat)
        log = FileStore(last[0]).read_log()  # as the last import wrote it
        out["floor_phases"] = floor = time_floor(log, repeat)
        out["floor"] = out["fastexcel"] + sum(floor.values())
    out["dry_run_ratio"] = out["dry_run"] / out["fastexcel"]
    out["import_ratio"] = out["import"] / out["fastexcel"]
    out["floor_ratio"] = out["floor"] / out["fastexcel"]
    return out


def time_floor(log: list[tuple], repeat: int = 2) -> dict[str, float]:
    """Best-of-`repeat` seconds for the work no import of this file can skip beyond reading it: seal its
    Log rows (SHA-256 over each row's canonical bytes, the chain's hashing), encode them as sheet XML
    (the store's own encoder) and deflate that (the store's level). Only the part of the Log written
    for an import is here, not events, fold, engine sheets or input rows. `log`: the rows as imported
    (into an empty studio). Together with fastexcel's read: the floor of the import's time.
    """
    import hashlib
    import zlib

    from xl_ledger.book import xlsx_log
    from xl_ledger.core.chain import HASH
    from xl_ledger.core.chain import canonical

    def seal() -> None:
        for row in log:
            hashlib.sha256(canonical(row)).hexdigest()

    xml = b""

    def encode() -> None:
        nonlocal xml
        xml = xlsx_log.rows_xml(log, 2)

    def deflate() -> None:
        c = zlib.compressobj(xlsx_log.LEVEL, zlib.DEFLATED, -15)
        c.compress(xml)
        c.flush()

    # The hashing covers exactly the bytes the chain does: every row's hash comes out as stored.
    assert all(hashlib.sha256(canonical(row)).hexdigest() == row[HASH] for row in log)
    return {"seal": _best(seal, repeat), "encode": _best(encode, repeat), "deflate": _best(deflate, repeat)}


if __name__ == "__main__":  # pragma: no cover
    for arg in sys.argv[1:]:
        r = time_read(arg)
        print(f"{arg}: fastexcel {r['fastexcel']:.3f}s, reader {r['reader']:.3f}s ({r['ratio']:.2f}x), {r['records']} records")
