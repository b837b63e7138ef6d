"""Reading the values people type: dates, times, durations, money, yes/no, validity periods.

Every function takes what a cell held (str, int, float, date, datetime or None) and returns a clean
Python value, or raises `ParseError` with a message a studio owner understands. Callers attach the
place (sheet, row, column); these functions only know the value.
"""

from __future__ import annotations

from typing import Optional

import datetime as dt
import functools
import re
from dataclasses import dataclass
from decimal import Decimal
from decimal import InvalidOperation

from xl_ledger.core.numbers import D


class ParseError(ValueError):
    """A value that cannot be read as what its column needs. The message names the value."""


EXCEL_EPOCH = dt.datetime(1899, 12, 30)


def is_blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


def _show(value: object) -> str:
    text = str(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f'"{text}"'


def parse_date(value: object, *, day_first: bool = False, year: int | None = None) -> dt.date:
    """A calendar date from a date cell, an Excel serial number or text like 3/14/2026, 14 Mar 2026.

    Text without a year is refused, unless the caller has evidence of the year and passes it (a legacy
    sheet titled "spring 2025" whose columns say "20 Jan"): the year is never made up here."""
    return _ledger_range(_parse_date(value, day_first=day_first, year=year), value)


# No studio using this ledger sold a package before 1990; a year outside the studio's life is a slip of
# the keyboard or a number read as a date serial (0, 60, 1E+308), never a fact. The latest year is a
# ceiling for the calendar arithmetic (9999 + a validity overflows); "years past today" needs today, so
# core/commands.py checks that against the date it is given.
FIRST_YEAR, LAST_YEAR = 1990, 2999


def _ledger_range(d, value: object):
    """Dates the ledger can compute with: validity and warning windows are added to them, and a year
    like 9999 (a valid Excel date, a slip of the keyboard) would overflow Python's calendar."""
    if not FIRST_YEAR <= d.year <= LAST_YEAR:
        raise ParseError(f"{_show(value)} is not a plausible date (year {d.year}, before {FIRST_YEAR} or far "
                         "in the future); write the full date, like 2026-03-14")
    return d


# Two defaults that differ in year, month and day: a field the text leaves out comes from the default,
# so the two readings differ exactly when the text lacks a year, a month or a day ("March", "3/4",
# "Tuesday", "March 2026"). dateutil would otherwise fill the gap from its default (the year 2000).
_DEFAULTS = (dt.datetime(2000, 1, 1), dt.datetime(2004, 2, 2))


@functools.cache
def _parser():
    """dateutil's parser with Excel's two-digit years, built on first use: importing dateutil costs every
    command about 20 ms of start-up, and most never read a date typed as text."""
    from dateutil import parser as dateparser

    class _ExcelYears(dateparser.parserinfo):
        """A two-digit year is completed as Excel completes one typed into a cell: 00-29 are 2000-2029,
        30-99 are 1930-1999. dateutil's own rule takes the century from the machine's clock (read when the
        module is imported), so the same text could mean another year on another machine or in another
        decade; the core never reads a clock. Within the years the ledger accepts (1990 on), each two-digit
        year has exactly this one reading up to 2029; after that "3/14/30" reads 1930 and is refused
        ("write the full date")."""

        def convertyear(self, year: int, century_specified: bool = False) -> int:
            if year < 100 and not century_specified:
                return year + (2000 if year < 30 else 1900)
            return year

    return dateparser.parser(_ExcelYears())


def _full_date_text(text: str, day_first: bool, what: str, year: int | None = None) -> dt.datetime:
    readings = []
    for default in (_DEFAULTS if year is None else [d.replace(year=year) for d in _DEFAULTS]):
        try:
            readings.append(_parser().parse(text, dayfirst=day_first, default=default))
        except (ValueError, OverflowError):
            raise ParseError(f"{_show(text)} is not {what}; type it like 2026-03-14") from None
    if readings[0].date() != readings[1].date():
        raise ParseError(f"{_show(text)} has no year, month or day; write the full date, like 2026-03-14")
    if readings[0].year < FIRST_YEAR and not re.search(r"\d{3}", text):
        # The year came from two digits (both readings agree, so the text has one): say how it was read.
        raise ParseError(f"{_show(text)} has a two-digit year, read as {readings[0].year} as Excel reads it "
                         "(30-99 are 1930-1999); write the full date, like 2026-03-14")
    return readings[0]


_NUMERIC_DATE = re.compile(r"(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{2,4})\b")


def _check_order(text: str, day_first: bool) -> None:
    """dateutil quietly swaps day and month when the given order is impossible (19/01 read month-first
    becomes 19 January), so one sheet could mix two orders without a word. Refuse instead."""
    m = _NUMERIC_DATE.match(text)
    if m:
        first, second = int(m.group(1)), int(m.group(2))
        if (first > 12 and not day_first) or (second > 12 and day_first):
            typed = "day-first (31/01/2026)" if first > 12 else "month-first (01/31/2026)"
            wanted = "dmy" if first > 12 else "mdy"
            raise ParseError(f'"{text[:40]}" reads only {typed}, but dates here are read the other way; '
                             f"set date_order to {wanted} in Settings, or type it like 2026-03-14")


def _parse_date(value: object, *, day_first: bool = False, year: int | None = None) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if 1 <= value < 2958466:  # Excel's serial range: 1900-01-01 .. 9999-12-31
            return (EXCEL_EPOCH + dt.timedelta(days=float(value))).date()
        raise ParseError(f"{_show(value)} is not a date")
    if isinstance(value, str) and value.strip():
        text = value.strip()
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            try:
                return dt.date.fromisoformat(text)
            except ValueError:
                raise ParseError(f"{_show(value)} is not a date (no such day)") from None
        if re.fullmatch(r"-?\d+(\.\d+)?", text):
            raise ParseError(f"{_show(value)} is not a date; write the full date, like 2026-03-14")
        _check_order(text, day_first)
        return _full_date_text(text, day_first, "a date", year).date()
    raise ParseError(f"{_show(value)} is not a date")


def parse_datetime(value: object, *, day_first: bool = False) -> dt.datetime:
    """A date and time (naive, studio-local) from a cell: datetime, serial, or text '2026-03-14 16:30'."""
    return _ledger_range(_parse_datetime(value, day_first=day_first), value)


def _parse_datetime(value: object, *, day_first: bool = False) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None, microsecond=0)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if 1 <= value < 2958466:
            return (EXCEL_EPOCH + dt.timedelta(days=float(value))).replace(microsecond=0)
        raise ParseError(f"{_show(value)} is not a date and time")
    if isinstance(value, str) and value.strip():
        _check_order(value.strip(), day_first)
        parsed = _full_date_text(value.strip(), day_first, "a date and time")
        return parsed.replace(tzinfo=None, microsecond=0)
    raise ParseError(f"{_show(value)} is not a date and time")


