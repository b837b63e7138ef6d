"""Calendar arithmetic: expiry dates, calendar months and weeks.

Windows are inclusive: (first valid day, last valid day). `None` as the end means never expires.
"""

from __future__ import annotations

import calendar
import datetime as dt

from dateutil.relativedelta import relativedelta

from xl_ledger.core.parse import Validity

ONE_DAY = dt.timedelta(days=1)


def last_valid_day(start: dt.date, validity: Validity) -> dt.date:
    """The last day a package is valid when it starts on `start`.

    N months from day d ends the day before day d of the month N months later; when that month has
    no day d (31 Jan + 1 month), the package runs to the end of that month (29 Feb). So 15 Jan + 3 months
    → 14 Apr, 31 Jan 2024 + 1 month → 29 Feb, 31 Mar + 1 month → 30 Apr, 30 Nov 2024 + 3 months → 28 Feb.
    """
    if validity.unit == "days":
        return start + dt.timedelta(days=validity.count - 1)
    if validity.unit == "weeks":
        return start + dt.timedelta(days=7 * validity.count - 1)
    months = validity.count * (12 if validity.unit == "years" else 1)
    index = start.year * 12 + start.month - 1 + months
    year, month = divmod(index, 12)
    last_day_of_month = calendar.monthrange(year, month + 1)[1]
    if start.day > last_day_of_month:  # clipped: the start day does not exist in the target month
        return dt.date(year, month + 1, last_day_of_month)
    return dt.date(year, month + 1, start.day) - ONE_DAY


def month_start(d: dt.date) -> dt.date:
    return d.replace(day=1)


def month_end(d: dt.date) -> dt.date:
    return d.replace(day=calendar.monthrange(d.year, d.month)[1])


def add_months(d: dt.date, n: int) -> dt.date:
    return d + relativedelta(months=n)


def _next_month(d: dt.date) -> dt.date:
    """The first day of the month after d's (plain arithmetic: this runs for every monthly lot)."""
    return dt.date(d.year + 1, 1, 1) if d.month == 12 else dt.date(d.year, d.month + 1, 1)


def week_start(d: dt.date, first_weekday: int) -> dt.date:
    """The first day of d's week; first_weekday is 0 for Monday, 6 for Sunday."""
    return d - dt.timedelta(days=(d.weekday() - first_weekday) % 7)


def weeks_in(first: dt.date, last: dt.date, first_weekday: int) -> list[tuple[dt.date, dt.date, dt.date]]:
    """Weeks touching [first, last], each as (week start, clipped first day, clipped last day)."""
    out = []
    ws = week_start(first, first_weekday)
    while ws <= last:
        we = ws + dt.timedelta(days=6)
        out.append((ws, max(ws, first), min(we, last)))
        ws = we + ONE_DAY
    return out


def weeks_from(first: dt.date, last: dt.date) -> list[tuple[dt.date, dt.date]]:
    """Seven-day weeks counted from `first` (whatever its weekday), the last clipped at `last`."""
    out = []
    a = first
    while a <= last:
        b = a + dt.timedelta(days=6)
        out.append((a, min(b, last)))
        a = b + ONE_DAY
    return out


def months_in(first: dt.date, count: int) -> list[tuple[dt.date, dt.date]]:
    """`count` calendar months starting with first's month, each as (first day, last day)."""
    out = []
    m = first.replace(day=1)
    for _ in range(count):
        following = _next_month(m)
        out.append((m, following - ONE_DAY))
        m = following
    return out


def months_from(first: dt.date, count: int) -> list[tuple[dt.date, dt.date]]:
    """`count` months counted from `first` (anniversary periods): 27 Nov → 27 Nov–26 Dec, 27 Dec–26 Jan…
    Each ends where last_valid_day says N months from `first` end, so 31 Jan → 31 Jan–28 Feb, 1–30 Mar."""
    out = []
    a = first
    for n in range(1, count + 1):
        b = last_valid_day(first, Validity(n, "months"))
        out.append((a, b))
        a = b + ONE_DAY
    return out


def quarter_of(d: dt.date) -> tuple[int, int]:
    return d.year, (d.month - 1) // 3
