"""fold(entries, as_of) → State: the whole ledger recomputed from the Log.

The steps, in order (docs/engine.md explains why this order):
1. Master data (settings, products, students) in Log order; the latest row wins.
2. Packages and their lots from sales, top-ups, comps, positive adjustments (effective ≤ as_of);
   freezes, extensions, (de)activations applied to them; weekly lots of consecutive monthly
   packages merged into one credit for the shared boundary week.
3. Each session's latest state, turned into a demand: consume, reserve, or nothing.
4. One sweep in date order over sessions and "pinned" draws (refunds, chargebacks, transfers,
   negative adjustments, rollovers): each session takes credit from its eligible lots in draw order
   (matching.py), then overdraws up to negative_limit, else is owed.
5. Leftover credit in lots past their last valid day becomes expired (breakage); months lots that
   have started are recognised as used.
6. Figures per package, then alerts.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Iterable
from typing import Optional

from xl_ledger.core import balances
from xl_ledger.core import events as E
from xl_ledger.core import periods
from xl_ledger.core.inputs import Product
from xl_ledger.core.inputs import Settings
from xl_ledger.core.inputs import Student
from xl_ledger.core.matching import Sweep
from xl_ledger.core.numbers import ZERO
from xl_ledger.core.numbers import money
from xl_ledger.core.parse import parse_validity
from xl_ledger.core.state import Alert
from xl_ledger.core.state import Lot
from xl_ledger.core.state import Package
from xl_ledger.core.state import State
from xl_ledger.core.state import last_valid_day
from xl_ledger.core.kinds import LIVE
from xl_ledger.core.kinds import RECEIVED
from xl_ledger.core.kinds import AlertKind
from xl_ledger.core.kinds import AllocationState
from xl_ledger.core.kinds import LotKind
from xl_ledger.core.kinds import PackageStatus


def product_from_values(values: dict) -> Product:
    return Product.model_validate(values)


# A post folds master data many times (each command folds its family with every student and product):
# each model is validated once per distinct set of values (Log values are text; they key the cache).
_MODELS: dict[tuple, object] = {}


def _model(make, values: dict):
    try:
        key = (make, tuple(values.items()), tuple(map(type, values.values())))  # 1 == True, but not as input
        found = _MODELS.get(key)
    except TypeError:  # a value that is not hashable: validate it every time
        return make(values)
    if found is None:
        if len(_MODELS) > 100_000:
            _MODELS.clear()
        found = _MODELS[key] = make(values)
    return found


def fold(entries: Iterable[E.Entry], as_of: dt.date) -> State:
    settings = Settings()
    products: dict[str, Product] = {}
    students: dict[str, Student] = {}
    packages: dict[str, Package] = {}
    sessions: dict[str, E.SessionRecorded] = {}
    pinned: list[tuple] = []  # (date, seq, kind, package_id, quantity, event)
    buyers: set[str] = set()
    closed: Optional[dt.date] = None
    last_seq = 0
    session_kinds = (E.SessionRecorded, E.SessionChanged)
    as_of_text = as_of.isoformat()

    for entry in entries:
        ev = entry.event
        last_seq = entry.seq
        cls = type(ev)
        if cls in session_kinds:
            # A booking counts from when it was made, a lesson from its date (see DECISIONS.md).
            if ev.effective_date <= as_of or entry.recorded_at[:10] <= as_of_text:
                sessions[ev.session_id] = ev
            continue
        if cls is E.SettingsSet:
            settings = Settings.model_validate({**settings.model_dump(), **ev.values})
            continue
        if cls is E.ProductSet:
            products[ev.values["product_id"]] = _model(product_from_values, ev.values)
            continue
        if cls is E.StudentSet:
            students[ev.values["student_id"]] = _model(Student.model_validate, ev.values)
            continue
        if cls is E.ReasonSet:  # the Reasons list: read by the Post (Scopes.reasons), nothing to fold
            continue
        if cls is E.Sale:
            buyers.add(ev.student_id)
        if cls is E.PeriodClose or cls is E.PeriodReopen:  # a close protects the past whatever date we look from
            closed = closed_after(closed, ev)
            continue
        if ev.effective_date > as_of:
            continue
        if cls is E.Sale:
            product = products[ev.product_id]
            packages[ev.package_id] = open_package(ev.package_id, ev.student_id, product, ev.effective_date,
                                                   ev.amount or ZERO, ev.quantity, settings)
            packages[ev.package_id].location = ev.location
        elif cls is E.Comp:
            product = comp_product(ev, products)
            pkg = open_package(ev.package_id, ev.student_id, product, ev.effective_date, ZERO, ev.quantity, settings)
            pkg.comp = True
            pkg.location = ev.location
            packages[ev.package_id] = pkg
        elif cls is E.TopUp:
            pkg = packages[ev.package_id]
            pkg.lots.append(Lot(f"{pkg.package_id}/t{len(pkg.lots) + 1}", pkg.package_id, ev.quantity, LotKind.TOP_UP,
                                left=ev.quantity, granted=ev.effective_date))
            pkg.price += ev.amount or ZERO
            pkg.paid_quantity += ev.quantity
        elif cls is E.Adjust:
            pkg = packages[ev.package_id]
            if ev.quantity > 0:
                pkg.lots.append(Lot(f"{pkg.package_id}/a{len(pkg.lots) + 1}", pkg.package_id, ev.quantity, LotKind.ADJUST,
                                    left=ev.quantity, granted=ev.effective_date))
            else:
                pinned.append((ev.effective_date, entry.seq, "adjust", ev.package_id, -ev.quantity, ev))
        elif cls in (E.Refund, E.Chargeback, E.Transfer):
            pinned.append((ev.effective_date, entry.seq, ev.kind, ev.package_id, ev.quantity or ZERO, ev))
            if cls is E.Transfer:
                # The receiving package exists from now on (later rows may freeze or adjust it); its
                # credit arrives in the sweep, when the transfer draws from the source package.
                source = packages[ev.package_id]
                packages[ev.to_package_id] = Package(package_id=ev.to_package_id, owner=ev.to_student_id,
                                                     product=source.product, purchased_on=ev.effective_date,
                                                     location=source.location)
        elif cls is E.Freeze:
            pkg = packages[ev.package_id]
            pkg.freezes.append([ev.effective_date, ev.effective_date + dt.timedelta(days=ev.days - 1)])
        elif cls is E.Unfreeze:
            pkg = packages[ev.package_id]
            for span in pkg.freezes:
                if span[0] <= ev.effective_date <= span[1]:
                    span[1] = ev.effective_date - dt.timedelta(days=1)
            pkg.freezes = [s for s in pkg.freezes if s[1] >= s[0]]
        elif cls is E.Extend:
            packages[ev.package_id].extra_days += ev.days
            packages[ev.package_id].extends.append((ev.effective_date, ev.days))
        elif cls is E.Deactivate:
            packages[ev.package_id].active = False
            packages[ev.package_id].switches.append((ev.effective_date, False))
        elif cls is E.Reactivate:
            packages[ev.package_id].active = True
            packages[ev.package_id].switches.append((ev.effective_date, True))

    merge_boundary_weeks(packages)
    for pkg in packages.values():
        pkg.expires_on = pkg.expiry() if pkg.base_end else last_day(pkg)
    pinned.extend(rollovers(packages))

    if closed is not None:
        for pkg in packages.values():
            as_closed(pkg, closed)
    sweep = Sweep(settings, students, packages, as_of, closed)
    sweep.run(sessions.values(), pinned)

    for pkg in packages.values():
        settle(pkg, as_of)
    state = State(as_of=as_of, settings=settings, products=products, students=students, packages=packages,
                  allocations=sweep.allocations, alerts=[], sessions=sessions, notices=sweep.notices,
                  last_seq=last_seq, closed_through=closed, buyers=buyers)
    state.alerts = alerts(state)
    return state


def as_closed(pkg: Package, closed: dt.date) -> None:
    """The package as the books were closed: its expiry and active flag by the events effective by then."""
    pkg.closed_end = pkg.expiry_through(closed) if pkg.base_end else pkg.expires_on
    on = True
    for d, flag in pkg.switches:
        if d <= closed:
            on = flag
    pkg.closed_active = on


def closed_after(closed: Optional[dt.date], ev: E.Event) -> Optional[dt.date]:
    """The day the books are closed through after a period_close or period_reopen row (the one home of
    the rule): a close moves it forward; a reopen from a day moves it back to the day before, never
    forward (reopening a month that is open changes nothing)."""
    if type(ev) is E.PeriodClose:
        return ev.effective_date if closed is None else max(closed, ev.effective_date)
    if closed is not None and closed >= ev.effective_date:
        return ev.effective_date - dt.timedelta(days=1)
    return closed


def comp_product(ev: E.Comp, products: dict[str, Product]) -> Product:
    base = products.get(ev.product_id) if ev.product_id else None
    return Product(product_id=ev.product_id or "COMP", name=(base.name if base else "Complimentary credit"),
                   unit=ev.unit or (base.unit if base else "lessons"), quantity=ev.quantity, price=ZERO,
                   validity=ev.validity if ev.validity else (base.validity if base else None),
                   service=ev.service if ev.service else (base.service if base else None),
                   shared=base.shared if base else False, priority=base.priority if base else 100,
                   location=base.location if base else None)


def open_package(package_id: str, owner: str, product: Product, start: dt.date, price: Decimal,
                 quantity: Optional[Decimal], settings: Settings) -> Package:
    """A package and its lots as the product grants them, starting `start`."""
    quantity = quantity if quantity is not None else product.quantity
    pkg = Package(package_id=package_id, owner=owner, product=product, purchased_on=start, price=price)
    validity = parse_validity(product.validity)
    lots = pkg.lots

    def add(n: int, qty: Decimal, first: Optional[dt.date], last: Optional[dt.date], week=None) -> None:
        lots.append(Lot(f"{package_id}/{n}", package_id, qty, LotKind.PERIOD, start=first, end=last, own_end=True,
                        left=qty, week=week))

    # period_start: calendar months (seed 004, the default) or months counted from the purchase day.
    months_of = periods.months_from if product.period_start == "purchase" else periods.months_in
    if product.unit == "months":
        for i, (first, last) in enumerate(months_of(start, int(quantity))):
            add(i + 1, Decimal(1), first, last)
    elif product.period == "month":
        count = int(-(-quantity // product.per_period))
        if validity and validity.unit in ("months", "years"):
            count = validity.count * (12 if validity.unit == "years" else 1)
        for i, (first, last) in enumerate(months_of(start, count)):
            add(i + 1, product.per_period, first, last)
    elif product.period == "week":
        if validity and validity.unit in ("months", "years"):
            months = months_of(start, validity.count * (12 if validity.unit == "years" else 1))
            if product.period_start == "purchase":
                for i, (a, b) in enumerate(periods.weeks_from(months[0][0], months[-1][1])):
                    add(i + 1, product.per_period, a, b)
            else:
                # A monthly pack of weekly credits: calendar weeks, clipped at its months (seed 004).
                first_weekday = 0 if settings.week_start == "monday" else 6
                for i, (week, a, b) in enumerate(periods.weeks_in(months[0][0], months[-1][1], first_weekday)):
                    add(i + 1, product.per_period, a, b, week)
        else:
            # An N-week pack: one credit per week *of the package*, weeks counted from the purchase day
            # (or, with validity_starts=first_use, from the first lesson: the lots are dated then).
            last = periods.last_valid_day(start, validity) if validity else \
                start + dt.timedelta(days=7 * int(-(-quantity // product.per_period)) - 1)
            weeks = periods.weeks_from(start, last)
            if product.validity_starts == "first_use" and validity:
                for i in range(len(weeks)):
                    lots.append(Lot(f"{package_id}/{i + 1}", package_id, product.per_period, LotKind.PERIOD,
                                    left=product.per_period))
                pkg.weeks_from_first_use = True
            else:
                for i, (a, b) in enumerate(weeks):
                    add(i + 1, product.per_period, a, b)
    else:
        lots.append(Lot(f"{package_id}/1", package_id, quantity, LotKind.MAIN, left=quantity))
        if validity and product.validity_starts == "purchase":
            pkg.base_end = periods.last_valid_day(start, validity)
    pkg.paid_quantity = sum((lot.quantity for lot in lots), ZERO)
    return pkg


def merge_boundary_weeks(packages: dict[str, Package]) -> None:
    """Two monthly packages of weekly credits share their boundary week as ONE credit.

    The earlier package keeps a credit valid for the whole week; the later package's clipped piece of
    that week is dropped (and its unit value spread over the credits it still grants).
    """
    by_week: dict[tuple, list[tuple[Package, Lot]]] = {}
    for pkg in packages.values():
        for lot in pkg.lots:
            if lot.week is not None:
                by_week.setdefault((pkg.owner, pkg.product.product_id, lot.week), []).append((pkg, lot))
    for pieces in by_week.values():
        if len(pieces) < 2:
            continue
        pieces.sort(key=lambda pl: (pl[1].start, pl[0].purchased_on, pl[0].package_id))
        keep_pkg, keep = pieces[0]
        for pkg, lot in pieces[1:]:
            if pkg is keep_pkg:
                continue
            keep.start = min(keep.start, lot.start)
            keep.end = max(keep.end, lot.end)
            pkg.lots.remove(lot)
            pkg.paid_quantity -= lot.quantity


def rollovers(packages: dict[str, Package]) -> list[tuple]:
    """Pinned draws that carry leftover credit into a repurchase of the same product inside the window."""
    out = []
    by_owner_product: dict[tuple, list[Package]] = {}
    for pkg in packages.values():
        if not pkg.comp:
            by_owner_product.setdefault((pkg.owner, pkg.product.product_id), []).append(pkg)
    for group in by_owner_product.values():
        group.sort(key=lambda p: (p.purchased_on, p.package_id))
        for old in group:
            days = old.product.rollover_days
            end = old.expires_on
            if not days or end is None:
                continue
            for new in group:
                if end < new.purchased_on <= end + dt.timedelta(days=days):
                    cap = old.product.rollover_cap
                    out.append((end, 0, "rollover", old.package_id, cap, new.package_id))
                    break
    return out


def settle(pkg: Package, as_of: dt.date) -> None:
    """Expire what is past its last day, recognise started months, and fill the package's figures."""
    granted = ZERO
    remaining = ZERO
    for lot in pkg.lots:
        if lot.kind in RECEIVED:
            pkg.transferred_in += lot.quantity
        else:
            granted += lot.quantity
        if pkg.unit == "months" and lot.start is not None and lot.start <= as_of:
            if lot.left:
                pkg.begun.append((lot.start, lot.left))  # a month is delivered when it begins (finance.py)
            pkg.used += lot.left
            lot.left = ZERO
            pkg.redeemed = True
            continue
        end = last_valid_day(pkg, lot)
        if end is not None and end < as_of and lot.left > 0:
            pkg.expired += lot.left
            pkg.expiries.append((end, lot.left))  # each lot on its own last day (breakage, history)
            lot.left = ZERO
        remaining += lot.left
    pkg.granted = granted - pkg.adjusted_out
    pkg.remaining = remaining - pkg.overdrawn
    pkg.value_remaining = money(pkg.unredeemed * pkg.unit_value) if pkg.active else ZERO  # the liability's one rule
    if pkg.expires_on is None:
        pkg.expires_on = last_day(pkg)
    pkg.status = status_of(pkg, as_of)


