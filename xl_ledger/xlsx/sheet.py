"""Surgical edits to one worksheet part: replace the body of an engine sheet, or set a few cells.

Only `<sheetData>` and `<dimension>` change; everything else in the part (sheetPr, sheetViews and
frozen panes, cols and their default styles, sheetProtection, conditional formatting, validations,
tableParts, extLst) is kept byte for byte. Text edits on the XML rather than a parse/serialise round
trip, so nothing the parser does not model is lost and large sheets stay fast.
"""

from __future__ import annotations

import datetime as dt
import operator
import re
from itertools import chain
from decimal import Decimal
from typing import Callable
from typing import Collection
from typing import Mapping
from typing import Sequence

from xl_ledger.xlsx.cells import RowWriter
from xl_ledger.xlsx.cells import col_letter
from xl_ledger.xlsx.cells import StyleBook
from xl_ledger.xlsx.cells import cell_xml
from xl_ledger.xlsx.cells import number_text
from xl_ledger.xlsx.cells import plain_text

_SHEETDATA_OPEN = re.compile(rb"<sheetData\b[^>]*?(/?)>")
_DIMENSION = re.compile(rb"<dimension\b[^>]*/>")
_ROW = re.compile(rb'<row\b[^>]*?\br="(\d+)"[^>]*?(/?)>')
_CELL = re.compile(rb'<c\b[^>]*?\br="([A-Z]+)(\d+)"[^>]*?(?:/>|>.*?</c>)', re.S)
_COL = re.compile(rb"<col\b[^>]*/>")
_ROW_END = re.compile(rb"</row>")


class SheetFormatError(Exception):
    """The part is not a worksheet this module can edit."""


def split_sheet(xml: bytes) -> tuple[bytes, bytes, bytes]:
    """(head up to and including `<sheetData>`, the rows, tail from `</sheetData>`)."""
    m = _SHEETDATA_OPEN.search(xml)
    if not m:
        raise SheetFormatError("no <sheetData>")
    if m.group(1):  # <sheetData/>: no rows
        return xml[:m.start()] + b"<sheetData>", b"", b"</sheetData>" + xml[m.end():]
    end = xml.find(b"</sheetData>", m.end())
    if end < 0:
        raise SheetFormatError("no </sheetData>")
    return xml[:m.end()], xml[m.end():end], xml[end:]


def set_dimension(head: bytes, ref: str) -> bytes:
    """Replace `<dimension>`, or add one where the schema puts it (after sheetPr)."""
    dim = f'<dimension ref="{ref}"/>'.encode()
    if _DIMENSION.search(head):
        return _DIMENSION.sub(lambda _m: dim, head, count=1)
    return insert_dimension(head, dim)


def insert_dimension(head: bytes, dim: bytes) -> bytes:
    m = re.search(rb"<sheetPr\b[^>]*/>|</sheetPr>", head)
    if not m:
        m = re.search(rb"<worksheet\b[^>]*>", head)
        if not m:
            raise SheetFormatError("no <worksheet>")
    return head[:m.end()] + dim + head[m.end():]


def column_styles(head: bytes) -> dict[int, int]:
    """1-based column -> default style index from `<cols>`: what the template formats columns with."""
    styles = {}
    for m in _COL.finditer(head):
        tag = m.group()
        lo = re.search(rb'\bmin="(\d+)"', tag)
        hi = re.search(rb'\bmax="(\d+)"', tag)
        st = re.search(rb'\bstyle="(\d+)"', tag)
        if lo and hi and st:
            for c in range(int(lo.group(1)), min(int(hi.group(1)), 16384) + 1):
                styles[c] = int(st.group(1))
    return styles


def header_row(rows: bytes) -> bytes:
    """The `<row r="1">` element, verbatim (the template's header, with its styles)."""
    span = _header_span(rows)
    return bytes(rows[span[0]:span[1]]) if span else b""


