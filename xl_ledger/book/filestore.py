"""FileStore: the ledger in an .xlsx/.xlsm file on disk — fast reads, surgical atomic writes.

Reads: the Log with fastexcel (Arrow), other sheets with python-calamine (cached formula values).
Writes (`commit`): under a lock file, a new archive is written to a temp file in the same folder,
fsynced and renamed over the original, so a crash at any point leaves the old file or the new one.
In the new archive every part the Change does not touch is copied as its original compressed bytes
(VBA project, ribbon, styles, charts, users' sheets); engine sheets get a new `<sheetData>`; input
sheets get only the edited cells; the Log is extended in its appendable layout (xlsx_log.py), so a
commit costs a byte copy of the file plus the new rows, not a re-encode of the whole log.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import getpass
import glob
import hashlib
import hmac
import json
import os
import stat
import zlib
from concurrent.futures import Future
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from posixpath import dirname
from posixpath import join as pjoin
from posixpath import normpath
from typing import BinaryIO
from typing import Iterator
from typing import Sequence

import defusedxml.ElementTree as SafeET

from xl_ledger.book import schema
from xl_ledger.book import upgrade
from xl_ledger.book import xlsx_log
from xl_ledger.book.store import ENGINE_SHEET_NAMES
from xl_ledger.book.store import BrokenFileError
from xl_ledger.book.store import ChangeError
from xl_ledger.book.store import Change
from xl_ledger.book.store import LockedError
from xl_ledger.book.store import SheetData
from xl_ledger.book.store import StoreBase
from xl_ledger.book.store import StoreError
from xl_ledger.book.store import check_change
from xl_ledger.book.store import gc_paused
from xl_ledger.output import no_library_noise
from xl_ledger.xlsx.cells import CellValueError
from xl_ledger.xlsx.cells import StyleBook
from xl_ledger.xlsx.sheet import SheetFormatError
from xl_ledger.xlsx.sheet import edit_cells
from xl_ledger.xlsx.sheet import extend_table
from xl_ledger.xlsx.sheet import frame
from xl_ledger.xlsx.sheet import set_page_header
from xl_ledger.xlsx import segments
from xl_ledger.xlsx import sheet as xlsx_sheet
from xl_ledger.xlsx.sheet import block_rows
from xl_ledger.xlsx.sheet import body_segments
from xl_ledger.xlsx.sheet import first_row
from xl_ledger.xlsx.sheet import row_texts
from xl_ledger.xlsx.sheet import iter_shared_items
from xl_ledger.xlsx.sheet import si_text
from xl_ledger.xlsx.archive import Archive
from xl_ledger.xlsx.archive import ZipFormatError
from xl_ledger.xlsx.archive import ZipWriter
from xl_ledger.xlsx.archive import data_offset
from xl_ledger.xlsx.archive import iter_member
from xl_ledger.xlsx.archive import read_directory
from xl_ledger.xlsx.archive import read_member
from xl_ledger.core.chain import GENESIS
from xl_ledger.core.chain import Break
from xl_ledger.core.chain import verify as verify_chain
from xl_ledger.core.chain import HASH
from xl_ledger.core.chain import LOG_COLUMNS
from xl_ledger.core.chain import PREV
from xl_ledger.core.chain import SEQ

_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}Relationship"
_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_R_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
_STYLES_TYPE = "/styles"


class _Book:
    """One opened archive: its directory and where each sheet's part is."""

    def __init__(self, f: BinaryIO, label: str):
        self.f = f
        try:
            self.archive: Archive = read_directory(f)
            root_rels = SafeET.fromstring(self.read("_rels/.rels"))
            wb_path = next(r.get("Target") for r in root_rels.iter(_REL)
                           if r.get("Type", "").endswith("/officeDocument")).lstrip("/")
            wb = SafeET.fromstring(self.read(wb_path))
            rels_path = pjoin(dirname(wb_path), "_rels", wb_path.rsplit("/", 1)[-1] + ".rels")
            targets = {}
            self.styles_path = None
            strings_path = None
            for r in SafeET.fromstring(self.read(rels_path)).iter(_REL):
                target = r.get("Target", "")
                path = target.lstrip("/") if target.startswith("/") else normpath(pjoin(dirname(wb_path), target))
                targets[r.get("Id")] = path
                if r.get("Type", "").endswith(_STYLES_TYPE):
                    self.styles_path = path
                if r.get("Type", "").endswith("/sharedStrings"):
                    strings_path = path
            self.sheets = {s.get("name"): targets.get(s.get(_R_ID)) for s in wb.iter(f"{_MAIN}sheet")}
            # Parts a sheet's cell values are read through: the workbook (date system) and styles.
            self.read_targets = (wb_path, self.styles_path, strings_path)
        except (ZipFormatError, StopIteration, KeyError, SafeET.ParseError, UnicodeDecodeError) as e:
            raise BrokenFileError(f"{label} is not a readable Excel workbook ({e or type(e).__name__}): "
                                  f"open it in Excel to check it, or restore a backup") from None

    def on(self, f: BinaryIO) -> "_Book":
        """This parse, reading from `f` (the same file, opened again)."""
        book = object.__new__(_Book)
        book.__dict__.update(self.__dict__)
        book.f = f
        return book

    def tables_of(self, sheet_path: str) -> list[str]:
        """The table parts a worksheet part links to (through its own .rels)."""
        rels_path = pjoin(dirname(sheet_path), "_rels", sheet_path.rsplit("/", 1)[-1] + ".rels")
        if self.archive.get(rels_path) is None:
            return []
        out = []
        for r in SafeET.fromstring(self.read(rels_path)).iter(_REL):
            if r.get("Type", "").endswith("/table") and r.get("TargetMode") != "External":
                target = r.get("Target", "")
                out.append(target.lstrip("/") if target.startswith("/") else normpath(pjoin(dirname(sheet_path), target)))
        return [t for t in out if self.archive.get(t) is not None]

    def read(self, path: str) -> bytes:
        m = self.archive.get(path)
        if m is None:
            raise KeyError(path)
        return read_member(self.f, m)


