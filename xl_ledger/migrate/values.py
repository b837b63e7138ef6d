"""Tolerant cell readers for legacy sheets, built on xl_ledger.core.parse.

Legacy cells are messier than the workbook's own input sheets: '10 lessons', '1h30', 'TOTAL', a
date typed as text beside one typed as a date. These wrappers accept those forms, cache results for
repeated text (a 50,000-row log repeats the same dates and names), and raise core's ParseError
with a message that names the value when they cannot.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from decimal import Decimal
from functools import lru_cache

from xl_ledger.core.numbers import D
from xl_ledger.core.parse import ParseError
from xl_ledger.core.parse import parse_date
from xl_ledger.core.parse import parse_minutes
from xl_ledger.core.parse import parse_money
from xl_ledger.core.parse import parse_number
from xl_ledger.core.parse import parse_yesno

SIXTY = Decimal(60)


def blank(v: object) -> bool:
    return v is None or v == "" or (isinstance(v, str) and not v.strip())


@lru_cache(maxsize=4096)
def norm_header(text: str) -> str:
    """'Lessons  Left (#)' -> 'lessons left #': lower case, no accents, punctuation to spaces."""
    t = unicodedata.normalize("NFKD", text)
    t = "".join(ch for ch in t if not unicodedata.combining(ch)).lower()
    t = re.sub(r"[^a-z0-9+\-/#?]+", " ", t)
    return " ".join(t.split())


_NUMERIC_DATE = re.compile(r"(\d{1,2})[/.\-](\d{1,2})[/.\-]\d{2,4}")


@lru_cache(maxsize=16384)
def _date_text(text: str, day_first: bool) -> dt.date:
    # dateutil quietly swaps day and month when the given order is impossible (19/01 read
    # month-first becomes 19 January), so one sheet could mix two orders without a word. Refuse
    # instead: the owner sets day_first in the mapping, and every date is read one way.
    m = _NUMERIC_DATE.fullmatch(text)
    if m:
        first, second = int(m.group(1)), int(m.group(2))
        if (first > 12 and not day_first) or (second > 12 and day_first):
            order = "day-first (31/01/2025)" if first > 12 else "month-first (01/31/2025)"
            raise ParseError(f'"{text}" can only be read {order}, but this sheet is read the other way; '
                             'set "day_first" in the mapping file')
    # core refuses text without a year; a yearless legacy date is read in a placeholder leap year (so
    # "29 Feb" reads) and read_date then raises YearlessDate or moves it to the mapping's year.
    return parse_date(text, day_first=day_first, year=None if has_year(text) else 2000)


class YearlessDate(ParseError):
    """A date typed without its year ("Sept 20", "5/3"): the parser would say 2000; the importer asks."""


# A year is there when the text has four digits, three numeric parts (5/3/25), or a two-digit number
# after a month name and a day ("20 Sep 25", "Sep 20, 25", "Sep '25").
_HAS_YEAR = re.compile(r"\d{4}|\d{1,2}[/.\-]\d{1,2}[/.\-]\d{2}|[a-z]\.?,?\s+'?\d{1,2},?\s+'?\d{2}\b|\d{1,2}\s+[a-z]{3,9}\.?,?\s+'?\d{2}\b|'\d{2}\b",
                       re.I)


def has_year(text: str) -> bool:
    return bool(_HAS_YEAR.search(text))


def read_date(v: object, day_first: bool, yearless_from: dt.date | None = None) -> dt.date:
    """A legacy date cell. Text without a year raises YearlessDate, unless the mapping's `yearless_from`
    says which twelve months such dates fall in (then: the first such day on or after it)."""
    if isinstance(v, dt.date):
        return v if not isinstance(v, dt.datetime) else v.date()
    if isinstance(v, str):
        text = v.strip()
        if not re.search(r"\d", text):  # 'Total', 'Ana': dateutil would guess a weekday or fail slowly
            raise ParseError(f'"{text[:40]}" is not a date')
        if has_year(text):
            return _date_text(text, day_first)
        if yearless_from is None:
            raise YearlessDate(f'"{text[:40]}" has no year')
        # Read it with the year the mapping gives, then the next if that falls before `yearless_from`.
        for year in (yearless_from.year, yearless_from.year + 1):
            try:
                d = _date_text(f"{text} {year}", day_first)
            except ParseError:
                continue  # 29 Feb in a year without one
            if d >= yearless_from:
                return d
        raise ParseError(f'"{text[:40]}" does not fall in the twelve months from {yearless_from.isoformat()}')
    if isinstance(v, float) and v < 20000:
        # A plain number in a date column (e.g. 12 or 2025) is not a believable date after 1954.
        raise ParseError(f'"{v:g}" is not a date')
    return parse_date(v, day_first=day_first)


_UNIT_WORDS = re.compile(r"\s*(lessons?|classes?|sessions?|credits?|x|pcs|units?)\s*$", re.I)


@lru_cache(maxsize=4096)
def _qty_text(text: str, hours: bool) -> Decimal:
    t = _UNIT_WORDS.sub("", text.strip())
    try:
        return parse_number(t, "a quantity")
    except ParseError:
        pass
    # '1h30', '90 min', '1:30', '10 hours' are durations: express them in hours for an hours unit.
    try:
        minutes = parse_minutes(t, bare="hours" if hours else "minutes")
    except ParseError:
        raise ParseError(f'"{text[:40]}" is not a quantity') from None
    if hours or re.search(r"[a-z:]", t.lower()):
        return minutes / SIXTY
    raise ParseError(f'"{text[:40]}" is not a quantity')


def num(v: float) -> Decimal:
    """A reader's float as Decimal: 10.0 -> 10 (readers return every number as float), 1.5 -> 1.5."""
    return Decimal(int(v)) if v.is_integer() else D(v)


