"""Credit movements: one line per change to a package's credit, with a running balance per package.

What a parent disputes is "what did my balance say on that day, and why". The fold answers "what is
the balance as of D" (`balance --as-of D`), and a later fact can change the past's matching (a freeze
dated after a lesson moves the expiry and with it the draw order; an extension revives an expired
lot). So the movements are not read off one fold: they are the differences between the folds of
consecutive *change days* of the family's component, each explained line by line:

- a session that drew or gave back credit (attended, late cancel, no-show, a booking's hold);
- a lot that appeared (bought, topped up, make-up granted, transferred in, carried over, comp, adjusted);
- a pinned draw (refunded, chargeback, transferred out, carried over, adjusted);
- a lot past its last day (expired), or revived by an extension or a freeze;
- a package deactivated or reactivated;
- a freeze, unfreeze or extension (no change: they move the expiry, which the line says);
- and, only when a later fact re-matched earlier use between packages, a `rematched` line with the
  difference, so that the running balance is never silently wrong.

A change day is any date an event is dated or recorded, the day after a lot's or package's last day,
and the day a months lot starts; days in between cannot change a balance. By construction the running
balance of a package after the last line of day D is that package's figure in `fold(entries, D)`; a
hypothesis property checks it against `balance --as-of` on every day (tests/test_movements.py).

Pure: entries in, lines out. No clock, no files.
"""

from __future__ import annotations

import datetime as dt
import heapq
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Iterable
from typing import Optional

from xl_ledger.core import events as E
from xl_ledger.core.fold import fold
from xl_ledger.core.kinds import CLOSED
from xl_ledger.core.numbers import QTY_EPS
from xl_ledger.core.numbers import ZERO
from xl_ledger.core.state import Package
from xl_ledger.core.state import State

ONE_DAY = dt.timedelta(days=1)
# A package in one of these states does not count towards what a student can use (queries.balance).
NOT_COUNTED = CLOSED


class Kind(StrEnum):
    BOUGHT = "bought"
    TOPPED_UP = "topped up"
    COMP = "comp"
    ADJUSTED = "adjusted"
    MAKEUP = "make-up granted"
    TRANSFER_IN = "transferred in"
    TRANSFER_OUT = "transferred out"
    CARRIED_IN = "carried over in"
    CARRIED_OUT = "carried over out"
    BOOKED = "booked (held)"
    RELEASED = "hold released"
    ATTENDED = "attended"
    LATE_CANCEL = "late cancel"
    NO_SHOW = "no-show"
    CANCELLED = "cancelled"
    MONTH_USED = "month started"
    REFUNDED = "refunded"
    CHARGEBACK = "chargeback"
    EXPIRED = "expired"
    RESTORED = "restored"  # an expired lot usable again (an extension or freeze moved its last day)
    FROZEN = "frozen"
    UNFROZEN = "unfrozen"
    EXTENDED = "extended"
    DEACTIVATED = "deactivated"
    REACTIVATED = "reactivated"
    REMATCHED = "rematched"  # earlier use moved between packages by a later fact


SESSION_KINDS = {"attended": Kind.ATTENDED, "late_cancel": Kind.LATE_CANCEL, "no_show": Kind.NO_SHOW}
LOT_KINDS = {"main": Kind.BOUGHT, "period": Kind.BOUGHT, "top_up": Kind.TOPPED_UP, "adjust": Kind.ADJUSTED,
             "comp": Kind.COMP, "makeup": Kind.MAKEUP, "transfer_in": Kind.TRANSFER_IN,
             "rollover_in": Kind.CARRIED_IN}
DRAW_KINDS = {"refund": Kind.REFUNDED, "chargeback": Kind.CHARGEBACK, "transfer": Kind.TRANSFER_OUT,
              "adjust": Kind.ADJUSTED, "rollover": Kind.CARRIED_OUT}
