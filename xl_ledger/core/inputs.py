"""Input rows (sheets of book/schema.py) → validated, frozen models, with owner-readable errors.

Each reader takes rows as `(excel_row, {column: raw value})` and returns `(models, problems)`. A bad
cell makes its row a Problem naming sheet, row and column, e.g.
`Sessions row 14, minutes: "ninety" is not a number of minutes`; the other rows still load.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import fields as dataclass_fields
from decimal import Decimal
from operator import attrgetter
from typing import Callable
from typing import Iterable
from typing import Literal
from typing import Optional

from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import TypeAdapter
from pydantic.dataclasses import dataclass as pydantic_dataclass

from xl_ledger.core import parse as P
from xl_ledger.core.errors import Problem
from xl_ledger.core.errors import Source
from xl_ledger.core.kinds import Role
from xl_ledger.core.kinds import SessionStatus

Unit = Literal["hours", "lessons", "months"]
Status = Literal["pending", "waitlisted", "scheduled", "attended", "late_cancel", "no_show", "cancelled",
                 "studio_cancelled"]
ActionKind = Literal["sell", "top_up", "refund", "chargeback", "transfer", "freeze", "unfreeze", "extend", "adjust",
                     "comp", "deactivate", "reactivate"]
UNITS = ("hours", "lessons", "months")
STATUSES = tuple(SessionStatus)
ACTIONS = ("sell", "top_up", "refund", "chargeback", "transfer", "freeze", "unfreeze", "extend", "adjust", "comp",
           "deactivate", "reactivate")
ROLES = tuple(Role)

Row = tuple[int, dict]


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Settings(Frozen):
    studio_name: str = "My Studio"
    currency: str = "USD"
    timezone: str = "UTC"
    late_cancel_hours: int = 12
    low_balance_threshold: Decimal = Decimal(2)
    expiry_warning_days: int = 7
    refund_admin_fee: Decimal = Decimal(0)
    reserve_staff_bookings: bool = True
    breakage_method: Literal["remote", "proportional"] = "remote"
    makeup_validity_days: int = 0
    makeup_max_per_quarter: int = 2
    week_start: Literal["monday", "sunday"] = "monday"
    date_order: Literal["mdy", "dmy"] = "mdy"  # how dates typed as text read: 3/14/2026 or 14/3/2026
    iif_trnstype: Literal["general_journal", "journal"] = "general_journal"  # QuickBooks Desktop before 2019: journal
    require_upfront: bool = False  # a client booking needs credit when it is made (seed 004 "pay upfront")
    churn_weeks: int = 4  # the Dashboard's churn risk: credit left and no lesson for this many weeks
    # Engine-owned, never on the sheet: the Log is sealed with the owner's key from the row that says so
    # (commands.sign_log). Without the key, verify and post say a key is needed instead of "tampered".
    signed: Literal["no", "owner_key"] = "no"


class Product(Frozen):
    product_id: str
    name: str
    unit: Unit
    quantity: Decimal
    price: Decimal
    validity: Optional[str] = None  # canonical text, e.g. "3 months"
    validity_starts: Literal["purchase", "first_use"] = "purchase"
    service: Optional[str] = None
    period: Literal["none", "week", "month"] = "none"
    per_period: Optional[Decimal] = None
    shared: bool = False
    late_cancel: Literal["deduct", "free"] = "deduct"
    no_show: Literal["deduct", "free"] = "deduct"
    negative_limit: Decimal = Decimal(0)
    auto_renew: bool = False
    apply_at: Literal["booking", "service"] = "booking"
    priority: int = 100
    intro_only: bool = False
    rollover_days: int = 0
    rollover_cap: Optional[Decimal] = None
    active: bool = True
    period_start: Literal["calendar", "purchase"] = "calendar"  # months of allowances: calendar or anniversary
    location: Optional[str] = None  # the only location where it can be used; None: every location


class Student(Frozen):
    student_id: str
    name: str
    family_id: Optional[str] = None
    email: Optional[str] = None
    active: bool = True


# A pydantic dataclass with slots, not a model: a studio's Sessions sheet holds every lesson (half a million
# rows at a million Log rows), and a model instance with its field dict and fields-set took 1.3 KB against
# 136 bytes. Validated alike (extra fields refused, the same types and literals), immutable, compared by value.
@pydantic_dataclass(frozen=True, slots=True, kw_only=True, config=ConfigDict(extra="forbid"))
class Session:
    session_id: str
    date: dt.date
    start: Optional[dt.time] = None
    minutes: Optional[Decimal] = None
    student_id: str
    service: Optional[str] = None
    status: Status
    booked_by: Literal["client", "staff"] = "staff"
    credits: Decimal = Decimal(1)
    paid_separately: bool = False
    cancelled_at: Optional[dt.datetime] = None
    note: Optional[str] = None
    location: Optional[str] = None

    def __reduce__(self):
        # Pickled as its values, rebuilt by filling the slots: the checkpoint keeps every parsed Sessions
        # row, and the dataclass's own __setstate__ (a Python loop per object) took 7 µs a row to load.
        return session_from_values, _session_values(self)


_SESSION_FIELDS = tuple(f.name for f in dataclass_fields(Session))
_session_values = attrgetter(*_SESSION_FIELDS)  # a tuple of a Session's values, in one C call


def _compile_session_maker():
    ns: dict = {"new": object.__new__, "cls": Session}
    args = ", ".join(f"v{i}" for i in range(len(_SESSION_FIELDS)))
    lines = [f"def session_from_values({args}):", "    o = new(cls)"]
    for i, name in enumerate(_SESSION_FIELDS):
        ns[f"set{i}"] = getattr(Session, name).__set__  # the slot's descriptor: no validation, no frozen check
        lines.append(f"    set{i}(o, v{i})")
    lines.append("    return o")
    exec("\n".join(lines), ns)  # noqa: S102 - the source is built here from field names only
    return ns["session_from_values"]


session_from_values = _compile_session_maker()  # only for values a Session already had (see __reduce__)


class Action(Frozen):
    row: int
    action: ActionKind
    date: Optional[dt.date] = None
    student_id: Optional[str] = None
    package_id: Optional[str] = None
    product_id: Optional[str] = None
    quantity: Optional[Decimal] = None
    amount: Optional[Decimal] = None
    reason_code: Optional[str] = None
    to_student_id: Optional[str] = None
    days: Optional[int] = None
    note: Optional[str] = None
    status: Optional[str] = None
    location: Optional[str] = None
    payment_ref: Optional[str] = None


class StaffMember(Frozen):
    user: str
    role: Literal["owner", "admin", "staff"]


# --- field parsers: raw cell -> value; they raise ParseError with the value in the message --------

def _text(v: object) -> Optional[str]:
    if P.is_blank(v):
        return None
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    # Line ends as LF only: some programs re-save CR as LF, which would break the Log's hash chain.
    return str(v).strip().replace("\r\n", "\n").replace("\r", "\n")


def _opt(fn: Callable) -> Callable:
    return lambda v: None if P.is_blank(v) else fn(v)


def _choice(choices: tuple[str, ...], default: Optional[str] = None) -> Callable:
    return lambda v: P.parse_choice(v, choices, default)


def _qty(what: str) -> Callable:
    def parse(v: object) -> Decimal:
        n = P.parse_number(v, what)
        if n < 0:
            raise P.ParseError(f'"{v}" is below zero; {what} cannot be negative')
        return n
    return parse


def _positive(what: str) -> Callable:
    def parse(v: object) -> Decimal:
        n = P.parse_number(v, what)
        if n <= 0:
            raise P.ParseError(f'"{v}" must be more than zero')
        return n
    return parse


def _money_nonneg(v: object) -> Decimal:
    n = P.parse_money(v)
    if n < 0:
        raise P.ParseError(f'"{v}" is a negative amount; amounts are typed as positive numbers')
    return n


def _int_nonneg(what: str) -> Callable:
    def parse(v: object) -> int:
        n = P.parse_int(v, what)
        if n < 0:
            raise P.ParseError(f'"{v}" cannot be negative')
        return n
    return parse


def _validity(v: object) -> Optional[str]:
    parsed = P.parse_validity(v)
    return None if parsed is None else str(parsed)


def _yesno_default(default: bool) -> Callable:
    return lambda v: default if P.is_blank(v) else P.parse_yesno(v)


def _minutes(v: object) -> Decimal:
    return P.parse_minutes(v, bare="minutes")


# Per column: (parser, remedy shown when it fails). Blank optional cells are skipped (defaults apply).
SETTINGS_FIELDS: dict[str, tuple[Callable, str]] = {
    "studio_name": (_text, ""),
    "currency": (lambda v: str(v).strip().upper(), "Use a 3-letter ISO code such as USD, EUR or GBP."),
    "timezone": (lambda v: str(v).strip(), "Use an IANA name such as Europe/Rome."),
    "late_cancel_hours": (_int_nonneg("a number of hours"), "Type whole hours, e.g. 12."),
    "low_balance_threshold": (_qty("a quantity"), "Type a number, e.g. 2."),
    "expiry_warning_days": (_int_nonneg("a number of days"), "Type whole days, e.g. 7."),
    "refund_admin_fee": (_money_nonneg, "Type an amount, e.g. 15."),
    "reserve_staff_bookings": (P.parse_yesno, "Type yes or no."),
    "breakage_method": (_choice(("remote", "proportional")), "Type remote or proportional."),
    "makeup_validity_days": (_int_nonneg("a number of days"), "Type whole days; 0 turns make-ups off."),
    "makeup_max_per_quarter": (_int_nonneg("a number"), "Type a whole number, e.g. 2."),
    "week_start": (_choice(("monday", "sunday")), "Type monday or sunday."),
    "date_order": (_choice(("mdy", "dmy")), "Type mdy (3/14/2026) or dmy (14/3/2026)."),
    "iif_trnstype": (_choice(("general_journal", "journal")),
                     "Type GENERAL JOURNAL (QuickBooks Desktop 2019 and later) or JOURNAL (older)."),
    "require_upfront": (P.parse_yesno, "Type yes or no."),
    "churn_weeks": (_int_nonneg("a number of weeks"), "Type whole weeks, e.g. 4."),
}

PRODUCT_FIELDS: dict[str, tuple[Callable, str]] = {
    "product_id": (P.parse_id, "Give every product a short id, e.g. P10."),
    "name": (_text, "Give the product a name."),
    "unit": (_choice(UNITS), "Choose hours, lessons or months."),
    "quantity": (_positive("a quantity"), "Type how many hours, lessons or months the package holds."),
    "price": (_money_nonneg, "Type the package price, e.g. 200."),
    "validity": (_validity, "Type e.g. 3 months, 6 weeks or 90 days; leave blank for no expiry."),
    "validity_starts": (_choice(("purchase", "first_use"), "purchase"), "Choose purchase or first_use."),
    "service": (_text, ""),
    "period": (_choice(("none", "week", "month"), "none"), "Choose none, week or month."),
    "per_period": (_opt(_positive("a quantity")), "Type credits granted per period, e.g. 1."),
    "shared": (_yesno_default(False), "Type yes or no."),
    "late_cancel": (_choice(("deduct", "free"), "deduct"), "Choose deduct or free."),
    "no_show": (_choice(("deduct", "free"), "deduct"), "Choose deduct or free."),
    "negative_limit": (_qty("a quantity"), "Type how far below zero the balance may go, e.g. 0."),
    "auto_renew": (_yesno_default(False), "Type yes or no."),
    "apply_at": (_choice(("booking", "service"), "booking"), "Choose booking or service."),
    "priority": (lambda v: P.parse_int(v, "a whole number"), "Type a whole number; lower draws first."),
    "intro_only": (_yesno_default(False), "Type yes or no."),
    "rollover_days": (_int_nonneg("a number of days"), "Type whole days; 0 means no rollover."),
    "rollover_cap": (_opt(_qty("a quantity")), "Type the most credits carried over."),
    "active": (_yesno_default(True), "Type yes or no."),
    "period_start": (_choice(("calendar", "purchase"), "calendar"),
                     "Choose calendar (months from the 1st) or purchase (months from the purchase day)."),
    "location": (_text, ""),
}

STUDENT_FIELDS: dict[str, tuple[Callable, str]] = {
    "student_id": (P.parse_id, "Give every student a short id, e.g. S-001."),
    "name": (_text, "Type the student's name."),
    "family_id": (_opt(P.parse_id), "Use the same family id for siblings, e.g. F-01."),
    "email": (_text, ""),
    "active": (_yesno_default(True), "Type yes or no."),
}

SESSION_FIELDS: dict[str, tuple[Callable, str]] = {
    "session_id": (P.parse_id, "Give every session a unique id, e.g. L-0001."),
    "date": (P.parse_date, "Type the date like 2026-03-14."),
    "start": (P.parse_time, "Type the start time like 16:30."),
    "minutes": (_minutes, "Type the lesson length in minutes, e.g. 90."),
    "student_id": (P.parse_id, "Type a student_id from the Students sheet."),
    "service": (_text, ""),
    "status": (_choice(STATUSES), "Choose a status from the list."),
    "booked_by": (_choice(("client", "staff"), "staff"), "Choose client or staff."),
    "credits": (_qty("a number of credits"), "Type the lesson credits this session costs, e.g. 1 or 0.5."),
    "paid_separately": (_yesno_default(False), "Type yes or no."),
    "cancelled_at": (P.parse_datetime, "Type when the client cancelled, like 2026-03-14 09:15."),
    "note": (_text, ""),
    "location": (_text, ""),
}

ACTION_FIELDS: dict[str, tuple[Callable, str]] = {
    "action": (_choice(ACTIONS), "Choose an action from the list."),
    "date": (P.parse_date, "Type the date like 2026-03-14, or leave it blank for today."),
    "student_id": (P.parse_id, "Type a student_id from the Students sheet."),
    "package_id": (P.parse_id, "Type a package_id from the Packages sheet."),
    "product_id": (P.parse_id, "Type a product_id from the Products sheet."),
    "quantity": (lambda v: P.parse_number(v, "a quantity"), "Type a number of hours, lessons or months."),
    "amount": (_money_nonneg, "Type an amount of money, e.g. 125."),
    "reason_code": (P.parse_id, "Choose a reason code from the Reasons sheet."),
    "to_student_id": (P.parse_id, "Type the receiving student's id."),
    "days": (_int_nonneg("a number of days"), "Type whole days, e.g. 14."),
    "note": (_text, ""),
    "status": (_text, ""),
    "location": (_text, ""),
    "payment_ref": (_text, ""),
}

STAFF_FIELDS: dict[str, tuple[Callable, str]] = {
    "user": (P.parse_id, "Type the user name people post as."),
    "role": (_choice(ROLES), "Choose owner, admin or staff."),
}


def parse_row(sheet: str, row_no: int, raw: dict, fields: dict[str, tuple[Callable, str]],
              required: Iterable[str], memo: Optional[dict] = None) -> tuple[dict, list[Problem]]:
    """Parse one row's cells; return the clean values and a Problem per bad cell.

    `memo` ({column: {}}, shared by the rows of one sheet) keeps each column's answer per distinct cell
    value: a parser depends on the value alone, and a Sessions sheet repeats its dates, students,
    statuses and lengths on nearly every row, so a big sheet is parsed a distinct value at a time."""
    values: dict = {}
    problems: list[Problem] = []
    required = set(required)
    for name, (parser, remedy) in fields.items():
        value = raw.get(name)
        if isinstance(value, str) and value.startswith("="):
            problems.append(Problem(Source(sheet, row_no, name), f'"{value[:40]}" is a formula typed as text',
                                    "Type the value itself.", value))
            continue
        if P.is_blank(value):
            if name in required:
                problems.append(Problem(Source(sheet, row_no, name), "is empty but required", remedy, None))
            continue
        answers = memo.setdefault(name, {}) if memo is not None else None
        key = (value.__class__, value)  # True == 1, but not as a cell
        try:
            answer = answers[key] if answers is not None else None
        except (KeyError, TypeError):  # not seen yet, or an unhashable value
            answer = None
        if answer is None:
            try:
                answer = (True, parser(value))
            except (P.ParseError, TypeError, ValueError, OverflowError) as exc:
                answer = (False, _clean(str(exc)))
            if answers is not None:
                try:
                    answers[key] = answer
                except TypeError:
                    pass
        ok, parsed = answer
        if not ok:
            problems.append(Problem(Source(sheet, row_no, name), parsed, remedy, value))
            continue
        if parsed is not None:
            values[name] = parsed
    return values, problems

def _clean(message: str) -> str:
    return message if message.endswith(".") else message + "."


_MISSING = object()  # a cell that gives its field no value: blank, or a parser's None
_NUMBERS = frozenset({bool, int, float, Decimal})  # 1 == 1.0 == True == Decimal(1), but not as cells


def _cell_answer(parser: Callable, value: object, required: bool) -> tuple:
    """One cell's answer, as parse_row gives it: (True, parsed) (None: no value), (False, message),
    ("formula",) or ("blank",) (a required cell left empty)."""
    if isinstance(value, str) and value.startswith("="):
        return ("formula",)
    if P.is_blank(value):
        return ("blank",) if required else (True, None)
    try:
        return (True, parser(value))
    except (P.ParseError, TypeError, ValueError, OverflowError) as exc:
        return (False, _clean(str(exc)))


def _distinct_keys(values: list) -> Optional[list]:
    """A dict key per cell that tells apart cells a parser may read differently: the value itself, or
    (type, value) when the column mixes kinds of number. None when a value is unhashable."""
    kinds = set(map(type, values))
    keys = list(zip(map(type, values), values)) if len(kinds & _NUMBERS) > 1 else values
    try:
        dict.fromkeys(keys)
    except TypeError:
        return None
    return keys


_ADAPTERS: dict[type, TypeAdapter] = {}


def _validate_all(model: type, rows: list[dict]) -> list:
    """model(**values) for every row, in one call: the models' own validation, without a Python call per row."""
    adapter = _ADAPTERS.get(model)
    if adapter is None:
        adapter = _ADAPTERS[model] = TypeAdapter(list[model])
    return adapter.validate_python(rows)