def _header_span(rows: bytes) -> tuple[int, int] | None:
    """Where the `<row r="1">` element is in `rows` (which may be a view: regular expressions only)."""
    m = _ROW.search(rows)
    if not m or m.group(1) != b"1":
        return None
    if m.group(2):
        return m.start(), m.end()
    end = _ROW_END.search(rows, m.end())
    return m.start(), end.end() if end else len(rows)


def replace_body(xml: bytes, body: Sequence[Sequence[object]], styles: StyleBook, width: int) -> bytes:
    """The sheet with its data rows (row 2 on) replaced by `body`; header row and the rest kept."""
    return b"".join(framed_body_parts(frame(xml), body, styles, width))


def frame(xml: bytes) -> tuple[bytes, bytes, bytes]:
    """What replace_body keeps of a part: (head, header row, tail), copied out, so that the part itself
    (hundreds of MB for a busy Allocations sheet) can be let go before the new rows are written."""
    head, rows, tail = _frame(xml)
    return head, header_row(rows), bytes(tail)


def framed_body_parts(framed: tuple[bytes, bytes, bytes], body: Sequence[Sequence[object]], styles: StyleBook,
                      width: int, chunk: int = 4096) -> list[bytes]:
    """replace_body's result as pieces of `chunk` rows each, for a writer that compresses them one by one
    (the whole new part is never held at once)."""
    head, header, tail = framed
    writer = RowWriter(max(map(len, body), default=0), column_styles(head), styles)
    pieces: list[bytes] = []
    last_col = width
    for i0 in range(0, len(body), chunk):
        parts = []
        for i, values in enumerate(body[i0:i0 + chunk], start=i0 + 2):
            row = writer.row(i, values)
            if row:
                parts.append(row)
                last_col = max(last_col, len(values))
        pieces.append("".join(parts).encode())
    head = set_dimension(head, f"A1:{col_letter(max(last_col, 1))}{len(body) + 1}")
    return [head, header, *pieces, tail]


def _frame(xml: bytes) -> tuple[bytes, memoryview, memoryview]:
    """split_sheet with the rows and tail as views into `xml`, not copies."""
    m = _SHEETDATA_OPEN.search(xml)
    if not m:
        raise SheetFormatError("no <sheetData>")
    if m.group(1):  # <sheetData/>: no rows
        return xml[:m.start()] + b"<sheetData>", memoryview(b""), memoryview(b"</sheetData>" + xml[m.end():])
    end = xml.find(b"</sheetData>", m.end())
    if end < 0:
        raise SheetFormatError("no </sheetData>")
    view = memoryview(xml)
    return xml[:m.end()], view[m.end():end], view[end:]


def same_rows(a: Sequence, b: Sequence) -> bool:
    """Equal rows whose cells have the same types: those print alike (number_text prints a Decimal
    normalised), but 1 == Decimal(1) == True and True is written as text. Compared in C, slice by slice."""
    return a == b and [*map(type, chain.from_iterable(a))] == [*map(type, chain.from_iterable(b))]


SEGMENT_ROWS = 512  # body rows per deflate segment of an engine sheet (segments.py): ~100-250 KB of XML


