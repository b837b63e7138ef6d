"""State → the rows of the engine-owned sheets (Packages, Balances, Allocations, Alerts, Report).

Layout only: the month-end rules (sales, delivered value, breakage, liability) live in core/finance.py.

Deterministic: same state, same rows, in the same order. Quantities are rounded to 4 places and money
to cents here — the named point where numbers leave the engine for a sheet.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from decimal import Decimal

from xl_ledger.book import schema
from xl_ledger.book.store import cell_value
from xl_ledger.core.chain import norm
from xl_ledger.core import finance
from xl_ledger.core import queries
from xl_ledger.core.balances import WHOLE_CHAIN
from xl_ledger.core.balances import index as balances_index
from xl_ledger.core.balances import location_lines
from xl_ledger.core.dashboard import lines as dashboard_lines
from xl_ledger.core.kinds import AlertKind
from xl_ledger.core.numbers import ZERO
from xl_ledger.core.numbers import money
from xl_ledger.core.numbers import qty
from xl_ledger.core.state import State


def _q(x: Decimal) -> Decimal:
    if not x:
        return ZERO  # 0 and -0 alike (they hash alike, so they stay out of the memo)
    q = _Q.get(x)
    if q is None:
        # Equal values round and normalise to the same Decimal, so one entry serves 1, 1.0 and 1.00.
        if len(_Q) > 65_536:
            _Q.clear()
        q = _Q[x] = qty(x).normalize()
    return q


_Q: dict[Decimal, Decimal] = {}  # a studio's quantities repeat (1, 0.75, 10): _q runs per row of three sheets


def fingerprint(values) -> str:
    """A short hash of a row as any reader gives it back: a typed-over cell no longer matches it."""
    text = "\x1f".join(norm(cell_value(v)) for v in values)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def _checked(rows: list[tuple]) -> list[tuple]:
    """Each row with its fingerprint (exactly `fingerprint(r)`): a cell's text is worked out once per
    distinct value (type and value: equal numbers read back alike, as cell_value goes through float)."""
    memo: dict = {}
    out = []
    for r in rows:
        parts = []
        for v in r:
            t = type(v)
            if t is str:
                parts.append(v)  # '' reads back empty: norm(None) == ''
            elif v is None:
                parts.append("")
            else:
                try:
                    text = memo.get((t, v))
                except TypeError:  # unhashable
                    parts.append(norm(cell_value(v)))
                    continue
                if text is None:
                    text = memo[(t, v)] = norm(cell_value(v))
                parts.append(text)
        out.append(r + (hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:12],))
    return out


_ID = re.compile(r"([A-Za-z]*)-?(\d+)")


def _natural(package_id: str) -> tuple:
    """PK-0042 and PK-42 → ("PK", 42): numbered ids by prefix and number; any other id after them, by text."""
    m = _ID.fullmatch(package_id)
    return (0, m.group(1), int(m.group(2)), package_id) if m else (1, "", 0, package_id)


def packages(state: State) -> list[tuple]:
    rows = []
    # Sold packages first, in sale order (ids in natural order: PK-2 before PK-10), then comps and make-up
    # credits. A new sale is then a new row at the end of the sold ones, not a row that moves every row
    # below it (which a post would have to write again).
    for p in sorted(state.packages.values(), key=lambda p: (p.comp, _natural(p.package_id))):
        frozen_until = max((end for start, end in p.freezes if start <= state.as_of <= end), default=None)
        rows.append((p.package_id, p.owner, p.product.product_id, p.unit, _q(p.granted + p.transferred_in),
                     _q(p.used), _q(p.reserved), _q(p.remaining), money(p.value_remaining), p.expires_on,
                     p.status, p.purchased_on, money(p.price), money(p.refunded_money), _q(p.expired), frozen_until,
                     p.product.name, "recurring" if p.product.auto_renew else "one-time", start_date(p),
                     p.product.service))
    return _checked(rows)


def start_date(p) -> dt.date | None:
    """A package's first valid day: its purchase, or for a pack valid from first use its first lesson
    (blank until then)."""
    if p.product.validity_starts == "first_use" and p.product.validity:
        return p.first_use
    return p.purchased_on


def balances(state: State) -> list[tuple]:
    """One row per student and unit (their own credit, and what they can use with the family pool), then
    one row per family's shared pool and unit (no student id): every package is counted once."""
    rows = []
    for line in balances_index(state).lines():
        if line.student_id is None:
            name = "shared by the family"
        else:
            name = state.students[line.student_id].name
        rows.append((line.student_id or "", name, line.family_id, line.unit, _q(line.remaining), line.owed_sessions,
                     line.next_expiry, money(line.value_remaining), _q(line.usable), money(line.owed_value), None))
    for loc in location_lines(state):  # a studio with several locations: each one's, then the whole chain's
        name = "whole chain" if loc.location == WHOLE_CHAIN else f"packs sold at {loc.location}"
        rows.append(("", name, None, loc.unit, _q(loc.remaining), loc.owed_sessions, loc.next_expiry,
                     money(loc.value_remaining), None, None, loc.location))
    return _checked(rows)


