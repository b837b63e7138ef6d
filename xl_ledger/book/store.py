"""Where the ledger lives: the Store protocol, the Change it commits, its errors, and MemoryStore.

A store holds one workbook's Log (the append-only, hash-chained journal), its engine-owned sheets
(rewritten whole from the log) and its input sheets (read, and only a few engine cells written back,
e.g. Actions status/message/log_seq). Every store implementation — MemoryStore here (the reference),
FileStore (an .xlsm on disk), the live-Excel store — passes the same contract tests
(tests/test_store_contract.py), so the Post cycle can run against any of them.

Errors carry user-facing messages (the file, what happened, what to do) and no traceback is meant to
be shown for them: the CLI prints `str(error)`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
from dataclasses import dataclass
from dataclasses import field
from decimal import Decimal
from itertools import chain
from types import MappingProxyType
from typing import Iterator
from typing import Mapping
from typing import Protocol
from typing import Sequence
from typing import runtime_checkable

from xl_ledger.book import schema
from xl_ledger.core.chain import GENESIS
from xl_ledger.core.chain import Break
from xl_ledger.core.chain import verify as verify_chain
from xl_ledger.core.chain import HASH
from xl_ledger.core.chain import LOG_COLUMNS
from xl_ledger.core.chain import SEQ

ENGINE_SHEET_NAMES = frozenset(s.name for s in schema.ENGINE_SHEETS)
INPUT_SHEET_NAMES = frozenset(s.name for s in schema.INPUT_SHEETS)


# ----------------------------------------------------------------------------------------- errors
class StoreError(Exception):
    """A problem the user can act on. `str(error)` names the file and says what to do."""


class LockedError(StoreError):
    """Another writer (this engine in another process, or Excel) holds the workbook."""


class StaleLogError(StoreError):
    """The log changed since it was read: the caller must re-read and recompute."""


class BrokenFileError(StoreError):
    """Not a workbook, damaged, or missing a sheet/column the ledger needs."""


class ChangeError(StoreError):
    """The Change itself is malformed (a programming error in the caller, reported plainly)."""


class BrokenChainError(StoreError):
    """The Log no longer verifies (tampered or damaged): nothing may be posted or imported on top of it.
    One message wherever the Log is opened: the cell of the first bad row, what differs, what to do."""

    def __init__(self, book: str, broken: Break):
        super().__init__(f"{book}!Log!A{broken.index + 2} (seq {broken.seq}): {broken.explanation}. "
                         "Nothing was written. Run `xl-ledger verify` and restore the file from a backup.")
        self.broken = broken


# ------------------------------------------------------------------------------------ data types
@dataclass(frozen=True)
class Change:
    """Everything one Post writes, applied all-or-nothing.

    expected_seq/expected_hash: the head() the caller computed from; commit refuses with StaleLogError
    when the log moved on. log_rows: already sealed rows to append, in order. sheets: engine-owned
    sheet -> full body rows (no header). cells: input sheet -> {(excel_row, column_name): value}.
    keep: a hint for stores that write files: engine sheet -> (FileStore part digest, the body that part
    holds as the store wrote it, and optionally the deflate segments it was written as: (rows per segment,
    segments), and the blocks of the body known to be unchanged: (rows per block, their indexes); see
    FileStore._engine_part). When the part still has that digest, rows equal to that body keep their bytes
    and only the others are written; otherwise the hint is ignored. It never changes the result. A sheet
    whose page header alone changes may have a hint with no body (None).
    """

    expected_seq: int
    expected_hash: str
    log_rows: tuple[tuple, ...] = ()
    sheets: Mapping[str, Sequence[Sequence[object]]] = field(default_factory=lambda: MappingProxyType({}))
    cells: Mapping[str, Mapping[tuple[int, str], object]] = field(default_factory=lambda: MappingProxyType({}))
    keep: Mapping[str, tuple] = field(default_factory=lambda: MappingProxyType({}))
    money_format: str = ""  # the number format money cells should show (the studio's currency); "" = leave
    page_headers: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))  # sheet -> header
    # Engine sheets laid out by an earlier version (book/upgrade.py) -> the headers they had: laid out again.
    relayout: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class SheetData:
    """One sheet as read: header names (row 1) and data rows with their 1-based Excel row numbers.

    Values are raw cell values: date/datetime, int/float, str, None for empty (formulas → cached value).
    Fully empty rows are left out, so row numbers can skip.
    """

    book: str
    sheet: str
    headers: tuple[str, ...]
    rows: tuple[tuple[int, tuple], ...]

    def where(self, excel_row: int, column: str | None = None) -> str:
        """'studio.xlsm!Sessions!D14' (or '…!Sessions!14' for a whole row): for rejection messages."""
        if column is None:
            return f"{self.book}!{self.sheet}!{excel_row}"
        return f"{self.book}!{self.sheet}!{schema.col_letter(self.headers.index(column) + 1)}{excel_row}"

    def records(self) -> Iterator[tuple[int, dict[str, object]]]:
        """(excel_row, {header: value}) for every data row; missing trailing cells are None."""
        for number, values in self.rows:
            padded = tuple(values) + (None,) * (len(self.headers) - len(values))
            yield number, dict(zip(self.headers, padded))


@runtime_checkable
class Store(Protocol):
    """What every store offers (tests/test_store_contract.py is the contract; docs/engine.md the steps).

    read_log/read_sheet/head/commit are the plain operations. `open_log(key)` is how the pipeline reads
    the Log: verified (BrokenChainError otherwise), with its head, and with whatever the store keeps to
    make the next read cheap behind it (StoreBase gives the plain version)."""

    name: str

    def read_log(self) -> list[tuple]: ...

    def read_sheet(self, sheet: str) -> SheetData: ...

    def head(self) -> tuple[int, str]: ...

    def commit(self, change: Change) -> None: ...

    def open_log(self, key: bytes | None = None) -> "OpenLog": ...


class OpenLog:
    """One post's (recompute's, import's) hold on a store's Log: verified, with its head.

    The pipeline (post.py, migrate/importer.py) reads and writes through it only. This class is the plain
    version, right for any store: every answer comes from reading the store. A store that keeps caches
    (FileStore's checkpoint, book/warm.py) subclasses it; each method below says what it may skip.
    """

    def __init__(self, store: Store, rows: list[tuple], key: bytes | None = None):
        broken = verify_chain(rows, key)
        if broken is not None:
            raise BrokenChainError(store.name, broken)
        self.store = store
        self.name = store.name
        self.head: tuple[int, str] = (rows[-1][SEQ], rows[-1][HASH]) if rows else (0, GENESIS)
        self._rows: list[tuple] | None = rows
        self._entries: list | None = None

    def entries(self) -> list:
        """The Log decoded into entries (core.events.Entry), in order; decoded once."""
        if self._entries is None:
            from xl_ledger.core.journal import rows_to_entries

            self._entries = rows_to_entries(self._rows)
            self._rows = None
        return self._entries

    # Read more than once in one post (the anchor check, then read_inputs), so read once per open Log.
    # Other sheets are read once and let go: Sessions and the engine sheets can be large.
    _READ_ONCE = frozenset({"Actions"})

    def read_sheet(self, name: str) -> SheetData:
        if name not in self._READ_ONCE:
            return self.store.read_sheet(name)
        memo = self.__dict__.setdefault("_sheets_read", {})
        if name not in memo:
            memo[name] = self.store.read_sheet(name)
        return memo[name]

    # ---- what a store with caches may know without reading (the plain answer: nothing)
    def timezone(self) -> str | None:
        """The studio's time zone at the head, when known without decoding the Log."""
        return None

    def untouched(self) -> frozenset[str]:
        """Engine sheets that hold exactly what the engine last wrote (nobody typed in them)."""
        return frozenset()

    def up_to_date(self, as_of: dt.date) -> bool:
        """The engine sheets already are `recompute`'s output for this Log and date."""
        return False

    def sessions(self, day_first: bool, appended: Sequence[tuple], diff) -> tuple:
        """The Sessions step: read and parse the sheet, then `diff(parsed) -> (pairs, problems, notices)`
        (commands.diff_sessions). Returns (the sheet's name and headers, pairs, problems, notices) — the
        parse problems first. `appended`: the Log rows this post has made so far (a cache may depend on
        them). A store with caches may reuse a parse, or the whole answer of the last post."""
        from xl_ledger.core import inputs

        sheet = self.read_sheet("Sessions")
        parsed, problems = inputs.read_sessions(sheet.records(), day_first)
        pairs, more, notices = diff(parsed)
        return SheetData(sheet.book, sheet.sheet, sheet.headers, ()), pairs, problems + more, notices

    # ---- the one write
    def commit(self, change: Change, *, dry_run: bool = False, recomputed: dt.date | None = None,
               timezone: str | None = None) -> Change:
        """Commit `change` all-or-nothing (unless dry_run) and return it as written. A store with caches
        may leave out sheets that already hold their new body and add keep hints, and records what it
        needs for the next open_log: `recomputed` (the engine sheets are recompute's output for that date)
        and `timezone` (the studio's, at the new head) are for that."""
        if not dry_run and (change.log_rows or change.sheets or change.cells):
            self.store.commit(change)
        return change


class StoreBase:
    """The plain open_log for a store: read every Log row, verify the chain (one message when broken)."""

    name: str
    log_in_sheet = True  # its Log is the workbook's Log sheet (Excel's row limit applies: book/limits.py)

    def open_log(self, key: bytes | None = None) -> OpenLog:
        return OpenLog(self, self.read_log(), key)

    def sheet_headers(self, sheet: str) -> tuple[str, ...]:
        """A sheet's row 1 (a store that can read it without the rows says so more cheaply)."""
        return self.read_sheet(sheet).headers  # type: ignore[attr-defined]


@contextlib.contextmanager
def gc_paused():
    """Bulk-building a Log's worth of objects with the cycle collector on costs 2-6x (performance-floor
    notes): those objects hold no cycles, so pause it around the build."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# ------------------------------------------------------------------- value rules shared by stores
def cell_value(value: object) -> object:
    """What a cell written with `value` reads back as, in every store (the readers' view).

    Numbers come back as int when whole, else float (Decimal is written as a number); a datetime at
    midnight comes back as a date (calamine does that) and times keep whole milliseconds at most;
    '' is an empty cell (None); bool is written as the text yes/no (the workbook contract's yes/no).
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float, Decimal)):
        number = float(value)
        return int(number) if number.is_integer() and abs(number) < 2**53 else number
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        value = value.replace(microsecond=value.microsecond // 1000 * 1000)
        return value.date() if value.time() == dt.time(0) else value
    if isinstance(value, (dt.date, str)):
        return value
    raise ChangeError(f"cannot write a {type(value).__name__} into a cell: {value!r}")


_CELL_TYPES = {type(None), bool, int, float, Decimal, str, dt.date, dt.datetime}
_CELL_BASES = tuple(_CELL_TYPES)
_TEXT_ONLY = frozenset({str})


def check_log_row(row: Sequence[object], where: str) -> tuple:
    """A Log row as stored: seq an int, every other value text ('' for empty)."""
    # The engine's own rows are already exactly that: one look at the set of value types, at C speed.
    if type(row) is tuple and len(row) == len(LOG_COLUMNS) and type(row[SEQ]) is int \
            and set(map(type, row[:SEQ] + row[SEQ + 1:])) == _TEXT_ONLY:
        return row
    if len(row) != len(LOG_COLUMNS):
        raise ChangeError(f"{where}: a Log row needs {len(LOG_COLUMNS)} values, got {len(row)}")
    out = []
    for i, value in enumerate(row):
        if i == SEQ:
            if isinstance(value, bool) or not isinstance(value, int):
                raise ChangeError(f"{where}: Log seq must be an int, got {value!r}")
        elif value is None:
            value = ""
        elif not isinstance(value, str):
            raise ChangeError(f"{where}: Log column {LOG_COLUMNS[i]} must be text, got {value!r}")
        out.append(value)
    return tuple(out)


def check_change(change: Change, head: tuple[int, str], book: str, has_sheet,
                 log_rows: int | None | bool = None, values: bool = True) -> tuple[tuple, ...]:
    """Refuse a stale or malformed Change, or one that would put a sheet past Excel's row limit
    (book/limits.py), before anything is written. Returns the checked log rows.

    `has_sheet(name) -> headers or None` lets each store say which sheets and columns it has.
    `log_rows`: the Log sheet's data rows before the Change (None: the head's seq; False: this store's Log
    is not a sheet, e.g. a ledger in PostgreSQL, whose workbook mirror keeps only its most recent rows).
    `values=False`: the sheets' and cells' values are not looked at again (a desk's commit checked this very
    Change before its append, pg/store.py; the scan is a pass over every cell of Allocations).
    """
    if (change.expected_seq, change.expected_hash) != tuple(head):
        raise StaleLogError(
            f"{book} changed since it was read (the log now ends at seq {head[0]}, expected "
            f"{change.expected_seq}): someone else posted. Nothing was written; post again.")
    rows = tuple(check_log_row(r, f"{book}!Log new row {i + 1}") for i, r in enumerate(change.log_rows))
    seq, last = head
    for row in rows:
        seq += 1
        if row[SEQ] != seq:
            raise ChangeError(f"{book}: new Log rows must continue at seq {seq}, got {row[SEQ]}")
    for name, body in change.sheets.items():
        if name not in ENGINE_SHEET_NAMES or name == "Log":
            raise ChangeError(f"{book}: {name!r} is not an engine-owned sheet the engine may rewrite")
        headers = has_sheet(name)
        if headers is None:
            raise BrokenFileError(f"{book} has no sheet {name!r}: restore it from the template, then post again")
        # Type check up front (all-or-nothing): by the set of value types, one pass at C speed; only a
        # type cell_value does not know needs a closer look (it raises ChangeError).
        for kind in set(map(type, chain.from_iterable(body))) - _CELL_TYPES if values else ():
            if issubclass(kind, _CELL_BASES):
                continue  # a StrEnum status or kind: cell_value takes it as its base type, never refuses it
            for row in body:
                for value in row:
                    if type(value) is kind:
                        cell_value(value)
    for name, updates in change.cells.items():
        if name in ENGINE_SHEET_NAMES:
            raise ChangeError(f"{book}: cell updates go to input sheets; {name!r} is engine-owned")
        headers = has_sheet(name)
        if headers is None:
            raise BrokenFileError(f"{book} has no sheet {name!r}: restore it from the template, then post again")
        # Each distinct column, row and value type looked at once (an import writes a quarter of a million
        # cells), in the order the cells come: the same refusals as cell by cell, a bad column first.
        for column in dict.fromkeys(column for _row, column in updates):
            if column not in headers:
                raise BrokenFileError(f"{book}!{name} has no column {column!r} in row 1: restore the header")
        for excel_row in dict.fromkeys(excel_row for excel_row, _column in updates):
            if not isinstance(excel_row, int) or excel_row < 2:
                raise ChangeError(f"{book}!{name}: cannot update row {excel_row!r} (data starts at row 2)")
        for kind in dict.fromkeys(map(type, updates.values())).keys() - _CELL_TYPES if values else ():
            for value in updates.values():
                if type(value) is kind:
                    cell_value(value)
    from xl_ledger.book import limits  # it imports this module (StoreError)

    limits.check(book, limits.change_rows(head[0], log_rows, len(rows), change.sheets, change.cells),
                 ledger=log_rows is False)
    return rows


# ------------------------------------------------------------------------------------ MemoryStore
class MemoryStore(StoreBase):
    """The reference store: a workbook held in memory, with the same rules as the file store.

    `sheets` maps a sheet name to (headers, {excel_row: values}); build one from plain rows with
    MemoryStore.from_rows(...). It is what the contract tests pin the other stores against.
    """

    def __init__(self, name: str = "memory.xlsm", sheets: Mapping[str, tuple[Sequence[str], Mapping[int, Sequence]]]
                 | None = None, log: Sequence[tuple] = ()):
        self.name = name
        self._sheets: dict[str, tuple[tuple[str, ...], dict[int, tuple]]] = {}
        for s in schema.ALL_SHEETS:
            self._sheets[s.name] = (s.headers, {})
        for sheet, (headers, rows) in (sheets or {}).items():
            self._sheets[sheet] = (tuple(headers), {int(r): tuple(cell_value(v) for v in vals)
                                                     for r, vals in rows.items()})
        self._log: list[tuple] = [check_log_row(r, f"{name}!Log") for r in log]

    @classmethod
    def from_rows(cls, name: str = "memory.xlsm", sheets: Mapping[str, Sequence[Sequence]] | None = None,
                  log: Sequence[tuple] = ()) -> "MemoryStore":
        """Sheets given as data rows starting at Excel row 2; headers from the schema, or the first row
        given for a sheet the schema does not know (a user's own sheet)."""
        built = {}
        for sheet, rows in (sheets or {}).items():
            rows = list(rows)
            headers = schema.BY_NAME[sheet].headers if sheet in schema.BY_NAME else tuple(rows.pop(0) if rows else ())
            built[sheet] = (headers, {i + 2: tuple(r) for i, r in enumerate(rows)})
        return cls(name, built, log)

    def read_log(self) -> list[tuple]:
        return list(self._log)

    def head(self) -> tuple[int, str]:
        if not self._log:
            return 0, GENESIS
        return self._log[-1][SEQ], self._log[-1][HASH]

    def read_sheet(self, sheet: str) -> SheetData:
        if sheet not in self._sheets:
            raise BrokenFileError(f"{self.name} has no sheet {sheet!r}: restore it from the template")
        headers, rows = self._sheets[sheet]
        if sheet == "Log":
            rows = {i + 2: tuple(cell_value(v) for v in r) for i, r in enumerate(self._log)}
        body = []
        for number in sorted(rows):
            values = list(rows[number])
            while values and values[-1] is None:  # readers do not report trailing empty cells
                values.pop()
            if values:
                body.append((number, tuple(values)))
        return SheetData(self.name, sheet, headers, tuple(body))

    def _headers(self, sheet: str):
        return self._sheets[sheet][0] if sheet in self._sheets else None

    def commit(self, change: Change) -> None:
        rows = check_change(change, self.head(), self.name, self._headers)
        # Build everything first, then swap: a failure above leaves the store as it was.
        new_sheets = dict(self._sheets)
        for name, body in change.sheets.items():
            headers = new_sheets[name][0]
            new_sheets[name] = (headers, {i + 2: tuple(cell_value(v) for v in r) for i, r in enumerate(body)})
        for name, updates in change.cells.items():
            headers, old = new_sheets[name]
            new = dict(old)
            for (excel_row, column), value in updates.items():
                values = list(new.get(excel_row, ()))
                index = headers.index(column)
                values.extend([None] * (index + 1 - len(values)))
                values[index] = cell_value(value)
                new[excel_row] = tuple(values)
            new_sheets[name] = (headers, new)
        self._sheets = new_sheets
        self._log = self._log + list(rows)
