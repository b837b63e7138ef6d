"""Month-end figures for the accountant: the deferred-revenue (contract liability) roll-forward.

`months(state, entries)` → one `Month` per calendar month from the first sale to the state's as-of
month (never a month after it), oldest first. Everything comes from ONE fold (the state as of today)
and the Log's money events, so a post does not fold once per month:

- money in and out are the Log's own amounts, dated by their effective date: sales and top-ups
  (by product), refunds and chargebacks (cash paid back), comps (a count, and at list value);
- each package's unredeemed credit at a month's last day is rebuilt from dated records of today's
  fold: lots granted, sessions used (recognised on the later of the session's date and its lot's
  grant: a pack bought later that pays an earlier owed lesson is delivered when it is bought),
  pinned draws (refunds, chargebacks, transfers, adjustments, rollovers) and lapses (each lot's unused
  credit lapses at the end of its own last day, `Package.expiries`; a months lot is delivered the day
  its month begins);
- its value is `money(unredeemed × unit value as of that day)` (price and credits paid for up to that
  day), 0 while the package is deactivated — the same figure as Packages `value_remaining` plus the
  value of credit held by bookings, in a fold as of that month's last day less the credit whose last day
  it is (it lapses that evening); a property test checks it.

The roll-forward holds to the cent by construction of `delivered`, which is the cumulative catch-up
of ASC 606 / IFRS 15: opening + sales + adjustments − delivered − refunds − chargebacks − breakage =
closing. Refunds and chargebacks are the liability they release (credits × unit value); what was paid
back is `refunds_paid` / `chargebacks_paid`, and the difference is a fee kept or a loss (journal.py
books it). Adjustments are credit added or removed by an admin, at the package's unit value.

Breakage (Settings breakage_method): `remote` recognises a lot's unused value when it lapses;
`proportional` also recognises expected breakage as credit is delivered — a live package's
provision is its delivered value × r / (1 − r), capped at its value, where r is the studio's own
breakage rate among packages that had ended by that month's last day — and releases the provision
when the package lapses (the true-up). The closing liability under `proportional` is the value
remaining less the provision (`provision` says how much).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from decimal import Decimal
from typing import Iterable
from typing import Optional

from xl_ledger.core import events as E
from xl_ledger.core import periods
from xl_ledger.core.kinds import AllocationState
from xl_ledger.core.kinds import EventKind
from xl_ledger.core.kinds import LotKind
from xl_ledger.core.kinds import RECEIVED
from xl_ledger.core.numbers import ZERO
from xl_ledger.core.numbers import money
from xl_ledger.core.state import Package
from xl_ledger.core.state import State

AGEING = ("expiring_next_month", "expiring_in_2_3_months", "expiring_later", "no_expiry")


@dataclass(frozen=True)
class ProductSales:
    product_id: str
    count: int  # packages sold (top-ups add value, not a count)
    value: Decimal


@dataclass(frozen=True)
class Month:
    month: str  # 2026-11
    first: dt.date
    last: dt.date
    opening: Decimal
    sales: Decimal
    sales_count: int
    by_product: tuple[ProductSales, ...]
    delivered: Decimal
    delivered_count: int  # sessions that redeemed paid credit
    refunds: Decimal  # liability released by refunds
    refunds_paid: Decimal
    chargebacks: Decimal
    chargebacks_paid: Decimal
    breakage: Decimal
    adjustments: Decimal
    comps: int
    comps_value: Decimal  # comp credits at the product's list price per credit
    closing: Decimal
    provision: Decimal  # proportional breakage recognised on packages still live (0 under remote)
    ageing: dict = field(default_factory=dict)  # AGEING bucket → value remaining at the month's end

    @property
    def rolled(self) -> Decimal:
        return (self.opening + self.sales + self.adjustments - self.delivered - self.refunds - self.chargebacks
                - self.breakage)


def month_key(d: dt.date) -> int:
    return d.year * 12 + d.month - 1


def _month_of(k: int) -> tuple[str, dt.date, dt.date]:
    found = _MONTHS.get(k)
    if found is None:
        first = dt.date(k // 12, k % 12 + 1, 1)
        found = _MONTHS[k] = (f"{first.year:04d}-{first.month:02d}", first, periods.month_end(first))
    return found


# A Report asks for each package's month ends: a handful of months, asked about thousands of times.
_MONTHS: dict[int, tuple[str, dt.date, dt.date]] = {}


@dataclass
class _Money:
    """A package's money events from the Log, in order."""
    sale: Optional[tuple] = None  # (date, amount, product_id)
    top_ups: list = field(default_factory=list)  # (date, amount, quantity)
    adjusts: list = field(default_factory=list)  # (date, quantity) added
    switches: list = field(default_factory=list)  # (date, active)


