"""Every CSV the product writes goes through here, so that a cell cannot become a formula.

Excel and LibreOffice read a CSV cell that starts with `=`, `+`, `-` or `@` as a formula (a student named
`=HYPERLINK(...)` or `@SUM(1+1)` would run when the file is opened), and a leading tab or carriage
return lets the same text slip past a check that looks only at the first character. Such a text cell is
written with a leading apostrophe, the spreadsheet's own mark for "this is text": `'=HYPERLINK(...)`.

Numbers are written as numbers (a Decimal as plain digits, never an exponent), so a negative amount
stays a number; only text is escaped. Use `cell` for one value, `row` for a list, or `to_bytes` for a
whole file (UTF-8 with a BOM, so Excel opens accents right).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal
from typing import Iterable

from xl_ledger.core.numbers import text as number_text

DANGEROUS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: object) -> str:
    """One value as CSV text: None → empty, numbers as plain digits, dates ISO, text escaped if needed."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, Decimal):
        return number_text(value)
    if isinstance(value, (int, float)):
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    return escape(str(value))


def escape(text: str) -> str:
    """Text that a spreadsheet would not read as a formula. Leading spaces are looked through: `  =1+1`
    is a formula to LibreOffice too."""
    if text.lstrip(" ").startswith(DANGEROUS):
        return "'" + text
    return text


def row(values: Iterable[object]) -> list[str]:
    return [cell(v) for v in values]


def to_bytes(headers: Iterable[object], rows: Iterable[Iterable[object]], *, bom: bool = True) -> bytes:
    """A whole CSV file, CRLF line ends (RFC 4180, what Excel writes)."""
    out = io.StringIO(newline="")
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(row(headers))
    for r in rows:
        w.writerow(row(r))
    return (b"\xef\xbb\xbf" if bom else b"") + out.getvalue().encode("utf-8")
