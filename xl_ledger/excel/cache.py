"""The folded ledger of a workbook, read once and kept while its Log does not change (for the UDFs).

A sheet of 500 `=LEDGER_BALANCE(...)` formulas must cost one read of the Log, not 500. The first call
reads the Log (one bulk read), parses it and folds it; later calls only check that the Log is the same
and answer from the folded State. The check is the cache key: the Log's row count (its used range)
and the head the store records in the `xl_ledger_head` defined name ("<seq> <hash>" of the last row)
on every commit. Both are metadata reads, so a warm call costs well under a millisecond — reading
even one Log cell costs as much as the whole sheet on some engines (xlwings' in-memory book copies
every row on each range read). A commit always changes the head; an append by the file store always
changes the row count. Tampering that changes neither is what LEDGER_VERIFY is for (it always reads).

A cold call costs one raw block read of exactly the Log's columns (Range.raw_value: no per-cell value
conversion by xlwings), one decode of each row straight into an Entry (core.journal.row_to_entry, the
cached-text fast path; a row it cannot take goes through the store's canonical normalising first), and
one fold per as-of date. No intermediate copies of the rows are made.
"""

from __future__ import annotations

import datetime as dt
import gc
from dataclasses import dataclass
from dataclasses import field
from typing import Optional

from xl_ledger.book.livestore import HEAD_NAME
from xl_ledger.book.livestore import LiveStore
from xl_ledger.book.livestore import log_row
from xl_ledger.book.store import BrokenFileError
from xl_ledger.core import balances
from xl_ledger.core import events as E
from xl_ledger.core.chain import LOG_COLUMNS
from xl_ledger.core.journal import row_to_entry
from xl_ledger.core.fold import fold
from xl_ledger.core.state import State
from xl_ledger.post import local_today

_MAX_BOOKS = 4
_MAX_DATES = 8


@dataclass
class Ledger:
    key: tuple
    entries: list
    timezone: str
    states: dict = field(default_factory=dict)  # as_of -> State

    def state(self, as_of: Optional[dt.date] = None) -> State:
        as_of = as_of or local_today(dt.datetime.now(dt.timezone.utc), self.timezone)
        if as_of not in self.states:
            if len(self.states) >= _MAX_DATES:
                self.states.pop(next(iter(self.states)))
            with _no_gc():
                state = self.states[as_of] = fold(self.entries, as_of)
                balances.index(state)  # each UDF call is then a lookup in the one balance index
        return self.states[as_of]


_books: dict[str, Ledger] = {}
stats = {"reads": 0, "hits": 0}  # for tests and the benchmark


def log_key(book) -> tuple:
    """(book name, Log row count, recorded head): cheap metadata only, no cell read."""
    last_row = book.sheets["Log"].used_range.last_cell.row
    head = book.names[HEAD_NAME].refers_to if book.names.contains(HEAD_NAME) else None
    return book.name, last_row, head


def ledger(book) -> Ledger:
    key = log_key(book)
    cached = _books.get(book.name)
    if cached is not None and cached.key == key:
        stats["hits"] += 1
        return cached
    stats["reads"] += 1
    with _no_gc():
        entries = read_entries(book, key[1])
    settings: dict = {}
    for e in entries:
        if type(e.event) is E.SettingsSet:
            settings.update(e.event.values)
    if len(_books) >= _MAX_BOOKS and book.name not in _books:
        _books.pop(next(iter(_books)))
    _books[book.name] = found = Ledger(key, entries, settings.get("timezone") or "UTC")
    return found


_WIDTH = len(LOG_COLUMNS)
# Columns whose empty cell must read as "" (not None) in an Entry; the others are normalised by
# row_to_entry/from_texts whatever the engine gives for an empty cell ('' in-memory, None on COM).
_TEXT_ONLY = (LOG_COLUMNS.index("operator"), LOG_COLUMNS.index("source"), LOG_COLUMNS.index("prev_hash"),
              LOG_COLUMNS.index("hash"))


def read_entries(book, last_row: Optional[int] = None) -> list:
    """Every Log row as an Entry: equal to Journal.from_rows(LiveStore(book).read_log()).entries."""
    sheet = book.sheets["Log"]
    if last_row is None:
        last_row = sheet.used_range.last_cell.row
    raw = sheet.range((1, 1), (max(last_row, 1), _WIDTH)).raw_value
    if not isinstance(raw, (list, tuple)) or (raw and not isinstance(raw[0], (list, tuple))):
        raw = [raw if isinstance(raw, (list, tuple)) else [raw]]  # one row (or one cell) read
    if raw and [str(h or "").strip() for h in raw[0]] != list(LOG_COLUMNS):
        raise BrokenFileError(f"{book.name}!Log row 1 must hold the Log headers {', '.join(LOG_COLUMNS)}: "
                              "restore the sheet from the template")
    entries = []
    append = entries.append
    o, s, p, h = _TEXT_ONLY
    for n in range(1, len(raw)):
        r = raw[n]
        seq = r[0]
        if seq is None or seq == "":
            continue
        try:
            if r[o] is None or r[s] is None or r[p] is None or r[h] is None:
                raise TypeError
            append(row_to_entry(r))
        except Exception:
            try:
                append(row_to_entry(log_row(r)))
            except Exception as error:
                raise ValueError(f"{book.name}!Log!A{n + 1} cannot be read as a Log row ({error}): run Verify") \
                    from None
    return entries


def clear() -> None:
    _books.clear()


class _no_gc:
    """Building ~100k objects: the cyclic collector would only re-scan them (performance-floor notes)."""

    def __enter__(self):
        self.was = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc):
        if self.was:
            gc.enable()
        return False
