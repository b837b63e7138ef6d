"""The balance index: what each student (and each family's shared pool) has, per unit — one home.

The Balances sheet, `xl-ledger balance`, the worksheet functions and the low-balance alerts all read it,
so they cannot disagree. It is built once per folded State (one pass over packages and allocations) and
kept on it: asking per student by scanning every package took seconds at 500 students and 100k events.

A shared family package is counted once, in its family's pool, never under each sibling: a student's
line holds the packages they own that are not shared, and `usable` adds the pool they may draw from.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Optional

from xl_ledger.core.kinds import CLOSED
from xl_ledger.core.kinds import AllocationState
from xl_ledger.core.kinds import PackageStatus
from xl_ledger.core.numbers import ZERO
from xl_ledger.core.numbers import money
from xl_ledger.core.state import Package
from xl_ledger.core.state import State

GONE = CLOSED  # packages whose credit can no longer be used (core/kinds.py)


@dataclass(frozen=True, slots=True)
class Line:
    """One student and unit, or one family's shared pool and unit (student_id None)."""

    student_id: Optional[str]
    family_id: Optional[str]
    unit: str
    remaining: Decimal  # credit left in this line's packages (own unshared ones, or the family's shared ones)
    value_remaining: Decimal  # Σ value_remaining of the line's packages: left plus booked, in money (the liability)
    usable: Decimal  # what the student can draw on: own + the family pool (the pool line: the pool)
    owed_sessions: int
    owed_value: Decimal  # owed sessions valued at the unit value of the student's latest package in the unit
    next_expiry: Optional[dt.date]  # the earliest expiry with credit left among the packages they may use
    packages: tuple[str, ...]  # the packages behind `remaining`


class BalanceIndex:
    def __init__(self, state: State):
        self.state = state
        members: dict[str, list[str]] = {}
        for sid, student in state.students.items():
            if student.family_id:
                members.setdefault(student.family_id, []).append(sid)
        own: dict[str, list[Package]] = {}
        pool: dict[str, list[Package]] = {}
        usable: dict[str, list[Package]] = {}
        for p in state.packages.values():
            family = state.family_of(p.owner)
            if p.product.shared and family:
                pool.setdefault(family, []).append(p)
                for sid in dict.fromkeys([p.owner, *members.get(family, ())]):
                    usable.setdefault(sid, []).append(p)
            else:
                own.setdefault(p.owner, []).append(p)
                usable.setdefault(p.owner, []).append(p)
        self._own, self._pool, self._usable = own, pool, usable
        owed: dict[tuple, list] = {}
        units: dict[str, set] = {}
        for a in state.allocations:
            if a.unit:
                units.setdefault(a.student_id, set()).add(a.unit)
            if a.state == AllocationState.OWED:
                owed.setdefault((a.student_id, a.unit), []).append(a)
        self._owed, self._alloc_units = owed, units

    # --- per student --------------------------------------------------------------------------------
    def usable_packages(self, student_id: str) -> list[Package]:
        """Packages a student can draw from: their own and their family's shared ones."""
        return list(self._usable.get(student_id, ()))

    def has_packages(self, student_id: str) -> bool:
        """Whether the student may draw from any package at all (usable_packages is not empty)."""
        return student_id in self._usable

    def units(self, student_id: str) -> list[str]:
        """Units the student has packages in or has drawn (or owes) sessions in."""
        return sorted({p.unit for p in self._usable.get(student_id, ())} | self._alloc_units.get(student_id, set()))

    def usable(self, student_id: str, unit: Optional[str] = None) -> Decimal:
        """Credit the student can use now: their own packages plus their family's shared ones."""
        return sum((p.remaining for p in self._usable.get(student_id, ())
                    if p.status not in GONE and (unit is None or p.unit == unit)), ZERO)

    def next_expiry(self, student_id: str) -> Optional[dt.date]:
        as_of = self.state.as_of
        dates = [p.expires_on for p in self._usable.get(student_id, ())
                 if p.expires_on and p.expires_on >= as_of and p.remaining > 0 and p.status != PackageStatus.INACTIVE]
        return min(dates) if dates else None

    def owed(self, student_id: str, unit: Optional[str]) -> list:
        return self._owed.get((student_id, unit), [])

    def owed_value(self, student_id: str, unit: Optional[str]) -> Decimal:
        """What the owed sessions are worth: their quantity at the unit value of the latest package (by
        purchase) the student could have drawn them from; zero when they have never had one."""
        owed = self.owed(student_id, unit)
        if not owed:
            return ZERO
        priced = [p for p in self._usable.get(student_id, ()) if p.unit == unit and p.unit_value and not p.comp]
        if not priced:
            return ZERO
        latest = max(priced, key=lambda p: (p.purchased_on, p.package_id))
        return money(sum((a.quantity for a in owed), ZERO) * latest.unit_value)

    def line(self, student_id: str, unit: str) -> Line:
        every = [p for p in self._own.get(student_id, ()) if p.unit == unit]
        mine = [p for p in every if p.status not in GONE]
        return Line(student_id, self.state.family_of(student_id), unit,
                    sum((p.remaining for p in mine), ZERO), _value(every),
                    self.usable(student_id, unit), len({a.session_id for a in self.owed(student_id, unit)}),
                    self.owed_value(student_id, unit), self.next_expiry(student_id),
                    tuple(p.package_id for p in mine))

    # --- the whole studio ---------------------------------------------------------------------------
    def lines(self) -> list[Line]:
        """Every student and unit (in id order; a student with nothing yet gets a `lessons` line), then each
        family's shared pool per unit. Summing `remaining` or `value_remaining` counts every package once."""
        out = []
        for sid in sorted(self.state.students):
            for unit in self.units(sid) or ["lessons"]:
                out.append(self.line(sid, unit))
        as_of = self.state.as_of
        for family in sorted(self._pool):
            pkgs = self._pool[family]
            for unit in sorted({p.unit for p in pkgs}):
                live = [p for p in pkgs if p.unit == unit and p.status not in GONE]
                left = sum((p.remaining for p in live), ZERO)
                dates = [p.expires_on for p in live if p.expires_on and p.expires_on >= as_of and p.remaining > 0]
                out.append(Line(None, family, unit, left, _value(p for p in pkgs if p.unit == unit), left, 0,
                                ZERO, min(dates) if dates else None, tuple(p.package_id for p in live)))
        return out


