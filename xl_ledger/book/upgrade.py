"""Engine sheets laid out by an earlier xl-ledger: found by their header row, laid out again as this version does.

An engine sheet's columns come from book/schema.py. When a version adds one (Balances gained `location`),
a workbook made earlier still has the old header row, `<cols>` (column formats, widths, the hidden check
column), conditional formats and print setup, all by position: the new rows written under them would put
`check` over `location`, money in a date column, and a drift check reading by position would call every
row typed over. So a sheet whose row-1 headers differ from the schema is laid out again on the next post
or recompute, from the template this version ships (which scripts/build_template.py builds from the same
schema): its header row, column formats and widths, frozen pane, protection, conditional formats and
print setup, their styles merged into the workbook's own (money in the studio's currency). What the
sheet links to (a chart's drawing) and its VBA code name stay the workbook's. Input sheets are never
laid out again: the columns they gain are optional, and their rows are the studio's.

This module is the one home of that rule: `stale` says which sheets, `notice` what the studio is told,
`relaid_part` what a file's sheet becomes and `print_names` its print titles in the workbook part; the
live-Excel store writes the header row itself.
"""

from __future__ import annotations

import functools
import io
import re
import zipfile
from posixpath import dirname
from posixpath import join as pjoin
from posixpath import normpath
from typing import Iterable
from typing import Mapping

import defusedxml.ElementTree as SafeET

from xl_ledger.book import schema
from xl_ledger.book.store import BrokenFileError
from xl_ledger.xlsx.cells import StyleBook
from xl_ledger.xlsx.cells import col_letter
from xl_ledger.xlsx.cells import inline_string
from xl_ledger.xlsx.sheet import split_sheet

_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}Relationship"
_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_R_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"


def stale(sheet: str, headers: Iterable[str]) -> bool:
    """Whether an engine sheet's row 1 is not the one this version writes (it was laid out by another)."""
    spec = schema.BY_NAME.get(sheet)
    return spec is not None and spec.engine_owned and sheet != "Log" and tuple(headers) != spec.headers


