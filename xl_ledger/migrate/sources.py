"""Open a legacy file safely and return its sheets as grids of cached values.

Every guard against hostile or broken files lives here, and runs *before* a parser sees the bytes:

* size: the file itself must be at most `Limits.max_file_bytes`;
* type: decided by the first bytes (zip / OLE / text), not by the extension people rename;
* password-protected: an OLE container holding `EncryptionInfo`/`EncryptedPackage` (an encrypted
  .xlsx), or an .xls whose globals carry a FILEPASS record, is refused by name;
* zip bomb: member count, each member's declared size, the sum of declared sizes and the
  compression ratio are checked from the central directory; then every XML part is streamed with a
  cap, so a member that inflates past its declared size (a lying header) is refused too;
* XML entity bomb: any `<!DOCTYPE` or `<!ENTITY` in any XML part refuses the file (OOXML never needs
  a DTD), and the parts we parse ourselves go through defusedxml;
* huge sheets: a sheet's `<dimension>`, its streamed row count and the columns its cell references
  reach are compared with `max_rows`, `max_cols` and `max_cells` before calamine loads it, because
  calamine builds a dense grid in memory.

Formulas are read by their cached values (what Excel last showed), never recomputed.
"""

from __future__ import annotations

import codecs
import csv
import gc
import io
import re
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from posixpath import join as posix_join
from posixpath import normpath

import olefile
import python_calamine
from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeET

from xl_ledger.migrate.records import Cell
from xl_ledger.output import no_library_noise
from xl_ledger.paths import not_a_file


class LegacyFileError(Exception):
    """The legacy file cannot be read. `message` says what is wrong and what to do, in plain words."""

    def __init__(self, path: str | Path, message: str) -> None:
        self.path = str(path)
        self.message = message
        super().__init__(f"{Path(path).name}: {message}")


@dataclass(frozen=True)
class Limits:
    """Documented ceilings. Real studio files are far below them; hostile files are far above.

    A tracking sheet with 200,000 rows is ~80 years of daily lessons for a busy studio, so a larger
    sheet is refused rather than risked. Raise a limit by passing your own `Limits`.
    """

    max_file_bytes: int = 64 * 1024 * 1024
    # Any file is refused or read in 5 s and 300 MB (scripts and tests measure it): a million cells read
    # in 3 s and 110 MB here, four million took 20 s and 330 MB. A busy studio's ten years of daily
    # lessons is ~40,000 rows.
    max_rows: int = 100_000  # per sheet
    max_cols: int = 2_000  # per sheet (an attendance grid of 5 years of daily columns)
    max_cells: int = 1_000_000  # per sheet: rows x columns of the grid calamine allocates
    max_book_cells: int = 1_500_000  # all sheets together (forty sheets just under max_cells fit in 20 MB)
    max_sheets: int = 200
    max_zip_members: int = 2_000
    max_member_bytes: int = 256 * 1024 * 1024  # uncompressed, one part
    max_total_bytes: int = 512 * 1024 * 1024  # uncompressed, whole package
    max_ratio: int = 150  # uncompressed / compressed, checked for parts above ratio_floor_bytes
    ratio_floor_bytes: int = 1024 * 1024


DEFAULT_LIMITS = Limits()


@dataclass
class SheetGrid:
    """One sheet: `rows[r][c]` is the cached value of the cell at 0-based row r, column c ('' = empty).

    `merged` holds ((first_row, first_col), (last_row, last_col)) 0-based inclusive ranges.
    """

    file_label: str
    name: str
    rows: list[list]
    merged: list[tuple[tuple[int, int], tuple[int, int]]] = field(default_factory=list)
    visible: bool = True

    @property
    def height(self) -> int:
        return len(self.rows)

    def value(self, r: int, c: int) -> object:
        if r < len(self.rows):
            row = self.rows[r]
            if c < len(row):
                return row[c]
        return ""

    def ref(self, r: int, c: int) -> Cell:
        return f"{self.file_label}!{self.name}!{col_letter(c)}{r + 1}"


@dataclass
class LegacySource:
    path: Path
    kind: str  # 'xlsx', 'xls', 'csv'
    sheets: list[SheetGrid]

    def sheet(self, name: str) -> SheetGrid:
        for s in self.sheets:
            if s.name == name:
                return s
        raise KeyError(name)


