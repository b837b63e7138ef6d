"""Commands: an input checked against the current state yields events, or one rejection — never both.

`decide(action, ctx)` handles an Actions row; `diff_sessions`, `diff_products`, `diff_students` and
`diff_settings` turn input sheets into events by comparing them with what the Log already says;
`auto_renew` sells the same product again when an auto-renew package runs out.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from dataclasses import field
from decimal import Decimal
from typing import Callable
from typing import Iterable
from typing import Optional

from xl_ledger.core import events as E
from xl_ledger.core import queries
from xl_ledger.core.errors import Problem
from xl_ledger.core.errors import Source
from xl_ledger.core.inputs import Action
from xl_ledger.core.inputs import Product
from xl_ledger.core.inputs import Session
from xl_ledger.core.inputs import Settings
from xl_ledger.core.inputs import Student
from xl_ledger.core.matching import draw_key
from xl_ledger.core.kinds import CLOSED
from xl_ledger.core.kinds import PackageStatus
from xl_ledger.core.kinds import Role
from xl_ledger.core.numbers import ZERO
from xl_ledger.core.numbers import money
from xl_ledger.core.numbers import text as num_text
from xl_ledger.core.state import State

ADMIN_ONLY = ("refund", "chargeback", "transfer", "extend", "adjust", "deactivate", "reactivate")
NEEDS_REASON = ("refund", "chargeback", "transfer", "extend", "adjust", "comp")


@dataclass
class Context:
    """What a command may know: the folded state, who is acting, the Reasons list, and the date."""

    state: State
    today: dt.date
    operator: str = "owner"
    role: str = "owner"  # owner, admin or staff; single-owner mode when the Staff sheet is empty
    reasons: set = field(default_factory=set)
    package_ids: set = field(default_factory=set)  # every package id ever used (for new ids)

    def new_package_id(self, prefix: str = "PK") -> str:
        if isinstance(self.package_ids, IdPool):
            n = self.package_ids.highest(prefix) + 1
        else:
            n = 1 + max((int(m.group(1)) for pid in self.package_ids
                         if (m := re.fullmatch(re.escape(prefix) + r"-(\d+)", pid))), default=0)
        pid = f"{prefix}-{n:04d}"
        self.package_ids.add(pid)
        return pid


class IdPool(set):
    """The package ids in use, remembering the highest number per prefix (PK-0042 → PK: 42), so that a
    new id costs nothing even with a hundred thousand packages."""

    _ID = re.compile(r"([A-Za-z]+)-(\d+)")

    def __init__(self, ids=()):
        super().__init__()
        self._highest: dict[str, int] = {}
        for pid in ids:
            self.add(pid)

    def add(self, pid: str) -> None:
        super().add(pid)
        m = self._ID.fullmatch(pid)
        if m and int(m.group(2)) > self._highest.get(m.group(1), 0):
            self._highest[m.group(1)] = int(m.group(2))

    def highest(self, prefix: str) -> int:
        return self._highest.get(prefix, 0)


class Rejected(Exception):
    def __init__(self, column: Optional[str], message: str, remedy: str = "", value: object = None):
        super().__init__(message)
        self.column, self.message, self.remedy, self.value = column, message, remedy, value


# A date more than this many years after today is a typing slip (2062 for 2026), not a plan: it would sell
# a package that starts after the studio's life, or book a lesson nobody will give.
FUTURE_YEARS = 2


def too_far_ahead(d: dt.date, today: dt.date) -> Optional[str]:
    """Why `d` is not a date a studio means, or None. The other bound (before 1990) is in core/parse.py."""
    try:
        limit = today.replace(year=today.year + FUTURE_YEARS)
    except ValueError:  # 29 February
        limit = today.replace(year=today.year + FUTURE_YEARS, day=28)
    if d > limit:
        return f"{d.isoformat()} is more than {FUTURE_YEARS} years after today ({today.isoformat()})"
    return None


def decide(action: Action, ctx: Context) -> tuple[list[E.Event], Optional[Problem]]:
    """Check one Actions row; return its events, or a Problem naming the cell and what to do."""
    if action.date is not None and (why := too_far_ahead(action.date, ctx.today)):
        return [], Problem(Source("Actions", action.row, "date"), why + ".", "Write the full date, like 2026-03-14.",
                           action.date.isoformat())
    try:
        events = _HANDLERS[action.action](action, ctx, action.date or ctx.today)
    except Rejected as r:
        return [], Problem(Source("Actions", action.row, r.column), r.message, r.remedy, r.value)
    return events, None


# --- shared checks --------------------------------------------------------------------------------

def _controls(a: Action, ctx: Context) -> None:
    if a.action in ADMIN_ONLY and ctx.role not in (Role.OWNER, Role.ADMIN):
        raise Rejected("action", f"{a.action} needs an admin or the owner; {ctx.operator} is {ctx.role}.",
                       "Ask an admin or the owner to post this row.", a.action)
    if a.action in NEEDS_REASON:
        if not a.reason_code:
            raise Rejected("reason_code", f"{a.action} needs a reason code.",
                           "Choose one from the Reasons sheet (add a new one there if none fits).")
        if a.reason_code not in ctx.reasons:
            raise Rejected("reason_code", f'"{a.reason_code}" is not in the Reasons list.',
                           "Choose one from the Reasons sheet, or add it there first.", a.reason_code)


def _student(ctx: Context, student_id: Optional[str], column: str = "student_id") -> Student:
    if not student_id:
        raise Rejected(column, "is empty.", "Type a student_id from the Students sheet.")
    s = ctx.state.students.get(student_id)
    if s is None:
        raise Rejected(column, f'"{student_id}" is not a student.', "Type a student_id from the Students sheet.",
                       student_id)
    return s


def _package(ctx: Context, a: Action, d: dt.date):
    if not a.package_id:
        raise Rejected("package_id", "is empty.", "Type a package_id from the Packages sheet.")
    pkg = ctx.state.packages.get(a.package_id)
    if pkg is None:
        raise Rejected("package_id", f'"{a.package_id}" is not a package (as of {d.isoformat()}).',
                       "Type a package_id from the Packages sheet, and check the date.", a.package_id)
    # A shared pack belongs to the family: any member may act on it (the role rules still apply).
    family = ctx.state.family_of(pkg.owner)
    member = pkg.product.shared and family is not None and ctx.state.family_of(a.student_id) == family
    if a.student_id and a.student_id != pkg.owner and a.action not in ("transfer",) and not member:
        raise Rejected("student_id", f"{a.package_id} belongs to {pkg.owner}, not {a.student_id}.",
                       "Fix the student_id or the package_id.", a.student_id)
    return pkg


def _closed(ctx: Context, d: dt.date, column: str = "date") -> None:
    closed = ctx.state.closed_through
    if closed and d <= closed:
        raise Rejected(column, f"{d.isoformat()} is in a closed period (closed through {closed.isoformat()}).",
                       "Date the correction after the close; closed months never change.", d.isoformat())


def _positive(value: Optional[Decimal], column: str, what: str) -> Decimal:
    if value is None:
        raise Rejected(column, f"is empty; {what} is needed.", f"Type the {what}.")
    if value <= 0:
        raise Rejected(column, f"{value.normalize():f} is not more than zero.", f"Type the {what} as a positive number.",
                       value)
    return value


def _base(a: Action, d: dt.date, **kw) -> dict:
    return dict(effective_date=d, reason_code=a.reason_code, note=a.note, **kw)


# --- one handler per action -----------------------------------------------------------------------

def _sell(a: Action, ctx: Context, d: dt.date) -> list[E.Event]:
    _closed(ctx, d)
    student = _student(ctx, a.student_id)
    if not a.product_id:
        raise Rejected("product_id", "is empty.", "Type a product_id from the Products sheet.")
    product = ctx.state.products.get(a.product_id)
    if product is None:
        raise Rejected("product_id", f'"{a.product_id}" is not a product.', "Type a product_id from the Products sheet.",
                       a.product_id)
    if not product.active:
        raise Rejected("product_id", f"{product.product_id} ({product.name}) is not active.",
                       "Sell an active product, or set active=yes on the Products sheet first.", a.product_id)
    if product.intro_only and student.student_id in ctx.state.buyers:
        raise Rejected("product_id", f"{product.product_id} is for first-time clients only and "
                       f"{student.student_id} has bought before.", "Sell a regular package instead.", a.product_id)
    if a.action == "sell" and not student.active:
        raise Rejected("student_id", f"{student.student_id} is not active.", "Reactivate the student first.",
                       a.student_id)
    quantity = a.quantity if a.quantity is not None else product.quantity
    _positive(quantity, "quantity", "quantity")
    amount = a.amount if a.amount is not None else product.price
    package_id = ctx.new_package_id() if a.action != "sell" or not a.package_id else _own_id(a.package_id, ctx)
    return [E.Sale(**_base(a, d, student_id=student.student_id, package_id=package_id,
                           quantity=quantity, unit=product.unit, amount=amount), product_id=product.product_id,
                   location=a.location, payment_ref=a.payment_ref)]


def _own_id(package_id: str, ctx: Context) -> str:
    """A package id typed on a sale is the package's id (it used to be ignored: the engine made PK-0002
    and left "PK1" in the cell). It must not name another package."""
    if package_id in ctx.package_ids:
        raise Rejected("package_id", f'"{package_id}" is already the id of another package.',
                       "Leave package_id empty to get the next free id, or type one not used yet.", package_id)
    ctx.package_ids.add(package_id)
    return package_id


def _top_up(a: Action, ctx: Context, d: dt.date) -> list[E.Event]:
    if not a.package_id:
        return _sell(a, ctx, d)  # "top up" a student who has no package yet: a new sale
    _closed(ctx, d)
    pkg = _package(ctx, a, d)
    if pkg.status in CLOSED:
        raise Rejected("package_id", f"{pkg.package_id} is {pkg.status}; it cannot be topped up.",
                       "Sell a new package instead.", a.package_id)
    quantity = _positive(a.quantity, "quantity", "quantity to add")
    amount = a.amount if a.amount is not None else money(quantity * pkg.unit_value)
    return [E.TopUp(**_base(a, d, student_id=pkg.owner, package_id=pkg.package_id, quantity=quantity,
                            unit=pkg.unit, amount=amount), payment_ref=a.payment_ref)]


def _refund(a: Action, ctx: Context, d: dt.date) -> list[E.Event]:
    _controls(a, ctx)
    _closed(ctx, d)
    pkg = _package(ctx, a, d)
    unused = queries.unused(pkg)
    if pkg.status in (PackageStatus.INACTIVE, PackageStatus.REFUNDED) or unused <= 0:
        raise Rejected("package_id", f"{pkg.package_id} has nothing left to refund ({pkg.status}).",
                       "Check the package on the Packages sheet.", a.package_id)
    quantity = a.quantity if a.quantity is not None else unused
    _positive(quantity, "quantity", "quantity to refund")
    if quantity > unused:
        raise Rejected("quantity", f"{quantity.normalize():f} {pkg.unit} is more than the "
                       f"{unused.normalize():f} left in {pkg.package_id}.", "Refund at most what is left.", quantity)
    quote = queries.refund_quote(ctx.state, pkg.package_id, quantity)
    amount = a.amount if a.amount is not None else quote
    if amount > quote:
        raise Rejected("amount", f"{money(amount)} is above the refundable {quote} for {quantity.normalize():f} "
                       f"{pkg.unit} of {pkg.package_id}.", f"Refund at most {quote}, or record the rest as a comp.",
                       amount)
    return [E.Refund(**_base(a, d, student_id=pkg.owner, package_id=pkg.package_id, quantity=quantity,
                             unit=pkg.unit, amount=amount), payment_ref=a.payment_ref)]


def _chargeback(a: Action, ctx: Context, d: dt.date) -> list[E.Event]:
    _controls(a, ctx)
    _closed(ctx, d)
    pkg = _package(ctx, a, d)
    paid = pkg.price - pkg.refunded_money
    amount = a.amount if a.amount is not None else paid
    if amount > paid:
        raise Rejected("amount", f"{money(amount)} is more than the {money(paid)} paid for {pkg.package_id}.",
                       "Type the disputed amount from the bank's notice.", amount)
    return [E.Chargeback(**_base(a, d, student_id=pkg.owner, package_id=pkg.package_id,
                                 quantity=queries.unused(pkg), unit=pkg.unit, amount=amount),
                         payment_ref=a.payment_ref)]


def _transfer(a: Action, ctx: Context, d: dt.date) -> list[E.Event]:
    _closed(ctx, d)
    pkg = _package(ctx, a, d)
    target = _student(ctx, a.to_student_id, "to_student_id")
    owner_family = ctx.state.family_of(pkg.owner)
    if target.student_id != pkg.owner and (not owner_family or owner_family != target.family_id):
        if ctx.role != "owner":
            raise Rejected("to_student_id", f"{target.student_id} is not in {pkg.owner}'s family "
                           f"({owner_family or 'none'}); transfers stay within a family unless the owner overrides "
                           f"with a reason. {ctx.operator} is {ctx.role}.",
                           "Ask the owner to post it with a reason code.", a.to_student_id)
    _controls(a, ctx)
    if target.student_id == pkg.owner:
        raise Rejected("to_student_id", f"{target.student_id} already owns {pkg.package_id}.",
                       "Transfer to another student.", a.to_student_id)
    quantity = _positive(a.quantity, "quantity", "quantity to transfer")
    if pkg.status in CLOSED or quantity > pkg.remaining:
        raise Rejected("quantity", f"{quantity.normalize():f} {pkg.unit} is more than the "
                       f"{max(pkg.remaining, ZERO).normalize():f} free in {pkg.package_id} ({pkg.status}).",
                       "Transfer at most what is left.", quantity)
    return [E.Transfer(**_base(a, d, student_id=pkg.owner, package_id=pkg.package_id, quantity=quantity,
                               unit=pkg.unit), to_student_id=target.student_id,
                       to_package_id=ctx.new_package_id())]


def _freeze(a: Action, ctx: Context, d: dt.date) -> list[E.Event]:
    _closed(ctx, d)
    pkg = _package(ctx, a, d)
    if pkg.status == PackageStatus.EXPIRED or (pkg.expires_on and pkg.expires_on < d):
        raise Rejected("package_id", f"{pkg.package_id} expired on {pkg.expires_on.isoformat()}; "
                       "an expired package cannot be frozen.", "Extend it first (admin), or sell a new one.",
                       a.package_id)
    if pkg.status in (PackageStatus.INACTIVE, PackageStatus.REFUNDED):
        raise Rejected("package_id", f"{pkg.package_id} is {pkg.status}.", "Freeze an active package.", a.package_id)
    if pkg.frozen_on(d):
        raise Rejected("package_id", f"{pkg.package_id} is already frozen on {d.isoformat()}.",
                       "Unfreeze it first, or freeze from a later date.", a.package_id)
    if not a.days:
        raise Rejected("days", "is empty; how many days should the package be frozen?", "Type the days, e.g. 14.")
    return [E.Freeze(**_base(a, d, student_id=pkg.owner, package_id=pkg.package_id), days=a.days)]


def _unfreeze(a: Action, ctx: Context, d: dt.date) -> list[E.Event]:
    pkg = _package(ctx, a, d)
    if not pkg.frozen_on(d):
        raise Rejected("package_id", f"{pkg.package_id} is not frozen on {d.isoformat()}.",
                       "Check the date and the package.", a.package_id)
    return [E.Unfreeze(**_base(a, d, student_id=pkg.owner, package_id=pkg.package_id))]


def _extend(a: Action, ctx: Context, d: dt.date) -> list[E.Event]:
    _controls(a, ctx)
    pkg = _package(ctx, a, d)
    if not a.days:
        raise Rejected("days", "is empty; how many days longer?", "Type the days, e.g. 30.")
    return [E.Extend(**_base(a, d, student_id=pkg.owner, package_id=pkg.package_id), days=a.days)]


def _adjust(a: Action, ctx: Context, d: dt.date) -> list[E.Event]:
    _controls(a, ctx)
    _closed(ctx, d)
    pkg = _package(ctx, a, d)
    if a.quantity is None or a.quantity == 0:
        raise Rejected("quantity", "is empty or zero.", "Type the correction, e.g. 1 to add or -1 to remove.")
    if a.quantity < 0 and -a.quantity > max(pkg.remaining, ZERO):
        raise Rejected("quantity", f"removing {(-a.quantity).normalize():f} is more than the "
                       f"{max(pkg.remaining, ZERO).normalize():f} left in {pkg.package_id}.",
                       "Remove at most what is left.", a.quantity)
    return [E.Adjust(**_base(a, d, student_id=pkg.owner, package_id=pkg.package_id, quantity=a.quantity,
                             unit=pkg.unit))]


def _comp(a: Action, ctx: Context, d: dt.date) -> list[E.Event]:
    _controls(a, ctx)
    _closed(ctx, d)
    student = _student(ctx, a.student_id)
    quantity = _positive(a.quantity, "quantity", "number of free credits")
    product = ctx.state.products.get(a.product_id) if a.product_id else None
    if a.product_id and product is None:
        raise Rejected("product_id", f'"{a.product_id}" is not a product.', "Type a product_id or leave it blank.",
                       a.product_id)
    return [E.Comp(**_base(a, d, student_id=student.student_id, package_id=ctx.new_package_id("CP"),
                           quantity=quantity, unit=product.unit if product else "lessons", amount=ZERO),
                   product_id=a.product_id, location=a.location)]


def _toggle(a: Action, ctx: Context, d: dt.date) -> list[E.Event]:
    _controls(a, ctx)
    _closed(ctx, d)
    pkg = _package(ctx, a, d)
    if a.action == "deactivate" and not pkg.active:
        raise Rejected("package_id", f"{pkg.package_id} is already inactive.", "Nothing to do.", a.package_id)
    if a.action == "reactivate" and pkg.active:
        raise Rejected("package_id", f"{pkg.package_id} is already active.", "Nothing to do.", a.package_id)
    cls = E.Deactivate if a.action == "deactivate" else E.Reactivate
    return [cls(**_base(a, d, student_id=pkg.owner, package_id=pkg.package_id))]


# Actions whose handlers read only students, products, the closed period and buyers from the state, so
# a post may give them Scopes.for_selling instead of folding the family (a test pins the equivalence).
CATALOG_ONLY = frozenset({"sell", "comp"})

_HANDLERS: dict[str, Callable] = {
    "sell": _sell, "top_up": _top_up, "refund": _refund, "chargeback": _chargeback, "transfer": _transfer,
    "freeze": _freeze, "unfreeze": _unfreeze, "extend": _extend, "adjust": _adjust, "comp": _comp,
    "deactivate": _toggle, "reactivate": _toggle,
}


# --- input sheets → events ------------------------------------------------------------------------

def _values(model) -> dict:
    """A model's fields as canonical text, the form kept in the Log's data column."""
    out = {}
    for name, value in model.model_dump().items():
        if name == "row" or value is None:
            continue
        if isinstance(value, bool):
            out[name] = "yes" if value else "no"
        elif isinstance(value, Decimal):
            out[name] = num_text(value)
        else:
            out[name] = str(value)
    return out


ENGINE_SETTINGS = ("signed",)  # settings only the engine writes: the sheet's (default) value is not a change


def diff_settings(settings: Settings, logged: Settings, today: dt.date) -> list[E.Event]:
    new, old = _values(settings), _values(logged)
    changed = {k: v for k, v in new.items() if old.get(k) != v and k not in ENGINE_SETTINGS}
    return [E.SettingsSet(effective_date=today, values=changed)] if changed else []


def sign_log(logged: Settings, keyed: bool, today: dt.date) -> list[E.Event]:
    """The first post with the owner's key records in the Log that it is signed, in a row sealed with
    that key: from then on a post or verify without the key is told that a key is needed."""
    if keyed and logged.signed != "owner_key":
        return [E.SettingsSet(effective_date=today, values={"signed": "owner_key"})]
    return []


def _diff_master(sheet: str, key: str, rows: Iterable[tuple[int, object]], logged: dict, today: dt.date,
                 make: Callable[[object, int], E.Event]) -> tuple[list[E.Event], list[Problem]]:
    """New or changed rows of a master-data sheet become events; a repeated id is rejected in its row."""
    events, problems, seen = [], [], {}
    for row_no, model in rows:
        ident = getattr(model, key)
        if ident in seen:
            problems.append(Problem(Source(sheet, row_no, key), f"{ident} is already on row {seen[ident]}.",
                                    f"Give each row of {sheet} its own {key}.", ident))
            continue
        seen[ident] = row_no
        old = logged.get(ident)
        if old is None or _values(old) != _values(model):
            events.append(make(model, row_no))
    return events, problems


def diff_products(rows: Iterable[tuple[int, Product]], logged: dict[str, Product], today: dt.date
                  ) -> tuple[list[E.Event], list[Problem]]:
    return _diff_master("Products", "product_id", rows, logged, today, lambda p, row_no: E.ProductSet(
        effective_date=today, values=_values(p), note=f"Products!{row_no}"))


def diff_students(rows: Iterable[tuple[int, Student]], logged: dict[str, Student], today: dt.date
                  ) -> tuple[list[E.Event], list[Problem]]:
    return _diff_master("Students", "student_id", rows, logged, today, lambda s, row_no: E.StudentSet(
        effective_date=today, student_id=s.student_id, values=_values(s), note=f"Students!{row_no}"))



def diff_reasons(sheet: dict[str, tuple[int, str]], logged: dict[str, str], today: dt.date) -> list[E.Event]:
    """Reason codes added, re-worded or removed on the Reasons sheet, against the Log's list: one reason_set
    each, so that the list is the Log's (master data lives in the Log) and every desk of a shared ledger
    has it after its next post."""
    out: list[E.Event] = []
    for code in sorted(set(sheet) | set(logged)):
        if code not in sheet:
            out.append(E.ReasonSet(effective_date=today, values={"reason_code": code, "removed": "yes"},
                                   note="Reasons"))
        elif sheet[code][1] is None and code in logged:
            continue  # no meaning column on the sheet: the code is there, its meaning unknown here
        elif logged.get(code) != (sheet[code][1] or ""):
            out.append(E.ReasonSet(effective_date=today, values={"reason_code": code, "meaning": sheet[code][1] or ""},
                                   note=f"Reasons!{sheet[code][0]}"))
    return out


def session_event(s: Session, previous: Optional[E.SessionRecorded]) -> Optional[E.Event]:
    """The event for a Sessions row, or None when the Log already says exactly this."""
    kw = dict(effective_date=s.date, student_id=s.student_id, session_id=s.session_id, quantity=s.credits,
              note=s.note, status=s.status, start=s.start.strftime("%H:%M") if s.start else None, minutes=s.minutes,
              service=s.service, booked_by=s.booked_by, paid_separately=s.paid_separately,
              cancelled_at=s.cancelled_at.isoformat(timespec="minutes") if s.cancelled_at else None,
              location=s.location)
    if previous is None:
        return E.SessionRecorded(**kw)
    old = {f: getattr(previous, f) for f in ("effective_date", "student_id", "quantity", "note", "status", "start",
                                             "minutes", "service", "booked_by", "paid_separately", "cancelled_at",
                                             "location")}
    changed = tuple(sorted(k for k, v in kw.items() if k in old and old[k] != v))
    if not changed:
        return None
    return E.SessionChanged(**kw, changed=tuple("date" if c == "effective_date" else c for c in changed))


def _session_signature(s: Session, start_text: dict) -> tuple:
    """The fields session_event compares, as it compares them (start and cancelled_at as their logged text)."""
    start = s.start
    if start is not None:
        text = start_text.get(start)
        if text is None:
            text = start_text[start] = start.strftime("%H:%M")
        start = text
    return (s.date, s.student_id, s.credits, s.note, s.status, start, s.minutes, s.service, s.booked_by,
            s.paid_separately, s.cancelled_at.isoformat(timespec="minutes") if s.cancelled_at else None, s.location)


def _logged_signature(ev: E.SessionRecorded) -> tuple:
    return (ev.effective_date, ev.student_id, ev.quantity, ev.note, ev.status, ev.start, ev.minutes, ev.service,
            ev.booked_by, ev.paid_separately, ev.cancelled_at, ev.location)


COMPLETED = ("attended", "no_show", "late_cancel")  # a past session in one of these is locked
_SESSION_COLUMNS = ("date", "start", "minutes", "student_id", "service", "status", "booked_by", "credits",
                    "paid_separately", "cancelled_at", "note", "location")


def diff_sessions(rows: Iterable[tuple[int, Session]], state: State, today: dt.date,
                  credit: Optional[Callable[[str], State]] = None
                  ) -> tuple[list[tuple[int, E.Event]], list[Problem], list[Problem]]:
    """Sessions sheet → (row, event) pairs, rejected rows, and notices (deleted rows, edited past lessons).

    `state` needs master data and sessions only; `credit(student_id)` gives a fold that has the student's
    packages (`state` itself when not given): what pay-upfront and a product kept to one location check, asked
    only for a new or changed row that needs it."""
    events, problems, notices, seen = [], [], [], {}
    kept = any(p.location for p in state.products.values())  # some product is kept to one location
    taken: dict[str, Decimal] = {}  # package -> credit this post's new client bookings already hold
    closed = state.closed_through
    start_text: dict[dt.time, str] = {}
    for row_no, s in rows:
        src = Source("Sessions", row_no, "session_id")
        if s.session_id in seen:
            problems.append(Problem(src, f"{s.session_id} is already used on row {seen[s.session_id]}.",
                                    "Give each session its own id; to change a lesson, edit its row.", s.session_id))
            continue
        seen[s.session_id] = row_no
        if s.student_id not in state.students:
            problems.append(Problem(Source("Sessions", row_no, "student_id"), f'"{s.student_id}" is not a student.',
                                    "Type a student_id from the Students sheet.", s.student_id))
            continue
        if why := too_far_ahead(s.date, today):
            problems.append(Problem(Source("Sessions", row_no, "date"), why + ".",
                                    "Write the full date, like 2026-03-14.", s.date.isoformat()))
            continue
        previous = state.sessions.get(s.session_id)
        if previous is not None and _session_signature(s, start_text) == _logged_signature(previous):
            continue  # the Log already says exactly this row (session_event would return None)
        ev = session_event(s, previous)
        if ev is None:
            continue
        if closed and (s.date <= closed or (previous and previous.effective_date <= closed)):
            problems.append(Problem(Source("Sessions", row_no, "date"),
                                    f"{s.session_id} is in a closed period (through {closed.isoformat()}); "
                                    "it cannot be added or changed.",
                                    "Put the row back as it was and post a correction (Actions: adjust).",
                                    s.date.isoformat()))
            continue
        if kept and (elsewhere := _only_elsewhere((credit(s.student_id) if credit else state).usable_packages(
                s.student_id), s, row_no)) is not None:
            problems.append(elsewhere)
            continue
        if state.settings.require_upfront and _needs_upfront(ev, previous) and \
                not _upfront(credit(s.student_id) if credit else state, s, taken):
            problems.append(Problem(Source("Sessions", row_no, "status"),
                                    f"blocked: no credit; sell a package first ({s.student_id} has no credit "
                                    f"for {s.session_id} on {s.date.isoformat()}, and the studio requires "
                                    "payment upfront).",
                                    "Sell a package in Actions, post, then book again; or book as staff.", s.status))
            continue
        if previous is not None and previous.status in COMPLETED and previous.effective_date < today:
            # A completed lesson is locked (as in the studio software people move from): cancelling it
            # afterwards would quietly give the hours back. A correction is an Actions row an admin or the
            # owner posts with a reason code, and it is logged as such.
            column = ev.changed[0] if ev.changed and ev.changed[0] in _SESSION_COLUMNS else "session_id"
            problems.append(Problem(Source("Sessions", row_no, column),
                                    f"{s.session_id} on {previous.effective_date.isoformat()} was already "
                                    f"{previous.status} and is locked; the change to {', '.join(ev.changed)} was "
                                    "not posted.",
                                    "Put the old values back. To correct it, an admin or the owner posts an Actions "
                                    "row (adjust, with a reason code).", s.session_id))
            continue
        events.append((row_no, ev))
    for sid, ev in state.sessions.items():
        if sid not in seen:
            notices.append(Problem(Source("Sessions", None, None),
                                   f"the row for session {sid} ({ev.student_id}, {ev.effective_date.isoformat()}, "
                                   f"{ev.status}) was deleted; the Log still counts it.",
                                   "Restore the row and set its status to cancelled instead of deleting it."))
    return events, problems, notices


def _only_elsewhere(usable: list, s: Session, row_no: int) -> Optional[Problem]:
    """A lesson that would draw credit (not cancelled in time, not paid separately) at a location where none
    of the student's live packs may be used, while some may be used at another location: rejected in its
    row, since counting it as owed would say the student has no credit when they have, elsewhere. Packs are
    usable at every location unless their product names one (Products location)."""
    if s.paid_separately or s.status not in (*COMPLETED, "scheduled"):
        return None
    fits, other = False, []
    for p in usable:
        if not p.active or p.status not in ("active", "frozen") or (p.product.service and
                                                                    p.product.service != s.service):
            continue
        if p.remaining <= 0 and p.unit != "months":
            continue
        if p.product.location and p.product.location != s.location:
            other.append(p)
        else:
            fits = True
    if fits or not other:
        return None
    places = sorted({p.product.location for p in other})
    where = s.location or "no location"
    return Problem(Source("Sessions", row_no, "location"),
                   f"{s.session_id} is at {where}, but {s.student_id}'s credit "
                   f"({', '.join(sorted(p.package_id for p in other))}) can be used only at {', '.join(places)}.",
                   f"Type the location where the lesson is given ({' or '.join(places)} if it is there); otherwise "
                   f"sell {s.student_id} a pack usable at {where}, or mark the lesson paid_separately.",
                   s.location or "")


def _needs_upfront(ev: E.Event, previous: Optional[E.SessionRecorded]) -> bool:
    """A client booking that does not hold credit yet (new, or just turned into a client booking)."""
    if ev.status != "scheduled" or ev.booked_by != "client":
        return False
    return previous is None or previous.status != "scheduled" or previous.booked_by != "client"


def _upfront(state: State, s: Session, taken: dict[str, Decimal]) -> bool:
    """Whether a package the student may use can hold this booking now; if so, it is counted as held.

    Immediate credit first, then delayed (the draw order), as the fold will do when it reserves it."""
    usable = []
    for p in state.usable_packages(s.student_id):
        if not p.active or p.status not in ("active", "frozen", "used_up") or p.frozen_on(s.date):
            continue
        if p.product.service and p.product.service != s.service:
            continue
        if p.product.location and p.product.location != s.location:
            continue
        if p.expires_on is not None and p.expires_on < s.date:
            continue
        usable.append(p)
    for p in sorted(usable, key=lambda p: draw_key(p, p.lots[0], p.expires_on) if p.lots else ()):
        if p.unit == "months":
            if any(lot.start and lot.start <= s.date <= lot.end for lot in p.lots):
                return True
            continue
        need = (s.minutes if s.minutes is not None else Decimal(60)) / 60 if p.unit == "hours" else s.credits
        if p.remaining - taken.get(p.package_id, ZERO) >= need:
            taken[p.package_id] = taken.get(p.package_id, ZERO) + need
            return True
    return False


def auto_renew(state: State, today: dt.date, ctx: Context) -> list[E.Event]:
    """Sell the same product again for each student whose auto-renew package left sessions owed."""
    sales = []
    done = set()
    renewable: dict[str, list] = {}  # owner -> their auto-renew packages (one pass, not one per owed session)
    for p in state.packages.values():
        if p.product.auto_renew and not p.comp and p.active:
            renewable.setdefault(p.owner, []).append(p)
    for a in sorted(queries.owed(state), key=lambda a: (a.date, a.session_id)):
        if a.student_id in done:
            continue
        own = [p for p in renewable.get(a.student_id, ()) if a.unit is None or p.unit == a.unit]
        if not own:
            continue
        last = max(own, key=lambda p: (p.purchased_on, p.package_id))
        product = state.products.get(last.product.product_id, last.product)
        if not product.active:
            continue
        done.add(a.student_id)
        sales.append(E.Sale(effective_date=a.date, student_id=a.student_id, package_id=ctx.new_package_id(),
                            quantity=product.quantity, unit=product.unit, amount=product.price,
                            reason_code="auto_renew", note=f"renewed for {a.session_id}",
                            product_id=product.product_id, location=last.location))
    return sales


def close_period(through: dt.date, ctx: Context, figures: Optional[dict] = None
                 ) -> tuple[list[E.Event], Optional[Problem]]:
    """Close the books through a date: afterwards nothing dated on or before it may change. `figures` are
    the closed months' Report figures (finance.freeze), kept in the row so that the Report never moves."""
    where = Source("Log", None, None)
    if ctx.role not in ("owner", "admin"):
        return [], Problem(where, f"closing a period needs an admin or the owner; {ctx.operator} is {ctx.role}.",
                           "Ask an admin or the owner to close the month.")
    if through >= ctx.today:
        return [], Problem(where, f"{through.isoformat()} is not in the past.", "Close a period that has ended.")
    closed = ctx.state.closed_through
    if closed and through <= closed:
        return [], Problem(where, f"the books are already closed through {closed.isoformat()}.",
                           "Close a later date.")
    return [E.PeriodClose(effective_date=through, note=f"closed through {through.isoformat()} by {ctx.operator} "
                                                    f"({ctx.role})", figures=figures or None)], None


