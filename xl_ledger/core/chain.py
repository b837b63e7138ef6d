"""The Log's row format and its hash chain.

A Log row is a tuple of LOG_COLUMNS values. Every value is written to the sheet as *text* except
`seq`, so that any reader (openpyxl, calamine, fastexcel, LibreOffice) gives back the same strings;
`canonical()` still normalises what readers do to cells (floats for ints, '' or None for blanks,
dates for midnight datetimes) so a re-saved file keeps verifying.

hash(row) = SHA-256 (or HMAC-SHA-256 with the owner's key) over prev_hash and the canonical bytes of
every column but `hash`. Editing, deleting, inserting or reordering a row breaks the chain at that row.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass
from decimal import Decimal
from typing import Iterable
from typing import Sequence

LOG_COLUMNS: tuple[str, ...] = (
    "seq",
    "recorded_at",
    "operator",
    "kind",
    "effective_date",
    "student_id",
    "package_id",
    "session_id",
    "quantity",
    "unit",
    "amount",
    "reason_code",
    "note",
    "source",
    "prev_hash",
    "hash",
    "data",
)
COL = {name: i for i, name in enumerate(LOG_COLUMNS)}
SEQ, PREV, HASH = COL["seq"], COL["prev_hash"], COL["hash"]
GENESIS = "0" * 64
_SEP = "\x1f"  # unit separator: cannot be typed into a cell by accident


def norm(value: object) -> str:
    """One cell as the canonical text the hash covers."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return format(Decimal(repr(value)).normalize(), "f")
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value else "0"
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        if value.time() == dt.time(0):
            return value.date().isoformat()
        return value.replace(microsecond=0).isoformat() + "Z"
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def canonical(row: Sequence[object]) -> bytes:
    """The bytes a row's hash covers: every column except `hash`, in LOG_COLUMNS order."""
    if type(row[0]) is int:
        try:
            # The store's own rows: seq an int, every other cell already text (the common case, fast).
            return (str(row[0]) + _SEP + _SEP.join(row[1:HASH]) + _SEP + row[HASH + 1]).encode("utf-8")
        except TypeError:
            pass  # a reader gave a date, a float or None somewhere: normalise every cell
    parts = [norm(v) for i, v in enumerate(row) if i != HASH]
    return _SEP.join(parts).encode("utf-8")


def row_hash(row: Sequence[object], key: bytes | None = None) -> str:
    payload = canonical(row)
    if key is None:
        return hashlib.sha256(payload).hexdigest()
    return hmac.new(key, payload, hashlib.sha256).hexdigest()


def seal(rows: Iterable[Sequence[object]], prev_hash: str, key: bytes | None = None) -> list[tuple]:
    """Fill prev_hash and hash for new rows that follow a row whose hash is `prev_hash`."""
    sealed = []
    for row in rows:
        cells = list(row)
        cells[PREV] = prev_hash
        cells[HASH] = ""
        cells[HASH] = row_hash(cells, key)
        prev_hash = cells[HASH]
        sealed.append(tuple(cells))
    return sealed


@dataclass(frozen=True)
class Break:
    """The first row where the chain no longer holds. `index` is 0-based into the rows given."""

    index: int
    seq: object
    column: str
    found: str
    expected: str
    explanation: str


def verify(rows: Sequence[Sequence[object]], key: bytes | None = None, *, start_prev: str = GENESIS,
           start_seq: int = 1) -> Break | None:
    """Check the chain; return the first bad row, or None when every row holds."""
    prev = start_prev
    for i, row in enumerate(rows):
        expected_seq = start_seq + i
        seq_text = norm(row[SEQ])
        if seq_text != str(expected_seq):
            why = ("a row was deleted or the rows were reordered" if seq_text.isdigit() and int(seq_text) > expected_seq
                   else "a row was inserted, copied or reordered")
            return Break(i, row[SEQ], "seq", seq_text, str(expected_seq), f"seq should be {expected_seq}: {why}")
        if norm(row[PREV]) != prev:
            return Break(i, row[SEQ], "prev_hash", norm(row[PREV])[:16], prev[:16],
                         "prev_hash does not match the hash of the row before: a row before it was removed, "
                         "inserted or reordered")
        actual = row_hash(row, key)
        if norm(row[HASH]) != actual:
            why = ("the row's contents were changed after it was written" if key is None or norm(row[HASH])
                   else "the row has no hash")
            if key is not None:
                why += " (or the chain was sealed with a different owner key)"
            return Break(i, row[SEQ], "hash", norm(row[HASH])[:16], actual[:16], why)
        prev = actual
    return None


def declares_owner_key(rows: Sequence[Sequence[object]]) -> bool:
    """The Log has a settings row saying it is signed with the owner's key (commands.sign_log). Read
    without verifying: it decides which message a failed check gets, never whether a check passes."""
    import json

    kind, data = COL["kind"], COL["data"]
    for row in rows:
        if row[kind] == "settings_set" and "signed" in str(row[data] or ""):
            try:
                if json.loads(row[data]).get("values", {}).get("signed") == "owner_key":
                    return True
            except (ValueError, AttributeError):
                continue
    return False
