"""LiveStore: the ledger in the workbook open in Excel, through xlwings' Book/Sheet/Range API (BSD).

One store lives for one macro call (Excel waits for RunPython, so nobody types meanwhile). Each sheet
is read at most once, in one bulk range read from A1 to the end of its used range; the store then
keeps its own view up to date with what it writes, so `head()` after a commit needs no second read.
Writes are bulk too: the new Log rows in blocks (one range write per block, with progress in the
status bar), of each engine sheet only the runs of rows that would read back otherwise (a post changes a
few rows of thousands; with changes all over, the whole body in one write), and each input sheet's
engine cells as one rectangle. Nothing loops over cells through Excel.

Number formats follow the workbook contract as the FileStore's workbook has them (schema.column_formats):
each rewritten engine sheet's columns over the rows written — money in the studio's currency, dates as
dates — and the input sheets' money columns when the currency is known. One range per column.

Text is written with a leading apostrophe, as a person would type it, so Excel keeps "0012", "1e5",
"2026-01-05" or "=SUM(A1)" as the text the hash chain covers instead of turning it into a number, a
date or a formula. Reads take the values Excel shows (the apostrophe is not part of a value).

All-or-nothing: a Change is fully checked before the first write; if Excel refuses a write half-way
(a sheet someone protected with a password, a cell being edited), what was already written is put
back from the values read before, so the workbook is left as it was.

The store is named after the workbook (`Book.name`), never its `fullname`: OneDrive and SharePoint
give URLs there, and nothing here needs a path.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Callable
from typing import Optional

from xl_ledger.book import schema
from xl_ledger.book.store import ENGINE_SHEET_NAMES
from xl_ledger.book.store import BrokenFileError
from xl_ledger.book.store import Change
from xl_ledger.book.store import SheetData
from xl_ledger.book.store import StoreBase
from xl_ledger.book.store import StoreError
from xl_ledger.book.store import cell_value
from xl_ledger.book.store import check_change
from xl_ledger.core.chain import GENESIS
from xl_ledger.core.chain import HASH
from xl_ledger.core.chain import LOG_COLUMNS
from xl_ledger.core.chain import SEQ
from xl_ledger.core.chain import norm

# The defined name every commit with new Log rows sets to "<seq> <hash>" of the Log's last row. The
# UDF cache reads it (and the Log's row count) instead of a Log cell: see xl_ledger/excel/cache.py.
HEAD_NAME = "xl_ledger_head"
LOG_BLOCK = 5000  # Log rows per range write: progress is reported between blocks


def excel_text(value: object) -> object:
    """A value as it must be handed to Excel so that it reads back as `cell_value(value)`."""
    value = cell_value(value)
    if isinstance(value, str):
        return "'" + value
    return value


def _rows2d(raw: object) -> list:
    """Range values as a list of rows whatever the engine returns for one cell or one row."""
    if not isinstance(raw, (list, tuple)):
        return [[raw]]
    if raw and not isinstance(raw[0], (list, tuple)):
        return [list(raw)]
    return [list(r) for r in raw]


def _read_value(value: object) -> object:
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dt.datetime):
        return cell_value(value)
    if value == "":
        return None
    return value


class LiveStore(StoreBase):
    def __init__(self, book, progress: Optional[Callable[[str], None]] = None):
        self.book = book
        self.name = book.name
        self._progress = progress or self._status_bar
        self._sheets: dict[str, SheetData] = {}
        self._raw: dict[str, list[list]] = {}  # sheet -> rows as read (row 1 first), for undo
        self._log: Optional[list[tuple]] = None

    # ---------------------------------------------------------------------------------- reading
    def _sheet(self, name: str):
        try:
            return self.book.sheets[name]
        except Exception:
            raise BrokenFileError(f"{self.name} has no sheet {name!r}: restore it from the template") from None

    def _read(self, name: str, raw: bool = False) -> list[list]:
        """The sheet from A1 to the end of its used range, in one read."""
        sheet = self._sheet(name)
        last = sheet.used_range.last_cell
        width = max(last.column, len(schema.BY_NAME[name].headers) if name in schema.BY_NAME else 1)
        rng = sheet.range((1, 1), (max(last.row, 1), width))
        values = _rows2d(rng.raw_value if raw else rng.options(ndim=2).value)
        return values

    def read_sheet(self, sheet: str) -> SheetData:
        if sheet == "Log":
            log = self.read_log()
            rows = tuple((i + 2, tuple(cell_value(v) for v in r)) for i, r in enumerate(log))
            return SheetData(self.name, "Log", LOG_COLUMNS, tuple((n, _trim(v)) for n, v in rows))
        if sheet not in self._sheets:
            values = self._read(sheet)
            self._raw[sheet] = values
            headers = tuple("" if h is None else str(h).strip() for h in (values[0] if values else ()))
            while headers and not headers[-1]:
                headers = headers[:-1]
            body = []
            for i, row in enumerate(values[1:], start=2):
                cells = _trim(tuple(_read_value(v) for v in row))
                if cells:
                    body.append((i, cells))
            self._sheets[sheet] = SheetData(self.name, sheet, headers, tuple(body))
        return self._sheets[sheet]

    def read_log(self) -> list[tuple]:
        if self._log is None:
            values = self._read("Log", raw=True)
            self._raw["Log"] = values
            if values and [str(h or "").strip() for h in values[0][:len(LOG_COLUMNS)]] != list(LOG_COLUMNS):
                raise BrokenFileError(f"{self.name}!Log row 1 must hold the Log headers {', '.join(LOG_COLUMNS)}: "
                                      "restore the sheet from the template")
            self._log = [log_row(r) for r in values[1:] if r and r[0] not in (None, "")]
        return list(self._log)

    def head(self) -> tuple[int, str]:
        log = self._log if self._log is not None else self.read_log()
        if not log:
            return 0, GENESIS
        return log[-1][SEQ], log[-1][HASH]

    def _headers(self, name: str):
        if name == "Log":
            return LOG_COLUMNS
        try:
            return self.read_sheet(name).headers
        except BrokenFileError:
            return None

    # ---------------------------------------------------------------------------------- writing
    def commit(self, change: Change) -> None:
        rows = check_change(change, self.head(), self.name, self._headers)
        plan = self._plan(change, rows)  # every payload built before the first write
        done: list[tuple] = []
        try:
            for step, (label, sheet, top_left, values, before) in enumerate(plan, start=1):
                if len(plan) > 2:
                    self._progress(f"xl-ledger: writing {label} ({step}/{len(plan)})")
                self._write(sheet, top_left, values)
                done.append((sheet, top_left, before))
            # Formats after the values (a date written into a General cell would take Excel's own date
            # format). They are the contract's own formats, so a rollback leaves them: only values go back.
            for sheet, first, last, code in self.format_plan(change):
                self._format(sheet, first, last, code)
            if rows:
                self._set_head(rows[-1])
        except Exception as error:
            for sheet, top_left, before in reversed(done):
                try:
                    self._write(sheet, top_left, before)
                except Exception:
                    pass
            raise StoreError(f"{self.name}: Excel refused a write ({error}). Nothing was changed: close any cell "
                             "you are editing, remove a password from engine sheets, then post again.") from error
        finally:
            self._progress(False)
        self._after(change, rows)

    def _plan(self, change: Change, rows: tuple) -> list[tuple]:
        """(label, sheet, (row, col), new values, values there before) per bulk write."""
        plan = []
        if rows:
            first = 2 + len(self.read_log())
            width = len(LOG_COLUMNS)
            for start in range(0, len(rows), LOG_BLOCK):
                block = rows[start:start + LOG_BLOCK]
                values = [[r[0]] + [excel_text(v) for v in r[1:]] for r in block]
                plan.append((f"Log rows {start + 1}-{start + len(block)} of {len(rows)}", "Log",
                             (first + start, 1), values, [[""] * width for _ in block]))
        for name, body in change.sheets.items():
            data = self.read_sheet(name)
            width = len(data.headers)
            if name in change.relayout:  # laid out by an earlier version (book/upgrade.py): today's header row
                want = list(schema.BY_NAME[name].headers)
                width = max(width, len(want))
                first = list((self._raw[name] or [[]])[0][:width])
                plan.append((f"{name} header row", name, (1, 1), [want + [""] * (width - len(want))],
                             [[_undo(v) for v in first + [""] * (width - len(first))]]))
            old = self._raw[name][1:]
            height = max(len(body), len(old))
            if height == 0:
                continue
            rows = [list(r)[:width] + [""] * (width - len(r)) for r in body]
            rows += [[""] * width for _ in range(height - len(body))]
            before = [list(r[:width]) + [""] * (width - len(r[:width])) for r in old]
            before += [[""] * width for _ in range(height - len(old))]
            # Only the rows that would read back otherwise are written: a post changes a few rows of a
            # sheet of tens of thousands, and every cell written goes through Excel.
            runs = _changed_runs(rows, before)
            for start, stop in runs:
                label = name if runs == [(0, height)] else f"{name} rows {start + 2}-{stop + 1}"
                plan.append((label, name, (2 + start, 1), [[excel_text(v) for v in r] for r in rows[start:stop]],
                             [[_undo(v) for v in r] for r in before[start:stop]]))
        for name, updates in change.cells.items():
            if not updates:
                continue
            data = self.read_sheet(name)
            cols = [data.headers.index(c) for _r, c in updates]
            rows_ = [r for r, _c in updates]
            top, bottom, left, right = min(rows_), max(rows_), min(cols), max(cols)
            raw = self._raw[name]
            before = [[_undo(raw[r - 1][c]) if r - 1 < len(raw) and c < len(raw[r - 1]) else ""
                       for c in range(left, right + 1)] for r in range(top, bottom + 1)]
            new = [list(r) for r in before]
            for (r, column), value in updates.items():
                new[r - top][data.headers.index(column) - left] = excel_text(value)
            plan.append((f"{name} status", name, (top, left + 1), new, before))
        return plan

    def format_plan(self, change: Change) -> list[tuple[str, tuple[int, int], tuple[int, int], str]]:
        """(sheet, first cell, last cell, number format) per column range, 1-based: every column with a
        format of each engine sheet the change rewrites, over its rows; and when the change names the money
        format, the money columns of the input sheets read so far, over their rows."""
        money = change.money_format
        out = []
        for name, body in change.sheets.items():
            if body and name in schema.BY_NAME:
                for col, code in schema.column_formats(schema.BY_NAME[name], money):
                    out.append((name, (2, col + 1), (len(body) + 1, col + 1), code))
        if money:
            for sheet in schema.INPUT_SHEETS:
                rows = len(self._raw.get(sheet.name, ())) - 1
                if rows > 0 and sheet.name not in change.sheets:
                    for col, c in enumerate(sheet.columns):
                        if c.type == schema.MONEY:
                            out.append((sheet.name, (2, col + 1), (rows + 1, col + 1), money))
        return out

    def _format(self, name: str, first: tuple[int, int], last: tuple[int, int], code: str) -> None:
        sheet = self._sheet(name)
        with _unprotected(sheet, name in ENGINE_SHEET_NAMES):
            sheet.range(first, last).number_format = code

    def _write(self, name: str, top_left: tuple[int, int], values: list[list]) -> None:
        if not values:
            return
        sheet = self._sheet(name)
        bottom = top_left[0] + len(values) - 1
        right = top_left[1] + len(values[0]) - 1
        with _unprotected(sheet, name in ENGINE_SHEET_NAMES):
            sheet.range(top_left, (bottom, right)).value = values

    def _set_head(self, last: tuple) -> None:
        text = f'="{last[SEQ]} {last[HASH]}"'
        names = self.book.names
        if names.contains(HEAD_NAME):
            names[HEAD_NAME].refers_to = text
        else:
            names.add(HEAD_NAME, text)

    def _after(self, change: Change, rows: tuple) -> None:
        """Keep this store's view equal to the workbook after a commit (no re-read needed)."""
        if rows:
            self._log = (self._log or []) + list(rows)
        for name, body in change.sheets.items():
            data = self._sheets[name]
            width = len(data.headers)
            self._raw[name] = self._raw[name][:1] + [[cell_value(v) for v in list(r)[:width]] for r in body]
            self._sheets.pop(name)
            self._sheets[name] = SheetData(self.name, name, data.headers, tuple(
                (i, cells) for i, r in enumerate(self._raw[name][1:], start=2)
                if (cells := _trim(tuple(_read_value(v) for v in r)))))
        for name, updates in change.cells.items():
            data = self._sheets[name]
            raw = self._raw[name]
            for (r, column), value in updates.items():
                c = data.headers.index(column)
                while len(raw) < r:
                    raw.append([])
                row = raw[r - 1]
                row.extend([None] * (c + 1 - len(row)))
                row[c] = cell_value(value)
            self._sheets[name] = SheetData(self.name, name, data.headers, tuple(
                (i, cells) for i, row in enumerate(raw[1:], start=2)
                if (cells := _trim(tuple(_read_value(v) for v in row)))))

    # --------------------------------------------------------------------------------- feedback
    def _status_bar(self, text) -> None:
        """Excel's status bar (Windows/macOS). Engines without one (xlwings' in-memory book) skip it."""
        try:
            self.book.app.status_bar = text
        except (NotImplementedError, AttributeError):
            pass


