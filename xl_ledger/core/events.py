"""The Log's events: one frozen record per kind, told apart by `kind`.

Every event has the common Log columns (effective_date, student_id, package_id, session_id, quantity,
unit, amount, reason_code, note); what a kind needs beyond them goes into the JSON `data` column.
`to_cells` / `from_cells` are the canonical serialisation: Decimals as plain text, dates as ISO
text, JSON with sorted keys and no spaces; the hash chain (chain.py) covers exactly these strings.

Events are frozen dataclasses with slots rather than pydantic models: a 1M-row log is folded on every
post, and validation already happened on the way in (inputs.py, commands.py). See DECISIONS.md.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from dataclasses import MISSING
from dataclasses import field
from dataclasses import fields
from decimal import Decimal
from typing import ClassVar
from typing import Optional

from xl_ledger.core.kinds import EventKind
from xl_ledger.core.numbers import text as num_text

_COMMON = ("effective_date", "student_id", "package_id", "session_id", "quantity", "unit", "amount",
           "reason_code", "note")


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    kind: ClassVar[str] = ""
    effective_date: dt.date
    student_id: Optional[str] = None
    package_id: Optional[str] = None
    session_id: Optional[str] = None
    quantity: Optional[Decimal] = None
    unit: Optional[str] = None
    amount: Optional[Decimal] = None
    reason_code: Optional[str] = None
    note: Optional[str] = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SettingsSet(Event):
    kind: ClassVar[str] = EventKind.SETTINGS_SET.value
    values: dict = field(default_factory=dict)  # setting -> canonical text


@dataclass(frozen=True, slots=True, kw_only=True)
class ProductSet(Event):
    """A product defined or changed. `values` holds every Products column as canonical text."""
    kind: ClassVar[str] = EventKind.PRODUCT_SET.value
    values: dict = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class StudentSet(Event):
    kind: ClassVar[str] = EventKind.STUDENT_SET.value
    values: dict = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class StaffSet(Event):
    """A Staff sheet row added, changed or removed: values {user, role, was} ('' = not on the sheet).
    Who changed it and when are the Log row's operator and recorded_at (core/staff.py)."""
    kind: ClassVar[str] = EventKind.STAFF_SET.value
    values: dict = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Sale(Event):
    """A package sold: package_id, student_id = owner, quantity, amount = price paid."""
    kind: ClassVar[str] = EventKind.SALE.value
    product_id: str = ""
    location: Optional[str] = None  # where it was sold: the pack's home location (its liability's)
    payment_ref: Optional[str] = None  # the processor's id of the payment (Actions payment_ref), for tieout


@dataclass(frozen=True, slots=True, kw_only=True)
class TopUp(Event):
    """More credit added to an existing package (quantity), for `amount`."""
    kind: ClassVar[str] = EventKind.TOP_UP.value
    payment_ref: Optional[str] = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionRecorded(Event):
    """A Sessions row seen for the first time. Its state lives in the fields below."""
    kind: ClassVar[str] = EventKind.SESSION_RECORDED.value
    status: str = "scheduled"
    start: Optional[str] = None  # HH:MM
    minutes: Optional[Decimal] = None
    service: Optional[str] = None
    booked_by: str = "staff"
    paid_separately: bool = False
    cancelled_at: Optional[str] = None  # ISO date-time, studio-local
    location: Optional[str] = None  # where the lesson is given
    # quantity = credits


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionChanged(SessionRecorded):
    """A later state of a Sessions row; `changed` names the columns that differ."""
    kind: ClassVar[str] = EventKind.SESSION_CHANGED.value
    changed: tuple = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Refund(Event):
    """quantity credits removed from package_id and `amount` money paid back."""
    kind: ClassVar[str] = EventKind.REFUND.value
    payment_ref: Optional[str] = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Chargeback(Event):
    kind: ClassVar[str] = EventKind.CHARGEBACK.value
    payment_ref: Optional[str] = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Transfer(Event):
    """quantity credits move from package_id to a new package `to_package_id` owned by `to_student_id`."""
    kind: ClassVar[str] = EventKind.TRANSFER.value
    to_student_id: str = ""
    to_package_id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Freeze(Event):
    """No use of package_id for `days` days from effective_date; expiry moves `days` later."""
    kind: ClassVar[str] = EventKind.FREEZE.value
    days: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Unfreeze(Event):
    """Ends the running freeze of package_id on effective_date (usable again that day)."""
    kind: ClassVar[str] = EventKind.UNFREEZE.value