EVENT_KINDS = {E.Sale: Kind.BOUGHT, E.TopUp: Kind.TOPPED_UP, E.Comp: Kind.COMP, E.Adjust: Kind.ADJUSTED,
               E.Refund: Kind.REFUNDED, E.Chargeback: Kind.CHARGEBACK, E.Transfer: Kind.TRANSFER_OUT,
               E.Freeze: Kind.FROZEN, E.Unfreeze: Kind.UNFROZEN, E.Extend: Kind.EXTENDED,
               E.Deactivate: Kind.DEACTIVATED, E.Reactivate: Kind.REACTIVATED}


@dataclass(frozen=True, slots=True)
class Movement:
    date: dt.date
    kind: Kind
    package_id: str
    product: str  # the product's name
    owner: str  # who owns the package
    student_id: Optional[str]  # who used it (sessions), else the owner
    session_id: Optional[str]
    session_time: Optional[str]  # HH:MM
    change: Decimal
    unit: str
    balance: Decimal  # this package's running balance after the line
    recorded_by: str  # the Log operator behind the line ("" when the line follows from the date alone)
    reason_code: Optional[str]
    source: str  # the input cell the fact came from, e.g. Actions!7 or Sessions!L12
    detail: str  # e.g. "expiry now 2026-05-14", "to S-004 (PK-0012)"
    amount: Optional[Decimal] = None  # money paid in (sale, top-up) or back (refund, chargeback)


@dataclass(frozen=True, slots=True)
class Statement:
    """Movements of a set of packages over [start, end], with the balances either side."""
    start: dt.date
    end: dt.date
    students: tuple[str, ...]
    opening: dict  # package_id -> balance at the end of start - 1
    closing: dict  # package_id -> balance at the end of `end`
    lines: list[Movement]
    packages: dict  # package_id -> Package (as of `end`, or the last day it existed)
    state: State  # the fold as of `end`


def counted(pkg: Optional[Package]) -> Decimal:
    """What a package adds to a student's usable balance (the rule queries.balance applies)."""
    if pkg is None or pkg.status in NOT_COUNTED:
        return ZERO
    return pkg.remaining


def statement(entries: Iterable[E.Entry], students: Iterable[str], start: Optional[dt.date], end: dt.date,
              family: bool = False) -> Statement:
    """The movements of the packages `students` can use (or own, for a family) from `start` to `end`.

    `entries` may be the whole Log or the students' component (scope.Scopes.entries_for): folding a
    component gives the same figures for its packages. `start=None` starts at the first event.
    """
    entries = list(entries)
    students = tuple(students)
    by_seq = _Index(entries)
    if start is None:
        start = by_seq.first_day or end
    if start > end:
        raise ValueError(f"the period starts ({start}) after it ends ({end})")

    def relevant(state: State) -> dict[str, Package]:
        out = {}
        for sid in students:
            pkgs = [p for p in state.packages.values() if p.owner == sid] if family else state.usable_packages(sid)
            for p in pkgs:
                out[p.package_id] = p
        return out

    prev = fold(entries, start - ONE_DAY)
    prev_pkgs = relevant(prev)
    opening = {pid: counted(p) for pid, p in prev_pkgs.items()}
    running = dict(opening)
    seen: dict[str, Package] = dict(prev_pkgs)
    days = [d for d in by_seq.days if start <= d <= end]
    heapq.heapify(days)
    _add_lot_days(days, prev_pkgs.values(), start, end)
    lines: list[Movement] = []
    done: set[dt.date] = set()
    state = prev
    while days:
        d = heapq.heappop(days)
        if d in done:
            continue
        done.add(d)
        state = fold(entries, d)
        pkgs = relevant(state)
        _add_lot_days(days, pkgs.values(), d + ONE_DAY, end)
        for pid in sorted(set(prev_pkgs) | set(pkgs), key=_natural):
            before, after = prev_pkgs.get(pid), pkgs.get(pid)
            new = _explain(d, before, after, prev, state, by_seq)
            total = sum((m.change for m in new), ZERO)
            delta = counted(after) - counted(before)
            pkg = after or before
            if abs(delta - total) >= QTY_EPS:
                new.append(_line(d, Kind.REMATCHED, pkg, None, None, delta - total, "", None, "",
                                 "a later entry moved earlier use between packages"))
            bal = running.get(pid, ZERO)
            for m in new:
                bal += m.change
                lines.append(_with_balance(m, bal))
            running[pid] = bal
            if after is not None:
                seen[pid] = after
        prev, prev_pkgs = state, pkgs
    if end not in done:
        state = fold(entries, end)
    closing = {pid: running.get(pid, ZERO) for pid in seen}
    return Statement(start, end, students, opening, closing, lines, seen, state)


