"""Post, verify and recompute on a real workbook, against the floor: fastexcel's raw read of the Log.

    python scripts/bench_post.py 10000 100000 [1000000]
    python scripts/bench.py post 10000 100000          # the same, through bench.py

For each size N: the template with an N-event Log (scripts/bench.py's synthetic studio, sealed with
core.journal) and input sheets that agree with it (Products, Students, and a Sessions sheet holding
every lesson, as a studio's would), plus 100 new Actions rows (sales, top-ups, freezes, a comp, and
mistakes). Then, each in a fresh process:
  raw          fastexcel load_sheet("Log") → Arrow (the denominator of every ratio)
  verify       FileStore.check_log (what `xl-ledger verify` does: every row, never the checkpoint)
  floor        the least a cold recompute must do: read, verify, decode and fold the Log (no render/write)
  cold floor   the cold post's floor as built: the floor above, + the Sessions sheet read and every row
               parsed, every engine sheet rendered and written in full (one new Log row appended)
  warm floor   the least a warm post does as built: the checkpoint's Log rows decoded and folded (a post
               that folded only the families its new rows touch would do less; that is not built)
  recompute    post.recompute: read, verify, fold, render, write the engine sheets
  recompute+1  the same for the next day (so not "up to date")
  post100      post.post applying the 100 Actions rows (reads every input sheet, diffs, folds, writes)
  post100+1    the same as the first post of the next day (the date moved on since the last post)
  post100 after a re-save   post100, warm, after the workbook was opened and saved by openpyxl, and by
               LibreOffice headless when it is installed (what happens each time the owner saves in a
               spreadsheet program: every part has other bytes, the Log the same values). Sizes above
               RESAVE_MAX rows are not re-saved (openpyxl takes minutes and GBs there); say so.
  re-save floor  what that post must do as built: read and verify the Log (its bytes changed), decode and
               fold the checkpoint's rows (the Log is the checkpoint's), read the re-saved Sessions,
               Packages and Balances, render and rewrite every engine sheet in full (no row of a re-saved
               part can be kept) and lay the Log part out again for appending, with one new Log row.
Then each target of issues 4 and 11, MET or NOT MET, with the measured floor of the work that step
must do as built, from the same run. And start-up: `xl-ledger balance` on a 1,000-row workbook, wall
time of a fresh process (target <= 0.5 s), next to a bare `python -c pass`.
Prints seconds (wall), ratios to raw, and peak memory (VmHWM) per step (each step's CPU seconds are in
its JSON). recompute and post100 run cold (no checkpoint) and warm (with the checkpoint the post before
the 100 actions were typed left).
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

NOW = dt.datetime(2030, 1, 1, 12, tzinfo=dt.timezone.utc)


def build(folder: Path, n: int) -> tuple[Path, dt.date]:
    from bench import synthetic_studio

    from xl_ledger.book.filestore import FileStore
    from xl_ledger.book.store import Change
    from xl_ledger.core import events as E
    from xl_ledger.core.journal import Journal

    path = folder / f"studio{n}.xlsm"
    shutil.copyfile(REPO / "workbook_template.xlsm", path)
    entries = synthetic_studio(n)
    as_of = max(e.event.effective_date for e in entries)
    store = FileStore(path)
    journal = Journal()
    step = 200_000
    for i in range(0, len(entries), step):
        chunk = entries[i:i + step]
        rows = journal.append([e.event for e in chunk], operator="owner", recorded_at=NOW)
        store.commit(Change(*store.head(), log_rows=tuple(rows)))
        del rows
    # Input sheets as the studio has them: every product, student and lesson (latest state).
    products, students, sessions, latest = {}, {}, {}, {}
    for e in entries:
        ev = e.event
        if isinstance(ev, E.Sale):
            latest[ev.student_id] = ev.package_id
        if isinstance(ev, E.ProductSet):
            products[ev.values["product_id"]] = ev.values
        elif isinstance(ev, E.StudentSet):
            students[ev.student_id] = ev.values
        elif isinstance(ev, E.SessionRecorded):
            sessions[ev.session_id] = {"session_id": ev.session_id, "date": ev.effective_date, "start": ev.start,
                                       "minutes": ev.minutes, "student_id": ev.student_id, "status": ev.status,
                                       "booked_by": ev.booked_by, "credits": ev.quantity}
    del entries, journal
    from post_helpers import type_rows

    type_rows(path, "Products", {i + 2: v for i, v in enumerate(products.values())})
    type_rows(path, "Students", {i + 2: v for i, v in enumerate(students.values())})
    rows = list(sessions.values())
    for i in range(0, len(rows), step):
        type_rows(path, "Sessions", {i + k + 2: v for k, v in enumerate(rows[i:i + step])})
    # The studio's previous post, before today's 100 actions were typed: it leaves the checkpoint
    # (book/checkpoint.py) that the warm runs start from, as they would in daily use.
    from xl_ledger import post

    post.post(FileStore(path), now=NOW, operator="owner", today=as_of)
    ids = sorted(students)
    actions = {}
    # A day's front desk: mostly sales, some top-ups and freezes of the client's latest package (which
    # fold the family's history), a comp, and the usual few mistakes (rejected in their rows).
    for k in range(100):
        sid = ids[(k * 37) % len(ids)]
        pk = latest.get(sid, "PK-1")
        row = {"date": as_of, "student_id": sid}
        if k % 10 == 9:
            row.update(action="sell", product_id="NOPE")
        elif k % 10 in (1, 5):
            row.update(action="top_up", package_id=pk, quantity=2, amount=60)
        elif k % 10 == 3:
            row.update(action="freeze", package_id=pk, days=7)
        elif k == 50:
            row.update(action="comp", quantity=1, reason_code="goodwill")
        else:
            row.update(action="sell", product_id="L10")
        actions[k + 2] = row
    type_rows(path, "Actions", actions)
    return path, as_of


def measure(path: Path, what: str, as_of: dt.date) -> dict:
    # The libraries every step uses are imported before the clock starts, for every step alike (the raw
    # read's fastexcel included): a process's one-off import time is not what is measured.
    import fastexcel
    import pyarrow.compute  # noqa: F401
    import python_calamine  # noqa: F401

    from xl_ledger import post
    from xl_ledger.book.filestore import FileStore

    gc.collect()
    t, cpu = time.perf_counter(), time.process_time()
    extra = {}
    if what == "raw":
        fastexcel.read_excel(str(path)).load_sheet("Log").to_arrow()
    elif what == "verify":  # what `xl-ledger verify` does: every row, never the checkpoint
        count, _head, broken = FileStore(path).check_log()
        assert broken is None and count > 0
    elif what == "floor":  # the least a cold recompute must do, each step once: nothing rendered or written
        from xl_ledger.book import filestore
        from xl_ledger.core.journal import Journal

        store = FileStore(path)
        table = store._log_table()
        assert filestore._table_intact(table, None)
        rows = filestore._table_rows(table)
        del table
        Journal.from_rows(rows).fold(as_of)
    elif what in ("coldfloor", "resavefloor"):
        _floor(path, what, as_of)
    elif what == "warmfloor":  # the least a warm post does as built: the checkpoint's Log decoded and folded
        from xl_ledger.core.journal import Journal

        log = FileStore(path).open_log()
        assert log.timezone() is not None, "the checkpoint is not current"
        Journal(log.entries()).fold(as_of)
    elif what == "recompute":
        result = post.recompute(FileStore(path), now=NOW, as_of=as_of)
        extra = {"up_to_date": result.up_to_date is not None}
    elif what == "recompute+1":  # the next day: expiries may differ, so the Log is folded again
        result = post.recompute(FileStore(path), now=NOW, as_of=as_of + dt.timedelta(days=1))
        extra = {"up_to_date": result.up_to_date is not None}
    elif what in ("post100", "post100+1"):  # +1: the first post of the next day (the date moved on)
        today = as_of + dt.timedelta(days=1) if what == "post100+1" else as_of
        result = post.post(FileStore(path), now=NOW, operator="owner", today=today)
        extra = {"applied": len(result.applied), "rejected": len(result.rejected), "new_rows": result.new_rows,
                 "notices": len(result.notices)}
    else:
        raise SystemExit(f"unknown step {what}")
    seconds = time.perf_counter() - t
    return {"seconds": seconds, "cpu_seconds": time.process_time() - cpu, "peak_mb": _peak_mb(), **extra}


def _floor(path: Path, what: str, as_of: dt.date) -> None:
    """The work a post must do as built, each step once, with no input diffed and no action applied.

    coldfloor (no checkpoint): read, verify, decode and fold the Log; read the Sessions sheet and parse every
    row (a cold post checks each one); render the engine sheets and write every one of them in full, with
    one new Log row appended.
    resavefloor (after Excel or LibreOffice saved the file): read and verify the Log (its bytes changed),
    decode and fold the checkpoint's rows (the Log is the checkpoint's: same head, same count); read the
    Sessions sheet (its part changed) and the engine sheets drift is checked on (Packages, Balances); render
    and write every engine sheet in full (no row of a re-saved part can be kept), and lay the Log part out
    again for appending (its layout is gone), with one new Log row.
    """
    from xl_ledger.book import checkpoint
    from xl_ledger.book import filestore
    from xl_ledger.book import render
    from xl_ledger.book import schema
    from xl_ledger.book.store import Change
    from xl_ledger.core import inputs
    from xl_ledger.core.journal import Journal
    from xl_ledger.core.journal import row_to_entry

    store = filestore.FileStore(path)
    if what == "coldfloor":
        table = store._log_table()
        assert filestore._table_intact(table, None)
        rows = filestore._table_rows(table)
        del table
        journal = Journal.from_rows(rows)
        del rows
        sheet = store.read_sheet("Sessions")
        _parsed, problems = inputs.read_sessions(sheet.records())
        assert not problems
    else:
        cp = checkpoint.load(path, None)
        rows, broken = store.read_verified_log(None, (tuple(cp.head), sum(cp.log_counts)))
        assert rows is None and broken is None  # verified, and the checkpoint's Log
        journal = Journal([row_to_entry(r) for blob in cp.log_blobs for r in checkpoint.unpack(blob)])
        for name in ("Sessions", "Packages", "Balances"):
            store.read_sheet(name)
    state = journal.fold(as_of)
    body = render.all_sheets(state, (), journal.entries)
    seq, last = journal.head()
    new = journal.append([journal.entries[-1].event], operator="owner", recorded_at=NOW)
    store.commit(Change(seq, last, log_rows=tuple(new), sheets=body,
                        money_format=schema.money_format(state.settings.currency),
                        page_headers=render.page_headers(state)))


def _peak_mb() -> float:
    """This process's peak RSS. Not ru_maxrss: Linux keeps the parent's high-water mark across exec, so a
    child of the (big) builder would report the builder's memory."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _fresh(path: Path, what: str, as_of: dt.date) -> dict:
    out = subprocess.run([sys.executable, __file__, "--measure", str(path), what, as_of.isoformat()],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


RESAVE_MAX = 200_000  # openpyxl and LibreOffice take minutes and GBs to load and save more rows than this


def resave(built: Path, how: str) -> Path | None:
    """`built` opened and saved by another program, with the checkpoint beside it; None if not possible."""
    from xl_ledger.book import checkpoint

    out = built.with_name(f"{built.stem}-{how}.xlsm")
    if how == "openpyxl":
        import openpyxl

        wb = openpyxl.load_workbook(built, keep_vba=True)
        wb.save(out)
        del wb
    else:
        soffice = shutil.which("soffice") or shutil.which("libreoffice")
        if not soffice:
            return None
        with tempfile.TemporaryDirectory(prefix="lo-profile-") as profile, \
                tempfile.TemporaryDirectory(prefix="lo-out-") as outdir:
            subprocess.run([soffice, f"-env:UserInstallation=file://{profile}", "--headless", "--norestore",
                            "--convert-to", "xlsm:Calc MS Excel 2007 VBA XML", "--outdir", outdir, str(built)],
                           check=True, capture_output=True, timeout=3600, env={**os.environ, "HOME": profile})
            shutil.copyfile(Path(outdir) / built.name, out)
    checkpoint.copy(built, out)
    return out


def main(argv: list[str]) -> None:
    if argv[:1] == ["--measure"]:
        print(json.dumps(measure(Path(argv[1]), argv[2], dt.date.fromisoformat(argv[3]))))
        return
    sys.path.insert(0, str(REPO / "tests"))
    sizes = [int(a) for a in argv] or [10_000, 100_000]
    print("Each figure: seconds (ratio to fastexcel's raw read of the Log), best of 5 (1 at 1M), fresh process.")
    print("cold = no checkpoint (first run on this machine, or after Excel saved the file); warm = with the")
    print("checkpoint the previous post left (daily use). Targets (issues 4 and 11): verify + recompute <= 1.5x;")
    print("post of 100 actions warm <= 2x, cold <= 3.5x, after a re-save <= 2x; peak memory <= 2 GB at 1M. Each size")
    print("ends with its targets, MET or NOT MET, beside the measured floor of that step's work.")
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            t0 = time.perf_counter()
            built, as_of = build(Path(tmp), n)
            print(f"\n{n:,} events: built in {time.perf_counter() - t0:.0f} s, {built.stat().st_size / 1e6:.1f} MB",
                  flush=True)
            repeat = 5 if n <= 100_000 else 1  # small sizes are noisy: the best of 5, every step alike
            runs = {}
            from xl_ledger.book import checkpoint

            for what in ("raw", "verify", "floor", "coldfloor", "warmfloor warm", "recompute", "post100",
                         "recompute warm", "recompute+1 warm", "post100 warm", "post100+1 warm"):
                results = []
                for _ in range(repeat):
                    copy = Path(tmp) / "run.xlsm"  # every run starts from the same bytes
                    shutil.copyfile(built, copy)
                    checkpoint.discard(copy)
                    if what.endswith(" warm"):  # with the checkpoint the previous post left
                        checkpoint.copy(built, copy)
                    results.append(_fresh(copy, what.split()[0], as_of))
                runs[what] = min(results, key=lambda r: r["seconds"])
            resaved = {}
            for how in ("openpyxl", "libreoffice"):
                if n > RESAVE_MAX:
                    continue
                t0 = time.perf_counter()
                source = resave(built, how)
                if source is None:
                    continue
                for what in ("post100", "resavefloor"):
                    results = []
                    for _ in range(repeat):
                        copy = Path(tmp) / "run.xlsm"
                        shutil.copyfile(source, copy)
                        checkpoint.copy(source, copy)
                        results.append(_fresh(copy, what, as_of))
                    best = min(results, key=lambda r: r["seconds"])
                    if what == "post100":
                        resaved[how] = best
                    else:
                        resaved[how]["floor"] = best
                resaved[how]["resave_seconds"] = time.perf_counter() - t0
            raw = runs["raw"]["seconds"]

            def cell(s: float) -> str:
                return f"{s:.2f} s ({s / raw:.2f}x)"

            verify = runs["verify"]["seconds"]
            print(f"  raw read of the Log  {raw:.2f} s; verify {cell(verify)}", flush=True)
            for label, key in (("cold", "recompute"), ("warm", "recompute warm"),
                               ("warm, next day", "recompute+1 warm")):
                r = runs[key]
                note = " (up to date: nothing to write)" if r.get("up_to_date") else ""
                print(f"  verify + recompute, {label:<15} {cell(verify + r['seconds'])}   "
                      f"[recompute alone {cell(r['seconds'])}{note}]", flush=True)
            print(f"  cold floor: read + verify + decode + fold the Log, nothing rendered or written "
                  f"{cell(runs['floor']['seconds'])}", flush=True)
            print(f"  cold post's floor as built: that, + read and parse every Sessions row, render and write every "
                  f"engine sheet {cell(runs['coldfloor']['seconds'])}", flush=True)
            for label, key in (("cold", "post100"), ("warm", "post100 warm"),
                               ("warm, next day", "post100+1 warm")):
                r = runs[key]
                print(f"  post of 100 actions, {label:<14} {cell(r['seconds'])}   [{r['applied']} applied, "
                      f"{r['rejected']} rejected, {r['new_rows']} new Log rows]", flush=True)
            for how, r in resaved.items():
                print(f"  post of 100 actions, warm, after a re-save by {how:<11} {cell(r['seconds'])}   "
                      f"[{r['applied']} applied, {r['new_rows']} new Log rows; the re-save itself took "
                      f"{r['resave_seconds']:.0f} s]; its floor as built {cell(r['floor']['seconds'])}", flush=True)
            if n > RESAVE_MAX:
                print(f"  post after a re-save: not measured above {RESAVE_MAX:,} rows (openpyxl and LibreOffice "
                      "take minutes and GBs to save that many)", flush=True)
            runs.update({f"post100 after {how} re-save": r for how, r in resaved.items()})
            runs.update({f"floor after {how} re-save": r["floor"] for how, r in resaved.items()})
            print("  peak MB: " + ", ".join(f"{k} {v['peak_mb']:.0f}" for k, v in runs.items()), flush=True)
            print_targets(n, runs, resaved, raw)
    startup()


def print_targets(n: int, runs: dict, resaved: dict, raw: float) -> None:
    """Each target with MET / NOT MET and the floor of the work that step must do as built, same run."""
    def x(key: str) -> float:
        return runs[key]["seconds"] / raw

    floor, warm_floor, verify = x("floor"), x("warmfloor warm"), x("verify")
    print(f"  targets at {n:,} rows (ratio to the raw read; floor = measured in this run):")
    rows = [("verify + recompute, warm (issue 4)", (runs["verify"]["seconds"] + runs["recompute warm"]["seconds"])
             / raw, 1.5, f"verify alone {verify:.2f}x"),
            ("verify + recompute, warm, next day (issue 4)", (runs["verify"]["seconds"]
             + runs["recompute+1 warm"]["seconds"]) / raw, 1.5, f"verify {verify:.2f}x + a fold of every row"),
            ("post of 100 actions, cold", x("post100"), 3.5,
             f"read + verify + decode + fold the Log {floor:.2f}x; with Sessions read and parsed, every engine "
             f"sheet rendered and written {x('coldfloor'):.2f}x"),
            ("post of 100 actions, warm", x("post100 warm"), 2.0,
             f"decode + fold the checkpoint's Log {warm_floor:.2f}x"),
            ("post of 100 actions, warm, next day", x("post100+1 warm"), 2.0,
             f"decode + fold the checkpoint's Log {warm_floor:.2f}x")]
    for how, r in resaved.items():
        rows.append((f"post of 100 actions after a re-save by {how}", r["seconds"] / raw, 2.0,
                     f"every Log row read and verified (the bytes changed) {verify:.2f}x; with the checkpoint's "
                     f"rows decoded and folded, the re-saved Sessions, Packages and Balances read, every engine "
                     f"sheet rewritten and the Log part laid out again {r['floor']['seconds'] / raw:.2f}x"))
    for label, got, target, why in rows:
        print(f"    {'MET    ' if got <= target else 'NOT MET'} {label:<52} {got:5.2f}x (target <= {target}x)   "
              f"floor: {why}", flush=True)
    peak = max(r["peak_mb"] for r in runs.values())
    print(f"    {'MET    ' if peak <= 2048 else 'NOT MET'} {'peak memory, every step':<52} {peak:5.0f} MB "
          f"(target <= 2048 MB)", flush=True)


def startup(repeat: int = 5) -> None:
    """`xl-ledger balance` on a 1,000-row workbook (with its checkpoint), wall time of a fresh process."""
    with tempfile.TemporaryDirectory() as tmp:
        built, _as_of = build(Path(tmp), 1000)

        def best(argv: list[str]) -> tuple[float, float]:
            out = []
            for _ in range(repeat):
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                t = time.perf_counter()
                subprocess.run(argv, check=True, capture_output=True)
                wall = time.perf_counter() - t
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                out.append((wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime))
            return min(out)

        bare = best([sys.executable, "-c", "pass"])
        wall, cpu = best([sys.executable, "-m", "xl_ledger.cli", "balance", str(built)])
        print(f"\nstart-up: `xl-ledger balance` on a 1,000-row workbook {wall:.2f} s wall (cpu {cpu:.2f} s), best of "
              f"{repeat}: {'MET' if wall <= 0.5 else 'NOT MET'} (target <= 0.5 s wall); floor: python itself "
              f"{bare[0]:.2f} s wall. On a busy machine wall time is CPU time plus waiting for a core.", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