def stale_sheets(store, sheets: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """{sheet: the headers it has} for each of `sheets` (engine sheets a post writes) laid out by another
    version. A store with no sheets of its own to lay out (no `sheet_headers`) has none; a missing sheet
    is left to the commit, which names it."""
    read = getattr(store, "sheet_headers", None)
    out: dict[str, tuple[str, ...]] = {}
    for sheet in sheets:
        if read is None or not stale(sheet, ()):  # not an engine sheet this rule lays out
            continue
        try:
            found = tuple(read(sheet))
        except BrokenFileError:
            continue
        if stale(sheet, found):
            out[sheet] = found
    return out


def notice(book: str, sheet: str, found: tuple[str, ...]) -> str:
    """What the studio is told, once, on the post that lays a sheet out again."""
    want = schema.BY_NAME[sheet].headers
    new = [h for h in want if h not in found]
    gone = [h for h in found if h and h not in want]
    what = "; ".join(x for x in (f"new column {', '.join(new)}" if new else "",
                                 f"column {', '.join(gone)} no longer kept" if gone else "") if x) \
        or "columns in a new order"
    return (f"{book}!{sheet} was laid out by an earlier xl-ledger ({what}): laid out again as this version does "
            f"(header row, column formats, print setup). The ledger rewrites its rows as on every post; "
            f"nothing to do.")


# ------------------------------------------------------------------------------ a file's sheet part
@functools.lru_cache(maxsize=1)
def _template() -> tuple[Mapping[str, bytes], StyleBook, bytes]:
    """The shipped template's worksheet parts by sheet name, its styles, and its workbook part."""
    from xl_ledger.template import template_path

    with zipfile.ZipFile(io.BytesIO(template_path().read_bytes())) as z:
        def rels(of: str) -> dict[str, str]:
            path = pjoin(dirname(of), "_rels", of.rsplit("/", 1)[-1] + ".rels")
            return {r.get("Id"): normpath(pjoin(dirname(of), r.get("Target", "")))
                    for r in SafeET.fromstring(z.read(path)).iter(_REL)}

        wb_path = "xl/workbook.xml"  # where XlsxWriter puts it
        targets = rels(wb_path)
        wb = SafeET.fromstring(z.read(wb_path))
        parts = {s.get("name"): z.read(targets[s.get(_R_ID)]) for s in wb.iter(f"{_MAIN}sheet")}
        styles = StyleBook(z.read("xl/styles.xml"))
        return parts, styles, z.read(wb_path)


# ------------------------------------------------------------------------------ the workbook's print names
_DEFINED = re.compile(rb"<definedName\b([^>]*)>(.*?)</definedName>", re.S)
_SHEET = re.compile(rb'<sheet\b[^>]*?\bname="([^"]*)"')
_PRINT = (b"_xlnm.Print_Titles", b"_xlnm.Print_Area")


def print_names(workbook: bytes, sheets: Iterable[str]) -> bytes | None:
    """The workbook part with each of `sheets`' print titles and print area as the template has them (the
    rows and columns repeated on every printed page), or None when they already are."""
    theirs = _template()[2]
    order = {name: i for i, name in enumerate(_SHEET.findall(workbook))}
    their_order = {name: i for i, name in enumerate(_SHEET.findall(theirs))}
    out = workbook
    for sheet in sheets:
        name = sheet.encode()
        if name not in order or name not in their_order:
            continue
        mine = [m for m in _DEFINED.finditer(out) if _print_name_of(m, order[name])]
        want = [re.sub(rb'\blocalSheetId="\d+"', b'localSheetId="%d"' % order[name], m.group(0))
                for m in _DEFINED.finditer(theirs) if _print_name_of(m, their_order[name])]
        if sorted(m.group(0) for m in mine) == sorted(want):
            continue
        for m in reversed(mine):
            out = out[:m.start()] + out[m.end():]
        if want:
            if b"</definedNames>" not in out:
                at = re.search(rb"<calcPr\b|<oleSize\b|<customWorkbookViews\b|<pivotCaches\b|<extLst\b|</workbook>", out)
                out = out[:at.start()] + b"<definedNames></definedNames>" + out[at.start():]
            out = out.replace(b"</definedNames>", b"".join(want) + b"</definedNames>", 1)
        out = out.replace(b"<definedNames></definedNames>", b"")
    return None if out == workbook else out


def _print_name_of(m: re.Match, index: int) -> bool:
    attrs = m.group(1)
    name = re.search(rb'\bname="([^"]*)"', attrs)
    local = re.search(rb'\blocalSheetId="(\d+)"', attrs)
    return bool(name and local and name.group(1) in _PRINT and int(local.group(1)) == index)


# Elements of a worksheet that point at the sheet's own relationships (r:id): the workbook's are kept.
_LINKED = re.compile(rb"<(drawing|legacyDrawing|legacyDrawingHF|picture|oleObjects|controls|tableParts)\b"
                     rb"(?:[^>]*/>|.*?</\1>)", re.S)
_EXT_OR_END = re.compile(rb"<extLst\b|</worksheet>")
_CODE_NAME = re.compile(rb'\scodeName="[^"]*"')


def relaid_part(sheet: str, old: bytes, styles: StyleBook, money_format: str = "") -> bytes:
    """`sheet`'s part as this version lays it out, with no data rows (the post writes them next): the
    template's frame, its styles adopted into the workbook's `styles` (money as `money_format`), with
    the old part's VBA code name and linked elements (drawings, tables) kept."""
    parts, theirs, _wb = _template()
    # Not told the studio's currency (a desk's store): the money format the workbook already shows.
    money_format = money_format or next((c for c in styles.codes() if schema.is_money_format(c)), "")
    head, rows, tail = split_sheet(parts[sheet])

    def code(c: str) -> str:
        return money_format if money_format and schema.is_money_format(c) else c

    def restyle(m: re.Match) -> bytes:
        return m.group(1) + str(styles.adopt(theirs, int(m.group(2)), code)).encode() + b'"'

    head = re.sub(rb'(<col\b[^>]*?\bstyle=")(\d+)"', restyle, head)
    head = _keep_code_name(head, old)
    header_style = re.search(rb'<c\b[^>]*?\bs="(\d+)"', rows)
    hs = styles.adopt(theirs, int(header_style.group(1)), code) if header_style else None
    header = "".join(inline_string(f"{col_letter(i)}1", name, hs)
                     for i, name in enumerate(schema.BY_NAME[sheet].headers, start=1))
    tail = re.sub(rb'\bdxfId="(\d+)"', lambda m: b'dxfId="%d"' % styles.adopt_dxf(theirs, int(m.group(1))), tail)
    tail = _LINKED.sub(b"", tail)
    try:
        _h, _r, old_tail = split_sheet(old)
    except Exception:
        old_tail = b""
    linked = b"".join(m.group(0) for m in _LINKED.finditer(old_tail))
    if linked:
        at = _EXT_OR_END.search(tail)
        tail = tail[:at.start()] + linked + tail[at.start():]
    if money_format:
        styles.replace_format_codes(schema.is_money_format, money_format)
    return head + f'<row r="1">{header}</row>'.encode() + tail


def _keep_code_name(head: bytes, old: bytes) -> bytes:
    """The template's sheetPr with the workbook's own code name (its VBA document module), or none."""
    mine = _CODE_NAME.search(old.split(b"<sheetData", 1)[0])
    head = _CODE_NAME.sub(b"", head, count=1)
    if mine:
        head = re.sub(rb"<sheetPr\b", b"<sheetPr" + mine.group(0), head, count=1)
    return head
