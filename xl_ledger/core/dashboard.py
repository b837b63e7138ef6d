"""The owner's dashboard: liability, what expires soon, low balances and owed lessons, churn risk.

Seed 003 asks for "a single owner dashboard for liabilities, upcoming expirations, and churn risk". Its
figures come from the folded State and the balance index (balances.py), so they agree with Balances,
Packages and Alerts. Five summary lines come first, always in the same order (the Dashboard sheet's
chart reads them by position), then one line per student or package behind each.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Optional

from xl_ledger.core import balances
from xl_ledger.core import queries
from xl_ledger.core.numbers import ZERO
from xl_ledger.core.numbers import money
from xl_ledger.core.state import State

EXPIRING_DAYS = 30
CONSUMED = ("used", "covered", "free", "negative", "owed")  # an allocation that means the student came (or was due)


@dataclass(frozen=True, slots=True)
class Line:
    section: str  # liability, expiring, low_balance, owed, churn_risk, log
    item: str
    student_id: Optional[str] = None
    quantity: Optional[Decimal] = None
    unit: Optional[str] = None
    value: Optional[Decimal] = None
    date: Optional[dt.date] = None
    package_id: Optional[str] = None
    behind: tuple = ()  # the packages whose value_remaining makes `value` (a summary counts each once)


def lines(state: State, head: Optional[tuple] = None) -> list[Line]:
    """The summary (liability, expiring, low balance, owed, churn risk, Log head), then the details."""
    index = balances.index(state)
    as_of = state.as_of
    s = state.settings

    expiring = [p for p in queries.expiring(state, EXPIRING_DAYS)]
    expiring_lines = [Line("expiring", f"{p.package_id} ({p.product.name}) expires on {p.expires_on.isoformat()}",
                           p.owner, p.remaining, p.unit, p.value_remaining, p.expires_on, p.package_id)
                      for p in expiring]

    low_lines, owed_lines = [], []
    for sid in sorted({a.student_id for a in state.alerts if a.kind == "low_balance"}):  # the alerts' judgement
        for unit in index.units(sid):
            left = index.usable(sid, unit)
            if unit != "months" and left <= s.low_balance_threshold:
                pkgs = tuple(p for p in index.usable_packages(sid) if p.unit == unit and p.status not in balances.GONE)
                low_lines.append(Line("low_balance", f"{amount(left, unit)} left", sid, left, unit, _value(pkgs),
                                      behind=pkgs))
    for sid in sorted(state.students):
        for unit in index.units(sid):
            owed = index.owed(sid, unit)
            if owed:
                qty = sum((a.quantity for a in owed), ZERO)
                n = len({a.session_id for a in owed})
                owed_lines.append(Line("owed", f"{n} session{'s' if n != 1 else ''} owed", sid, qty, unit,
                                       index.owed_value(sid, unit), max(a.date for a in owed)))

    # Churn risk: credit left and no lesson for churn_weeks (a booking ahead counts as coming back).
    since = as_of - dt.timedelta(weeks=s.churn_weeks)
    last_lesson: dict[str, dt.date] = {}
    booked: set[str] = set()
    for a in state.allocations:
        if a.state == "reserved" or (a.state == "awaiting_service" and a.date >= as_of):
            booked.add(a.student_id)
        elif a.state in CONSUMED and a.date <= as_of:
            if a.date > last_lesson.get(a.student_id, dt.date.min):
                last_lesson[a.student_id] = a.date
    churn_lines = []
    for sid in sorted(state.students):
        if not state.students[sid].active or sid in booked:
            continue
        last = last_lesson.get(sid)
        if last is not None and last > since:
            continue
        units = [u for u in index.units(sid) if u != "months" and index.usable(sid, u) > 0]
        if not units:
            continue
        pkgs = tuple(p for p in index.usable_packages(sid) if p.status not in balances.GONE)
        for unit in units:
            first = unit == units[0]
            churn_lines.append(Line("churn_risk", f"no lesson since {last.isoformat()}" if last else "no lesson yet",
                                    sid, index.usable(sid, unit), unit, _value(pkgs) if first else None, last,
                                    behind=pkgs if first else ()))

    def total(items) -> Decimal:
        """A section's money: each package once. A family's shared pack is behind every sibling's line (each
        of them may use it), so adding the lines up would count it once per sibling."""
        seen = {}
        for ln in items:
            if ln.behind:
                seen.update((p.package_id, p.value_remaining) for p in ln.behind)
        return money(sum(seen.values(), ZERO) + sum((ln.value or ZERO for ln in items if not ln.behind), ZERO))

    seq, digest = head if head else (state.last_seq, "")
    summary = [
        Line("liability", "Liability today: credit sold and not yet delivered", value=money(queries.liability(state)),
             date=as_of),
        Line("expiring", f"Credits expiring in the next {EXPIRING_DAYS} days: {len(expiring)} packages",
             quantity=Decimal(len(expiring)), value=total(expiring_lines)),
        Line("low_balance", f"Students with a low balance (≤ {s.low_balance_threshold.normalize():f})",
             quantity=Decimal(len({ln.student_id for ln in low_lines})), value=total(low_lines)),
        Line("owed", "Sessions owed (taken without credit)",
             quantity=Decimal(len({a.session_id for a in queries.owed(state)})),
             value=total(owed_lines)),
        Line("churn_risk", f"Students with credit and no lesson in {s.churn_weeks} weeks",
             quantity=Decimal(len({ln.student_id for ln in churn_lines})), value=total(churn_lines)),
        # The "as of Log seq N" mark: book/anchors.py reads it back as one of the records of the Log's end.
        Line("log", f"Sheets as of Log seq {seq}, hash {digest[:16]}…" if digest else f"Sheets as of Log seq {seq}",
             quantity=Decimal(seq)),
    ]
    return summary + expiring_lines + low_lines + owed_lines + churn_lines


def _value(pkgs) -> Decimal:
    return sum((p.value_remaining for p in pkgs), ZERO)


def amount(q: Decimal, unit: str) -> str:
    text = f"{q.normalize():f}" if q else "0"
    return f"{text} {unit[:-1] if q == 1 and unit.endswith('s') else unit}"