def _build(sheet: str, rows: Iterable[Row], fields: dict, required: tuple[str, ...], model: type,
           extra: Callable[[int, dict], dict] | None = None) -> tuple[list, list[Problem]]:
    """parse_row for every row, a column at a time: each column's distinct cell values are parsed once
    (a parser depends on the value alone, and a Sessions sheet of half a million lessons repeats its
    dates, students, statuses and lengths on nearly every row), then the clean rows are validated as
    models in one call. The same models and the same problems, in the same order (row by row, a row's
    columns in field order), as parse_row row by row: tests/test_inputs.py holds them equal."""
    rows = [(row_no, raw) for row_no, raw in rows if not all(P.is_blank(v) for v in raw.values())]
    if not rows:
        return [], []
    names = list(fields)
    required = set(required)
    columns: list[list] = []
    found: list[tuple[int, int, Problem]] = []  # (row index, field index, problem): sorted below
    for f, name in enumerate(names):
        parser, remedy = fields[name]
        must = name in required
        values = [raw.get(name) for _r, raw in rows]
        keys = _distinct_keys(values)
        if keys is not None:
            typed = keys is not values  # keys are (type, value)
            answers = {k: _cell_answer(parser, k[1] if typed else k, must) for k in dict.fromkeys(keys)}
            odd = any(a[0] is not True for a in answers.values())
            value_of = {k: (_MISSING if a[0] is not True or a[1] is None else a[1]) for k, a in answers.items()}
            column = list(map(value_of.__getitem__, keys))
            answer_at = (lambda i, answers=answers, keys=keys: answers[keys[i]])
        else:  # an unhashable value somewhere: every cell on its own
            each = [_cell_answer(parser, v, must) for v in values]
            odd = True
            column = [_MISSING if a[0] is not True or a[1] is None else a[1] for a in each]
            answer_at = each.__getitem__
        if odd:
            for i, value in enumerate(values):
                answer = answer_at(i)
                if answer[0] is True:
                    continue
                where = Source(sheet, rows[i][0], name)
                if answer[0] == "formula":
                    found.append((i, f, Problem(where, f'"{value[:40]}" is a formula typed as text',
                                                "Type the value itself.", value)))
                elif answer[0] == "blank":
                    found.append((i, f, Problem(where, "is empty but required", remedy, None)))
                else:
                    found.append((i, f, Problem(where, answer[1], remedy, value)))
        columns.append(column)
    bad_rows = {i for i, _f, _p in found}
    good, clean = [], []
    missing = _MISSING
    for i, parsed in enumerate(zip(*columns)):
        if i in bad_rows:
            continue
        values = {name: v for name, v in zip(names, parsed) if v is not missing}
        row_no = rows[i][0]
        if extra:
            values.update(extra(row_no, values))
        good.append(row_no)
        clean.append(values)
    found.sort(key=lambda item: (item[0], item[1]))
    return list(zip(good, _validate_all(model, clean))), [p for _i, _f, p in found]