@dataclass(frozen=True, slots=True, kw_only=True)
class Extend(Event):
    kind: ClassVar[str] = EventKind.EXTEND.value
    days: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Adjust(Event):
    """A signed correction of package_id's credit (quantity may be negative)."""
    kind: ClassVar[str] = EventKind.ADJUST.value


@dataclass(frozen=True, slots=True, kw_only=True)
class Comp(Event):
    """Free credit: a zero-value package `package_id` for student_id (product_id optional)."""
    kind: ClassVar[str] = EventKind.COMP.value
    product_id: Optional[str] = None
    validity: Optional[str] = None
    service: Optional[str] = None
    location: Optional[str] = None  # where it was given: the pack's home location


@dataclass(frozen=True, slots=True, kw_only=True)
class Deactivate(Event):
    kind: ClassVar[str] = EventKind.DEACTIVATE.value


@dataclass(frozen=True, slots=True, kw_only=True)
class Reactivate(Event):
    kind: ClassVar[str] = EventKind.REACTIVATE.value


@dataclass(frozen=True, slots=True, kw_only=True)
class ReasonSet(Event):
    """A reason code added, its meaning changed, or removed: values {reason_code, meaning} or
    {reason_code, removed: "yes"}. The list starts as DEFAULT_REASONS (what every template holds), so a
    studio that keeps the template's list logs nothing."""
    kind: ClassVar[str] = EventKind.REASON_SET.value
    values: dict = field(default_factory=dict)


# Reason codes every workbook starts with (the template's Reasons sheet; the Log's list before any
# reason_set row). `migration` and `auto_renew` are used by the engine itself.
DEFAULT_REASONS: tuple[tuple[str, str], ...] = (
    ("goodwill", "Goodwill gesture approved by the owner"),
    ("medical", "Medical reason with a note"),
    ("billing_error", "Correcting a billing or data-entry error"),
    ("moved_away", "Client moved away"),
    ("family_transfer", "Credit moved between family members"),
    ("owner_override", "Owner overrides a policy (e.g. transfer outside the family)"),
    ("auto_renew", "Automatic renewal by the engine"),
    ("migration", "Imported from a legacy spreadsheet"),
    ("chargeback", "Card payment disputed with the bank"),
)


def apply_reason(reasons: dict[str, str], ev: "ReasonSet") -> None:
    code = ev.values.get("reason_code", "")
    if ev.values.get("removed") == "yes":
        reasons.pop(code, None)
    else:
        reasons[code] = ev.values.get("meaning", "")


@dataclass(frozen=True, slots=True, kw_only=True)
class PeriodClose(Event):
    """Nothing dated on or before effective_date may change after this row. `figures` holds the Report's
    figures of the months it closes (finance.freeze), which the Report shows from then on."""
    kind: ClassVar[str] = EventKind.PERIOD_CLOSE.value
    figures: Optional[dict] = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PeriodReopen(Event):
    """The owner opens the books again from effective_date (a month's first day), with a reason code:
    the close moves back to the day before, and those months' recorded figures no longer hold."""
    kind: ClassVar[str] = EventKind.PERIOD_REOPEN.value


KINDS: dict[str, type[Event]] = {cls.kind: cls for cls in (
    SettingsSet, ProductSet, StudentSet, StaffSet, Sale, TopUp, SessionRecorded, SessionChanged, Refund, Chargeback,
    Transfer, Freeze, Unfreeze, Extend, Adjust, Comp, Deactivate, Reactivate, PeriodClose, ReasonSet, PeriodReopen)}

_EXTRA: dict[type, tuple] = {cls: tuple(f for f in fields(cls) if f.name not in _COMMON) for cls in KINDS.values()}


