"""Questions the adapters ask of a folded State (the CLI, the ribbon, the UDFs, the sheets)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Optional

from xl_ledger.core import balances
from xl_ledger.core.kinds import AllocationState
from xl_ledger.core.kinds import PackageStatus
from xl_ledger.core.numbers import ZERO
from xl_ledger.core.numbers import money
from xl_ledger.core.state import Package
from xl_ledger.core.state import State


OWED = AllocationState.OWED  # bound once: asked per allocation
DRAWN = frozenset({AllocationState.USED, AllocationState.RESERVED, AllocationState.NEGATIVE})


def remaining(state: State, package_id: str) -> Decimal:
    return state.packages[package_id].remaining


def unused(pkg: Package) -> Decimal:
    """Credit not yet redeemed: what is left plus what bookings hold (Package.unredeemed)."""
    return pkg.unredeemed


def refund_quote(state: State, package_id: str, quantity: Optional[Decimal] = None) -> Decimal:
    """Full price before the first redemption; after, unused × unit value − admin fee, never below zero.

    A partial refund of `quantity` credits is quoted the same way for that quantity.
    """
    pkg = state.packages[package_id]
    paid = pkg.price - pkg.refunded_money
    if pkg.comp or not pkg.active:
        return ZERO
    if not pkg.redeemed and pkg.used <= 0 and (quantity is None or quantity >= unused(pkg)):
        return money(max(paid, ZERO))
    q = unused(pkg) if quantity is None else min(quantity, unused(pkg))
    value = money(q * pkg.unit_value) - state.settings.refund_admin_fee
    return max(min(money(value), paid), ZERO)


def balance(state: State, student_id: str, unit: Optional[str] = None) -> Decimal:
    """Credit the student can use now: their own packages plus their family's shared ones."""
    return balances.index(state).usable(student_id, unit)


def units_of(state: State, student_id: str) -> list[str]:
    return balances.index(state).units(student_id)


def owed(state: State, student_id: Optional[str] = None) -> list:
    return [a for a in state.allocations if a.state == OWED and (student_id is None or a.student_id == student_id)]


def next_expiry(state: State, student_id: str) -> Optional[dt.date]:
    return balances.index(state).next_expiry(student_id)


def liability(state: State) -> Decimal:
    """What the studio owes its clients in credit sold and not yet delivered: Σ `value_remaining` over every
    package (left plus booked, at unit value; 0 once expired, refunded or deactivated, unless a booking
    still holds credit). The Packages and Balances columns add up to it, the Dashboard shows it, and under
    `remote` breakage it is the Report's liability_end of the current month (under `proportional`,
    liability_end is this less the breakage provision). Other modules ask here, never re-add it."""
    return sum((p.value_remaining for p in state.packages.values()), ZERO)


def expiring(state: State, days: int) -> list[Package]:
    horizon = state.as_of + dt.timedelta(days=days)
    return sorted((p for p in state.packages.values()
                   if p.expires_on and state.as_of <= p.expires_on <= horizon and p.remaining > 0
                   and p.status not in (PackageStatus.INACTIVE, PackageStatus.REFUNDED)), key=lambda p: (p.expires_on, p.package_id))


@dataclass(frozen=True)
class HistoryLine:
    date: dt.date
    what: str
    package_id: Optional[str]
    session_id: Optional[str]
    by_student: Optional[str]
    change: Decimal
    unit: str
    balance: Decimal


def history(state: State, student_id: str) -> list[HistoryLine]:
    """Every change to the credit a student can use, in date order, with a running balance per unit.

    Siblings' use of a shared family package appears too (marked with who used it), so the running
    balance ends at `balance()`; the student's own use is the lines with by_student == student_id.
    """
    pkgs = {p.package_id: p for p in state.usable_packages(student_id) if p.status != PackageStatus.INACTIVE}
    lines: list[tuple] = []
    for p in pkgs.values():
        bought = p.granted + p.adjusted_out
        label = "comp" if p.comp else ("make-up credit" if p.package_id.startswith("MK-") else "bought")
        if p.transferred_in and not bought:
            label, bought = "transferred in", p.transferred_in
        if bought:
            lines.append((p.purchased_on, 0, f"{label} {p.product.name}", p.package_id, None, p.owner, bought, p.unit))
        for date, kind, qty, _money in p.draws:
            what = {"transfer": "transferred out", "rollover": "carried over", "adjust": "adjusted"}.get(kind, kind)
            lines.append((date, 2, what, p.package_id, None, p.owner, -qty, p.unit))
        if p.expired:
            lines.append((p.expires_on or state.as_of, 3, "expired", p.package_id, None, p.owner, -p.expired, p.unit))
    for a in state.allocations:
        if a.package_id in pkgs and a.state in DRAWN and a.quantity:
            who = a.student_id
            what = f"{a.status} ({a.state})" if who == student_id else f"{a.status} by {who} ({a.state})"
            lines.append((a.date, 1, what, a.package_id, a.session_id, who, -a.quantity, a.unit))
        elif a.student_id == student_id and a.state == OWED:
            lines.append((a.date, 1, f"{a.status} (owed)", None, a.session_id, a.student_id, ZERO, a.unit or ""))
    lines.sort(key=lambda t: (t[0], t[1], t[3] or "", t[4] or ""))
    running: dict[str, Decimal] = {}
    out = []
    for date, _o, what, pid, sid, who, change, unit in lines:
        running[unit] = running.get(unit, ZERO) + change
        out.append(HistoryLine(date, what, pid, sid, who, change, unit, running[unit]))
    return out