def body_segments(framed: tuple[bytes, bytes, bytes], body: Sequence[Sequence[object]], styles: StyleBook,
                  width: int, previous: Sequence[Sequence[object]] | None = None,
                  old_rows: Callable[[int], bytes | None] | None = None, reuse: bool = False,
                  rows_per_segment: int | None = None, same: Collection[int] | None = None) -> list:
    """replace_body's result cut into segments: [head through the header row, body rows 0..S-1, rows
    S..2S-1, ..., the tail], S = rows_per_segment. Each is a list of pieces (bytes-like) to compress, or,
    with `reuse`, the int k for "segment k of the part as it is": a block of rows equal (same_rows) to the
    same block of `previous`, the body the part holds as this function wrote it.

    `old_rows(k)`: the XML of block k as the part holds it (or None), so that in a block that changed the
    rows that did not keep their bytes and only the others are written. `same`: the blocks (from 0) whose
    rows the caller already found same_rows with `previous`'s (every other block differs), so that they
    are not compared again. The joined result is always the bytes replace_body gives
    (tests/test_store_keep.py)."""
    size = rows_per_segment or SEGMENT_ROWS
    head, header, tail = framed
    writer = RowWriter(max(map(len, body), default=0), column_styles(head), styles)
    out: list = [None]
    last_col = width
    n = len(body)
    n_previous = len(previous) if previous is not None else 0
    for k, i0 in enumerate(range(0, n, size), start=1):
        i1 = min(i0 + size, n)
        values = body[i0:i1]
        if previous is not None and i0 < n_previous and max(map(len, values)) <= last_col \
                and ((k - 1 in same) if same is not None else same_rows(previous[i0:i0 + size], values)):
            if reuse:
                out.append(k)
                continue
            old = old_rows(k) if old_rows else None
            if old is not None:
                out.append([old])
                continue
        old = old_rows(k) if old_rows and i0 < n_previous else None
        if old is not None:
            old = bytes(old)  # a view into the part: searched below, row by row
            changed = _differing(previous, body, i0, i1)
        pos = 0
        parts: list = []
        for i in range(i0, i1):
            r = i + 2
            row = values[i - i0]
            if old is not None and i < n_previous and old.startswith(b'<row r="%d"' % r, pos):
                end = old.find(b"</row>", pos) + 6
                if end < 6:
                    old = None  # not the layout this function writes: write the rest afresh
                else:
                    kept = i not in changed
                    start, pos = pos, end
                    if kept:
                        parts.append(old[start:end])
                        if len(row) > last_col:
                            last_col = len(row)
                        continue
            text = writer.row(r, row)
            if text:
                parts.append(text.encode())
                if len(row) > last_col:
                    last_col = len(row)
        out.append(parts)
    out[0] = [set_dimension(head, f"A1:{col_letter(max(last_col, 1))}{n + 1}"), header]
    out.append([tail])
    return out


def _differing(previous: Sequence, body: Sequence, i0: int, i1: int) -> set[int]:
    """The rows i0 <= i < i1 of `body` that are not same_rows with `previous`'s. Rows are compared in one
    C-level pass and the types of the equal ones in one more; only when those types differ somewhere is
    each equal row's looked at (a changed block after a post holds a few changed rows)."""
    hi = min(i1, len(previous))
    out = set(range(max(i0, hi), i1))
    before, after = previous[i0:hi], body[i0:hi]
    equal = []
    for j, same in enumerate(map(operator.eq, before, after)):
        if same:
            equal.append(j)
        else:
            out.add(i0 + j)
    if equal and not same_rows([before[j] for j in equal], [after[j] for j in equal]):
        out.update(i0 + j for j in equal if not same_rows(before[j:j + 1], after[j:j + 1]))
    return out


def block_rows(xml: bytes, blocks: int, rows_per_segment: int | None = None) -> list[memoryview | None]:
    """The XML of each of the first `blocks` blocks of body rows of a part body_segments wrote (views
    into `xml`), for its `old_rows`: block k (from 1) is rows 2 + (k - 1)·S on. A block whose bounds
    cannot be found (a row with no cells has no element) is None."""
    size = rows_per_segment or SEGMENT_ROWS
    head, rows, _tail = _frame(xml)
    start = len(head)
    stop = start + len(rows)
    view = memoryview(xml)
    starts = []
    pos = start
    for k in range(blocks):
        at = xml.find(b'<row r="%d"' % (2 + k * size), pos, stop)
        starts.append(at)
        pos = max(pos, at)
    starts.append(xml.rfind(b"</row>", start, stop) + 6)  # after the last row of all
    out: list = []
    for k in range(blocks):
        a, b = starts[k], starts[k + 1]
        out.append(view[a:b] if 0 <= a < b else None)
    return out


def _cell_col(letters: bytes) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ch - 64
    return n