_NO_MONEY = frozenset({E.SessionRecorded, E.SessionChanged})  # half the Log: skipped first


def _log_money(entries: Iterable[E.Entry], as_of: dt.date, closes: Optional[list] = None):
    """The packages' money events and the comps, up to as_of; the period_close and period_reopen entries
    (whatever their date) go into `closes`, so the Log is walked once for both."""
    by_pkg: dict[str, _Money] = {}
    comps: list[tuple] = []  # (date, quantity, product_id)
    products_at: dict[str, tuple] = {}  # product_id -> (price, quantity), the latest list terms
    no_money = _NO_MONEY
    for entry in entries:
        ev = entry.event
        cls = type(ev)
        if cls in no_money:
            continue
        if cls is E.ProductSet:
            products_at[ev.values["product_id"]] = (ev.values.get("price"), ev.values.get("quantity"))
            continue
        if cls is E.PeriodClose or cls is E.PeriodReopen:
            if closes is not None:
                closes.append(entry)
            continue
        if ev.effective_date > as_of:
            continue
        if cls is E.Sale:
            by_pkg.setdefault(ev.package_id, _Money()).sale = (ev.effective_date, ev.amount or ZERO, ev.product_id)
        elif cls is E.TopUp:
            by_pkg.setdefault(ev.package_id, _Money()).top_ups.append((ev.effective_date, ev.amount or ZERO,
                                                                       ev.quantity))
        elif cls is E.Adjust and ev.quantity > 0:
            by_pkg.setdefault(ev.package_id, _Money()).adjusts.append((ev.effective_date, ev.quantity))
        elif cls in (E.Deactivate, E.Reactivate):
            by_pkg.setdefault(ev.package_id, _Money()).switches.append((ev.effective_date, cls is E.Reactivate))
        elif cls is E.Comp:
            terms = products_at.get(ev.product_id) if ev.product_id else None
            list_value = ZERO
            if terms and terms[0] not in (None, "") and terms[1] not in (None, "", "0"):
                list_value = ev.quantity * Decimal(terms[0]) / Decimal(terms[1])
            comps.append((ev.effective_date, ev.quantity, list_value))
    return by_pkg, comps


class _Timeline:
    """One package's unredeemed credit, unit value and active flag at any month's end."""

    def __init__(self, pkg: Package, log: _Money):
        self.pkg = pkg
        grant: dict[str, dt.date] = {}
        top_ups = iter(log.top_ups)
        adjusts = iter(log.adjusts)
        changes: list[tuple] = []  # (date, quantity delta)
        price_changes: list[tuple] = []  # (date, price delta, paid-quantity delta) after the sale
        transfer_qty = sum((lot.quantity for lot in pkg.lots if lot.kind == LotKind.TRANSFER_IN), ZERO)
        own_price = pkg.price
        for lot in pkg.lots:
            if lot.kind == LotKind.TOP_UP:
                d, amount, q = next(top_ups, (pkg.purchased_on, ZERO, lot.quantity))
                price_changes.append((d, amount, lot.quantity))
                own_price -= amount
            elif lot.kind == LotKind.ADJUST:
                d = next(adjusts, (pkg.purchased_on, lot.quantity))[0]
            elif lot.kind in RECEIVED:
                d = lot.start or pkg.purchased_on
            else:
                d = pkg.purchased_on
            grant[lot.lot_id] = d
            changes.append((d, lot.quantity))
        # Value that came in by transfers (price of the receiving package), spread over its transfer lots.
        self.transfer_value = ZERO
        if transfer_qty:
            value_in = own_price - (log.sale[1] if log.sale else ZERO)
            for lot in pkg.lots:
                if lot.kind == LotKind.TRANSFER_IN:
                    price_changes.append((grant[lot.lot_id], value_in * lot.quantity / transfer_qty, lot.quantity))
        self.grant = grant
        self.changes = changes
        self.price_changes = price_changes
        self.switches = log.switches

    def unit_value(self, day: dt.date) -> Decimal:
        pkg = self.pkg
        price, paid = pkg.price, pkg.paid_quantity
        for d, dp, dq in self.price_changes:
            if d > day:
                price -= dp
                paid -= dq
        return price / paid if paid else ZERO

    def active(self, day: dt.date) -> bool:
        on = True
        for d, flag in self.switches:
            if d <= day:
                on = flag
        return on