def _natural(package_id: str) -> tuple:
    head, _, num = package_id.rpartition("-")
    return (head, int(num)) if num.isdigit() else (package_id, 0)


def _with_balance(m: Movement, balance: Decimal) -> Movement:
    return Movement(m.date, m.kind, m.package_id, m.product, m.owner, m.student_id, m.session_id, m.session_time,
                    m.change, m.unit, balance, m.recorded_by, m.reason_code, m.source, m.detail, m.amount)


def _line(d, kind, pkg, student, session_id, change, by, reason, source, detail="", time=None) -> Movement:
    return Movement(d, kind, pkg.package_id, pkg.product.name, pkg.owner, student or pkg.owner, session_id, time,
                    change, pkg.unit, ZERO, by, reason, source, detail)


def _add_lot_days(days: list, pkgs: Iterable[Package], first: dt.date, end: dt.date) -> None:
    """The days a balance can change without an event: the day after a last valid day, a months lot's start."""
    for p in pkgs:
        marks = [p.expires_on]
        for lot in p.lots:
            marks.append(lot.end if lot.own_end else p.expires_on)
        for m in marks:
            if m is not None and first <= m + ONE_DAY <= end:
                heapq.heappush(days, m + ONE_DAY)
        if p.unit == "months":
            for lot in p.lots:
                if lot.start is not None and first <= lot.start <= end:
                    heapq.heappush(days, lot.start)


class _Index:
    """The Log entries behind the lines: who recorded a fact, its reason code and its source cell."""

    def __init__(self, entries: list[E.Entry]):
        self.sessions: dict[str, list[E.Entry]] = {}
        self.by_package: dict[tuple, list[E.Entry]] = {}
        days: set[dt.date] = set()
        for entry in entries:
            ev = entry.event
            if isinstance(ev, (E.SettingsSet, E.ProductSet, E.StudentSet, E.StaffSet, E.PeriodClose, E.ReasonSet, E.PeriodReopen)):
                continue
            days.add(ev.effective_date)
            days.add(entry.recorded_on)  # a booking holds credit from when it was recorded
            if isinstance(ev, E.SessionRecorded):
                self.sessions.setdefault(ev.session_id, []).append(entry)
            elif ev.package_id:
                self.by_package.setdefault((ev.package_id, ev.effective_date), []).append(entry)
                if isinstance(ev, E.Transfer):
                    self.by_package.setdefault((ev.to_package_id, ev.effective_date), []).append(entry)
            if isinstance(ev, E.Freeze):  # the day after a freeze ends: the package is usable again
                days.add(ev.effective_date + dt.timedelta(days=ev.days))
        self.days = sorted(days)
        self.first_day = self.days[0] if self.days else None

    def session(self, session_id: str, as_of: dt.date) -> Optional[E.Entry]:
        """The session's latest entry as the fold of `as_of` sees it."""
        found = None
        for entry in self.sessions.get(session_id, ()):
            if entry.event.effective_date <= as_of or entry.recorded_on <= as_of:
                found = entry
        return found

    def events(self, package_id: str, d: dt.date, *kinds: type) -> list[E.Entry]:
        return [e for e in self.by_package.get((package_id, d), ()) if isinstance(e.event, kinds)]


