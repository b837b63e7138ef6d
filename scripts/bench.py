"""Benchmarks: figures measured in one run, printed as µs per event and as ratios. Not a test.

    python scripts/bench.py fold 100000 1000000     # engine: fold + matching, µs per event, peak memory
    python scripts/bench.py store 10000 100000      # file store vs fastexcel's raw read (scripts/bench_store.py)
    python scripts/bench.py post 10000 100000       # verify, recompute, post of 100 actions vs raw read (bench_post.py)
    python scripts/bench.py udf 100000              # worksheet functions: warm, cold, 500 calls (bench_udf.py)
    python scripts/bench.py import 50000             # legacy import (issue 6) vs fastexcel's raw read of the file
    python scripts/bench.py pg 10000 100000          # the ledger in PostgreSQL: verify, a desk's post, 4 desks at once

Each size runs in a fresh process so that peak memory (ru_maxrss) belongs to that size alone.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import random
import resource
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from xl_ledger.core import events as E  # noqa: E402
from xl_ledger.core.fold import fold  # noqa: E402

START = dt.date(2023, 1, 2)


def synthetic_studio(n_events: int, seed: int = 7) -> list[E.Entry]:
    """A studio that grows with the log: one student per ~200 events, packages bought as they run out,
    two or so lessons a week, each booked (a session_recorded row) and then marked attended, late-cancelled,
    no-show... (a session_changed row), and a freeze now and then."""
    rnd = random.Random(seed)
    students = max(10, n_events // 200)
    out: list[E.Entry] = []
    seq = 0

    def add(ev: E.Event) -> None:
        nonlocal seq
        seq += 1
        out.append(E.Entry(seq=seq, recorded_at=f"{ev.effective_date.isoformat()}T09:00:00Z", operator="owner",
                           source="", event=ev))

    add(E.SettingsSet(effective_date=START, values={"late_cancel_hours": "12"}))
    for pid, unit, qty, price, extra in (("L10", "lessons", "10", "300", {}), ("H10", "hours", "10", "450", {}),
                                         ("F10", "lessons", "10", "280", {"shared": "yes"}),
                                         ("M1", "lessons", "4", "120", {"period": "month", "per_period": "4"})):
        validity = "1 month" if extra.get("period") == "month" else "6 months"
        add(E.ProductSet(effective_date=START, values={"product_id": pid, "name": pid, "unit": unit,
                                                       "quantity": qty, "price": price, "validity": validity,
                                                       **extra}))
    for i in range(students):
        add(E.StudentSet(effective_date=START, student_id=f"S{i}",
                         values={"student_id": f"S{i}", "name": f"Student {i}", "family_id": f"F{i // 2}"}))
    per_student = (n_events - len(out)) // students
    statuses = ["attended"] * 14 + ["late_cancel", "no_show", "cancelled", "scheduled", "studio_cancelled"]
    pk = 0
    for i in range(students):
        product = ("L10", "H10", "F10", "M1")[i % 4]
        unit = "hours" if product == "H10" else "lessons"
        left = 0
        day = START + dt.timedelta(days=rnd.randrange(7))
        target = len(out) + per_student
        k = -1
        while len(out) < target:
            k += 1
            if left <= 0 or k == 0:
                pk += 1
                qty = 4 if product == "M1" else 10
                add(E.Sale(effective_date=day, student_id=f"S{i}", package_id=f"PK-{pk}", quantity=Decimal(qty),
                           unit=unit, amount=Decimal(300), product_id=product))
                left = qty
                continue
            if k % 97 == 0:
                add(E.Freeze(effective_date=day, student_id=f"S{i}", package_id=f"PK-{pk}", days=7))
                continue
            status = rnd.choice(statuses)
            minutes = Decimal(rnd.choice((45, 60, 90)))
            sid = f"X{seq}"
            # As in a real register: booked first, then marked after the lesson (two Log rows).
            add(E.SessionRecorded(effective_date=day, student_id=f"S{i}", session_id=sid, quantity=Decimal(1),
                                  status="scheduled", start="16:00", minutes=minutes, booked_by="client"))
            if status != "scheduled" and len(out) < target:
                add(E.SessionChanged(effective_date=day, student_id=f"S{i}", session_id=sid, quantity=Decimal(1),
                                     status=status, start="16:00", minutes=minutes, booked_by="client",
                                     changed=("status",)))
            left -= 1
            day += dt.timedelta(days=rnd.choice((3, 4, 7)))
    return out


def run_fold(n: int) -> dict:
    entries = synthetic_studio(n)
    as_of = max(e.event.effective_date for e in entries)
    gc.collect()
    gc.disable()  # a million live objects: the cyclic collector would only re-scan them
    t0, c0 = time.perf_counter(), time.process_time()
    state = fold(entries, as_of)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    gc.enable()
    return {"events": len(entries), "seconds": round(seconds, 3), "cpu": round(cpu, 3),
            "us_per_event": round(seconds / len(entries) * 1e6, 2),
            "packages": len(state.packages), "allocations": len(state.allocations),
            "sessions": len(state.sessions), "us_per_session": round(seconds / max(len(state.sessions), 1) * 1e6, 2),
            "peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def in_fresh_process(what: str, n: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--one", what, str(n)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_fold(sizes: list[int]) -> None:
    print("fold + matching (issue 2): target <= 5 us/event, linear growth")
    results = [in_fresh_process("fold", n) for n in sizes]
    for r in results:
        print(f"  {r['events']:>9,} events  {r['seconds']:>7.2f} s (cpu {r['cpu']:.2f} s)  "
              f"{r['us_per_event']:>6.2f} us/event  "
              f"({r['us_per_session']:.2f} us per session)  peak {r['peak_mb']} MB  "
              f"({r['sessions']:,} sessions, {r['packages']:,} packages, {r['allocations']:,} allocations)")
    if len(results) > 1:
        a, b = results[0], results[-1]
        growth = (b["seconds"] / a["seconds"]) / (b["events"] / a["events"])
        print(f"  time ratio / size ratio = {growth:.2f} (1.00 = linear)")


def bench_import(sizes: list[int]) -> None:
    """Issue 6: import a legacy lesson log of N rows into a studio; budget 3x fastexcel's read of the file."""
    import tempfile

    sys.path.insert(0, str(REPO / "tests"))
    import legacy_fixtures
    from xl_ledger.template import template_path
    from xl_ledger.migrate.bench import time_import

    print("legacy import (issue 6): target <= 3x fastexcel's raw read of the legacy file; floor: the least any "
          "import must do (below)")
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            legacy = legacy_fixtures.log_xlsx(Path(tmp) / f"log_{n}.xlsx", rows=n)
            r = time_import(legacy, template_path())
        print(f"  {n:>9,} rows  fastexcel {r['fastexcel']:.3f} s  dry run {r['dry_run']:.3f} s "
              f"({r['dry_run_ratio']:.1f}x)  import {r['import']:.3f} s ({r['import_ratio']:.1f}x)  "
              f"floor {r['floor']:.3f} s ({r['floor_ratio']:.1f}x)  "
              f"[{int(r['sessions']):,} sessions, {int(r['log_rows']):,} Log rows]")
        print(f"    floor = what the import must output, each step once, one after another: fastexcel's read "
              f"{r['fastexcel']:.3f} + " + " + ".join(f"{k} {v:.3f}" for k, v in r["floor_phases"].items())
              + f" of its {int(r['log_rows']):,} Log rows")
        print("    phases of the import (s): " + ", ".join(f"{k} {v:.3f}" for k, v in r["import_phases"].items()))