def log_row(values) -> tuple:
    """One Log row as read from Excel: seq an int, every other value its canonical text."""
    values = list(values) + [None] * (len(LOG_COLUMNS) - len(values))
    seq = values[0]
    if isinstance(seq, str):
        seq = seq.strip()
    try:
        seq = int(Decimal(str(seq)))
    except Exception:
        seq = norm(seq)
    out = [seq]
    for v in values[1:len(LOG_COLUMNS)]:
        out.append(v if type(v) is str else ("" if v is None else norm(v)))
    return tuple(out)


RUN_GAP = 8  # unchanged rows between two changed ones that are written again rather than split the write
MAX_RUNS = 16  # more separate runs than this: one write of the whole body (each write is a call into Excel)


def _changed_runs(rows: list[list], before: list[list]) -> list[tuple[int, int]]:
    """[start, stop) index runs of `rows` that differ from `before` as a reader sees them (cell_value:
    Decimal 2 and the float 2.0 Excel holds are the same cell), near runs merged; the whole range when
    there are too many runs to be worth separate writes."""
    changed = [i for i, (new, old) in enumerate(zip(rows, before))
               if [cell_value(v) for v in new] != [_read_value(v) for v in old]]
    runs: list[list[int]] = []
    for i in changed:
        if runs and i - runs[-1][1] <= RUN_GAP:
            runs[-1][1] = i + 1
        else:
            runs.append([i, i + 1])
    if len(runs) > MAX_RUNS:
        return [(0, len(rows))]
    return [(a, b) for a, b in runs]


def _trim(values: tuple) -> tuple:
    end = len(values)
    while end and values[end - 1] is None:
        end -= 1
    return values[:end]


def _undo(value: object) -> object:
    """What to write back to restore a cell read as `value`."""
    if value is None:
        return ""
    if isinstance(value, str):
        return "'" + value
    return value


class _unprotected:
    """Lift the template's passwordless protection of an engine sheet while writing (Excel only).

    xlwings has no protection API, so this uses the engine's own object where it has one (Windows
    COM: Unprotect/Protect). Other engines (macOS, the in-memory book) write as they are.
    """

    def __init__(self, sheet, engine_sheet: bool):
        self.sheet = sheet
        self.api = None
        if engine_sheet:
            api = getattr(sheet, "api", None)
            if api is not None and hasattr(api, "Unprotect") and getattr(api, "ProtectContents", False):
                self.api = api

    def __enter__(self):
        if self.api is not None:
            self.api.Unprotect("")

    def __exit__(self, *exc):
        if self.api is not None:
            self.api.Protect("", AllowFormattingColumns=True)
        return False
