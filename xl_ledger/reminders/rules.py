"""Which reminders are due, from a fold: pure (no clock, no files, no mail).

Each reminder has a key — what it is about + rule + the threshold crossed — so that the Outbox sends it
once however often `remind` runs: `PK-0012:low_balance:2`, `PK-0012:used_up:0`,
`PK-0012:expiring:2026-04-30` (an extension gives a new date, so a new reminder), `S-004:owed:L-0093`,
`FAM-BAKER:statement:2026-03`. Low balance is judged per student and unit on what they can use (their
own packages and the family's shared ones), and keyed by the package that is running down, so a shared
pack reminds the family once, not once per sibling. A message carries one family's data only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from dataclasses import field
from decimal import Decimal
from enum import StrEnum
from typing import Optional

from xl_ledger.core import queries
from xl_ledger.core.numbers import ZERO
from xl_ledger.core.state import Package
from xl_ledger.core.state import State


class Rule(StrEnum):
    LOW_BALANCE = "low_balance"
    USED_UP = "used_up"
    EXPIRING = "expiring"
    OWED = "owed"
    STATEMENT = "statement"


@dataclass(frozen=True)
class Due:
    key: str
    rule: Rule
    student_id: str  # who it is about: the package's owner for a shared pack (addressed_family says whose)
    package_id: str
    family_id: Optional[str]
    values: dict = field(default_factory=dict)  # the $placeholders, as text


def qty_text(q: Decimal) -> str:
    q = q.normalize() if q else ZERO
    return f"{q:f}" if q else "0"


def unit_text(q: Decimal, unit: str) -> str:
    """'1 lesson', '2 lessons': the unit as the number reads."""
    return unit[:-1] if q == 1 and unit.endswith("s") else unit


def money_text(amount: Decimal, currency: str) -> str:
    return f"{amount:,.2f} {currency}"


def _who(state: State, pkg: Package, student_id: str) -> tuple[str, str]:
    """(recipient, the names the message speaks of): a shared pack is the family's, sent to its owner."""
    if pkg.product.shared:
        family = state.family_of(pkg.owner)
        names = [s.name for sid, s in sorted(state.students.items()) if family and s.family_id == family]
        return pkg.owner, " and ".join(names) or state.students[pkg.owner].name
    return student_id, state.students[student_id].name


def _base(state: State, pkg: Package, recipient: str, names: str) -> dict:
    s = state.settings
    family = state.family_of(recipient)
    return {"studio": s.studio_name, "currency": s.currency, "student": names, "family": family or names,
            "product": pkg.product.name, "package": pkg.package_id, "unit": pkg.unit,
            "value": money_text(pkg.value_remaining, s.currency),
            "expiry_date": pkg.expires_on.isoformat() if pkg.expires_on else "no expiry"}


def due(state: State, *, monthly_statement: bool = False) -> list[Due]:
    """Every reminder the fold of `state.as_of` calls for, in a stable order (one per key)."""
    s = state.settings
    out: dict[str, Due] = {}
    for sid in sorted(state.students):
        student = state.students[sid]
        if not student.active:
            continue
        for unit in queries.units_of(state, sid):
            if unit == "months":
                continue  # a months pack runs by the calendar, not down to a count
            pkgs = [p for p in state.usable_packages(sid) if p.unit == unit and p.status not in ("inactive", "refunded")
                    and not p.package_id.startswith("MK-")]
            if not pkgs:
                continue
            latest = max(pkgs, key=lambda p: (p.purchased_on, p.package_id))
            if latest.status == "expired":
                continue  # a client whose packs lapsed: the expiring reminder came before
            left = queries.balance(state, sid, unit)
            if left <= 0:
                rule, threshold = Rule.USED_UP, ZERO
            elif left <= s.low_balance_threshold:
                rule, threshold = Rule.LOW_BALANCE, s.low_balance_threshold
            else:
                continue
            recipient, names = _who(state, latest, sid)
            key = f"{latest.package_id}:{rule}:{qty_text(threshold)}"
            if key not in out:
                values = _base(state, latest, recipient, names) | {"remaining": qty_text(max(left, ZERO)),
                                                                   "unit": unit_text(max(left, ZERO), unit)}
                out[key] = Due(key, rule, recipient, latest.package_id, state.family_of(recipient), values)
    for pkg in queries.expiring(state, s.expiry_warning_days):
        if pkg.package_id.startswith("MK-") or not state.students.get(pkg.owner, None) or \
                not state.students[pkg.owner].active:
            continue
        recipient, names = _who(state, pkg, pkg.owner)
        key = f"{pkg.package_id}:{Rule.EXPIRING}:{pkg.expires_on.isoformat()}"
        values = _base(state, pkg, recipient, names) | {"remaining": qty_text(pkg.remaining),
                                                         "unit": unit_text(pkg.remaining, pkg.unit)}
        out[key] = Due(key, Rule.EXPIRING, recipient, pkg.package_id, state.family_of(recipient), values)
    for a in queries.owed(state):
        if a.date > state.as_of or a.student_id not in state.students:
            continue  # a booking not yet taught is not owed yet
        student = state.students[a.student_id]
        key = f"{a.student_id}:{Rule.OWED}:{a.session_id}"
        values = {"studio": s.studio_name, "currency": s.currency, "student": student.name,
                  "family": student.family_id or student.name, "product": "", "package": "",
                  "unit": unit_text(a.quantity, a.unit or "lessons"), "value": "", "expiry_date": "", "remaining": qty_text(a.quantity),
                  "session_date": a.date.isoformat()}
        out[key] = Due(key, Rule.OWED, a.student_id, "", student.family_id, values)
    if monthly_statement:
        for d in statements_due(state):
            out[d.key] = d
    return sorted(out.values(), key=lambda d: d.key)


def addressed_family(state: State, rule: str, package_id: str, student_id: str) -> Optional[str]:
    """The family a message belongs to (its address is then the family's contact), or None: a shared
    pack's reminders and a family's statement are the family's; the rest are the student's own."""
    if rule == Rule.STATEMENT:
        return state.family_of(student_id)
    pkg = state.packages.get(package_id) if package_id else None
    if pkg is not None and pkg.product.shared:
        return state.family_of(pkg.owner)
    return None


def last_month(as_of: dt.date) -> tuple[dt.date, dt.date]:
    end = as_of.replace(day=1) - dt.timedelta(days=1)
    return end.replace(day=1), end


def statements_due(state: State) -> list[Due]:
    """Last month's statement for each family (or student without one) that has a package."""
    start, end = last_month(state.as_of)
    s = state.settings
    seen: dict[str, Due] = {}
    for pkg in state.packages.values():
        owner = state.students.get(pkg.owner)
        if owner is None or not owner.active or pkg.package_id.startswith("MK-") or pkg.purchased_on > end:
            continue
        who = owner.family_id or pkg.owner
        if who in seen:
            continue
        names = [st.name for sid, st in sorted(state.students.items())
                 if (owner.family_id and st.family_id == owner.family_id) or sid == pkg.owner]
        period = f"{start:%B %Y}"
        key = f"{who}:{Rule.STATEMENT}:{start:%Y-%m}"
        seen[who] = Due(key, Rule.STATEMENT, pkg.owner, "", owner.family_id,
                        {"studio": s.studio_name, "currency": s.currency, "student": " and ".join(names),
                         "family": owner.family_id or names[0], "period": period, "from": start.isoformat(),
                         "to": end.isoformat(), "product": "", "package": "", "unit": "", "value": "",
                         "expiry_date": "", "remaining": ""})
    return list(seen.values())
