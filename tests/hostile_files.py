"""Hostile workbooks for issue 12 (item 11), each made from a small real one: a sheet moved to a path no
pre-scan looked at, huge dimensions or cell references there, a UTF-16 part with a DTD."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import xlsxwriter

SHEET = "xl/worksheets/sheet1.xml"


def small_xlsx(path: Path) -> Path:
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("Packages")
    ws.write_row(0, 0, ["Student", "Package", "Bought", "Left"])
    ws.write_row(1, 0, ["Ana Lopez", "10 lessons", 10, 4])
    wb.close()
    return path


def rewrite(src: Path, dst: Path, parts: dict[str, bytes], moves: dict[str, str] | None = None) -> Path:
    """Copy `src` to `dst`, replacing `parts`' bytes and moving parts (relationships and content types
    follow the move, as a crafted file would have them)."""
    moves = moves or {}
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = parts.get(info.filename, zin.read(info.filename))
            for old, new in moves.items():
                rel_old, rel_new = old.removeprefix("xl/"), new.removeprefix("xl/")
                if info.filename.endswith(".rels"):
                    data = data.replace(rel_old.encode(), rel_new.encode()).replace(old.encode(), new.encode())
                if info.filename == "[Content_Types].xml":
                    data = data.replace(f"/{old}".encode(), f"/{new}".encode())
            zout.writestr(moves.get(info.filename, info.filename), data)
    return dst


def huge_dimension_sheet(corner: str = "XFD1048576") -> bytes:
    return (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            + f'<dimension ref="A1:{corner}"/>'.encode()
            + b'<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>Student</t></is></c></row>'
            + f'<row r="{re.sub("[A-Z]", "", corner)}"><c r="{corner}"><v>1</v></c></row>'.encode()
            + b'</sheetData></worksheet>')


def moved_sheet(src: Path, dst: Path, body: bytes, to: str = "xl/data/s1.bin") -> Path:
    """Sheet 1 at a non-standard path (a part name no '.xml' rule matches) with `body`."""
    return rewrite(src, dst, {SHEET: body}, {SHEET: to})


def utf16(xml: bytes) -> bytes:
    text = xml.decode("utf-8").replace('encoding="UTF-8"', 'encoding="UTF-16"')
    return text.encode("utf-16")  # with a byte-order mark, as Windows tools write it


LAUGHS = (b'<?xml version="1.0" encoding="UTF-8"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
          b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
          b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
          b'<row r="1"><c r="A1" t="inlineStr"><is><t>&lol2;</t></is></c></row></sheetData></worksheet>')


def shared_strings_claiming(src: Path, dst: Path, count: int) -> Path:
    return rewrite(src, dst, {"xl/sharedStrings.xml": (
        b'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/'
        b'main" count="%d" uniqueCount="%d"><si><t>Student</t></si></sst>' % (count, count))})


def many_cells(src: Path, dst: Path, rows: int, cols: int) -> Path:
    """Sheet 1 as `rows` x `cols` numbers without cell references (only counting cells bounds them)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zout:
        for info in zin.infolist():
            if info.filename != SHEET:
                zout.writestr(info.filename, zin.read(info.filename))
                continue
            with zout.open(info.filename, "w", force_zip64=True) as fh:
                fh.write(b'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.'
                         b'org/spreadsheetml/2006/main"><sheetData>')
                row = b"<c><v>7</v></c>" * cols
                for start in range(1, rows + 1, 1000):
                    fh.write(b"".join(b'<row r="%d">%s</row>' % (r, row) for r in range(start, min(start + 1000, rows + 1))))
                fh.write(b"</sheetData></worksheet>")
    return dst