def edit_cells(xml: bytes, updates: Mapping[tuple[int, int], object], styles: StyleBook) -> bytes:
    """Set cells {(excel_row, 1-based column): value}; every other cell, row and element is kept."""
    head, rows, tail = split_sheet(xml)
    col_style = column_styles(head)
    by_row: dict[int, dict[int, object]] = {}
    for (r, c), v in updates.items():
        by_row.setdefault(r, {})[c] = v
    # Locate every row element once; then rebuild the rows text with the edited rows spliced in.
    spans: dict[int, tuple[int, int, bytes, bytes]] = {}  # r -> (start, end, open tag, inner)
    order = []
    for m in _ROW.finditer(rows):
        r = int(m.group(1))
        if m.group(2):
            spans[r] = (m.start(), m.end(), m.group()[:-2] + b">", b"")
        else:
            end = rows.find(b"</row>", m.end())
            spans[r] = (m.start(), end + 6, m.group(), rows[m.end():end])
        order.append(r)
    out = []
    pos = 0
    pending = sorted(by_row)
    new_rows = [r for r in pending if r not in spans]
    for r in order:
        start, end, tag, inner = spans[r]
        while new_rows and new_rows[0] < r:  # a row the sheet has no element for yet, in order
            nr = new_rows.pop(0)
            out.append(rows[pos:start])
            pos = start
            out.append(_edit_row(f'<row r="{nr}">'.encode(), b"", nr, by_row[nr], col_style, styles))
        if r in by_row:
            out.append(rows[pos:start])
            out.append(_edit_row(tag, inner, r, by_row[r], col_style, styles))
            pos = end
    out.append(rows[pos:])
    out.append(_new_rows(new_rows, by_row, col_style, styles))  # below every row the sheet has
    head = _grow_dimension(head, max(by_row), max(c for cols in by_row.values() for c in cols))
    return head + b"".join(out) + tail


def _new_rows(numbers: list[int], by_row: dict[int, dict[int, object]], col_style: dict[int, int],
              styles: StyleBook) -> bytes:
    """What _edit_row gives for each of these rows the sheet has no element for, cell for cell, faster
    (an import appends tens of thousands): per column the reference letters and style are worked out
    once, numbers and plain texts are written straight away, and other texts and dates are encoded once
    per column and value (statuses and dates repeat). Anything else goes through cell_xml itself.
    Cells are encoded in the order given, as _edit_row does (a date style added for one comes first),
    and written in column order."""
    columns: dict[int, tuple[str, object, str]] = {}  # column -> (letters, style, ' s="…"' or '')
    seen: dict[tuple[int, type, object], str] = {}  # (column, type, value) -> the cell after its reference
    out = []
    for r in numbers:
        rs = str(r)
        cells = []
        for c, v in by_row[r].items():
            column = columns.get(c)
            if column is None:
                style = col_style.get(c)
                column = columns[c] = (col_letter(c), style, f' s="{style}"' if style else "")
            t = type(v)
            if t is Decimal or t is int:
                cells.append((c, f'<c r="{column[0]}{rs}"{column[2]}><v>{number_text(v)}</v></c>'))
            elif t is str and v and plain_text(v):
                cells.append((c, f'<c r="{column[0]}{rs}"{column[2]} t="inlineStr"><is><t>{v}</t></is></c>'))
            elif t is str or t is dt.date:  # equal values of exactly these types always encode alike
                key = (c, t, v)
                rest = seen.get(key)
                if rest is None:
                    cell = cell_xml(c, 1, v, column[1], styles)
                    rest = seen[key] = cell[len(f'<c r="{column[0]}1"'):] if cell else ""
                if rest:
                    cells.append((c, f'<c r="{column[0]}{rs}"{rest}'))
            else:
                cells.append((c, cell_xml(c, r, v, column[1], styles)))
        cells.sort()
        out.append(f'<row r="{rs}">{"".join([x for _c, x in cells])}</row>')
    return "".join(out).encode()


