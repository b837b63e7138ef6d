"""PgStore: a workbook as a front end to a Log kept in PostgreSQL.

The Store contract (book/store.py) over two places: the Log is the database's (the truth: read, head,
appends), the sheets are the workbook's (input sheets read, engine sheets and engine cells written). The
workbook's own `Log` sheet becomes a mirror of the database's Log, so a workbook on its own still
verifies, and its last row is an anchor: a database Log that no longer holds that row was truncated.

A commit holds the workbook's write lock throughout, then
1. appends the new rows in one database transaction (refused with StaleLogError when another desk
   appended first: the (studio, seq) key), checking in it that the workbook's mirror is a prefix of the
   database's Log;
2. only after COMMIT, writes the workbook: engine sheets, input cells, and the mirror caught up with
   every row the database has up to the new head.
A failure in 1 leaves both unchanged. A failure between 1 and 2 (the workbook cannot be written after
the database committed) leaves the database ahead of the workbook; the next post finds this desk's own
rows past the mirror's end and marks their Actions rows applied instead of applying them again
(see xl_ledger/pg/desk.py).
"""

from __future__ import annotations

import contextlib
from dataclasses import replace
from pathlib import Path
from typing import Optional

from xl_ledger.book.filestore import FileStore
from xl_ledger.book.filestore import WriteLock
from xl_ledger.book.store import BrokenFileError
from xl_ledger.book.store import Change
from xl_ledger.book.store import SheetData
from xl_ledger.book.store import BrokenChainError
from xl_ledger.book.store import OpenLog
from xl_ledger.book.store import StoreBase
from xl_ledger.book.store import check_change
from xl_ledger.book.store import ENGINE_SHEET_NAMES
from xl_ledger.book import anchors
from xl_ledger.book import limits
from xl_ledger.book import schema as book_schema
from xl_ledger.core import chain
from xl_ledger.core.chain import GENESIS
from xl_ledger.pg.log import PgLog


class VerifiedLog(OpenLog):
    """OpenLog over rows the streaming read has already verified (not hashed a second time)."""

    def __init__(self, store, rows: list[tuple]):
        self.store = store
        self.name = store.name
        self.head = (rows[-1][chain.SEQ], rows[-1][chain.HASH]) if rows else (0, GENESIS)
        self._rows = rows
        self._entries = None


class MirrorMismatch(BrokenFileError):
    """The workbook's Log mirror is not a prefix of the database's Log."""