_HH_MM = re.compile(r"(\d{1,2}):(\d{2})(?::00)?")


def parse_time(value: object) -> dt.time:
    """A time of day: a time cell, a fraction of a day (Excel), or text like 16:30, 4:30 pm, 1630."""
    if isinstance(value, dt.time):
        return value.replace(microsecond=0)
    if isinstance(value, dt.datetime):
        return value.time().replace(microsecond=0)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if 0 <= value < 1:
            seconds = round(float(value) * 86400)
            return dt.time(seconds // 3600, (seconds // 60) % 60)
        raise ParseError(f"{_show(value)} is not a time of day; type it like 16:30")
    if isinstance(value, str) and value.strip():
        text = value.strip().lower()
        m = _HH_MM.fullmatch(text)
        if m and int(m.group(1)) < 24 and int(m.group(2)) < 60:  # the usual 16:30, without dateutil
            return dt.time(int(m.group(1)), int(m.group(2)))
        m = re.fullmatch(r"(\d{1,2})(\d{2})", text)
        if m:
            text = f"{m.group(1)}:{m.group(2)}"
        try:
            parsed = _parser().parse(text, default=dt.datetime(2000, 1, 1))
        except (ValueError, OverflowError):
            raise ParseError(f"{_show(value)} is not a time of day; type it like 16:30") from None
        return parsed.time().replace(microsecond=0)
    raise ParseError(f"{_show(value)} is not a time of day")


_DURATION_PATTERNS = (
    # 1h30, 1 h 30, 1h30m, 1 hr 30 min, 2 hours
    (re.compile(r"(\d+(?:[.,]\d+)?)\s*(?:h|hr|hrs|hour|hours)\s*(?:(\d+)\s*(?:m|min|mins|minutes?)?)?"), "hm"),
    # 90 min, 90m, 90 minutes
    (re.compile(r"(\d+(?:[.,]\d+)?)\s*(?:m|min|mins|minute|minutes)"), "m"),
    # 1:30
    (re.compile(r"(\d+):(\d{2})(?::00)?"), "colon"),
)


def parse_minutes(value: object, *, bare: str = "minutes") -> Decimal:
    """A duration in minutes. Text may say 90 min, 1h30, 1:30 or 1.5 h.

    A bare number is read in `bare` units: "minutes" for the Sessions sheet, "hours" for legacy sheets
    whose duration column holds 1, 1.5, 2.
    """
    if isinstance(value, dt.time):
        return Decimal(value.hour * 60 + value.minute)
    if isinstance(value, dt.timedelta):
        return Decimal(int(value.total_seconds())) / 60
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        number = D(value)
    elif isinstance(value, str) and value.strip():
        text = value.strip().lower()
        for pattern, how in _DURATION_PATTERNS:
            m = pattern.fullmatch(text)
            if not m:
                continue
            if how == "hm":
                minutes = D(m.group(1).replace(",", ".")) * 60 + (D(m.group(2)) if m.group(2) else 0)
            elif how == "m":
                minutes = D(m.group(1).replace(",", "."))
            else:
                minutes = D(m.group(1)) * 60 + D(m.group(2))
            return _check_minutes(minutes, value)
        try:
            number = D(text.replace(",", ".") if text.count(",") == 1 and "." not in text else text)
        except ValueError:
            raise ParseError(f"{_show(value)} is not a number of minutes") from None
    else:
        raise ParseError(f"{_show(value)} is not a number of minutes")
    minutes = number * 60 if bare == "hours" else number
    return _check_minutes(minutes, value)


def _check_minutes(minutes: Decimal, value: object) -> Decimal:
    if not minutes.is_finite() or minutes < 0:
        raise ParseError(f"{_show(value)} is not a number of minutes")
    if minutes > 24 * 60:
        raise ParseError(f"{_show(value)} minutes is longer than a day; type the lesson length in minutes")
    return minutes


_CURRENCY_SIGNS = "$€£¥₹₩₽₺₪¢"
_MONEY_RE = re.compile(r"^(?P<neg>-)?\s*(?P<code1>[A-Za-z]{3})?\s*[" + _CURRENCY_SIGNS + r"]?\s*(?P<neg2>-)?"
                       r"(?P<num>[0-9][0-9.,' ]*)\s*[" + _CURRENCY_SIGNS + r"]?\s*(?P<code2>[A-Za-z]{3})?$")


def parse_money(value: object) -> Decimal:
    """An amount of money: 200, 200.5, €200, $1,200.00, 200 EUR, 1.200,50 € (comma decimals)."""
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        amount = D(value)
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        negative = text.startswith("(") and text.endswith(")")
        if negative:
            text = text[1:-1].strip()
        m = _MONEY_RE.match(text)
        if not m:
            raise ParseError(f"{_show(value)} is not an amount of money")
        negative = negative or bool(m.group("neg") or m.group("neg2"))
        number = m.group("num").replace(" ", "").replace("'", "")
        amount = _number_with_separators(number, value)
        if negative:
            amount = -amount
    else:
        raise ParseError(f"{_show(value)} is not an amount of money")
    if not amount.is_finite() or abs(amount) >= Decimal("1e12"):
        raise ParseError(f"{_show(value)} is not a believable amount of money")
    return amount


# The currencies a sign may stand for: "$" alone does not say which dollar, so it agrees with any of them.
_SIGN_CURRENCIES: dict[str, frozenset] = {
    "$": frozenset({"USD", "CAD", "AUD", "NZD", "MXN", "SGD", "HKD"}), "€": frozenset({"EUR"}),
    "£": frozenset({"GBP"}), "¥": frozenset({"JPY", "CNY"}), "₹": frozenset({"INR"}), "₩": frozenset({"KRW"}),
    "₽": frozenset({"RUB"}), "₺": frozenset({"TRY"}), "₪": frozenset({"ILS"}),
}


def money_currencies(value: object) -> Optional[frozenset]:
    """The currencies an amount typed as text names by its sign or code ("£40" → GBP, "40 EUR" → EUR), or
    None when it names none (a plain number)."""
    if not isinstance(value, str):
        return None
    m = _MONEY_RE.match(value.strip().strip("()").strip())
    if not m:
        return None
    code = m.group("code1") or m.group("code2")
    if code:
        return frozenset({code.upper()})
    for sign, codes in _SIGN_CURRENCIES.items():
        if sign in value:
            return codes
    return None


def _number_with_separators(number: str, original: object) -> Decimal:
    # The last separator followed by exactly 1-2 digits is the decimal point; others group thousands.
    last_dot, last_comma = number.rfind("."), number.rfind(",")
    last = max(last_dot, last_comma)
    if last >= 0 and 1 <= len(number) - last - 1 <= 2:
        whole, frac = number[:last], number[last + 1:]
        whole = whole.replace(".", "").replace(",", "")
        number = f"{whole}.{frac}"
    else:
        number = number.replace(".", "").replace(",", "") if last >= 0 and len(number) - last - 1 == 3 else number
    try:
        return Decimal(number)
    except InvalidOperation:
        raise ParseError(f"{_show(original)} is not an amount of money") from None


def parse_number(value: object, what: str = "a number") -> Decimal:
    """A plain decimal number (quantities, credits). Rejects text that is not a number."""
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        number = D(value)
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        if text.count(",") == 1 and "." not in text:
            text = text.replace(",", ".")
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise ParseError(f"{_show(value)} is not {what}") from None
    else:
        raise ParseError(f"{_show(value)} is not {what}")
    if not number.is_finite() or abs(number) >= Decimal("1e9"):
        raise ParseError(f"{_show(value)} is not a believable {what.removeprefix('a ').removeprefix('an ')}")
    return number


def parse_int(value: object, what: str = "a whole number") -> int:
    number = parse_number(value, what)
    if number != number.to_integral_value():
        raise ParseError(f"{_show(value)} is not {what}")
    return int(number)


_YES = {"yes", "y", "true", "1", "x", "✓", "si", "sì", "oui", "ja"}
_NO = {"no", "n", "false", "0", "", "non", "nein"}


def parse_yesno(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if value is None:
        return False
    text = str(value).strip().lower()
    if text in _YES:
        return True
    if text in _NO:
        return False
    raise ParseError(f"{_show(value)} is not yes or no")


@dataclass(frozen=True)
class Validity:
    """How long a package lasts: `count` of `unit` (days, weeks, months, years)."""

    count: int
    unit: str

    def __str__(self) -> str:
        return f"{self.count} {self.unit}"


_VALIDITY_UNITS = {
    "d": "days", "day": "days", "days": "days",
    "w": "weeks", "wk": "weeks", "wks": "weeks", "week": "weeks", "weeks": "weeks",
    "m": "months", "mo": "months", "mos": "months", "month": "months", "months": "months",
    "y": "years", "yr": "years", "yrs": "years", "year": "years", "years": "years",
}


def parse_validity(value: object) -> Validity | None:
    """'3 months', '6 weeks', '90 days', '1 year'; blank means never expires. A bare number is days."""
    if isinstance(value, str):
        return _parse_validity_text(value)
    return _parse_validity(value)


@functools.lru_cache(maxsize=256)
def _parse_validity_text(value: str) -> Validity | None:
    return _parse_validity(value)


def _parse_validity(value: object) -> Validity | None:
    if is_blank(value):
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value != int(value) or value <= 0:
            raise ParseError(f"{_show(value)} is not a validity; type it like 3 months or 90 days")
        return Validity(int(value), "days")
    text = str(value).strip().lower()
    m = re.fullmatch(r"(\d+)\s*([a-z]+)", text)
    if not m or m.group(2) not in _VALIDITY_UNITS or int(m.group(1)) <= 0:
        raise ParseError(f"{_show(value)} is not a validity; type it like 3 months, 6 weeks or 90 days")
    return Validity(int(m.group(1)), _VALIDITY_UNITS[m.group(2)])


def parse_choice(value: object, choices: tuple[str, ...], default: str | None = None) -> str:
    """One of a fixed list, case-insensitive; spaces and dashes read as underscores (late cancel)."""
    if is_blank(value):
        if default is None:
            raise ParseError("is empty; choose one of " + ", ".join(choices))
        return default
    text = re.sub(r"[\s\-]+", "_", str(value).strip().lower())
    if text in choices:
        return text
    raise ParseError(f"{_show(value)} is not one of " + ", ".join(choices))


def parse_id(value: object) -> str:
    """An identifier (S-001, P10). Whole-number floats from readers come back as '7', not '7.0'."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ParseError(f"{_show(value)} is not an id")
    text = str(value).strip()
    if not text:
        raise ParseError("is empty; an id is needed")
    if text.startswith("="):
        raise ParseError(f"{_show(value)} is a formula, not an id")
    if len(text) > 64 or any(ch in text for ch in "\n\r\t"):
        raise ParseError(f"{_show(value)} is not an id (keep ids short, on one line)")
    return text