def _explain(d: dt.date, before: Optional[Package], after: Optional[Package], prev: State, cur: State,
             index: _Index) -> list[Movement]:
    """The lines that take `before` (the package in the previous fold) to `after` (in this day's fold)."""
    pkg = after or before
    out: list[Movement] = []
    pid = pkg.package_id
    was_counted = before is not None and before.status not in NOT_COUNTED
    is_counted = after is not None and after.status not in NOT_COUNTED

    if not was_counted and not is_counted:
        return out  # it adds nothing to anyone's balance before or after (inactive, expired, refunded)
    if not was_counted and before is not None:
        # It counts again (reactivated, or usable again after its last day moved): its credit comes back
        # as it stood, and the day's changes follow.
        kind = Kind.REACTIVATED if before.status == "inactive" else Kind.RESTORED
        entry = _first(index.events(pid, d, E.Reactivate if kind is Kind.REACTIVATED else E.Extend))
        out.append(_entry_line(d, kind, pkg, before.remaining, entry))

    # New credit: lots that were not there (or grew).
    before_lots = _lots(before)
    after_lots = _lots(after)
    grants: dict[Kind, Decimal] = {}  # one line per kind of grant: a sale of 3 months is one line of +3
    for lot_id, (kind, qty) in after_lots.items():
        grown = qty - before_lots.get(lot_id, (kind, ZERO))[1]
        if abs(grown) >= QTY_EPS:
            k = LOT_KINDS.get(kind, Kind.ADJUSTED)
            grants[k] = grants.get(k, ZERO) + grown
    for k, grown in grants.items():
        entry = _lot_entry(index, pid, d, k)
        detail = ""
        if k is Kind.TRANSFER_IN and entry is not None:
            detail = f"from {entry.event.student_id} ({entry.event.package_id})"
        elif k is Kind.MAKEUP:
            detail = f"for {pid[3:]} (studio cancelled)"
        out.append(_entry_line(d, k, pkg, grown, entry, detail))
    for lot_id, (kind, qty) in before_lots.items():
        if lot_id not in after_lots and after is not None:  # a lot merged away (boundary weeks)
            out.append(_line(d, Kind.ADJUSTED, pkg, None, None, -qty, "", None, "", "merged into another lot"))

    # Sessions: what each drew from this package, before and after.
    drew_before = _drawn(prev, pid) if before is not None else {}
    drew_after = _drawn(cur, pid) if after is not None else {}
    for sid in sorted(set(drew_before) | set(drew_after), key=lambda s: (_session_date(s, cur, prev), s)):
        b_state, b_qty, _who, _st = drew_before.get(sid, ("", ZERO, None, None))
        a_state, a_qty, who, status = drew_after.get(sid, ("", ZERO, None, None))
        if who is None:
            who, status = drew_before[sid][2], drew_before[sid][3]
        entry = index.session(sid, d)
        ev = entry.event if entry else None
        time = ev.start if ev else None
        change = b_qty - a_qty
        if abs(change) < QTY_EPS and a_state == b_state:
            continue
        if _moved(prev, cur, sid):
            kind, detail = Kind.REMATCHED, "a later entry moved this session's draw between packages"
        elif a_state == "used" and b_state == "reserved" and abs(change) < QTY_EPS:
            kind, detail = SESSION_KINDS.get(status, Kind.ATTENDED), "the booking's held credit used"
        elif a_state == "used" and change < 0:
            kind, detail = SESSION_KINDS.get(status, Kind.ATTENDED), ""
        elif a_state == "reserved" and change < 0:
            kind, detail = Kind.BOOKED, ""
        elif change > 0 and a_qty == 0:
            ev_status = ev.status if ev else ""
            kind = Kind.RELEASED if b_state == "reserved" else Kind.CANCELLED
            detail = f"now {ev_status}" if ev_status else ""
        else:
            kind, detail = Kind.REMATCHED, "the session's draw changed"
        out.append(_line(d, kind, pkg, who, sid, change, entry.operator if entry else "", None,
                         entry.source if entry else "", detail, time))

    # A months lot that has started is used, whoever came (fold.settle recognises it at its start).
    if pkg.unit == "months" and after is not None:
        before_lots_all = _lots(before)
        # (a lot new today counts in full: a months pack sold today has its first month started today)
        waiting = {lot.lot_id: lot.left for lot in (before.lots if before is not None else ())
                   if lot.start is not None and lot.start > prev.as_of}
        for lot in after.lots:
            left = waiting.get(lot.lot_id, ZERO if lot.lot_id in before_lots_all else lot.quantity)
            if lot.start is not None and lot.start <= cur.as_of and left >= QTY_EPS:
                out.append(_line(d, Kind.MONTH_USED, pkg, None, None, -left, "", None, "",
                                 f"{lot.start} to {lot.end}"))

    # Pinned draws: refunds, chargebacks, transfers out, negative adjustments, carry-overs.
    draws_before = _draws(before) if before is not None else {}
    draws_after = _draws(after) if after is not None else {}
    for key in sorted(set(draws_before) | set(draws_after), key=str):
        change = draws_before.get(key, ZERO) - draws_after.get(key, ZERO)
        if abs(change) < QTY_EPS:
            continue
        k = DRAW_KINDS.get(key[1], Kind.ADJUSTED)
        entry = _first(index.events(pid, key[0], {Kind.REFUNDED: E.Refund, Kind.CHARGEBACK: E.Chargeback,
                                                  Kind.TRANSFER_OUT: E.Transfer, Kind.ADJUSTED: E.Adjust}
                                    .get(k, E.Event)))
        detail = ""
        if k is Kind.TRANSFER_OUT and entry is not None:
            detail = f"to {entry.event.to_student_id} ({entry.event.to_package_id})"
        out.append(_entry_line(key[0] if key[0] == d else d, k, pkg, change, entry, detail))

    # Expiry: credit left in lots past their last day, each lot its own line (a negative figure: an
    # extension revived it).
    gone = (after.expired if after is not None else ZERO) - (before.expired if before is not None else ZERO)
    if gone >= QTY_EPS:
        for qty, last in _expiring_lots(before, after, d, gone):
            out.append(_line(d, Kind.EXPIRED, pkg, None, None, -qty, "", None, "",
                             f"last valid day {last}" if last else ""))
    elif gone <= -QTY_EPS:
        entry = _first(index.events(pid, d, E.Extend, E.Freeze, E.Unfreeze))
        out.append(_entry_line(d, Kind.RESTORED, pkg, -gone, entry, "usable again: its last day moved"))

    # Freezes, unfreezes and extensions change no credit: the line says what moved.
    for entry in index.events(pid, d, E.Freeze, E.Unfreeze, E.Extend):
        ev = entry.event
        k = EVENT_KINDS[type(ev)]
        detail = {E.Freeze: lambda: f"{ev.days} days", E.Extend: lambda: f"{ev.days} days",
                  E.Unfreeze: lambda: "usable again"}[type(ev)]()
        if after is not None and after.expires_on:
            detail += f", expires {after.expires_on}"
        out.append(_entry_line(d, k, pkg, ZERO, entry, detail))
    if was_counted and not is_counted:
        # It stops counting: what it still shows (an overdraft, or credit of a deactivated package)
        # leaves the balance with it.
        if after is None:  # a make-up credit no longer granted (a later entry changed its session)
            out.append(_line(d, Kind.REMATCHED, pkg, None, None, -before.remaining, "", None, "",
                             "no longer granted"))
            return out
        kind = {"inactive": Kind.DEACTIVATED, "refunded": Kind.REFUNDED}.get(after.status, Kind.EXPIRED)
        entry = _first(index.events(pid, d, E.Deactivate)) if kind is Kind.DEACTIVATED else None
        if abs(after.remaining) >= QTY_EPS or kind is Kind.DEACTIVATED:
            out.append(_entry_line(d, kind, pkg, -after.remaining, entry, f"the package is {after.status}"))
    return out