WHOLE_CHAIN = "all"  # the location column of the whole chain's lines (Balances and Report)
NO_LOCATION = "(none)"  # packs sold, or lessons given, before the studio typed locations


@dataclass(frozen=True, slots=True)
class LocationLine:
    """A location's figures (or the whole chain's) per unit. A pack belongs to the location where it was
    sold (its credit and liability sit there, wherever its lessons are taken); owed lessons to the
    location where they were given."""

    location: str
    unit: str
    remaining: Decimal
    value_remaining: Decimal
    owed_sessions: int
    next_expiry: Optional[dt.date]


def location_lines(state: State) -> list[LocationLine]:
    """Per location and unit, then the whole chain per unit; none while no pack and no lesson has a
    location (a one-location studio sees no extra lines). Every live package is counted once, under its
    home, so a unit's location lines add up to its whole-chain line."""
    homes = {p.location for p in state.packages.values()}
    places = {ev.location for ev in state.sessions.values()}
    if not any(homes) and not any(places):
        return []
    as_of = state.as_of
    packs: dict[tuple, list[Package]] = {}
    every: dict[tuple, list[Package]] = {}  # closed ones too: their value is what a booking still holds
    for p in state.packages.values():
        every.setdefault((p.location or NO_LOCATION, p.unit), []).append(p)
        if p.status not in GONE:
            packs.setdefault((p.location or NO_LOCATION, p.unit), []).append(p)
    owed: dict[tuple, set] = {}
    for a in state.allocations:
        if a.state == AllocationState.OWED:
            ev = state.sessions.get(a.session_id)
            where = (ev.location if ev is not None else None) or NO_LOCATION
            owed.setdefault((where, a.unit), set()).add(a.session_id)

    def line(location: str, unit: str, pkgs: list[Package], worth: list[Package], sessions: set) -> LocationLine:
        dates = [p.expires_on for p in pkgs if p.expires_on and p.expires_on >= as_of and p.remaining > 0
                 and p.status != PackageStatus.INACTIVE]
        return LocationLine(location, unit, sum((p.remaining for p in pkgs), ZERO), _value(worth), len(sessions),
                            min(dates) if dates else None)

    keys = sorted(set(packs) | set(owed) | {k for k, ps in every.items() if _value(ps)})
    out = [line(where, unit, packs.get((where, unit), []), every.get((where, unit), []), owed.get((where, unit), set()))
           for where, unit in keys]
    for unit in sorted({unit for _where, unit in keys}):
        out.append(line(WHOLE_CHAIN, unit, [p for (w, u), ps in packs.items() if u == unit for p in ps],
                        [p for (w, u), ps in every.items() if u == unit for p in ps],
                        {s for (w, u), ss in owed.items() if u == unit for s in ss}))
    return out


def _value(pkgs) -> Decimal:
    """Σ value_remaining, over closed packages too: an expired pack whose credit a booking still holds is
    still owed (its value_remaining is that booking's), so the column adds up to queries.liability."""
    return sum((p.value_remaining for p in pkgs), ZERO)


def index(state) -> BalanceIndex:
    """The State's balance index, built on first use and kept with it (a State is read-only once folded)."""
    found = state.__dict__.get("_balance_index")
    if found is None or found.state is not state:
        found = BalanceIndex(state)
        state.__dict__["_balance_index"] = found
    return found