# Bound once (an enum member read as a class attribute runs Python code in 3.11): asked per package
# and per allocation on every fold.
OWED = AllocationState.OWED
INACTIVE, REFUNDED, EXPIRED, FROZEN, USED_UP, ACTIVE = (PackageStatus.INACTIVE, PackageStatus.REFUNDED,
                                                        PackageStatus.EXPIRED, PackageStatus.FROZEN,
                                                        PackageStatus.USED_UP, PackageStatus.ACTIVE)


def status_of(pkg: Package, as_of: dt.date) -> PackageStatus:
    if not pkg.active:
        return INACTIVE
    if pkg.refunded and pkg.remaining <= 0:
        return REFUNDED
    end = last_day(pkg)
    if end is not None and end < as_of:
        return EXPIRED
    if pkg.frozen_on(as_of):
        return FROZEN
    if pkg.remaining <= 0 and pkg.reserved <= 0:
        return USED_UP
    return ACTIVE


def last_day(pkg: Package) -> Optional[dt.date]:
    ends = [last_valid_day(pkg, lot) for lot in pkg.lots]
    if not ends or any(e is None for e in ends):
        return None
    return max(ends)


def amount_of(q: Decimal, unit: Optional[str]) -> str:
    """'1 lesson', '2.5 hours', '0 lessons': how a quantity reads in a message."""
    text = f"{q.normalize():f}" if q else "0"
    unit = unit or "credits"
    return f"{text} {unit[:-1] if q == 1 and unit.endswith('s') else unit}"


