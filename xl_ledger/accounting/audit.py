"""The month's audit trail: who changed what, when, and why, for the accountant to keep with the close.

Every Log row of a kind that changes credit or money by hand — adjustments, refunds, chargebacks, comps,
transfers, extensions, freezes and unfreezes, deactivations, period closes and reopenings, and role changes
on the Staff sheet — effective
in the month or recorded in it, with who recorded it and when (UTC), its effective date, the reason code
and its meaning (the Reasons sheet, else the shipped defaults), the note, and the cell it came from
(`studio.xlsm!Actions!14`). Pure: rows in, rows out; command.py writes the CSV and the Audit sheet.
"""

from __future__ import annotations

from typing import Iterable

from xl_ledger.book import schema
from xl_ledger.core import events as E
from xl_ledger.core import staff as staff_rules
from xl_ledger.core.finance import Month

KINDS = ("adjust", "refund", "chargeback", "comp", "transfer", "extend", "freeze", "unfreeze", "deactivate",
         "reactivate", "period_close", "period_reopen", "staff_set")
HEADERS = tuple(c.name for c in schema.AUDIT.columns)


def meanings(records=()) -> dict[str, str]:
    out = dict(schema.DEFAULT_REASONS)
    for _row, rec in records:
        code = str(rec.get("reason_code") or "").strip()
        if code:
            out[code] = str(rec.get("meaning") or "").strip() or out.get(code, "")
    return out


def rows(entries: Iterable[E.Entry], month: Month, book: str, reasons: dict[str, str]) -> list[tuple]:
    out = []
    for e in entries:
        ev = e.event
        if ev.kind not in KINDS:
            continue
        recorded = e.recorded_at[:7] == month.month
        if not (month.first <= ev.effective_date <= month.last or recorded):
            continue
        what = ev.kind
        if ev.kind == "transfer":
            what = f"transfer to {ev.to_student_id} ({ev.to_package_id})"
        elif ev.kind == "staff_set":  # a Staff sheet change (core/staff.py): whose role, from what to what
            what = staff_rules.describe(ev)
        elif ev.kind in ("extend", "freeze") and getattr(ev, "days", 0):
            what = f"{ev.kind} {ev.days} days"
        elif ev.kind == "period_close":
            what = f"close through {ev.effective_date.isoformat()}"
        elif ev.kind == "period_reopen":
            what = f"reopen from {ev.effective_date.isoformat()}"
        source = e.source
        # A row a desk of a shared ledger wrote (`Actions!4@frontdesk`, pg/desk.py) is a cell of that desk's
        # workbook, not of this one: it is shown as the Log has it.
        where = f"{book}!{source}" if source and "!" in source and "@" not in source else (source or "")
        out.append((e.seq, e.recorded_at, e.operator, ev.effective_date, what, ev.student_id or "",
                    ev.package_id or "", ev.quantity, ev.amount, ev.reason_code or "",
                    reasons.get(ev.reason_code or "", ""), ev.note or "", where))
    return out