def months(state: State, entries: Iterable[E.Entry], method: Optional[str] = None) -> list[Month]:
    """The month-end figures from the first month with money or credit up to state.as_of's month."""
    as_of = state.as_of
    method = method or state.settings.breakage_method
    closes: list = []
    by_pkg, comp_events = _log_money(entries, as_of, closes)
    last_k = month_key(as_of)

    lines: dict[int, dict] = {}
    keys: dict[dt.date, int] = {}  # date -> month_key: dates repeat across tens of thousands of lessons

    def key(d: dt.date) -> int:
        k = keys.get(d)
        if k is None:
            k = keys[d] = d.year * 12 + d.month - 1
        return k

    def at(d: dt.date) -> dict:
        k = keys.get(d)
        if k is None:
            k = keys[d] = d.year * 12 + d.month - 1
        found = lines.get(k)
        if found is None:
            found = lines[k] = {"sales": ZERO, "sales_count": 0, "by_product": {}, "refunds": ZERO,
                                "refunds_paid": ZERO, "chargebacks": ZERO, "chargebacks_paid": ZERO,
                                "lapsed": ZERO, "adjustments": ZERO, "comps": 0, "comps_value": ZERO,
                                "sessions": set()}
        return found

    for pid, log in by_pkg.items():
        if log.sale:
            d, amount, product_id = log.sale
            line = at(d)
            line["sales"] += amount
            line["sales_count"] += 1
            count, value = line["by_product"].get(product_id, (0, ZERO))
            line["by_product"][product_id] = (count + 1, value + amount)
        for d, amount, _q in log.top_ups:
            line = at(d)
            line["sales"] += amount
            pkg = state.packages.get(pid)
            product_id = pkg.product.product_id if pkg else "?"
            count, value = line["by_product"].get(product_id, (0, ZERO))
            line["by_product"][product_id] = (count, value + amount)
    for d, _q, list_value in comp_events:
        line = at(d)
        line["comps"] += 1
        line["comps_value"] += list_value

    # Per package: its unredeemed credit as quantity deltas by date, then its value at each month's end.
    first_k = min(lines) if lines else last_k
    timelines: dict[str, _Timeline] = {}
    deltas: dict[str, list] = {}
    used: dict[str, list] = {}  # (date, quantity) delivered, for the proportional provision
    for pid, pkg in state.packages.items():
        if pkg.comp or not (pkg.price or pkg.paid_quantity):
            continue  # comps and make-up credits carry no money
        tl = timelines[pid] = _Timeline(pkg, by_pkg.get(pid, _Money()))
        deltas[pid] = list(tl.changes)
        used[pid] = []
        first_k = min(first_k, month_key(pkg.purchased_on))
    # A lesson is delivered on its date, or when the credit that pays it is added: a pack bought later that
    # pays an earlier owed lesson delivers it when bought.
    # credit a session took from a lot: used or negative (bound once: an enum member read is Python code in 3.11)
    drawn_used, drawn_negative = AllocationState.USED, AllocationState.NEGATIVE
    for a in state.allocations:
        drawn = a.state
        if (drawn == drawn_used or drawn == drawn_negative) and a.package_id in timelines:
            tl = timelines[a.package_id]
            when = a.date
            if a.lot_id:
                granted = tl.grant.get(a.lot_id)
                if granted is not None and granted > when:
                    when = granted
            deltas[a.package_id].append((when, -a.quantity))
            used[a.package_id].append((when, a.quantity))
            if drawn == drawn_used:
                line = lines.get(keys.get(when))
                (line if line is not None else at(when))["sessions"].add(a.session_id)
    for pid, tl in timelines.items():
        pkg = tl.pkg
        for d, kind, q, cash in pkg.draws:
            deltas[pid].append((d, -q))
            value = q * tl.unit_value(d)
            line = at(d)
            if kind == EventKind.REFUND:
                line["refunds"] += value
                line["refunds_paid"] += cash
            elif kind == EventKind.CHARGEBACK:
                line["chargebacks"] += value
                line["chargebacks_paid"] += cash
            elif kind == EventKind.ADJUST:
                line["adjustments"] -= value
        for d, amount in (by_pkg.get(pid) or _Money()).adjusts:
            at(d)["adjustments"] += amount * tl.unit_value(d)
        for d, q in pkg.expiries:  # a lot's unused credit lapses in the month of its own last day
            deltas[pid].append((d, -q))
            at(d)["lapsed"] += q * tl.unit_value(d)
        for d, q in pkg.begun:
            deltas[pid].append((d, -q))
            used[pid].append((d, q))

    span = range(first_k, last_k + 1)
    n = len(span)
    value = [ZERO] * (n + 1)  # Σ value at each month's end (index by k - first_k), as differences
    inactive = [ZERO] * (n + 1)  # value of deactivated packages (it leaves the liability as breakage)
    buckets = {name: [ZERO] * (n + 1) for name in AGEING}
    delivered_value: dict[str, list] = {}  # proportional: a package's delivered value at each month's end
    for pid, tl in timelines.items():
        pkg = tl.pkg
        qty_by_k: dict[int, Decimal] = {}
        for d, q in deltas[pid]:
            k = key(d)
            if k < first_k:
                k = first_k
            if k <= last_k:
                qty_by_k[k] = qty_by_k.get(k, ZERO) + q
        switch_ks = {month_key(d) for d, _ in tl.switches} | {month_key(d) for d, _, _ in tl.price_changes}
        ks = sorted(set(qty_by_k) | {k for k in switch_ks if first_k <= k <= last_k})
        expiry = pkg.expires_on
        qty = ZERO
        prev = ZERO
        prev_inactive = ZERO
        for i, k in enumerate(ks):
            qty += qty_by_k.get(k, ZERO)
            day = _month_of(k)[2]
            v = money(max(qty, ZERO) * tl.unit_value(day))
            on = tl.active(day)
            live, dead = (v, ZERO) if on else (ZERO, v)
            j = k - first_k
            value[j] += live - prev
            inactive[j] += dead - prev_inactive
            prev, prev_inactive = live, dead
            end_j = (ks[i + 1] if i + 1 < len(ks) else last_k + 1) - first_k
            if live:
                _age(buckets, j, end_j, live, None if expiry is None else month_key(expiry) - first_k)
    out: list[Month] = []
    opening = ZERO
    running = ZERO
    running_inactive = ZERO
    prev_inactive = ZERO
    provision_prev = ZERO
    age_running = {name: ZERO for name in AGEING}
    rate_by_k = _rates(timelines, first_k, last_k, as_of) if method == "proportional" else {}
    for j, k in enumerate(span):
        running += value[j]
        running_inactive += inactive[j]
        for name in AGEING:
            age_running[name] += buckets[name][j]
        name, first, last = _month_of(k)
        line = lines.get(k) or at(first)
        # Credit whose last day is a past month's last day has lapsed by that month's end; today's has not.
        lapsed_by = last if last < as_of else as_of - dt.timedelta(days=1)
        provision = (_provision(timelines, deltas, used, min(last, as_of), lapsed_by, rate_by_k.get(k, ZERO))
                     if method == "proportional" else ZERO)
        lapsed = money(line["lapsed"])
        refunds, chargebacks = money(line["refunds"]), money(line["chargebacks"])
        adjustments = money(line["adjustments"])
        forfeited = running_inactive - prev_inactive  # credit of a package deactivated this month
        breakage = lapsed + forfeited + provision - provision_prev
        closing = running - provision
        delivered = opening + line["sales"] + adjustments - refunds - chargebacks - breakage - closing
        out.append(Month(
            month=name, first=first, last=last, opening=opening, sales=line["sales"], sales_count=line["sales_count"],
            by_product=tuple(ProductSales(p, c, v) for p, (c, v) in sorted(line["by_product"].items())),
            delivered=delivered, delivered_count=len(line["sessions"]), refunds=refunds,
            refunds_paid=line["refunds_paid"], chargebacks=chargebacks, chargebacks_paid=line["chargebacks_paid"],
            breakage=breakage, adjustments=adjustments, comps=line["comps"], comps_value=money(line["comps_value"]),
            closing=closing, provision=provision, ageing=dict(age_running)))
        opening = closing
        prev_inactive = running_inactive
        provision_prev = provision
    kept = closed_months(closes)
    return _keep_closed(out, kept) if kept else out