def alerts(state: State) -> list[Alert]:
    s = state.settings
    out: list[Alert] = []
    horizon = state.as_of + dt.timedelta(days=s.expiry_warning_days)
    for a in state.allocations:
        if a.state == OWED:
            out.append(Alert(AlertKind.OWED, a.student_id, None, f"Sessions {a.session_id}",
                             f"{a.session_id} on {a.date.isoformat()} ({a.status}) has no credit: "
                             f"{amount_of(a.quantity, a.unit)} owed"))
    # Low balance: once per student and unit, on everything they can still use (their own packages and the
    # family pool), and only while they hold a live bought package in that unit (a comp needs no renewal).
    index = balances.index(state)
    for sid in sorted(state.students):
        if not index.has_packages(sid):
            continue  # no package, no low balance (a command's fold, Scopes.fold_for, has every student, few packages)
        for unit in index.units(sid):
            live = [p for p in index.usable_packages(sid)
                    if p.unit == unit and unit != "months" and p.status in ("active", "frozen") and not p.comp]
            if not live:
                continue
            left = index.usable(sid, unit)
            if left <= s.low_balance_threshold:
                booked = sum((p.reserved for p in live), ZERO)
                held = f" ({amount_of(booked, unit)} booked)" if booked > 0 else ""
                out.append(Alert("low_balance", sid, None, f"Balances {sid}",
                                 f"{sid} ({state.students[sid].name}) has {amount_of(left, unit)} left{held}"))
    for pkg in sorted(state.packages.values(), key=lambda p: p.package_id):
        if pkg.status not in LIVE or pkg.unit == "months":
            continue
        end = pkg.expires_on
        if end is not None and state.as_of <= end <= horizon and pkg.remaining > 0:
            out.append(Alert(AlertKind.EXPIRING, pkg.owner, pkg.package_id, f"Packages {pkg.package_id}",
                             f"{pkg.package_id}: {amount_of(pkg.remaining, pkg.unit)} expire on {end.isoformat()}"))
    out.extend(state.notices)
    return out