@dataclass(frozen=True, slots=True)
class Entry:
    """A Log row: the envelope (who, when, where from) around one event."""

    seq: int
    recorded_at: str  # UTC, whole seconds, ISO with Z
    operator: str
    source: str
    event: Event
    prev_hash: str = ""
    hash: str = ""

    @property
    def recorded_on(self) -> dt.date:
        return dt.date.fromisoformat(self.recorded_at[:10])


# --- canonical text ------------------------------------------------------------------------------

def _to_json_value(v: object) -> object:
    if isinstance(v, Decimal):
        return num_text(v)
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()
    if isinstance(v, tuple):
        return [_to_json_value(x) for x in v]
    if isinstance(v, dict):
        return {k: _to_json_value(x) for k, x in v.items()}
    return v


def to_cells(event: Event) -> dict[str, str]:
    """The event as Log column texts (without seq/recorded_at/operator/source/hashes)."""
    cells = {
        "kind": event.kind,
        "effective_date": event.effective_date.isoformat(),
        "student_id": event.student_id or "",
        "package_id": event.package_id or "",
        "session_id": event.session_id or "",
        "quantity": "" if event.quantity is None else num_text(event.quantity),
        "unit": event.unit or "",
        "amount": "" if event.amount is None else num_text(event.amount),
        "reason_code": event.reason_code or "",
        "note": event.note or "",
    }
    extra = {}
    for f in _EXTRA[type(event)]:
        value = getattr(event, f.name)
        if value is None or value == () or value == {} or value is False:
            continue  # defaults are left out so that the bytes stay short and stable
        extra[f.name] = _to_json_value(value)
    cells["data"] = json.dumps(extra, sort_keys=True, separators=(",", ":"), ensure_ascii=False) if extra else ""
    return cells


def from_cells(cells: dict) -> Event:
    """Rebuild an event from Log texts (as written by to_cells). Raises KeyError/ValueError if unreadable."""
    cls = KINDS[cells["kind"]]
    kwargs: dict = {
        "effective_date": dt.date.fromisoformat(str(cells["effective_date"])[:10]),
        "student_id": cells.get("student_id") or None,
        "package_id": cells.get("package_id") or None,
        "session_id": cells.get("session_id") or None,
        "quantity": Decimal(cells["quantity"]) if cells.get("quantity") not in (None, "") else None,
        "unit": cells.get("unit") or None,
        "amount": Decimal(cells["amount"]) if cells.get("amount") not in (None, "") else None,
        "reason_code": cells.get("reason_code") or None,
        "note": cells.get("note") or None,
    }
    data = cells.get("data")
    if data:
        for name, value in json.loads(data).items():
            if name in ("minutes",):
                value = Decimal(value)
            elif name == "changed":
                value = tuple(value)
            kwargs[name] = value
    return cls(**kwargs)


# --- fast decoding of Log rows ---------------------------------------------------------------------
# A post or a UDF decodes every Log row; most texts repeat (dates, quantities, a session's data JSON),
# so each distinct text is converted once. The caches are bounded by clearing when they grow large.

_DATES: dict[str, dt.date] = {}
_NUMBERS: dict[str, Decimal] = {}
_DATA: dict[str, dict] = {}
_CACHE_LIMIT = 200_000


def _date(text: str) -> dt.date:
    d = _DATES.get(text)
    if d is None:
        if len(_DATES) > _CACHE_LIMIT:
            _DATES.clear()
        d = _DATES[text] = dt.date.fromisoformat(text[:10])
    return d


def _number(text: str) -> Optional[Decimal]:
    if not text:
        return None
    if type(text) is not str:  # a reader handed back a number
        text = num_text(Decimal(repr(text)) if isinstance(text, float) else Decimal(text))
    n = _NUMBERS.get(text)
    if n is None:
        if len(_NUMBERS) > _CACHE_LIMIT:
            _NUMBERS.clear()
        n = _NUMBERS[text] = Decimal(text)
    return n


def _extras(text: str) -> dict:
    extra = _DATA.get(text)
    if extra is None:
        if len(_DATA) > _CACHE_LIMIT:
            _DATA.clear()
        extra = {}
        for name, value in json.loads(text).items():
            if name == "minutes":
                value = Decimal(value)
            elif name == "changed":
                value = tuple(value)
            extra[name] = value
        _DATA[text] = extra
    return extra