def by_location(state: State, entries: Iterable[E.Entry], method: Optional[str] = None) -> dict[str, list[Month]]:
    """`months` per location, for the packs sold there (their sales, the lessons they paid for wherever
    given, their refunds, breakage and liability): each pack is in exactly one location, so under `remote`
    breakage the locations add up to the whole chain to the cent. Under `proportional` each location's
    provision uses its own breakage rate. Empty while no pack has a location."""
    from dataclasses import replace

    from xl_ledger.core.balances import NO_LOCATION

    homes: dict[str, set] = {}
    for pid, p in state.packages.items():
        homes.setdefault(p.location or NO_LOCATION, set()).add(pid)
    if set(homes) <= {NO_LOCATION}:
        return {}
    entries = list(entries)
    out = {}
    for where in sorted(homes):
        pids = homes[where]
        part = replace(state, packages={pid: state.packages[pid] for pid in pids},
                       allocations=[a for a in state.allocations if a.package_id in pids])
        mine = [e for e in entries if e.event.package_id in pids or type(e.event) is E.ProductSet]
        out[where] = months(part, mine, method)
    return out


# --- closed months: the figures a close recorded ------------------------------------------------------
# A period_close row keeps the Report figures of the months it closes. From then on the Report shows
# those, whatever a later row could still move in the past (a deactivation unuses its package from the
# start; an overdrawn lesson moves to a pack bought later): a closed month's row never changes. What
# today's fold says differently about the past shows in the first open month, whose opening is the
# recorded closing and whose delivered (the cumulative catch-up) absorbs the difference.