def _first(entries: list) -> Optional[E.Entry]:
    return entries[0] if entries else None


def _entry_line(d, kind, pkg, change, entry: Optional[E.Entry], detail: str = "") -> Movement:
    if entry is None:
        return _line(d, kind, pkg, None, None, change, "", None, "", detail)
    ev = entry.event
    line = _line(d, kind, pkg, None, None, change, entry.operator, ev.reason_code, entry.source, detail)
    if kind in (Kind.BOUGHT, Kind.TOPPED_UP, Kind.REFUNDED, Kind.CHARGEBACK) and ev.amount is not None:
        sign = -1 if kind in (Kind.REFUNDED, Kind.CHARGEBACK) else 1
        line = Movement(*[getattr(line, f) for f in Movement.__slots__[:-1]], amount=sign * ev.amount)
    return line


def _lot_entry(index: _Index, pid: str, d: dt.date, kind: Kind) -> Optional[E.Entry]:
    wanted = {Kind.BOUGHT: (E.Sale,), Kind.TOPPED_UP: (E.TopUp,), Kind.ADJUSTED: (E.Adjust,),
              Kind.COMP: (E.Comp,), Kind.TRANSFER_IN: (E.Transfer,)}.get(kind)
    if not wanted:
        if kind is Kind.MAKEUP:
            return index.session(pid[3:], d)
        return None
    return _first(index.events(pid, d, *wanted))