def from_texts(kind: str, effective_date: str, student_id: str, package_id: str, session_id: str, quantity: str,
               unit: str, amount: str, reason_code: str, note: str, data: str) -> Event:
    """Like from_cells, from the Log's texts in column order; the hot path of every read."""
    cls = KINDS[kind]
    extras = _extra_values(cls, data) if data else _NO_EXTRAS[cls]
    if extras is None:  # data names a field this kind lacks (the constructor says which), or a fresh default
        return cls(effective_date=_date(effective_date), student_id=_id(student_id), package_id=_id(package_id),
                   session_id=_id(session_id), quantity=_number(quantity), unit=unit or None,
                   amount=_number(amount), reason_code=_id(reason_code), note=note or None,
                   **(_extras(data) if data else {}))
    return _MAKE[cls](_date(effective_date), _id(student_id), _id(package_id), _id(session_id), _number(quantity),
                      unit or None, _number(amount), _id(reason_code), note or None, extras)


# --- fast construction -------------------------------------------------------------------------------
# A frozen dataclass's __init__ sets each field through object.__setattr__ with keyword arguments: about
# 2 µs an event, a third of decoding a Log row. The makers below fill the same slots through their slot
# descriptors, positionally, and give equal objects (a test pins them to the constructors).

def _compile_maker(cls: type, names: list[str], first: int) -> object:
    """make(v0, …, v{first-1}, extras) -> cls with the first fields from arguments and the rest from
    the `extras` tuple, in field order."""
    ns: dict[str, object] = {"new": object.__new__, "cls": cls}
    args = [f"v{i}" for i in range(first)]
    lines = [f"def make({', '.join(args + ['extras'])}):", "    o = new(cls)"]
    for i, name in enumerate(names):
        ns[f"set{i}"] = getattr(cls, name).__set__
        lines.append(f"    set{i}(o, {args[i] if i < first else f'extras[{i - first}]'})")
    lines.append("    return o")
    exec("\n".join(lines), ns)  # noqa: S102 - the source is built here from field names only
    return ns["make"]


def _defaults(cls: type) -> Optional[tuple]:
    """The extras' default values in field order; None when one is a fresh object per event (a dict)."""
    out = []
    for f in _EXTRA[cls]:
        if f.default is not MISSING:
            out.append(f.default)
        else:
            return None
    return tuple(out)


assert all(tuple(f.name for f in fields(cls))[:len(_COMMON)] == _COMMON for cls in KINDS.values())
_MAKE = {cls: _compile_maker(cls, [f.name for f in fields(cls)], len(_COMMON)) for cls in KINDS.values()}
_ENTRY_FIELDS = [f.name for f in fields(Entry)]
make_entry = _compile_maker(Entry, _ENTRY_FIELDS, len(_ENTRY_FIELDS))  # make_entry(seq, …, hash, ())
_EXTRA_INDEX = {cls: {f.name: i for i, f in enumerate(_EXTRA[cls])} for cls in KINDS.values()}
_EXTRA_DEFAULTS = {cls: _defaults(cls) for cls in KINDS.values()}
_NO_EXTRAS = {cls: _EXTRA_DEFAULTS[cls] for cls in KINDS.values()}
_EXTRA_VALUES: dict[tuple, Optional[tuple]] = {}


def _extra_values(cls: type, data: str) -> Optional[tuple]:
    """The kind's extra fields in order, from the data column; None when data names a field the kind
    does not have (or a default must be a fresh object)."""
    key = (cls, data)
    values = _EXTRA_VALUES.get(key)
    if values is None and key not in _EXTRA_VALUES:
        extra = _extras(data)
        index = _EXTRA_INDEX[cls]
        if not extra.keys() <= index.keys():
            values = None
        else:
            base = _EXTRA_DEFAULTS[cls]
            if base is None:
                fresh = [extra[f.name] if f.name in extra else
                         (f.default if f.default is not MISSING else f.default_factory()) for f in _EXTRA[cls]]
                return tuple(fresh)  # not cached: a default made afresh for each event
            values = tuple(extra.get(f.name, base[i]) for i, f in enumerate(_EXTRA[cls]))
        if len(_EXTRA_VALUES) > _CACHE_LIMIT:
            _EXTRA_VALUES.clear()
        _EXTRA_VALUES[key] = values
    return values