def _edit_row(tag: bytes, inner: bytes, r: int, values: dict[int, object], col_style: dict[int, int],
              styles: StyleBook) -> bytes:
    # `spans` is only a loading hint; drop it rather than leave it wrong after adding a cell.
    tag = re.sub(rb'\sspans="[^"]*"', b"", tag)
    row_style = None
    if re.search(rb'\bcustomFormat="(1|true)"', tag):
        m = re.search(rb'\bs="(\d+)"', tag)
        row_style = int(m.group(1)) if m else None
    cells: list[tuple[int, bytes]] = []
    for m in _CELL.finditer(inner):
        if int(m.group(2)) != r:
            raise SheetFormatError(f"cell {m.group(1).decode()}{m.group(2).decode()} inside row {r}")
        cells.append((_cell_col(m.group(1)), m.group()))
    if inner.strip() and not cells:
        raise SheetFormatError(f"row {r} has cells without references")
    existing = dict(cells)
    for c, value in values.items():
        style = None
        if c in existing:
            m = re.search(rb'\bs="(\d+)"', existing[c].split(b">", 1)[0])
            style = int(m.group(1)) if m else None
        if style is None:
            style = row_style if row_style is not None else col_style.get(c)
        existing[c] = cell_xml(c, r, value, style, styles).encode()
    body = b"".join(existing[c] for c in sorted(existing))
    return tag + body + b"</row>"


def _grow_dimension(head: bytes, row: int, col: int) -> bytes:
    m = _DIMENSION.search(head)
    if not m:
        return head
    ref = re.search(rb'ref="([A-Z]+)(\d+)(?::([A-Z]+)(\d+))?"', m.group())
    if not ref:
        return head
    first = ref.group(1).decode() + ref.group(2).decode()
    last_col = _cell_col(ref.group(3) or ref.group(1))
    last_row = int(ref.group(4) or ref.group(2))
    if row <= last_row and col <= last_col:
        return head
    new = f"{first}:{col_letter(max(col, last_col))}{max(row, last_row)}"
    return head[:m.start()] + f'<dimension ref="{new}"/>'.encode() + head[m.end():]


def extend_table(xml: bytes, row: int, cols: set[int]) -> bytes | None:
    """A table part whose ref (and autoFilter ref) reaches down to `row`, when an edit in one of its
    columns lands below it; None when the table already covers it or the edit is beside it."""
    m = re.search(rb'<table\b[^>]*?\bref="([A-Z]+)(\d+):([A-Z]+)(\d+)"', xml)
    if not m:
        return None
    first_col, first_row, last_col, last_row = (_cell_col(m.group(1)), int(m.group(2)), _cell_col(m.group(3)),
                                                 int(m.group(4)))
    if row <= last_row or not any(first_col <= c <= last_col for c in cols) or re.search(rb'totalsRowCount="[1-9]', xml):
        return None  # covered, beside the table, or a totals row sits under it (Excel moves that itself)
    old = f"{m.group(1).decode()}{first_row}:{m.group(3).decode()}{last_row}".encode()
    new = f"{m.group(1).decode()}{first_row}:{m.group(3).decode()}{row}".encode()
    return xml.replace(b'ref="' + old + b'"', b'ref="' + new + b'"')


_HEADER_FOOTER = re.compile(rb"<headerFooter\b[^>]*?(?:/>|>.*?</headerFooter>)", re.S)
_AFTER_HEADER_FOOTER = re.compile(rb"<(?:rowBreaks|colBreaks|customProperties|cellWatches|ignoredErrors|smartTags|"
                                  rb"drawing|legacyDrawing|legacyDrawingHF|picture|oleObjects|controls|webPublishItems|"
                                  rb"tableParts|extLst)\b|</worksheet>")


PAGE_FOOTER = "&CPage &P of &N"