_AMOUNTS = ("opening", "sales", "delivered", "refunds", "refunds_paid", "chargebacks", "chargebacks_paid",
            "breakage", "adjustments", "comps_value", "closing", "provision")
_COUNTS = ("sales_count", "delivered_count", "comps")


def freeze(months_: Iterable[Month]) -> dict:
    """The months' figures as the JSON a period_close row keeps (Decimals as text)."""
    out = {}
    for m in months_:
        fig = {name: str(getattr(m, name)) for name in _AMOUNTS}
        fig.update({name: getattr(m, name) for name in _COUNTS})
        fig["by_product"] = [[p.product_id, p.count, str(p.value)] for p in m.by_product]
        fig["ageing"] = {name: str(v) for name, v in m.ageing.items()}
        out[m.month] = fig
    return out


def thaw(month: str, fig: dict) -> Month:
    year, mon = (int(x) for x in month.split("-"))
    first = dt.date(year, mon, 1)
    return Month(month=month, first=first, last=periods.month_end(first),
                 **{name: Decimal(fig[name]) for name in _AMOUNTS}, **{name: int(fig[name]) for name in _COUNTS},
                 by_product=tuple(ProductSales(p, int(c), Decimal(v)) for p, c, v in fig["by_product"]),
                 ageing={name: Decimal(v) for name, v in fig["ageing"].items()})