class PgStore(StoreBase):
    """The Store over `log` (PgLog) and the workbook at `path`."""

    log_in_sheet = False  # the workbook's Log sheet is a mirror of the ledger's most recent rows

    def __init__(self, path, log: PgLog):
        self.book = FileStore(path)
        self.path = Path(path)
        self.name = self.book.name
        self.log = log
        self.committed: Optional[dict] = None
        self.upto: Optional[int] = None  # read the Log only up to this seq (a desk's warm post: see desk.py)

    @property
    def label(self) -> str:
        return f"the ledger {self.log.where}, for {self.name}"

    # --------------------------------------------------------------------------------- reading
    def read_log(self) -> list[tuple]:
        return self.log.read()

    def head(self) -> tuple[int, str]:
        return self.log.head()

    def open_log(self, key: Optional[bytes] = None) -> OpenLog:
        """The database's Log, verified in one streaming read, and the mirror's anchor checked."""
        rows, broken = self.read_verified_log(key)
        if broken is not None:
            raise BrokenChainError(self.name, broken)  # the mirror's cell of that seq: one message everywhere
        log = VerifiedLog(self, rows)
        # Every command, not only those that call anchors.check_open: a ledger shorter than this workbook's
        # mirror lost rows behind its triggers (the chain that is left still verifies).
        anchors.check(self.name, log.head, self.recorded_ends(), ledger=self.log_label)
        return log

    def read_verified_log(self, key: Optional[bytes] = None, known=None) -> tuple[list[tuple], Optional[chain.Break]]:
        """The database's Log, verified in one streaming read, and the mirror's anchor checked. Always the rows
        (`known`, the checkpoint's head and count, lets a FileStore skip building them; not used here)."""
        count, head, broken, rows = self.log.verify(key, keep=True, upto=self.upto)
        return rows, broken or self.anchor_break(count, head, rows)

    def check_log(self, key: Optional[bytes] = None) -> tuple[int, tuple[int, str], Optional[chain.Break]]:
        """`verify`: (rows, head, first break or None) from one streaming read, then the anchor."""
        count, head, broken, _rows = self.log.verify(key)
        return count, head, broken or self.anchor_break(count, head)

    def log_where(self, broken: chain.Break) -> str:
        return f"{self.log.where} Log seq {broken.seq}"

    @property
    def log_label(self) -> str:
        """The Log's name in anchors.py's messages: the ledger's, not the workbook's."""
        return f"the ledger {self.log.where}"

    def recorded_ends(self) -> list:
        """Where this workbook recorded the ledger's end, beyond the anchors every workbook has (its
        checkpoint, zip comment, Actions log_seq: anchors.of_store): its Log mirror, caught up by its last
        post. A ledger shorter than the mirror was truncated (anchors.check says so, as for a workbook)."""
        seq, digest = self.book.head()
        if seq == 0:
            return []
        return [anchors.Anchor(f"{self.name}!Log (this workbook's copy of the ledger, written by its last post)",
                               seq, digest)]

    def anchor_break(self, count: int, head: tuple[int, str], rows: Optional[list[tuple]] = None
                     ) -> Optional[chain.Break]:
        """The workbook mirror's last row, when the ledger reaches it, must be the ledger's row: else one of
        them was altered or this workbook belongs to another ledger. (A ledger that does not reach it is
        anchors.check's: a truncation.)"""
        seq, digest = self.book.head()
        if seq == 0 or seq > head[0]:
            return None
        row = rows[seq - 1] if rows is not None and len(rows) >= seq else self.log.row(seq)
        if row is None or row[chain.HASH] != digest:
            return chain.Break(seq - 1, seq, "hash", (row[chain.HASH] if row else "")[:16], digest[:16],
                               f"the ledger's row differs from {self.name}!Log seq {seq}: one of them was "
                               "altered, or this workbook belongs to another ledger")
        return None

    def check_anchor(self) -> None:
        count, head, _broken, _ = self.log.verify()
        broken = self.anchor_break(count, head)
        if broken is not None:
            raise MirrorMismatch(f"{self.log_where(broken)}: {broken.explanation}.")
        anchors.check(self.name, head, self.recorded_ends(), ledger=self.log_label)

    def read_sheet(self, sheet: str) -> SheetData:
        return self.book.read_sheet(sheet)

    def sheet_headers(self, sheet: str) -> tuple[str, ...]:
        return self.book.sheet_headers(sheet)  # row 1 only: an engine sheet laid out by another version?

    def _headers(self, sheet: str, present: frozenset = frozenset()):
        """A sheet's headers as the workbook's commit will check them (None: no such sheet). An engine
        sheet's are the schema's: only whether it exists is looked up (`present`, from the workbook's part
        list), never its rows (reading Allocations at 100k Log rows to learn it exists took 0.7 s)."""
        if sheet not in present:
            return None
        if sheet in ENGINE_SHEET_NAMES:
            return book_schema.BY_NAME[sheet].headers
        known = self.book._memo.get(("headers", sheet))  # the FileStore's, from this post's read
        if known is not None:
            return known
        try:
            return self.book.read_sheet(sheet).headers
        except BrokenFileError:
            return None

    # --------------------------------------------------------------------------------- writing
    def commit(self, change: Change) -> None:
        self.committed, self.committed_segments = None, {}
        expected = (change.expected_seq, change.expected_hash)
        with self.book._open() as opened:
            present = frozenset(opened.sheets)
        rows = check_change(change, expected, self.name,  # malformed or too long: refused before anything
                            lambda sheet: self._headers(sheet, present), log_rows=False)
        # The mirror holds at least the ledger's row before the new ones, and them (see _window).
        limits.check(self.name, {"Log": 2 + len(rows)}, ledger=True)
        book = self.book
        with WriteLock(self.path):
            mirror = book.head()
            with self.log.appending(expected, rows):
                # In the transaction: the mirror must be a prefix of the database's Log, and the rows the
                # mirror lacks (other desks') are read here, consistent with the head just checked.
                if mirror[0] > expected[0]:
                    raise MirrorMismatch(
                        f"{self.name}!Log ends at seq {mirror[0]}, past the ledger {self.log.where} (seq "
                        f"{expected[0]}): the database lost rows, or this workbook belongs to another ledger.")
                missing = self.log.read(after=mirror[0], upto=expected[0]) if mirror[0] < expected[0] else []
                at_mirror = GENESIS if mirror[0] == 0 else expected[1] if mirror[0] == expected[0] \
                    else missing[0][chain.PREV]
                if at_mirror != mirror[1]:
                    raise MirrorMismatch(
                        f"{self.name}!Log seq {mirror[0]} is not the ledger's row {mirror[0]} ({self.log.where}): "
                        "this workbook belongs to another ledger. Point it at its own ledger, or start a new "
                        "workbook with `xl-ledger init` and post it to this one.")
                window = self._window(mirror, expected, len(missing) + len(rows))
            self.log.unqueue()  # the next desk may post while this workbook is written
            # Committed in the database: now the workbook (mirror caught up, sheets, cells).
            with book._open() as opened:
                # The same Change (sheets, cells, money format, page headers, relayout) over the mirror's head.
                if window is None:
                    book._commit(opened, replace(change, expected_seq=mirror[0], expected_hash=mirror[1],
                                                 log_rows=tuple(missing) + tuple(rows)), checked=True)
                else:  # the mirror would pass Excel's row limit: it keeps the ledger's most recent rows
                    book._commit(opened, replace(change, expected_seq=mirror[0], expected_hash=mirror[1],
                                                 log_rows=tuple(window) + tuple(rows)), restart=True, checked=True)
            with book._open() as opened:
                self.committed = book._digests(opened)
            self.committed_segments = book.committed_segments  # for the checkpoint, as FileStore's

    def _window(self, mirror: tuple[int, str], expected: tuple[int, str], adding: int) -> Optional[list[tuple]]:
        """None when the Log mirror can take `adding` more rows within Excel's row limit (book/limits.py);
        else the ledger's rows the mirror is to hold before this commit's new ones: the most recent, so that
        with them it holds mirror_keep() rows (DECISIONS.md 2026-12-02 "Excel's row limit"). Its first row
        chains to the ledger's row before it (`verify --ledger` checks the mirror against the ledger).
        Read inside the append's transaction: the rows of the head just checked."""
        if 1 + mirror[0] + adding <= limits.ROWS:  # rows <= seq: a mirror that starts at seq 1 or later
            return None
        if 1 + self._mirror_rows() + adding <= limits.ROWS:
            return None
        new = adding - (expected[0] - mirror[0])  # this commit's own rows
        first = max(1, min(expected[0], expected[0] + new - mirror_keep() + 1))
        return self.log.read(after=first - 1, upto=expected[0])

    def _mirror_rows(self) -> int:
        """The mirror's data rows (Excel rows below the header): from its layout, else by reading it once."""
        from xl_ledger.book import xlsx_log
        from xl_ledger.xlsx.archive import iter_member

        with self.book._open() as opened:
            loaded = self.book._log_state(opened)
            if loaded:
                return loaded[0].last_row - 1
            member = opened.archive.get(opened.sheets.get("Log") or "")
            return xlsx_log.scan_last_row(iter_member(opened.f, member)) - 1 if member is not None else 0

    def close(self) -> None:
        self.log.close()


def mirror_keep() -> int:
    """Rows a desk's Log mirror keeps when it would pass Excel's limit: half a sheet, so that the mirror is
    rewritten (a few seconds at that size) once every half a million rows, not at every post."""
    return limits.ROWS // 2


@contextlib.contextmanager
def opened(path, url: str, studio: str = "main"):
    store = PgStore(path, PgLog(url, studio))
    try:
        yield store
    finally:
        store.close()