def allocations(state: State) -> list[tuple]:
    rows = [(a.session_id, a.date, a.student_id, a.status, a.package_id, a.lot_id, _q(a.quantity), a.unit, a.state)
            for a in state.allocations]
    rows.sort(key=lambda r: (r[1], r[0], r[4] or "", r[5] or ""))
    return rows


def alerts(state: State, extra: list[tuple] = ()) -> list[tuple]:
    """Engine alerts, then the rows the Post cycle adds (rejected rows, drift, notices)."""
    order = {kind: i for i, kind in enumerate(AlertKind)}  # the enum lists them in the sheet's order
    rows = [(a.kind, a.student_id, a.package_id, a.where, a.message, None, None) for a in state.alerts]
    rows.sort(key=lambda r: (order.get(r[0], 9), r[1] or "", r[2] or "", r[3]))
    return list(extra) + rows


def report(state: State, entries=()) -> list[tuple]:
    """The month-end figures of core/finance.py laid out as Report rows, newest month first (what the
    owner and the accountant look at, and what the chart shows); never a month after the state's date."""
    entries = entries if isinstance(entries, (list, tuple)) else list(entries)
    places = finance.by_location(state, entries)

    def rows(months, location) -> list[tuple]:
        out = []
        for m in reversed(months):
            by_product = "; ".join(f"{p.product_id} {p.count}× {money(p.value)}" for p in m.by_product)
            out.append((m.month, money(m.sales), money(m.delivered), m.refunds, m.chargebacks, money(m.breakage),
                        money(m.opening), money(m.closing), m.adjustments, m.sales_count,
                        m.delivered_count, money(m.refunds_paid), money(m.chargebacks_paid), m.comps,
                        m.comps_value, *(money(m.ageing[k]) for k in finance.AGEING), by_product, location))
        return out

    out = rows(finance.months(state, entries), WHOLE_CHAIN if places else None)
    if places:
        # Each location's months after the whole chain's, below the rows the chart reads, one blank row between.
        out += [(None,) * len(schema.REPORT.columns)] * (max(len(out), schema.REPORT_CHART_MONTHS) + 1 - len(out))
        blank = (None,) * (len(schema.REPORT.columns) - 1)
        for where, months in places.items():
            # A heading row in the month column: a wide Report prints on several pages, and its location
            # column is on the last one.
            out += [(f"packs sold at {where}",) + blank[:-1] + (where,)] + rows(months, where)
    return out


def dashboard(state: State, head: tuple | None = None) -> list[tuple]:
    """The Dashboard sheet (core/dashboard.py): summary lines first, in a fixed order the chart reads."""
    names = state.students
    return [(ln.section, ln.item, None if ln.value is None else money(ln.value),
             None if ln.quantity is None else _q(ln.quantity), ln.unit, ln.student_id,
             names[ln.student_id].name if ln.student_id in names else None, ln.date, ln.package_id)
            for ln in dashboard_lines(state, head)]


def page_headers(state: State) -> dict[str, str]:
    """The printed page header of the owner's sheets: the studio, the sheet, the as-of date. Allocations, the
    Log and Migration say when they were printed instead (the template's header): rewriting a million-row
    part only because the date in its header moved is not worth it."""
    studio = state.settings.studio_name.replace("&", "&&")
    text = f"&L{studio}&C&A&Ras of {state.as_of.isoformat()}"
    return {name: text for name in sorted(set(SHEETS) - {schema.ALLOCATIONS.name})}


SHEETS = (schema.PACKAGES.name, schema.BALANCES.name, schema.ALLOCATIONS.name, schema.ALERTS.name, schema.REPORT.name,
          schema.DASHBOARD.name)


def all_sheets(state: State, extra_alerts: list[tuple] = (), entries=()) -> dict[str, list[tuple]]:
    """The engine sheets; `entries` (the Log) gives the Report its money events and the Dashboard the
    Log's last (seq, hash)."""
    head = (entries[-1].seq, entries[-1].hash) if isinstance(entries, (list, tuple)) and entries else None
    sheets = {
        schema.PACKAGES.name: packages(state),
        schema.BALANCES.name: balances(state),
        schema.ALLOCATIONS.name: allocations(state),
        schema.ALERTS.name: alerts(state, extra_alerts),
        schema.REPORT.name: report(state, entries),
        schema.DASHBOARD.name: dashboard(state, head),
    }
    for name, rows in sheets.items():
        width = len(schema.BY_NAME[name].columns)
        assert all(len(r) == width for r in rows), name
    return sheets