def read_settings(rows: Iterable[Row]) -> tuple[Settings, list[Problem]]:
    values: dict = {}
    problems: list[Problem] = []
    for row_no, raw in rows:
        key = _text(raw.get("key"))
        if key is None:
            continue
        key = key.lower()
        if key not in SETTINGS_FIELDS:
            continue  # unknown keys are the owner's own notes; they do no harm
        value = raw.get("value")
        if P.is_blank(value):
            continue
        parser, remedy = SETTINGS_FIELDS[key]
        try:
            values[key] = parser(value)
        except (P.ParseError, TypeError, ValueError) as exc:
            problems.append(Problem(Source("Settings", row_no, key), _clean(str(exc)), remedy, value))
    return Settings(**values), problems


def currency_problems(sheet: str, rows: list[Row], column: str, currency: Optional[str]) -> list[Problem]:
    """Amounts typed with a sign or code of another currency than the studio's ("£40" when it keeps USD):
    flagged in their cell, never converted or guessed."""
    if not currency:
        return []
    out = []
    for row_no, raw in rows:
        named = P.money_currencies(raw.get(column))
        if named is not None and currency.upper() not in named:
            out.append(Problem(Source(sheet, row_no, column),
                               f"is in {'/'.join(sorted(named))}, but the studio keeps its books in {currency} "
                               "(Settings currency)", f"Type the amount in {currency}, or without a sign.",
                               raw.get(column)))
    return out