def closed_months(entries: Iterable[E.Entry]) -> dict[str, Month]:
    """Month → the figures its close recorded, for the months still closed (a reopen drops those from its
    day on; a later close records them again)."""
    out: dict[str, Month] = {}
    for entry in entries:
        ev = entry.event
        cls = type(ev)
        if cls is E.PeriodClose and ev.figures:
            for month, fig in ev.figures.items():
                out[month] = thaw(month, fig)
        elif cls is E.PeriodReopen:
            out = {k: m for k, m in out.items() if m.first < ev.effective_date}
    return out


def _keep_closed(out: list[Month], kept: dict[str, Month]) -> list[Month]:
    result = []
    before: Optional[tuple[Month, Month]] = None  # (recorded, as computed today) of the month just closed
    for m in out:
        if m.month in kept:
            result.append(kept[m.month])
            before = (kept[m.month], m)
            continue
        if before is not None:
            recorded, computed = before
            # Proportional breakage: this month's breakage releases the provision the close recorded.
            breakage = m.breakage + computed.provision - recorded.provision
            m = replace(m, opening=recorded.closing, breakage=breakage)
            m = replace(m, delivered=m.opening + m.sales + m.adjustments - m.refunds - m.chargebacks - breakage
                        - m.closing)
        result.append(m)
        before = None
    return result


def _age(buckets: dict, j: int, end_j: int, v: Decimal, expiry_j: Optional[int]) -> None:
    """Put value v into its ageing bucket for month indexes [j, end_j), as differences.

    A month's bucket is the expiry month less that month: 0 or 1 → next month (a lot whose last day is
    the month's last day lapses on the 1st), 2–3 → in 2–3 months, more → later; no expiry → none."""
    def add(name: str, a: int, b: int) -> None:
        a, b = max(a, j), min(b, end_j)
        if a < b:
            buckets[name][a] += v
            buckets[name][b] -= v
    if expiry_j is None:
        add("no_expiry", j, end_j)
        return
    add("expiring_later", j, expiry_j - 3)
    add("expiring_in_2_3_months", expiry_j - 3, expiry_j - 1)
    add("expiring_next_month", expiry_j - 1, end_j)


def _rates(timelines: dict[str, _Timeline], first_k: int, last_k: int, as_of: dt.date) -> dict[int, Decimal]:
    """Proportional method: at each month's end (or today, in the current month), the share of value
    sold that lapsed, among packages whose last day had passed by then."""
    ended: list[tuple] = []  # (last day, price, lapsed value)
    for tl in timelines.values():
        pkg = tl.pkg
        if pkg.expires_on is None or not pkg.price or pkg.expires_on >= as_of:
            continue  # still valid today
        lapsed = sum((q for _d, q in pkg.expiries), ZERO) * pkg.unit_value
        ended.append((pkg.expires_on, pkg.price, lapsed))
    out = {}
    for k in range(first_k, last_k + 1):
        cutoff = min(_month_of(k)[2], as_of)
        sold = sum((p for end, p, _ in ended if end <= cutoff), ZERO)
        lapsed = sum((x for end, _, x in ended if end <= cutoff), ZERO)
        out[k] = lapsed / sold if sold else ZERO
    return out


def _provision(timelines: dict[str, _Timeline], deltas: dict, used: dict, day: dt.date, lapsed_by: dt.date,
               rate: Decimal) -> Decimal:
    """Expected breakage recognised on packages still live at `day`: delivered value × r / (1 − r),
    capped at what the package still holds."""
    if not rate or rate >= 1:
        return ZERO
    factor = rate / (1 - rate)
    total = ZERO
    for pid, tl in timelines.items():
        pkg = tl.pkg
        if pkg.expires_on is not None and pkg.expires_on <= lapsed_by:
            continue  # lapsed: trued up to its actual breakage
        left = sum((q for d, q in deltas[pid] if d <= day), ZERO)
        uv = tl.unit_value(day)
        value = money(max(left, ZERO) * uv)
        if value and tl.active(day):
            delivered = sum((q for d, q in used[pid] if d <= day), ZERO) * uv
            total += money(min(delivered * factor, value))  # capped before rounding: r near 1 makes it huge
    return total