class FileStore(StoreBase):
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.name = self.path.name
        # What was worked out from the file as last opened: its parse ("book"), part digests (("digest",
        # member names)) and sheet headers (("headers", sheet)). Cleared whenever the file's stamp changes.
        self._stamp: tuple | None = None
        self._memo: dict = {}

    # --------------------------------------------------------------------------------- reading
    @contextlib.contextmanager
    def _open(self) -> Iterator[_Book]:
        try:
            f = open(self.path, "rb")
        except FileNotFoundError:
            raise BrokenFileError(f"{self.path} does not exist: check the path, or create a workbook "
                                  f"from the template") from None
        except OSError as e:
            raise StoreError(f"cannot open {self.path}: {e.strerror}") from None
        with f:
            # A post opens the workbook a dozen times; while the file is the same one, unchanged (same
            # inode, size and change times), its directory and workbook parts need not be parsed again.
            st = os.fstat(f.fileno())
            stamp = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
            if stamp != self._stamp:
                self._stamp, self._memo = stamp, {}
            parsed = self._memo.get("book")
            if parsed is not None:
                yield parsed.on(f)
                return
            book = self._memo["book"] = _Book(f, self.name)
            yield book

    def _missing(self, sheet: str) -> BrokenFileError:
        return BrokenFileError(f"{self.name} has no sheet {sheet!r}: restore it from the template "
                               f"(sheet names must not be changed)")

    def open_log(self, key: bytes | None = None):
        """The Log verified, with the checkpoint's fast paths behind it (book/warm.py)."""
        from xl_ledger.book.warm import CheckpointedLog

        return CheckpointedLog(self, key)

    def open_cold_log(self, key: bytes | None = None):
        """The Log read and verified in full, the checkpoint ignored (and replaced by the next commit)."""
        from xl_ledger.book.warm import CheckpointedLog

        return CheckpointedLog(self, key, cold=True)

    def read_log(self) -> list[tuple]:
        with gc_paused():
            return self._read_log()

    def _read_log(self) -> list[tuple]:
        return _table_rows(self._log_table())

    def check_log(self, key: bytes | None = None) -> tuple[int, tuple[int, str], Break | None]:
        """Verify the whole Log chain: (row count, head (seq, hash), first bad row or None).

        The Log is read once, as columns: a row's hash covers its own cells and its stored prev_hash, so
        every row can be hashed without the rows before it, and prev_hash is compared with the hash above
        it as two columns. Only when that finds a problem (or the cells are not plain text) are the rows
        built as Python values for chain.verify, which names the first bad row and why.
        """
        with gc_paused():
            table = self._log_table()
            if _table_intact(table, key):
                n = table.num_rows
                head = (int(table.column("seq")[n - 1].as_py()), str(table.column("hash")[n - 1].as_py())) if n \
                    else (0, GENESIS)
                return n, head, None
            rows = _table_rows(table)
            del table
            head = (rows[-1][SEQ], rows[-1][HASH]) if rows else (0, GENESIS)
            return len(rows), head, verify_chain(rows, key)

    def read_verified_log(self, key: bytes | None = None, known: tuple[tuple[int, str], int] | None = None
                          ) -> tuple[list[tuple] | None, Break | None]:
        """The Log rows and the first row where the chain breaks (None when intact), from one read.

        `known`: the (head, row count) of a Log whose rows the caller already holds, verified. When this
        Log verifies and ends in that head after that many rows, it is that Log (each hash covers its row
        and the hash above it), so no rows are built: (None, None)."""
        with gc_paused():
            table = self._log_table()
            memo = self._table_memo
            intact = _table_intact(table, key)
            if intact and known is not None and table.num_rows == known[1] and known[1]:
                n = table.num_rows
                head = (int(table.column("seq")[n - 1].as_py()), str(table.column("hash")[n - 1].as_py()))
                if head == tuple(known[0]):
                    memo["log_head"] = head
                    return None, None
            rows = _table_rows(table)
            del table
            # The head of this very file state: a commit to it need not decode the Log again to learn it
            # (after Excel or LibreOffice saved the file, the Log part no longer says it in its layout).
            memo["log_head"] = (rows[-1][SEQ], rows[-1][HASH]) if rows else (0, GENESIS)
            return rows, (None if intact else verify_chain(rows, key))

    def _log_table(self):
        import fastexcel

        with self._open() as book:
            if "Log" not in book.sheets:
                raise self._missing("Log")
            self._table_memo = self._memo  # what is learnt from the table belongs to this file state
        try:
            reader = fastexcel.read_excel(str(self.path))
            dtypes = {c: ("int" if c == "seq" else "string") for c in LOG_COLUMNS}
            with no_library_noise():  # calamine underneath: a panic prints itself to fd 2
                sheet = reader.load_sheet("Log", header_row=0, dtypes=dtypes)
            names = [c.name for c in sheet.available_columns()]
            if tuple(names[:len(LOG_COLUMNS)]) != LOG_COLUMNS:
                raise BrokenFileError(f"{self.name}!Log row 1 must hold the headers {', '.join(LOG_COLUMNS)}; "
                                      f"found {', '.join(map(str, names[:len(LOG_COLUMNS)]))}. Restore the header row.")
            table = sheet.to_arrow()
            del sheet, reader  # free the reader's own copy of the cells before building Python objects
        except fastexcel.FastExcelError as e:
            raise BrokenFileError(f"{self.name}!Log cannot be read ({e}): restore the Log from a backup") from None
        return table


    def read_sheet(self, sheet: str) -> SheetData:
        import python_calamine

        with self._open() as book:
            if sheet not in book.sheets:
                raise self._missing(sheet)
            memo = self._memo
        try:
            with no_library_noise():  # a calamine panic prints itself to fd 2 before it is raised
                # One open per file state: calamine parses the shared strings (every text cell of a workbook
                # Excel or LibreOffice saved: 130 MB at a million Log rows) when it opens the file.
                wb = memo.get("calamine")
                if wb is None:
                    wb = memo["calamine"] = python_calamine.CalamineWorkbook.from_path(str(self.path))
                rows = wb.get_sheet_by_name(sheet).to_python(skip_empty_area=False)
        except OverflowError:
            rows = _read_sheet_slowly(self.path, sheet)  # 1E+308 in a [h]:mm:ss cell: as for a panic below
        except Exception as e:  # calamine raises its own error types per failure
            raise BrokenFileError(f"{self.name}!{sheet} cannot be read ({e}): open the workbook in Excel to "
                                  f"check it") from None
        except BaseException as e:
            # calamine panics (a BaseException) on a date-formatted cell holding a number no date can
            # have, e.g. -1E+308 typed into a date column. openpyxl reads that cell as an error value, so
            # the row is rejected with its cell named instead of the whole post failing.
            if type(e).__name__ != "PanicException":
                raise
            rows = _read_sheet_slowly(self.path, sheet)
        headers = tuple("" if v is None else str(v).strip() for v in (rows[0] if rows else ()))
        while headers and not headers[-1]:
            headers = headers[:-1]
        body = []
        big = 2**53
        for i, values in enumerate(rows[1:], start=2):
            # _read_value, inlined: this loop runs once per cell of every input sheet
            clean = [None if v == "" or v is None else
                     int(v) if type(v) is float and v.is_integer() and -big < v < big else v for v in values]
            while clean and clean[-1] is None:
                clean.pop()
            if clean:
                body.append((i, tuple(clean)))
        memo[("headers", sheet)] = headers  # what a commit of this very file checks cell updates against
        return SheetData(self.name, sheet, headers, tuple(body))

    def sheet_headers(self, sheet: str) -> tuple[str, ...]:
        """Row 1 as read_sheet gives it, from the start of the part only (an engine sheet's header check
        must not read a hundred-MB Allocations)."""
        with self._open() as book:
            known = self._memo.get(("headers", sheet))
            if known is not None:
                return known
            path = book.sheets.get(sheet)
            member = book.archive.get(path) if path else None
            if member is None:
                raise self._missing(sheet)
            try:
                row = first_row(iter_member(book.f, member, 1 << 16))
                wanted: list[int] = []
                row_texts(row, lambda i: wanted.append(i) or "")  # which shared strings row 1 uses
                shared = self._shared_strings(book, max(wanted, default=-1))
                texts = row_texts(row, lambda i: si_text(shared[i]))
            except (ZipFormatError, zlib.error, IndexError, ValueError, SafeET.ParseError) as e:
                raise BrokenFileError(f"{self.name}!{sheet} row 1 cannot be read ({e}): open the workbook in "
                                      f"Excel to check it") from None
        headers = tuple(t.strip() for t in texts)
        while headers and not headers[-1]:
            headers = headers[:-1]
        return headers

    def _shared_strings(self, book: _Book, top: int) -> list[bytes]:
        """The shared-string items (si_text gives the text) up to index `top` at least (IndexError past the
        part's end). Only so far is the part read, and an item is decoded only when asked for: after a
        LibreOffice save it holds every text of the workbook (170k items at 100k Log rows; decoding them
        all took half a second), and the engine sheets' header rows use a few hundred of them."""
        known = self._memo.setdefault("shared strings", [])
        path = book.read_targets[2]
        member = book.archive.get(path) if path and top >= len(known) else None
        if member is not None:
            items = iter_shared_items(iter_member(book.f, member, 1 << 16))
            for _ in range(len(known)):
                next(items)
            for item in items:
                known.append(item)
                if len(known) > top:
                    break
        return known

    def head(self) -> tuple[int, str]:
        with self._open() as book:
            loaded = self._log_state(book)
            if loaded:
                return loaded[0].seq, loaded[0].hash
            known = self._memo.get("log_head")
        return known or self._head_from_log()

    def _head_from_log(self) -> tuple[int, str]:
        rows = self.read_log()
        if not rows:
            return 0, GENESIS
        return rows[-1][SEQ], rows[-1][HASH]

    def _log_state(self, book: _Book):
        path = book.sheets.get("Log")
        member = book.archive.get(path) if path else None
        try:
            return xlsx_log.load_state(book.archive.comment, book.f, member)
        except ZipFormatError:
            return None

    def part_digests(self) -> dict[str, str]:
        """Digests of the parts as stored: "Log" (and "Sessions") → the Log part with every part its values
        depend on (shared strings, styles, the workbook part's date system); each engine sheet → its own part.
        SHA-256 over name, method, CRC, sizes and the compressed bytes: equal digests, equal cells."""
        with self._open() as book:
            return self._digests(book)

    def _digests(self, book: _Book) -> dict[str, str]:
        out = {}
        for sheet in sorted(ENGINE_SHEET_NAMES) + ["Sessions"]:
            parts = [book.sheets.get(sheet)]
            if sheet in ("Log", "Sessions"):  # input sheets: their values are read through these too
                parts += sorted(n for n in book.read_targets if n)
            members = [book.archive.get(p) for p in parts if p]
            if not members or members[0] is None:
                continue
            out[sheet] = self._digest(book, members)
        return out

    def _digest(self, book: _Book, members) -> str:
        # Hashed once per file state: a post digests the parts when it starts, and its commit checks the
        # engine parts it keeps rows of against the same digests (the file unchanged meanwhile).
        key = ("digest", tuple(m.name for m in members if m is not None))
        known = self._memo.get(key)
        if known is None:
            known = self._memo[key] = self._hash_members(book, members)
        return known

    def _hash_members(self, book: _Book, members) -> str:
        h = hashlib.sha256()
        for m in members:
            if m is None:
                continue
            h.update(f"{m.name}|{m.method}|{m.crc}|{m.csize}|{m.usize}|".encode())
            book.f.seek(data_offset(book.f, m))
            left = m.csize
            while left:
                chunk = book.f.read(min(left, 1 << 20))
                if not chunk:
                    raise BrokenFileError(f"{self.name} is truncated: restore it from a backup")
                h.update(chunk)
                left -= len(chunk)
        return h.hexdigest()

    # --------------------------------------------------------------------------------- writing
    def commit(self, change: Change) -> None:
        self.committed: dict[str, str] | None = None
        self._memo.pop("calamine", None)  # let go of the reader (and any handle it keeps) before writing
        with WriteLock(self.path):
            # Temp files of writers that were killed mid-save: ours to remove now that we hold the lock.
            for pattern in (f".~xl-ledger.{glob.escape(self.name)}.*.tmp",
                            f".~lock.xl-ledger.{glob.escape(self.name)}#.*.tmp"):  # and of lock files
                for stale in self.path.parent.glob(pattern):
                    with contextlib.suppress(OSError):
                        stale.unlink()
            with self._open() as book:
                try:
                    self._commit(book, change)
                except CellValueError as error:  # the format library's refusal, in the store's terms
                    raise ChangeError(f"{self.name}: {error}") from error
            # Still under the lock, so no other writer's bytes can be mistaken for ours: what the
            # parts now are, for the checkpoint (book/checkpoint.py).
            with self._open() as book:
                self.committed = self._digests(book)

    def _commit(self, book: _Book, change: Change, restart: bool = False, checked: bool = False) -> None:
        """`restart`: the Log sheet is to hold exactly change.log_rows, a run of the chain reaching past the
        head (a desk's mirror keeping a ledger's most recent rows: pg/store.py). `checked`: the caller has
        run check_change over these sheets and cells already (their values are not scanned again)."""
        # Engine sheet -> (rows per segment, the segments its new part was written as): for the checkpoint,
        # so that the next commit copies the segments whose rows did not change.
        self.committed_segments: dict[str, tuple[int, list]] = {}
        loaded = self._log_state(book)
        head = (loaded[0].seq, loaded[0].hash) if loaded else self._memo.get("log_head") or self._head_from_log()

        def headers(sheet: str):
            if sheet not in book.sheets:
                return None
            if sheet in ENGINE_SHEET_NAMES:
                return schema.BY_NAME[sheet].headers
            known = self._memo.get(("headers", sheet))
            return known if known is not None else self.read_sheet(sheet).headers

        if restart:
            rows = list(xlsx_log.check_window(change.log_rows, head, self.name))
            check_change(replace(change, log_rows=()), head, self.name, headers, log_rows=len(rows),
                         values=not checked)
            loaded = None
        else:  # Excel's row limit counts Excel rows: the Log part's last row when its layout says it
            rows = list(check_change(change, head, self.name, headers, loaded[0].last_row - 1 if loaded else None,
                                     values=not checked))
        styles = StyleBook(book.read(book.styles_path) if book.styles_path else None)
        if change.money_format:
            styles.replace_format_codes(schema.is_money_format, change.money_format)
        # part -> its new bytes, or the Future of (CRC, deflated bytes, length) for a rewritten sheet:
        # each is compressed on a worker thread as soon as its pieces are built (zlib releases the GIL),
        # overlapping the next sheet's rendering and the copying of the other parts.
        replaced: dict[str, bytes | Future] = {}
        with ThreadPoolExecutor(max_workers=1) as pool:
            self._commit_parts(book, change, rows, head, loaded, styles, replaced, headers, pool, restart)

    def _commit_parts(self, book: _Book, change: Change, rows, head, loaded, styles: StyleBook,
                      replaced: dict[str, bytes | Future], headers, pool: ThreadPoolExecutor,
                      restart: bool = False) -> None:
        log_path = book.sheets["Log"]
        # The new Log rows first, when it is known where they start: the worker compresses them while
        # the sheets below are rendered (an import's 50k rows: about half a second of deflate).
        encoded = None
        if rows:
            first_row = 2 if restart else loaded[0].last_row + 1 if loaded else \
                _first_new_row_of_small_log(book, log_path)
            if first_row is not None:
                encoded = xlsx_log.encode(rows, first_row, pool)
        try:
            for sheet, body in change.sheets.items():
                replaced[book.sheets[sheet]] = self._engine_part(book, change, sheet, body, styles, pool)
            for sheet, header in change.page_headers.items():
                if sheet in change.sheets or sheet not in book.sheets:
                    continue
                # Only the header changed (a new as-of date over the same rows): the part is the same bytes
                # but for it, and is rewritten only when it differs.
                path = book.sheets[sheet]
                member = book.archive.get(path)
                old = self._old_segments(book, change.keep.get(sheet), member)
                if old is not None:  # only its last segment (the tail, where the page header is) changes
                    read = segments.reader(book.f, member, old)
                    first, last = read(0), read(len(old) - 1)
                    edited = set_page_header(first + last, header)
                    if edited[len(first):] != last and edited[:len(first)] == first:
                        replaced[path] = _Segmented(sheet, [*range(len(old) - 1), pool.submit(
                            segments.compress, [edited[len(first):]], True)], old, change.keep[sheet][2][0])
                        continue
                    if edited[len(first):] == last:
                        continue
                xml = book.read(path)
                edited = set_page_header(xml, header)
                if edited != xml:
                    replaced[path] = pool.submit(_crc_and_deflate, [edited])
            for sheet, updates in change.cells.items():
                path = book.sheets[sheet]
                number = {name: i for i, name in reversed(list(enumerate(headers(sheet), start=1)))}
                by_col = {(r, number[c]): v for (r, c), v in updates.items()}
                replaced[path] = pool.submit(_crc_and_deflate, [edit_cells(book.read(path), by_col, styles)])
                # Rows written below an Excel table join it, as they would if typed in Excel.
                for table in book.tables_of(path):
                    grown = extend_table(book.read(table), max(r for r, _ in by_col), {c for _, c in by_col})
                    if grown is not None:
                        replaced[table] = grown
        except (SheetFormatError, KeyError, ZipFormatError) as e:
            raise BrokenFileError(f"{self.name}: a sheet's XML could not be edited ({e}); nothing was written. "
                                  f"Open and save the workbook in Excel, then post again.") from None
        if change.relayout:  # their print titles as this version sets them (book/upgrade.py)
            workbook = upgrade.print_names(book.read(book.read_targets[0]), change.relayout)
            if workbook is not None:
                replaced[book.read_targets[0]] = workbook
        if styles.changed:
            replaced[book.styles_path] = styles.to_bytes()
        comment = book.archive.comment if not book.archive.comment.startswith(xlsx_log.MAGIC) else b""
        if loaded:
            comment = loaded[0].comment()  # still true if the Log part is copied unchanged
        try:
            with _AtomicFile(self.path) as out:
                w = ZipWriter(out)
                for m in book.archive.members:
                    if m.name == log_path and rows:
                        if restart:  # the header row kept, every other row replaced by `rows`
                            state = xlsx_log.rebuild(w, m, xlsx_log.header_only(iter_member(book.f, m)), rows,
                                                     *head, encoded)
                        elif loaded:
                            state = xlsx_log.append(w, book.f, m, loaded[0], loaded[1], rows, encoded)
                        else:
                            state = xlsx_log.rebuild(w, m, iter_member(book.f, m), rows, *head, encoded)
                        comment = state.comment()
                    elif isinstance(replaced.get(m.name), _Segmented):
                        part = replaced[m.name]
                        items = [i.result() if isinstance(i, Future) else i for i in part.items]
                        self.committed_segments[part.sheet] = (part.size, segments.write(
                            w, m, items, book.f, m, part.old or ()))
                        del items
                    elif m.name in replaced:
                        data = replaced[m.name]
                        crc, packed, size = data.result() if isinstance(data, Future) else _crc_and_deflate([data])
                        w.start(m, crc, len(packed), size)
                        w.write_data(packed)
                    else:
                        w.copy(book.f, m)
                w.close(comment)
        except (ZipFormatError, ValueError, zlib.error) as e:
            raise BrokenFileError(f"{self.name} is damaged ({e}); nothing was written. Open it in Excel to repair "
                                  f"it, or restore a backup.") from None

    def _engine_part(self, book: _Book, change: Change, sheet: str, body, styles: StyleBook,
                     pool: ThreadPoolExecutor) -> "_Segmented":
        """An engine sheet's new part as deflate segments of SEGMENT_ROWS rows (xlsx/segments.py), each
        compressed on the worker thread. With the keep hint for the part as it is (its digest, the body it
        holds, and the segments the last commit wrote it as), a block of rows equal to the body's is its
        stored segment again, copied without being inflated, and in a block that changed only the rows
        that changed are written. Without the segments, rows equal to the hinted body keep their XML, read
        from the part; without a hint, every row is written."""
        path = book.sheets[sheet]
        member = book.archive.get(path)
        width = len(schema.BY_NAME[sheet].headers)
        size = xlsx_sheet.SEGMENT_ROWS
        hint = None if sheet in change.relayout else change.keep.get(sheet)
        previous = hint[1] if hint is not None and self._digest(book, [member]) == hint[0] else None
        old = self._old_segments(book, hint, member, previous) if previous is not None else None
        # The blocks the caller found unchanged (cut as the segments are): not compared again.
        same = hint[3][1] if previous is not None and len(hint) > 3 and hint[3] and hint[3][0] == size else None
        if old is not None:
            # The part without its body rows: its first segment (head, header row) and last (the tail).
            read = segments.reader(book.f, member, old)
            skeleton = read(0) + read(len(old) - 1)
            if sheet in change.page_headers:
                skeleton = set_page_header(skeleton, change.page_headers[sheet])
            plan = body_segments(frame(skeleton), body, styles, width, previous, read, reuse=True,
                                 rows_per_segment=size, same=same)
        else:
            xml = book.read(path)
            if sheet in change.relayout:  # laid out by an earlier version: this version's frame
                xml = upgrade.relaid_part(sheet, xml, styles, change.money_format)
            if sheet in change.page_headers:  # after the rows: the offsets of kept rows do not move
                xml = set_page_header(xml, change.page_headers[sheet])
            blocks = block_rows(xml, -(-len(previous) // size), size) if previous is not None else []
            plan = body_segments(frame(xml), body, styles, width, previous,
                                 lambda k: blocks[k - 1] if k <= len(blocks) else None, rows_per_segment=size,
                                 same=same)
        last = len(plan) - 1
        # Compressed segment by segment: the new part is never held whole beside the old one.
        return _Segmented(sheet, [k if type(k) is int else pool.submit(segments.compress, k, i == last)
                                  for i, k in enumerate(plan)], old, size)

    def _old_segments(self, book: _Book, hint, member, previous=None) -> list | None:
        """The segments the part was last written as (from the keep hint), when they still describe it:
        the part has the hint's digest (the bytes written with them), the same rows per segment, one
        segment per block of `previous` plus head and tail, and their sizes and CRC add up to the part's."""
        if hint is None or len(hint) < 3 or not hint[2] or member is None:
            return None
        size, old = hint[2]
        if size != xlsx_sheet.SEGMENT_ROWS or len(old) < 2 or self._digest(book, [member]) != hint[0]:
            return None
        if previous is not None and len(old) != -(-len(previous) // size) + 2:
            return None
        return list(old) if segments.fits(member, old) else None


class _Segmented:
    """An engine part on its way to being written: (compressed bytes, segment) futures, or the index of
    a segment of `old` (the part's segments as last written) to copy."""

    def __init__(self, sheet: str, items: list, old: list | None, size: int):
        self.sheet, self.items, self.old, self.size = sheet, items, old, size  # size: rows per segment



def _table_rows(table) -> list[tuple]:
    """The Log's Arrow table as the store contract's rows: seq an int, every other cell text."""
    import pyarrow.compute as pc

    # Memory matters at a million rows: values that repeat (operator, kind, dates, ids, units) share
    # one str object each via dictionary encoding, and prev_hash reuses the row before's hash object.
    columns = []
    for name in LOG_COLUMNS:
        col = table.column(name)
        if name == "seq":
            columns.append(col.to_pylist())
            continue
        col = pc.fill_null(col.cast("string"), "")
        if name == "hash":
            columns.append(col.to_pylist())
            continue
        if name == "prev_hash":
            columns.append(col)  # resolved below, once the hashes exist
            continue
        encoded = pc.dictionary_encode(col)
        if hasattr(encoded, "combine_chunks"):  # a ChunkedArray (Table) rather than an Array (RecordBatch)
            encoded = encoded.combine_chunks()
        values = encoded.dictionary.to_pylist()
        columns.append([values[i] for i in encoded.indices.to_pylist()])
    del table
    hashes = columns[HASH]
    prev = columns[PREV].to_pylist()
    for i in range(1, len(prev)):
        if prev[i] == hashes[i - 1]:
            prev[i] = hashes[i - 1]
    columns[PREV] = prev
    return list(zip(*columns))


def _table_intact(table, key: bytes | None) -> bool:
    """True when every row of the Log's Arrow table verifies: seq runs 1..n, each prev_hash is the hash
    above it (the first the genesis hash), and each hash is SHA-256 (HMAC with the owner key) of the
    row's canonical text (chain.canonical: every cell but hash, joined by the unit separator). False
    means "not proven here", never "tampered": the caller then runs chain.verify over the rows."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = table.num_rows
    if n == 0:
        return True
    try:
        seq = table.column("seq")
        if seq.null_count or not pa.types.is_integer(seq.type):
            return False
        if not pc.all(pc.equal(seq, pa.array(range(1, n + 1), type=seq.type))).as_py():
            return False
        text = {name: pc.fill_null(table.column(name).cast("string"), "") for name in LOG_COLUMNS[1:]}
        hashes, prev = text["hash"], text["prev_hash"]
        if prev[0].as_py() != GENESIS or (n > 1 and not pc.all(pc.equal(prev[1:], hashes[:-1])).as_py()):
            return False
        covered = [pc.cast(seq, pa.string())] + [text[name] for name in LOG_COLUMNS[1:] if name != "hash"]
        sha256 = hashlib.sha256
        step = 65_536  # payloads in slices, so a million-row Log never holds them all as Python bytes
        for start in range(0, n, step):
            parts = [c[start:start + step] for c in covered]
            payloads = pc.binary_join_element_wise(*parts, "\x1f").cast(pa.binary()).to_pylist()
            expected = hashes[start:start + step].to_pylist()
            if key is None:
                if any(sha256(p).hexdigest() != h for p, h in zip(payloads, expected)):
                    return False
            elif any(hmac.digest(key, p, "sha256").hex() != h for p, h in zip(payloads, expected)):
                return False
        return True
    except (pa.ArrowException, ValueError, TypeError, KeyError):
        return False


def _first_new_row_of_small_log(book: _Book, log_path: str) -> int | None:
    """The row after the Log part's last when the part is small enough to scan twice (a new workbook's,
    before its first commit lays it out for appending); None for a large one, whose new rows are then
    encoded as it is copied."""
    m = book.archive.get(log_path)
    if m is None or m.usize > 1 << 20:
        return None
    try:
        return xlsx_log.scan_last_row(iter_member(book.f, m)) + 1
    except (ZipFormatError, ValueError, zlib.error):
        return None  # the rebuild reports it


def _read_sheet_slowly(path: Path, sheet: str) -> list[list[object]]:
    import warnings

    import openpyxl

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Cell B7 is marked as a date but ... outside the limits"
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
        try:
            return [list(r) for r in wb[sheet].iter_rows(values_only=True)]
        finally:
            wb.close()


def _read_value(v: object) -> object:
    """calamine's values as the store contract gives them: '' → None, whole floats → int."""
    if v == "" or v is None:
        return None
    if isinstance(v, float) and v.is_integer() and abs(v) < 2**53:
        return int(v)
    return v


def _crc_and_deflate(parts: Sequence) -> tuple[int, bytes, int]:
    """(CRC, deflated bytes, length) of the concatenation of `parts`, which is never built: small pieces
    (rows written afresh) are gathered into a buffer so that zlib is called on sizeable runs."""
    # Level 1: the engine sheets are rewritten on every post, and level 6 takes four times as long for
    # parts a fifth smaller (measured on a 22 MB Allocations part: 0.06 s and 2.2 MB against 0.26 s, 1.8 MB).
    c = zlib.compressobj(1, zlib.DEFLATED, -15)
    crc = size = 0
    out = []
    buf = bytearray()

    def feed(data) -> None:
        nonlocal crc, size
        crc = zlib.crc32(data, crc)
        size += len(data)
        out.append(c.compress(data))

    for part in parts:
        if len(part) >= _RUN:
            if buf:
                feed(buf)
                buf = bytearray()
            feed(part)
        else:
            buf += part
            if len(buf) >= _RUN:
                feed(buf)
                buf = bytearray()
    if buf:
        feed(buf)
    out.append(c.flush())
    return crc, b"".join(out), size


_RUN = 1 << 16


class _AtomicFile:
    """A temp file beside the target; on success fsync + rename over it + fsync the folder.
    On any exception the temp file is removed and the target is untouched."""

    def __init__(self, target: Path):
        self.target = target
        self.tmp = target.with_name(f".~xl-ledger.{target.name}.{os.getpid()}.tmp")

    def __enter__(self) -> BinaryIO:
        try:
            self.f = open(self.tmp, "w+b")
        except OSError as e:
            raise StoreError(f"cannot write beside {self.target} ({e.strerror}): check the folder is writable "
                             f"and not full") from None
        return self.f

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self.f.flush()
                os.fsync(self.f.fileno())
                self.f.close()
                with contextlib.suppress(OSError):
                    os.chmod(self.tmp, stat.S_IMODE(os.stat(self.target).st_mode))
                os.replace(self.tmp, self.target)
                _fsync_dir(self.target.parent)
                return
        except OSError as e:
            exc_type = type(e)
            raise StoreError(f"could not save {self.target.name} ({e.strerror}); the file was left as it was. "
                             f"Check the disk has space and the file is not open elsewhere.") from None
        finally:
            if exc_type is not None:
                self.f.close()
                with contextlib.suppress(OSError):
                    os.unlink(self.tmp)


def _fsync_dir(folder: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ------------------------------------------------------------------------------------------ lock
def _os_lock(fd: int) -> bool:
    """Take the OS's advisory lock on the lock file; the OS drops it when the holder dies."""
    try:
        if os.name == "nt":
            import msvcrt

            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False


class WriteLock:
    """One writer at a time: `.~lock.xl-ledger.<name>#` beside the workbook, created with O_EXCL.

    It holds who/where/when for the refusal message, and the holder keeps an OS lock on it, so a lock
    left by a crashed writer on this machine is recognised (its OS lock is gone) and taken over.
    Excel's `~$<name>` owner file and LibreOffice's `.~lock.<name>#` also refuse: a save there would
    overwrite ours, or ours theirs.
    """

    def __init__(self, workbook: Path):
        self.workbook = workbook
        self.path = workbook.with_name(f".~lock.xl-ledger.{workbook.name}#")
        self.fd: int | None = None

    def __enter__(self) -> "WriteLock":
        self._refuse_if_open_elsewhere()
        import socket  # here, not at the top: a read-only command never takes the lock (start-up time)

        info = json.dumps({"pid": os.getpid(), "user": _user(), "host": socket.gethostname(),
                           "since": dt.datetime.now().isoformat(timespec="seconds")}).encode()
        for _attempt in range(5):
            try:
                fd = self._create(info)
            except FileExistsError:
                self._take_over_if_stale()
                continue
            except OSError as e:
                raise StoreError(f"cannot create the lock file {self.path} ({e.strerror}): check the folder "
                                 f"is writable") from None
            self.fd = fd
            return self
        raise LockedError(f"{self.workbook.name} is locked by another writer that keeps restarting; try again")

    def _create(self, info: bytes) -> int:
        """The lock file, appearing with its content and its OS lock already in place.

        On POSIX it is written and locked under a private name, then hard-linked into place, so no
        other writer ever sees it empty: a writer killed at any point leaves either no lock file, or a
        full one whose OS lock died with it (taken over at once). Where hard links are not available
        (Windows, some network shares) it is created in place, and an empty one counts as stale
        after a few seconds.
        """
        if os.name != "nt":
            tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
            fd = os.open(tmp, os.O_CREAT | os.O_TRUNC | os.O_RDWR, 0o644)
            try:
                _os_lock(fd)
                os.write(fd, info)
                os.fsync(fd)
                os.link(tmp, self.path)  # FileExistsError when someone holds the lock
            except FileExistsError:
                os.close(fd)
                raise
            except OSError:
                os.close(fd)  # no hard links here: create in place below
            else:
                return fd
            finally:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
        fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o644)
        _os_lock(fd)
        os.write(fd, info)
        os.fsync(fd)
        return fd

    def _take_over_if_stale(self) -> None:
        try:
            fd = os.open(self.path, os.O_RDWR)
        except FileNotFoundError:
            return  # released meanwhile: try again
        try:
            import socket

            info = _read_info(fd)
            same_host = info.get("host") == socket.gethostname()
            # A holder killed between creating the file and writing its info leaves it empty; once it is
            # a few seconds old (a live holder writes at once), its free OS lock says it is stale too.
            orphan = not info and dt.datetime.now().timestamp() - os.fstat(fd).st_mtime > 5
            if (same_host or orphan) and _os_lock(fd):
                # The holder is gone. Remove the file only if it is still the one we judged stale.
                with contextlib.suppress(FileNotFoundError):
                    if os.stat(self.path).st_ino == os.fstat(fd).st_ino:
                        os.unlink(self.path)
                return
            who = f"{info.get('user', 'someone')} (process {info.get('pid', '?')} on {info.get('host', '?')})"
            hint = "" if same_host else f"; if nobody is posting there, delete {self.path}"
            raise LockedError(f"{self.workbook.name} is being written by {who} since {info.get('since', '?')}; "
                              f"wait for it to finish or close the other program{hint}")
        finally:
            os.close(fd)

    def _refuse_if_open_elsewhere(self) -> None:
        name = self.workbook.name
        for owner in {self.workbook.with_name("~$" + name), self.workbook.with_name("~$" + name[2:])}:
            if owner.exists():
                user = _excel_owner(owner)
                raise LockedError(f"{name} is open in Excel{f' by {user}' if user else ''}: save and close it "
                                  f"there (or press Post inside Excel), then try again. If Excel is not running, "
                                  f"delete {owner.name}.")
        lo = self.workbook.with_name(f".~lock.{name}#")
        if lo.exists():
            user = lo.read_text(errors="replace").split(",")[1:2]
            raise LockedError(f"{name} is open in LibreOffice{f' by {user[0]}' if user and user[0] else ''}: "
                              f"close it there, then try again. If LibreOffice is not running, delete {lo.name}.")

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                if os.stat(self.path).st_ino == os.fstat(self.fd).st_ino:
                    os.unlink(self.path)
            os.close(self.fd)
            self.fd = None


def _read_info(fd: int) -> dict:
    try:
        return json.loads(os.read(fd, 4096) or b"{}")
    except ValueError:
        return {}


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers/services
        return f"uid {os.getuid()}" if hasattr(os, "getuid") else "unknown user"


def _excel_owner(path: Path) -> str:
    """Excel's owner file starts with the user's name (a length byte, then the name)."""
    try:
        raw = path.read_bytes()[:60]
        return raw[1:1 + raw[0]].decode("latin-1").strip() if raw else ""
    except (OSError, IndexError):
        return ""