def _lots(pkg: Optional[Package]) -> dict[str, tuple[str, Decimal]]:
    if pkg is None:
        return {}
    return {lot.lot_id: (lot.kind, lot.quantity) for lot in pkg.lots}


_DRAWN: dict[int, tuple] = {}


def _draws_of(state: State) -> tuple:
    cached = _DRAWN.get(id(state))
    if cached is None or cached[0] is not state:
        by_package: dict[str, dict[str, tuple]] = {}
        by_session: dict[str, tuple] = {}
        for a in state.allocations:
            if a.package_id is not None and a.state in ("used", "reserved"):
                out = by_package.setdefault(a.package_id, {})
                _st, q, _who, _status = out.get(a.session_id, (a.state, ZERO, a.student_id, a.status))
                out[a.session_id] = (a.state, q + a.quantity, a.student_id, a.status)
                total, _ = by_session.get(a.session_id, (ZERO, a.state))
                by_session[a.session_id] = (total + a.quantity, a.state)
        if len(_DRAWN) >= 4:  # only the two folds being compared are asked about at a time
            _DRAWN.pop(next(iter(_DRAWN)))
        cached = _DRAWN[id(state)] = (state, by_package, by_session)
    return cached


def _drawn(state: State, package_id: str) -> dict[str, tuple]:
    """session_id -> (state, quantity, student, status) of what it drew from the package."""
    return _draws_of(state)[1].get(package_id, {})


def _moved(prev: State, cur: State, session_id: str) -> bool:
    """The session drew as much, in the same state, from all packages together: only the package changed."""
    return _draws_of(prev)[2].get(session_id) == _draws_of(cur)[2].get(session_id)


def _session_date(session_id: str, *states: State) -> dt.date:
    for s in states:
        ev = s.sessions.get(session_id)
        if ev is not None:
            return ev.effective_date
    return dt.date.min


def _draws(pkg: Package) -> dict[tuple, Decimal]:
    out: dict[tuple, Decimal] = {}
    for date, kind, qty, _money in pkg.draws:
        out[(date, kind)] = out.get((date, kind), ZERO) + qty
    return out


def _expiring_lots(before: Optional[Package], after: Package, d: dt.date, gone: Decimal) -> list[tuple]:
    """The credit that expired by `d`, one line per lot on its own last day (fold records each lapse in
    Package.expiries); whatever those do not cover is one line for the package."""
    out = []
    left = gone
    earlier = list(before.expiries) if before is not None else []
    for last, qty in after.expiries:
        if (last, qty) in earlier:
            earlier.remove((last, qty))
            continue
        q = min(qty, left)
        if q >= QTY_EPS:
            out.append((q, last))
            left -= q
    if left >= QTY_EPS:
        out.append((left, after.expires_on))
    return out