def main(argv: list[str]) -> None:
    if argv[:1] == ["--one"]:
        print(json.dumps({"fold": run_fold}[argv[1]](int(argv[2]))))
        return
    what = argv[0] if argv else "fold"
    sizes = [int(x) for x in argv[1:]] or [100_000, 1_000_000]
    if what == "fold":
        bench_fold(sizes)
    elif what == "import":
        bench_import([int(x) for x in argv[1:]] or [50_000])
    elif what == "udf":  # worksheet functions on xlwings' in-memory book (scripts/bench_udf.py)
        subprocess.run([sys.executable, str(REPO / "scripts" / "bench_udf.py"), *map(str, argv[1:] or [100_000])],
                       check=True)
    elif what == "post":  # verify/recompute/post-100 on a real workbook vs fastexcel's raw read
        subprocess.run([sys.executable, str(REPO / "scripts" / "bench_post.py"), *map(str, sizes)], check=True)
    elif what == "pg":  # needs XL_LEDGER_BENCH_PG (scripts/bench_pg.py)
        subprocess.run([sys.executable, str(REPO / "scripts" / "bench_pg.py"), *map(str, sizes)], check=True)
    elif what == "store":
        subprocess.run([sys.executable, str(REPO / "scripts" / "bench_store.py"), *map(str, sizes)], check=True)
    else:
        raise SystemExit(f"unknown benchmark {what!r}; use fold, store or import")


if __name__ == "__main__":
    main(sys.argv[1:])