def read_qty(v: object, hours: bool = False) -> Decimal:
    """A quantity of credits: 10, '10 lessons', '1.5', '1h30' (-> 1.5 when the unit is hours)."""
    if isinstance(v, float):
        return num(v)
    if isinstance(v, int) and not isinstance(v, bool):
        return Decimal(v)
    if isinstance(v, str):
        return _qty_text(v, hours)
    if isinstance(v, dt.time):  # a duration typed as 1:30 in a time-formatted cell
        return Decimal(v.hour * 60 + v.minute) / SIXTY
    raise ParseError(f'"{v}" is not a quantity')


@lru_cache(maxsize=4096)
def _minutes_text(text: str, bare: str) -> Decimal:
    return parse_minutes(text, bare=bare)


def read_minutes(v: object, bare: str) -> Decimal:
    if isinstance(v, float):
        m = num(v) * SIXTY if bare == "hours" else num(v)
        if m < 0 or m > 24 * 60:
            raise ParseError(f'"{v:g}" is not a lesson length')
        return m
    if isinstance(v, str):
        return _minutes_text(v.strip(), bare)
    return parse_minutes(v, bare=bare)


def read_money(v: object) -> Decimal:
    if isinstance(v, float):
        return num(v)
    return parse_money(v)


_SIGNS = {"$": "$", "£": "GBP", "€": "EUR", "¥": "JPY", "₹": "INR", "₩": "KRW", "₽": "RUB", "₺": "TRY", "₪": "ILS",
          "zł": "PLN", "kr": "kr", "chf": "CHF", "fr.": "CHF", "r$": "BRL", "a$": "AUD", "c$": "CAD", "nz$": "NZD"}
_CODE = re.compile(r"(?<![A-Za-z])([A-Za-z]{3})(?![A-Za-z])")
DOLLARS = frozenset({"USD", "CAD", "AUD", "NZD", "SGD", "HKD", "MXN"})
KRONER = frozenset({"SEK", "NOK", "DKK", "ISK"})


def money_currency(v: object) -> str | None:
    """The currency a money cell names: "£550" -> GBP, "200 EUR" -> EUR, "$100" -> "$" (any dollar),
    550 -> None (a bare number names none: it is in the studio's currency)."""
    if not isinstance(v, str) or not re.search(r"\d", v):
        return None  # a number, or "yes"/"no" in a Paid column
    t = v.strip().lower()
    for sign in sorted(_SIGNS, key=len, reverse=True):
        if sign in t:
            return _SIGNS[sign]
    m = _CODE.search(v)
    return m.group(1).upper() if m else None


def same_currency(named: str, studio: str) -> bool:
    studio = studio.strip().upper()
    if named == "$":
        return studio in DOLLARS
    if named == "kr":
        return studio in KRONER
    return named == studio


def read_paid(v: object, price: Decimal | None) -> Decimal:
    """A 'Paid' column holds an amount (€200) or a yes/no; yes means the full price was paid."""
    try:
        return read_money(v)
    except ParseError:
        pass
    try:
        yes = parse_yesno(v)
    except ParseError:
        raise ParseError(f'"{str(v)[:40]}" is neither an amount paid nor yes/no') from None
    if yes and price is None:
        raise ParseError(f'"{v}" says paid, but the row has no price to tell how much')
    return price if yes else Decimal(0)


# Attendance marks, folded with norm_header. Numbers are handled by the caller (a quantity).
MARKS = {
    "attended": ("x", "✓", "✔", "v", "p", "present", "attended", "yes", "y", "done", "ok", "taught", "came"),
    "no_show": ("ns", "n/s", "no show", "no-show", "noshow", "absent", "missed", "dns"),
    "late_cancel": ("lc", "l/c", "late cancel", "late cancellation", "late canc", "late", "lcx", "lcn"),
    "cancelled": ("c", "cx", "canc", "cancel", "cancelled", "canceled", "cancellation", "sc", "studio cancel"),
}
_MARK_OF = {}
for _mark, _words in MARKS.items():
    for _w in _words:
        _MARK_OF[_w] = _mark
        _MARK_OF[norm_header(_w)] = _mark
_MARK_OF["✓"] = _MARK_OF["✔"] = "attended"  # norm_header drops these symbols


@lru_cache(maxsize=1024)
def read_mark(text: str) -> str | None:
    """'X' -> attended, 'NS' -> no_show, 'LC' -> late_cancel, 'C' -> cancelled; None if unknown."""
    t = text.strip()
    return _MARK_OF.get(t.lower()) or _MARK_OF.get(norm_header(t))