def read_products(rows: Iterable[Row], currency: Optional[str] = None) -> tuple[list[tuple[int, Product]], list[Problem]]:
    rows = list(rows)
    wrong = currency_problems("Products", rows, "price", currency)
    bad = {p.source.row for p in wrong}
    built, problems = _build("Products", [r for r in rows if r[0] not in bad], PRODUCT_FIELDS,
                             ("product_id", "name", "unit", "quantity", "price"), Product)
    problems = wrong + problems
    good = []
    for row_no, p in built:
        if p.period != "none" and p.per_period is None:
            problems.append(Problem(Source("Products", row_no, "per_period"),
                                    f"is empty but {p.product_id} grants credits per {p.period}",
                                    "Type how many credits each period grants, e.g. 1."))
            continue
        good.append((row_no, p))
    return good, problems


def read_students(rows: Iterable[Row]) -> tuple[list[tuple[int, Student]], list[Problem]]:
    return _build("Students", rows, STUDENT_FIELDS, ("student_id", "name"), Student)


def _day_first(fields: dict, day_first: bool) -> dict:
    """The same fields, with dates typed as text read day-first (Settings date_order = dmy)."""
    if not day_first:
        return fields
    out = dict(fields)
    for name, (parser, remedy) in fields.items():
        if parser is P.parse_date:
            out[name] = (lambda v: P.parse_date(v, day_first=True), remedy)
        elif parser is P.parse_datetime:
            out[name] = (lambda v: P.parse_datetime(v, day_first=True), remedy)
    return out


