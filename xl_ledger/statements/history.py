"""`xl-ledger history BOOK --student S`: every movement of the credit a student can use."""

from __future__ import annotations

import json

from xl_ledger.core.movements import Statement
from xl_ledger.output import shown
from xl_ledger.statements import load


def num(q) -> str:
    q = q.normalize() if q else q * 0
    return f"{q:f}" if q else "0"


def line_json(m) -> dict:
    return {"date": m.date.isoformat(), "what": str(m.kind), "package_id": m.package_id, "product": m.product,
            "student_id": m.student_id, "session_id": m.session_id, "session_time": m.session_time,
            "change": num(m.change), "unit": m.unit, "balance": num(m.balance), "recorded_by": m.recorded_by,
            "reason_code": m.reason_code, "source": m.source, "detail": m.detail}


def to_json(stmt: Statement) -> dict:
    return {"from": stmt.start.isoformat(), "to": stmt.end.isoformat(), "students": list(stmt.students),
            "opening": {p: num(q) for p, q in sorted(stmt.opening.items())},
            "closing": {p: num(q) for p, q in sorted(stmt.closing.items())},
            "lines": [line_json(m) for m in stmt.lines]}


def cmd_history(args) -> int:
    ledger = load.read_ledger(args)
    sid = load.student(ledger, args.student)
    start, end = load.period(args, ledger)
    stmt = load.movements_for(ledger, [sid], start, end, family=False)
    if args.json:
        print(json.dumps(to_json(stmt), indent=2, ensure_ascii=False))
        return 0
    name = ledger.scopes.students[sid].name
    print(f"{shown(ledger.name)}: {shown(sid)} {shown(name)}, {stmt.start} to {stmt.end} (balances per package; a shared family "
          "pack shows every sibling's use)")
    for pid, q in sorted(stmt.opening.items()):
        print(f"  opening  {pid:<10} {num(q):>7}")
    print(f"  {'date':<10}  {'what':<17} {'package':<10} {'student':<8} {'session':<10} {'time':<5} "
          f"{'change':>7} {'balance':>8}  {'by':<10} {'reason':<14} source")
    for m in stmt.lines:
        print(shown(f"  {m.date}  {m.kind:<17} {m.package_id:<10} {m.student_id or '':<8} {m.session_id or '':<10} "
                    f"{m.session_time or '':<5} {num(m.change):>7} {num(m.balance):>8}  {m.recorded_by:<10} "
                    f"{m.reason_code or '':<14} {m.source}{'  (' + m.detail + ')' if m.detail else ''}"))
    totals: dict[str, object] = {}
    for pid, q in stmt.closing.items():
        unit = stmt.packages[pid].unit
        totals[unit] = totals.get(unit, 0) + q
    print("  closing  " + (", ".join(f"{num(q)} {u}" for u, q in sorted(totals.items())) or "nothing"))
    return 0