def set_page_header(xml: bytes, header: str) -> bytes:
    """The sheet with `header` as its printed page header (Excel's codes: &L, &C, &R, &A...; a literal & is
    &&) and "Page n of m" below. The headerFooter element is replaced, or added where the schema puts it."""

    def esc(t: str) -> bytes:
        return t.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").encode("utf-8")

    element = (b"<headerFooter><oddHeader>" + esc(header) + b"</oddHeader><oddFooter>" + esc(PAGE_FOOTER)
               + b"</oddFooter></headerFooter>")
    m = _HEADER_FOOTER.search(xml)
    if m:
        if m.group(0) == element:
            return xml
        return xml[:m.start()] + element + xml[m.end():]
    tail_at = xml.find(b"</sheetData>")
    m = _AFTER_HEADER_FOOTER.search(xml, max(tail_at, 0))
    if m is None:
        raise SheetFormatError("the sheet has no </worksheet> end tag")
    return xml[:m.start()] + element + xml[m.start():]


_CELL_PARTS = re.compile(rb'<c\b([^>]*?)(?:/>|>(.*?)</c>)', re.S)
_TEXT = re.compile(rb"<t\b[^>]*?(?:/>|>(.*?)</t>)", re.S)


def first_row(chunks) -> bytes:
    """The `<row r="1">` element of a worksheet part given as a stream of its bytes, read only as far as
    needed (a header check need not inflate a hundred-MB sheet)."""
    seen = b""
    for chunk in chunks:
        seen += chunk
        m = _SHEETDATA_OPEN.search(seen)
        if m and m.group(1):
            return b""  # <sheetData/>: no rows at all
        if m and (_ROW_END.search(seen, m.end()) or seen.find(b"</sheetData>", m.end()) >= 0):
            return header_row(seen[m.end():])
    return header_row(seen)


def row_texts(row: bytes, shared: Callable[[int], str]) -> list[str]:
    """A row's cells as text, by column (empty where there is no cell): inline strings, shared strings
    (`shared(index)`), and numbers or formula results as written."""
    import html

    out: list[str] = []
    for m in _CELL_PARTS.finditer(row):
        attrs, inner = m.group(1), m.group(2) or b""
        ref = re.search(rb'\br="([A-Z]+)\d+"', attrs)
        col = _cell_col(ref.group(1)) if ref else len(out) + 1
        kind = re.search(rb'\bt="(\w+)"', attrs)
        kind = kind.group(1) if kind else b"n"
        v = re.search(rb"<v>(.*?)</v>", inner, re.S)
        if kind == b"inlineStr":
            text = b"".join(t.group(1) or b"" for t in _TEXT.finditer(inner)).decode("utf-8")
        elif kind == b"s" and v:
            text = shared(int(v.group(1)))
        else:
            text = v.group(1).decode("utf-8") if v else ""
        out += [""] * (col - 1 - len(out)) + [html.unescape(text) if kind != b"s" else text]
    return out


_SI = re.compile(rb"<si\b[^>]*?(?:/>|>(.*?)</si>)", re.S)


def shared_strings(xml: bytes) -> list[str]:
    """The shared-string table's texts, in order (rich runs joined; phonetic runs left out)."""
    return [si_text(si.group(1)) for si in _SI.finditer(xml)]


def iter_shared_items(chunks):
    """The shared-string table's items in order, each as its XML (si_text makes it the text), from a stream
    of the part's bytes read only as far as the caller goes: an engine sheet's header row needs a few
    items, and a workbook Excel or LibreOffice saved holds every text of every sheet there."""
    seen = b""
    for chunk in chunks:
        seen += chunk
        end = 0
        for si in _SI.finditer(seen):  # complete items only: a cut one is matched with the next chunk
            end = si.end()
            yield si.group(1) or b""
        seen = seen[end:]


def si_text(body: bytes | None) -> str:
    """A shared-string item's text: rich runs joined, phonetic runs left out."""
    import html

    body = re.sub(rb"<rPh\b.*?</rPh>", b"", body or b"", flags=re.S)
    return html.unescape(b"".join(t.group(1) or b"" for t in _TEXT.finditer(body)).decode("utf-8"))