def read_sessions(rows: Iterable[Row], day_first: bool = False) -> tuple[list[tuple[int, Session]], list[Problem]]:
    return _build("Sessions", rows, _day_first(SESSION_FIELDS, day_first),
                  ("session_id", "date", "student_id", "status"), Session)


def read_actions(rows: Iterable[Row], day_first: bool = False, currency: Optional[str] = None
                 ) -> tuple[list[tuple[int, Action]], list[Problem]]:
    rows = list(rows)
    wrong = currency_problems("Actions", rows, "amount", currency)
    bad = {p.source.row for p in wrong}
    built, problems = _build("Actions", [r for r in rows if r[0] not in bad], _day_first(ACTION_FIELDS, day_first),
                             ("action",), Action, extra=lambda row_no, _v: {"row": row_no})
    return built, wrong + problems


def read_staff(rows: Iterable[Row]) -> tuple[dict[str, str], list[Problem]]:
    built, problems = _build("Staff", rows, STAFF_FIELDS, ("user", "role"), StaffMember)
    return {m.user.lower(): m.role for _r, m in built}, problems


def read_reasons(rows: Iterable[Row]) -> set[str]:
    return {str(raw.get("reason_code")).strip() for _r, raw in rows if not P.is_blank(raw.get("reason_code"))}


def read_reason_meanings(rows: Iterable[Row]) -> dict[str, tuple[int, Optional[str]]]:
    """reason_code -> (its row, its meaning as text), the first row of a code (as the Log keeps them). The
    meaning is None when the sheet has no meaning column (it is optional): nothing to compare."""
    out: dict[str, tuple[int, Optional[str]]] = {}
    for row_no, raw in rows:
        if P.is_blank(raw.get("reason_code")):
            continue
        code = str(raw.get("reason_code")).strip()
        if code not in out:
            out[code] = (row_no, (_text(raw.get("meaning")) or "") if "meaning" in raw else None)
    return out
