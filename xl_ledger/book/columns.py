"""A damaged input sheet stops the post: every column the engine reads must be in row 1.

Without this, a deleted Sessions `minutes` column read every lesson as the default 60 minutes and wrote
hundreds of permanent Log rows; a renamed Students `name` rejected every student as "name is empty"; a
deleted Actions `reason_code` said nothing. Each of those is a BrokenFileError (exit 4) naming the sheet,
the missing header and the closest header found, raised before anything is written.

Optional columns are the ones whose absence changes no number: notes and descriptions, and a column
added after workbooks were already in use whose default is what older workbooks meant.
"""

from __future__ import annotations

import difflib

from xl_ledger.book import schema
from xl_ledger.book.store import BrokenFileError
from xl_ledger.book.store import SheetData

OPTIONAL = {
    "Settings": {"meaning"},
    "Reasons": {"meaning"},
    "Students": {"email", "family_contact"},  # family_contact: added 2026-12-02, for reminders only
    "Actions": {"note", "location", "payment_ref"},  # location (issue 17), payment_ref (tieout): added 2026-12-02; blank = as before
    "Sessions": {"note", "location"},
    "Products": {"period_start", "location"},  # added 2026-12-02; their defaults are what older books did
}


def required(sheet: str) -> tuple[str, ...]:
    return tuple(h for h in schema.BY_NAME[sheet].headers if h not in OPTIONAL.get(sheet, ()))


def check_columns(sheet: SheetData) -> None:
    """Raise BrokenFileError for the first required header missing from `sheet`'s row 1."""
    if sheet.sheet not in schema.BY_NAME:
        return
    found = [h for h in sheet.headers if h]
    present = set(found)  # exact: the engine looks a column up by its exact name ("Minutes" is not it)
    missing = [h for h in required(sheet.sheet) if h not in present]
    if not missing:
        return
    strangers = [h for h in found if h not in schema.BY_NAME[sheet.sheet].headers]
    lines = []
    for header in missing:
        close = difflib.get_close_matches(header, strangers, n=1, cutoff=0.5) or \
            difflib.get_close_matches(header, found, n=1, cutoff=0.5)
        hint = f'; the closest header found is "{close[0]}"' if close else "; no header there is close to it"
        lines.append(f'column "{header}" is missing from row 1{hint}')
    raise BrokenFileError(
        f"{sheet.book}!{sheet.sheet}: " + "; ".join(lines) + ". Put the header back in row 1, spelled exactly "
        f"as the template has it ({', '.join(missing)}); a column the ledger reads cannot be deleted or "
        "renamed. Nothing was written.")
