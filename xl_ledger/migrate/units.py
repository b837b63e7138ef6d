"""Which unit (hours or lessons) a legacy pack is counted in, and how big it is, from what the sheet says.

A pack's unit is read from, in this order (the first that says it wins):

1. the mapping's `unit` for the sheet (a person said so), or the pack-size column's header
   ("Pack (lessons)", "Hours bought");
2. the pack-size cell itself ("10h", "20 lessons");
3. the package's name ("20 lessons", "10h", "5 x 60 min").

A later source that names the *other* unit contradicts the first (a "20 lessons" pack in an
"Hours bought" column), and so does a name whose size differs from the pack-size cell ("10h" with
8 bought): both are findings, never silently resolved. The headers of the *amount* columns ("Hours
used", "Hours left") are not the pack's: they say the unit only when nothing above does. When they
name the other unit than the pack's own, the amounts are read in the pack's unit only if the row's
numbers agree in it (bought − used = left), and asked otherwise (extract._amount_units). Numbers alone (1.5 used, so "probably
hours") are never enough: a pack whose unit nothing names is asked about, not guessed.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import NamedTuple

from xl_ledger.core.numbers import text as _n
from xl_ledger.core.parse import ParseError
from xl_ledger.core.parse import parse_number
from xl_ledger.migrate.values import norm_header

SIXTY = Decimal(60)

_HOURS_WORD = re.compile(r"\b(hours?|hrs?|h)\b")
_LESSONS_WORD = re.compile(r"\b(lessons?|classes?|sessions?|credits?|visits?)\b")


def unit_of_text(text: str) -> str | None:
    """'Pack (lessons)' -> lessons, 'Hours bought' -> hours, 'Bought' -> None (normalised header words)."""
    t = norm_header(text)
    hours, lessons = bool(_HOURS_WORD.search(t)), bool(_LESSONS_WORD.search(t))
    if hours == lessons:
        return None  # neither, or both ("lessons (hours)"): the text does not decide
    return "hours" if hours else "lessons"


class PackSize(NamedTuple):
    """What a package name or a pack cell says: `quantity` in `unit`, and for 'N x M min' the count of lessons."""

    quantity: Decimal
    unit: str | None  # None: a number without a unit ("10-pack")
    lessons: Decimal | None = None  # '5 x 60 min': 5 lessons (quantity is then 5 hours)


_NUM = r"(\d+(?:[.,]\d+)?)"
_TIMES = re.compile(_NUM + r"\s*[x×*]\s*" + _NUM + r"\s*(min|mins|minutes|m|h|hrs?|hours?)\b")
_HOURS = re.compile(_NUM + r"\s*(h|hrs?|hours?)\b")
_MINUTES = re.compile(_NUM + r"\s*(min|mins|minutes)\b")
_LESSONS = re.compile(_NUM + r"\s*(lessons?|classes?|sessions?|credits?|visits?)\b")
_PACK = re.compile(_NUM + r"\s*-?\s*(pack|pk|punch card|card|block)\b")


def _d(text: str) -> Decimal:
    return parse_number(text.replace(",", "."), "a quantity")


def pack_size(text: str) -> PackSize | None:
    """'20 lessons' -> 20 lessons; '10h' -> 10 hours; '90 min' -> 1.5 hours; '5 x 60 min' -> 5 hours
    (5 lessons); '10-pack' -> 10 of no named unit; 'Gold' -> None. Lower-cased, accents folded."""
    t = text.lower().strip()
    try:
        m = _TIMES.search(t)
        if m:
            n, length, what = _d(m.group(1)), _d(m.group(2)), m.group(3)
            minutes = length if what.startswith("m") else length * SIXTY
            return PackSize(n * minutes / SIXTY, "hours", n)
        m = _HOURS.search(t)
        if m:
            return PackSize(_d(m.group(1)), "hours")
        m = _MINUTES.search(t)
        if m:
            return PackSize(_d(m.group(1)) / SIXTY, "hours")
        m = _LESSONS.search(t)
        if m:
            return PackSize(_d(m.group(1)), "lessons")
        m = _PACK.search(t)
        if m:
            return PackSize(_d(m.group(1)), None)
    except ParseError:
        return None
    return None


def in_unit(size: PackSize, unit: str) -> Decimal | None:
    """The size read in `unit`: '5 x 60 min' is 5 hours or 5 lessons; '10h' is not a number of lessons."""
    if size.unit is None or size.unit == unit:
        return size.quantity
    if unit == "lessons" and size.lessons is not None:
        return size.lessons
    return None


class Pack(NamedTuple):
    """A pack as read: its size and unit, or why it cannot be read without asking (`kind`, `why`)."""

    quantity: Decimal | None
    unit: str | None
    kind: str = ""  # "" | "unit_unclear" | "contradiction"
    why: str = ""
    lessons: Decimal | None = None  # '5 x 60 min' read as hours: its count of lessons, for the record


def read_pack(quantity: Decimal | None, cell_text: str | None, label: str | None, *, header_unit: str | None,
              header: str = "", other_units: tuple[tuple[str, str], ...] = (), fallback: str | None = None) -> Pack:
    """Decide a pack's unit and size from (in order) the mapping or the pack column's header, the pack
    cell's own text, the package's name, then the other amount columns' headers (`other_units`:
    (header, unit) pairs) and `fallback` (a grid's marks unit). `quantity` is the pack cell as a number
    when it is one."""
    unit, said_by = header_unit, (f'the header "{header}"' if header else "the mapping")
    if cell_text:
        size = pack_size(cell_text)
        if size is not None:
            if unit is None:
                unit, said_by = size.unit, f'the cell "{cell_text}"'
            elif size.unit is not None and in_unit(size, unit) is None:
                return Pack(None, None, "contradiction",
                            f'{said_by} counts in {unit}, but the cell says "{cell_text}"')
            quantity = in_unit(size, unit) if unit else size.quantity
    if label:
        size = pack_size(label)
        if size is not None:
            if unit is None and size.unit is not None:
                unit, said_by = size.unit, f'the package name "{label}"'
            elif unit is not None and in_unit(size, unit) is None:
                return Pack(None, None, "unit_unclear",
                            f'{said_by} counts in {unit}, but the package is named "{label}"')
            named = in_unit(size, unit) if unit else size.quantity
            if quantity is None:
                quantity = named
            elif named != quantity:
                return Pack(None, None, "contradiction",
                            f'the package is named "{label}" ({_n(named)}{" " + unit if unit else ""}), '
                            f"but the row says {_n(quantity)} bought")
    from_amounts = False
    for text, other in other_units:
        if unit is None:
            unit, said_by, from_amounts = other, f'the header "{text}"', True
        elif other != unit and from_amounts:
            return Pack(None, None, "unit_unclear", f'{said_by} counts in {unit}, but the header "{text}" in {other}')
        # else the pack's own header, cell or name said its unit: an amount column headed in the other
        # unit ("Hours used" beside "20 lessons") is settled by the row's own numbers (extract._amount_units)
    if unit is None:
        unit = fallback
    if unit is None:
        return Pack(quantity, None, "unit_unclear", "nothing on the row names the unit (no unit in the header, "
                                                    "the cell or the package name)")
    return Pack(quantity, unit)