def _id(value) -> Optional[str]:
    if not value:
        return None
    if type(value) is str:
        return value
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def entries_from_texts(rows, slow) -> list[Entry]:
    """[slow(row) for row in rows] for Log rows (seq, recorded_at, …, data) whose cells are text, with
    from_texts' steps inlined: decoding every row is the largest fixed cost of a warm post, and the calls
    per row (from_texts, _id, _date, _number) were a tenth of it (building the two objects is most of the
    rest). A row with a cell that is not text, a date or number not cached yet, or one from_texts would
    build through the constructor goes to `slow` (journal.row_to_entry), which gives the same Entry; a
    hypothesis test holds the two equal."""
    out: list[Entry] = []
    append = out.append
    kinds, makers, no_extras, dates, numbers = KINDS, _MAKE, _NO_EXTRAS, _DATES, _NUMBERS
    entry = make_entry
    for row in rows:
        (seq, recorded_at, operator, kind, effective_date, student_id, package_id, session_id, quantity, unit,
         amount, reason_code, note, source, prev_hash, hash_, data) = row
        if type(effective_date) is not str or type(recorded_at) is not str or type(student_id) is not str \
                or type(package_id) is not str or type(session_id) is not str or type(quantity) is not str \
                or type(amount) is not str or type(reason_code) is not str:
            append(slow(row))
            continue
        cls = kinds[kind]
        extras = _extra_values(cls, data) if data else no_extras[cls]
        day = dates.get(effective_date)
        q = numbers.get(quantity) if quantity else None
        money = numbers.get(amount) if amount else None
        if extras is None or day is None or (q is None and quantity) or (money is None and amount):
            append(slow(row))  # a first sight of a date or number (cached there), or the constructor's case
            continue
        append(entry(int(seq), recorded_at, operator, source,
                     makers[cls](day, student_id or None, package_id or None, session_id or None, q, unit or None,
                                 money, reason_code or None, note or None, extras),
                     prev_hash, hash_, ()))
    return out


# --- fast encoding ---------------------------------------------------------------------------------

_DATE_TEXT: dict[dt.date, str] = {}
_NUMBER_TEXT: dict[Decimal, str] = {}
_DATA_TEXT: dict[tuple, str] = {}
_EXTRA_NAMES: dict[type, tuple[str, ...]] = {cls: tuple(f.name for f in extra) for cls, extra in _EXTRA.items()}


def _date_text(d: dt.date) -> str:
    text = _DATE_TEXT.get(d)
    if text is None:
        if len(_DATE_TEXT) > _CACHE_LIMIT:
            _DATE_TEXT.clear()
        text = _DATE_TEXT[d] = d.isoformat()
    return text


def _number_text(n: Optional[Decimal]) -> str:
    if n is None:
        return ""
    text = _NUMBER_TEXT.get(n)
    # Decimal('1.0') == Decimal('1') hash alike and print alike once normalised, so sharing is safe.
    if text is None:
        if len(_NUMBER_TEXT) > _CACHE_LIMIT:
            _NUMBER_TEXT.clear()
        text = _NUMBER_TEXT[n] = num_text(n)
    return text


def to_texts(event: Event) -> tuple[str, ...]:
    """The event's Log texts in column order, kind … note, data: `to_cells` without the dict, with the
    conversions of repeated values (dates, quantities, a session's data) done once."""
    cls = type(event)
    names = _EXTRA_NAMES[cls]
    data = ""
    if names:
        extras = tuple([getattr(event, n) for n in names])
        try:
            data = _DATA_TEXT.get((cls, extras))
        except TypeError:  # a dict among the extras (product or student values): not cacheable
            data = to_cells(event)["data"]
        else:
            if data is None:
                if len(_DATA_TEXT) > _CACHE_LIMIT:
                    _DATA_TEXT.clear()
                data = _DATA_TEXT[(cls, extras)] = to_cells(event)["data"]
    return (cls.kind, _date_text(event.effective_date), event.student_id or "", event.package_id or "",
            event.session_id or "", _number_text(event.quantity), event.unit or "", _number_text(event.amount),
            event.reason_code or "", event.note or "", data)