def col_letter(c: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA."""
    letters = ""
    c += 1
    while c:
        c, rem = divmod(c - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def col_index(letters: str) -> int:
    """A -> 0, AA -> 26. Inverse of col_letter."""
    n = 0
    for ch in letters.strip().upper():
        if not "A" <= ch <= "Z":
            raise ValueError(f"{letters!r} is not a column letter")
        n = n * 26 + ord(ch) - 64
    return n - 1


# ----------------------------------------------------------------------------------------------
# Entry point


def open_legacy(path: str | Path, limits: Limits = DEFAULT_LIMITS) -> LegacySource:
    """Open a legacy .xlsx/.xlsm/.xls/.csv and return every worksheet as a grid, or raise LegacyFileError."""
    path = Path(path)
    why = not_a_file(path)
    if why == "does not exist.":
        raise LegacyFileError(path, "the file does not exist (check the name and folder).")
    if why:  # a folder, a FIFO (opening it would wait forever), /dev/zero (endless): said as what it is
        raise LegacyFileError(path, f"this {why} Choose the tracking spreadsheet itself.")
    size = path.stat().st_size
    if size == 0:
        raise LegacyFileError(path, "the file is empty (0 bytes). Export or save it again from Excel.")
    if size > limits.max_file_bytes:
        raise LegacyFileError(
            path,
            f"the file is {size // (1024 * 1024)} MB, above the {limits.max_file_bytes // (1024 * 1024)} MB "
            "limit for a tracking sheet. Remove old sheets or pictures, or split it, and try again.",
        )
    with path.open("rb") as fh:
        head = fh.read(8)
    if head.startswith(b"PK\x03\x04"):
        return _open_zip(path, limits)
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return _open_ole(path, limits)
    if path.suffix.lower() in (".csv", ".txt", ".tsv"):
        return _open_csv(path, limits)
    raise LegacyFileError(
        path,
        "this is not an Excel workbook or a CSV file that I can read (it may be damaged, or another "
        "format renamed). Open it in Excel and use Save As → Excel Workbook (.xlsx).",
    )


# ----------------------------------------------------------------------------------------------
# xlsx / xlsm


_CORRUPT = "the workbook is damaged and cannot be read. Open it in Excel (it may offer to repair it), save it again, and retry."
_DTD_RE = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)  # lenient parsers accept <!doctype too
_ROW_RE = re.compile(rb"<(?:\w+:)?row[\s>/]")
_CELL_RE = re.compile(rb"<(?:\w+:)?c[\s>/]")
_COL3_RE = re.compile(rb' r="([A-Z]{3})[0-9]')
_COL2_RE = re.compile(rb' r="([A-Z]{2})[0-9]')
_COL1_RE = re.compile(rb' r="([A-Z])[0-9]')
_ROWREF_RE = re.compile(rb'<(?:\w+:)?row\b[^>]*?\sr="([0-9]+)"')
_DIM_RE = re.compile(rb'<(?:\w+:)?dimension\s+ref="([A-Z]{1,3})?([0-9]+)?(?::([A-Z]{1,3})([0-9]+))?"')
_NS_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
_CHUNK = 1 << 20


def _open_zip(path: Path, limits: Limits) -> LegacySource:
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError):
        raise LegacyFileError(path, _CORRUPT) from None
    with zf:
        infos = zf.infolist()
        _check_zip_directory(path, infos, limits)
        names = {i.filename for i in infos}
        if "xl/workbook.bin" in names:
            raise LegacyFileError(path, "this is a binary workbook (.xlsb). Open it in Excel and Save As → Excel Workbook (.xlsx).")
        if "xl/workbook.xml" not in names:
            if "content.xml" in names:
                raise LegacyFileError(path, "this is an OpenDocument spreadsheet. Save it as .xlsx and try again.")
            raise LegacyFileError(path, "this zip file is not an Excel workbook. Open it in Excel and Save As → Excel Workbook (.xlsx).")
        # workbook.xml and its rels are small and parsed by defusedxml (which refuses DTDs), so they
        # can be read first to give the sheet parts the names people know them by.
        sheets_meta = _workbook_sheets(path, zf)
        if len(sheets_meta) > limits.max_sheets:
            raise LegacyFileError(path, f"the workbook has {len(sheets_meta)} sheets, above the limit of {limits.max_sheets}.")
        sheet_names = {part: name for name, part in sheets_meta}
        # Every part is streamed once, whatever its name: it must not inflate past its declared size and
        # must carry no DTD, and a part the workbook's relationships name as a sheet is measured as one,
        # wherever it sits (a crafted file puts its sheet at xl/data/s1.bin, where a rule about names
        # would never look, and calamine follows the relationship to it all the same).
        book_cells = 0
        for info in infos:
            if not info.is_dir():
                stats = _scan_part(path, zf, info, limits, sheet_names.get(info.filename, info.filename),
                                   is_sheet=info.filename in sheet_names or info.filename.startswith("xl/worksheets/sheet"))
                book_cells += _grid_cells(stats)
                _check_book_size(path, book_cells, limits)
    return _load_with_calamine(path, "xlsx", limits)


def _check_zip_directory(path: Path, infos: list[zipfile.ZipInfo], limits: Limits) -> None:
    if len(infos) > limits.max_zip_members:
        raise LegacyFileError(path, f"the workbook holds {len(infos)} parts, far more than a spreadsheet has; it looks malformed or hostile and was not opened.")
    total = 0
    for info in infos:
        total += info.file_size
        if info.flag_bits & 0x1:
            raise LegacyFileError(path, "the workbook's parts are encrypted. Remove the password in Excel (File → Info → Protect Workbook) and save again.")
        if info.file_size > limits.max_member_bytes or total > limits.max_total_bytes:
            raise LegacyFileError(path, _bomb_message(info))
        if info.file_size > limits.ratio_floor_bytes and info.file_size > limits.max_ratio * max(info.compress_size, 1):
            raise LegacyFileError(path, _bomb_message(info))


def _bomb_message(info: zipfile.ZipInfo) -> str:
    return (f"part {info.filename} would unpack to {info.file_size // (1024 * 1024)} MB from "
            f"{max(info.compress_size, 1) // 1024} KB; this looks like a 'zip bomb' and was not opened. "
            "If the file is genuine, open it in Excel and save it again.")


@dataclass
class _PartStats:
    rows: int = 0
    cells: int = 0
    max_row: int = 0
    max_col: int = 0  # 1-based
    dim_rows: int = 0
    dim_cols: int = 0


def _xml_encoding(head: bytes) -> str | None:
    """The part's encoding when it is not UTF-8, from its first bytes (XML 1.0 appendix F): a UTF-16 or
    UTF-32 part must be read as text before looking for a DTD or a dimension, or `<!DOCTYPE` spelled
    `<\0!\0D\0...` slips past a byte search."""
    for bom, enc in ((codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"),
                     (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")):
        if head.startswith(bom):
            return enc
    if head.startswith(b"<\0\0\0"):
        return "utf-32-le"
    if head.startswith(b"\0\0\0<"):
        return "utf-32-be"
    if head.startswith(b"<\0"):
        return "utf-16-le"
    if head.startswith(b"\0<"):
        return "utf-16-be"
    return None


def _scan_part(path: Path, zf: zipfile.ZipFile, info: zipfile.ZipInfo, limits: Limits, label: str,
               is_sheet: bool = False) -> _PartStats:
    """Stream one part with a hard cap; count rows/cells of sheet parts; refuse DTDs and lying sizes."""
    stats = _PartStats()
    seen = 0
    tail = b""
    first = True
    decoder = None
    try:
        with zf.open(info) as fh:
            while True:
                chunk = fh.read(_CHUNK)
                if not chunk:
                    break
                seen += len(chunk)
                if seen > info.file_size or seen > limits.max_member_bytes:
                    raise LegacyFileError(path, _bomb_message(info) + " (the part is larger than it declares)")
                if first and (enc := _xml_encoding(chunk[:4])):
                    decoder = codecs.getincrementaldecoder(enc)(errors="replace")
                if decoder is not None:  # look at the text, in UTF-8, whatever the part's encoding
                    chunk = decoder.decode(chunk).lstrip("\ufeff").encode("utf-8")
                window = tail + chunk
                if _DTD_RE.search(window):
                    raise LegacyFileError(
                        path,
                        f"part {info.filename} declares a DTD or XML entities, which Excel never writes; "
                        "the file may be crafted to exhaust memory (an 'entity bomb') and was not opened.",
                    )
                if first:
                    _check_declared_counts(path, info, chunk[:4096], limits)
                if is_sheet:
                    if first:
                        m = _DIM_RE.search(chunk[:4096])
                        if m and m.group(2):
                            last_col = m.group(3) or m.group(1) or b"A"
                            last_row = m.group(4) or m.group(2)
                            stats.dim_rows = int(last_row)
                            stats.dim_cols = col_index(last_col.decode()) + 1
                            _check_sheet_size(path, label, stats, limits)
                    _count_sheet(window, tail, stats)
                    _check_sheet_size(path, label, stats, limits)
                first = False
                tail = window[-64:]
    except LegacyFileError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, RuntimeError):
        raise LegacyFileError(path, _CORRUPT) from None
    return stats


def _count_sheet(window: bytes, tail: bytes, stats: _PartStats) -> None:
    """Count rows and cells and find the widest column in one chunk, cheaply (bytes.count and
    prefix-anchored regexes: this runs over every byte of a 50,000-row sheet).

    `window` = `tail` (the last bytes of the previous chunk) + this chunk, so a tag split by the
    chunk boundary is seen whole; subtracting what lies wholly inside `tail` avoids counting twice.
    """
    if b":row" in window or b":c " in window:  # namespace-prefixed XML: rarer, so the slower regex
        stats.rows += _count_re(_ROW_RE, window, tail)
        stats.cells += _count_re(_CELL_RE, window, tail)
    else:
        for tag in (b"<row ", b"<row>"):
            stats.rows += window.count(tag) - tail.count(tag)
    # Widest column: only 3- and 2-letter columns can break the limits, so look for those first.
    for pattern in (_COL3_RE, _COL2_RE):
        cols = pattern.findall(window)
        if cols:
            stats.max_col = max(stats.max_col, col_index(max(set(cols)).decode()) + 1)
            break
    else:
        cols = _COL1_RE.findall(window)
        if cols:
            stats.max_col = max(stats.max_col, ord(max(set(cols))) - 64)
        elif b"<c" in window:
            # Cells without r="A1" references (allowed, rare): calamine lays them out one after
            # another, so their count is what bounds the grid.
            for tag in (b"<c ", b"<c>"):
                stats.cells += window.count(tag) - tail.count(tag)
    last = window.rfind(b"<row ")
    if last >= 0:
        m = _ROWREF_RE.match(window, last)
        if m:
            stats.max_row = max(stats.max_row, int(m.group(1)))


def _count_re(pattern: re.Pattern, window: bytes, tail: bytes) -> int:
    return sum(1 for m in pattern.finditer(window) if m.end() > len(tail))


_SST_COUNT_RE = re.compile(rb'<(?:\w+:)?sst\b[^>]*?\b(?:uniqueCount|count)="([0-9]+)"')


def _check_declared_counts(path: Path, info: zipfile.ZipInfo, head: bytes, limits: Limits) -> None:
    """calamine reserves room for as many shared strings as the part declares: a 5 KB file claiming four
    billion aborted the process. No sheet within the limits refers to more strings than it has cells."""
    m = _SST_COUNT_RE.search(head)
    if m and int(m.group(1)) > limits.max_book_cells:
        raise LegacyFileError(path, f"part {info.filename} claims {int(m.group(1)):,} shared strings, more than the "
                                    f"{limits.max_book_cells:,} cells a workbook may have; it looks crafted and was not opened.")


def _grid_cells(s: _PartStats) -> int:
    return max(max(s.rows, s.max_row, s.dim_rows) * max(s.max_col, s.dim_cols, 1), s.cells)


def _check_book_size(path: Path, cells: int, limits: Limits) -> None:
    if cells > limits.max_book_cells:
        raise LegacyFileError(path, f"the workbook's sheets span more than {limits.max_book_cells:,} cells together. "
                                    "Delete old sheets, or unused rows and columns, and try again.")


def _check_sheet_size(path: Path, sheet: str, s: _PartStats, limits: Limits) -> None:
    rows = max(s.rows, s.max_row, s.dim_rows)
    cols = max(s.max_col, s.dim_cols)
    if rows > limits.max_rows:
        raise LegacyFileError(path, f"sheet \"{sheet}\" has more than {limits.max_rows:,} rows (it claims or holds {rows:,}). "
                                    "That is far beyond a tracking sheet; delete unused rows or split the sheet, and try again.")
    if cols > limits.max_cols:
        raise LegacyFileError(path, f"sheet \"{sheet}\" uses {cols:,} columns, above the limit of {limits.max_cols:,}. "
                                    "Delete the unused columns on the right and try again.")
    if rows * max(cols, 1) > limits.max_cells or s.cells > limits.max_cells:
        raise LegacyFileError(path, f"sheet \"{sheet}\" spans more than {limits.max_cells:,} cells. "
                                    "Delete unused rows and columns (or split the sheet) and try again.")


def _workbook_sheets(path: Path, zf: zipfile.ZipFile) -> list[tuple[str, str]]:
    """(sheet name, part name) from workbook.xml and its rels, parsed with defusedxml."""
    try:
        wb = SafeET.fromstring(zf.read("xl/workbook.xml"), forbid_dtd=True)
        rels_xml = zf.read("xl/_rels/workbook.xml.rels") if "xl/_rels/workbook.xml.rels" in zf.namelist() else b"<Relationships/>"
        rels = SafeET.fromstring(rels_xml, forbid_dtd=True)
    except DefusedXmlException:
        raise LegacyFileError(path, "part xl/workbook.xml declares a DTD or XML entities, which Excel never writes; "
                                    "the file may be crafted to exhaust memory (an 'entity bomb') and was not opened.") from None
    except Exception:  # ParseError, KeyError: not readable
        raise LegacyFileError(path, _CORRUPT) from None
    targets = {}
    for rel in rels:
        target = rel.get("Target", "")
        part = target.lstrip("/") if target.startswith("/") else normpath(posix_join("xl", target))
        targets[rel.get("Id")] = part
    out = []
    for el in wb.iter():
        if el.tag.endswith("}sheet") or el.tag == "sheet":
            out.append((el.get("name", ""), targets.get(el.get(_NS_REL), "")))
    return out


def _load_with_calamine(path: Path, kind: str, limits: Limits) -> LegacySource:
    with no_gc():
        return _load_sheets(path, kind, limits)


@contextmanager
def no_gc():
    """Pause the cyclic GC while building tens of thousands of acyclic rows/records: its full
    collections would re-walk every object built so far (measured ~10-15% of a 50k-row read)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _load_sheets(path: Path, kind: str, limits: Limits) -> LegacySource:
    label = path.name
    try:
        wb = python_calamine.CalamineWorkbook.from_path(str(path))
    except python_calamine.PasswordError:
        raise LegacyFileError(path, _PASSWORD) from None
    except Exception:
        raise LegacyFileError(path, _CORRUPT) from None
    sheets = []
    book_cells = 0
    try:
        for meta in wb.sheets_metadata:
            if meta.typ != python_calamine.SheetTypeEnum.WorkSheet:
                continue  # chart sheets hold no data
            sheet = wb.get_sheet_by_name(meta.name)
            # xls is not pre-scanned (BIFF caps at 65,536 rows); check what calamine found anyway.
            # The grid we ask for is padded from A1, so its size is end + 1 (height/width count from start).
            empty = sheet.height == 0 or sheet.width == 0
            height, width = (0, 0) if empty else (sheet.start[0] + sheet.height, sheet.start[1] + sheet.width)
            _check_sheet_size(path, meta.name, _PartStats(rows=height, dim_cols=width), limits)
            book_cells += height * width
            _check_book_size(path, book_cells, limits)
            with no_library_noise():  # a calamine panic prints itself to fd 2 before it is raised
                rows = [] if empty else sheet.to_python(skip_empty_area=False)
            sheets.append(SheetGrid(label, meta.name, rows, list(sheet.merged_cell_ranges or []),
                                    visible=meta.visible == python_calamine.SheetVisibleEnum.Visible))
    except LegacyFileError:
        raise
    except python_calamine.PasswordError:
        raise LegacyFileError(path, _PASSWORD) from None
    except Exception:
        raise LegacyFileError(path, _CORRUPT) from None
    except BaseException as e:  # calamine panics (not an Exception) on e.g. 1E+308 in a date cell
        if type(e).__name__ != "PanicException":
            raise
        raise LegacyFileError(path, "a cell holds a value no spreadsheet can show (such as a number too large "
                                    "for a date). " + _CORRUPT) from None
    finally:
        wb.close()
    return LegacySource(path, kind, sheets)


# ----------------------------------------------------------------------------------------------
# xls and other OLE containers


_PASSWORD = ("the workbook is protected by a password, so its contents are encrypted. Open it in Excel, "
             "remove the password (File → Info → Protect Workbook → Encrypt with Password, clear it), "
             "save, and try again.")


def _open_ole(path: Path, limits: Limits) -> LegacySource:
    try:
        with olefile.OleFileIO(str(path)) as ole:
            streams = {"/".join(s) for s in ole.listdir(streams=True, storages=False)}
            if "EncryptionInfo" in streams or "EncryptedPackage" in streams:
                raise LegacyFileError(path, _PASSWORD)
            stream = "Workbook" if "Workbook" in streams else "Book" if "Book" in streams else None
            if stream is None:
                raise LegacyFileError(path, "this is an Office file but not an Excel workbook (perhaps a Word document). "
                                            "Choose the tracking spreadsheet itself.")
            if _xls_has_filepass(ole.openstream(stream)):
                raise LegacyFileError(path, _PASSWORD)
    except LegacyFileError:
        raise
    except Exception:
        raise LegacyFileError(path, _CORRUPT) from None
    return _load_with_calamine(path, "xls", limits)


def _xls_has_filepass(stream: io.BufferedIOBase) -> bool:
    """Walk the globals substream's records up to its EOF looking for FILEPASS (0x002F)."""
    for _ in range(10_000):  # globals hold a few hundred records; bound the walk regardless
        header = stream.read(4)
        if len(header) < 4:
            return False
        rtype = int.from_bytes(header[:2], "little")
        length = int.from_bytes(header[2:], "little")
        if rtype == 0x002F:
            return True
        if rtype == 0x000A:  # EOF of the globals substream
            return False
        stream.seek(length, io.SEEK_CUR)
    return False


# ----------------------------------------------------------------------------------------------
# csv


def _open_csv(path: Path, limits: Limits) -> LegacySource:
    data = path.read_bytes()  # bounded by max_file_bytes
    text = _decode(path, data)
    delimiter = _sniff_delimiter(text[:65536])
    rows: list[list] = []
    width = 0
    try:
        for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter):
            rows.append(row)
            width = max(width, len(row))
            if len(rows) > limits.max_rows:
                _check_sheet_size(path, path.stem, _PartStats(rows=len(rows)), limits)
    except csv.Error:
        raise LegacyFileError(path, "the CSV file is malformed (an unclosed quote?). Open it in Excel and save it again as CSV.") from None
    _check_sheet_size(path, path.stem, _PartStats(rows=len(rows), dim_cols=width), limits)
    return LegacySource(path, "csv", [SheetGrid(path.name, path.stem, rows)])


def _sniff_delimiter(sample: str) -> str:
    """The separator used on the most lines (then the most often) among , ; tab |.

    csv.Sniffer is thrown off by the title lines legacy exports start with; counting per line is not.
    Semicolons are what Excel writes where the decimal mark is a comma.
    """
    lines = [ln for ln in sample.splitlines()[:200] if ln.strip()]
    best, best_score = ",", (0, 0)
    for d in (",", ";", "\t", "|"):
        score = (sum(1 for ln in lines if d in ln), sum(ln.count(d) for ln in lines))
        if score > best_score:
            best, best_score = d, score
    return best


def _decode(path: Path, data: bytes) -> str:
    # Excel writes UTF-8 with a BOM ("CSV UTF-8"), UTF-16 ("Unicode text") or the Windows code page.
    if data.startswith(codecs.BOM_UTF8):
        return data[3:].decode("utf-8", errors="replace")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", errors="replace")
    if b"\x00" in data[:4096]:
        raise LegacyFileError(path, "this file is binary, not CSV text. Choose the .xlsx workbook or export it as CSV.")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


__all__ = ["Limits", "DEFAULT_LIMITS", "LegacyFileError", "LegacySource", "SheetGrid", "open_legacy", "col_letter", "col_index"]