def reopen_period(first: dt.date, reason_code: Optional[str], note: Optional[str], ctx: Context
                  ) -> tuple[list[E.Event], Optional[Problem]]:
    """Open the books again from `first` (a month's first day): only the owner, with a reason code from
    the Reasons list. Everything from that day on may change again, and the Report recomputes those months."""
    where = Source("Log", None, None)
    if ctx.role != Role.OWNER:
        return [], Problem(where, f"reopening a closed month needs the owner; {ctx.operator} is {ctx.role}.",
                           "Ask the owner to reopen it.")
    if not reason_code:
        return [], Problem(where, "reopening a closed month needs a reason code.",
                           "Give --reason with a code from the Reasons sheet (add one there if none fits).")
    if reason_code not in ctx.reasons:
        return [], Problem(where, f'"{reason_code}" is not in the Reasons list.',
                           "Choose one from the Reasons sheet, or add it there first.", reason_code)
    closed = ctx.state.closed_through
    if closed is None or closed < first:
        return [], Problem(where, f"{first.isoformat()[:7]} is not closed (the books are "
                                  f"{'closed through ' + closed.isoformat() if closed else 'not closed'}).",
                           "Reopen a month that is closed.")
    return [E.PeriodReopen(effective_date=first, reason_code=reason_code,
                           note=" ".join(x for x in (f"reopened from {first.isoformat()} (closed through "
                                                     f"{closed.isoformat()}) by {ctx.operator};", note or "") if x)
                           .rstrip(";"))], None
