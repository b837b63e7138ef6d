"""Build legacy tracking files the way studios really keep them, plus hostile files.

Every builder writes a real file (XlsxWriter, with formulas *and* their cached values, as Excel
saves them) and returns its path. The expected records for each are spelled out in
tests/test_migrate_layouts.py; the mess each one carries is listed in its docstring.
"""

from __future__ import annotations

import datetime as dt
import io
import random
import zipfile
from pathlib import Path

import xlsxwriter

D = dt.datetime


def _wb(path: Path) -> tuple[xlsxwriter.Workbook, dict]:
    wb = xlsxwriter.Workbook(str(path))
    fmts = {
        "date": wb.add_format({"num_format": "yyyy-mm-dd"}),
        "dmy": wb.add_format({"num_format": "dd/mm/yyyy"}),
        "eur": wb.add_format({"num_format": "€#,##0.00"}),
        "title": wb.add_format({"bold": True, "font_size": 14, "align": "center"}),
        "bold": wb.add_format({"bold": True}),
    }
    return wb, fmts


def purchases_xlsx(path: Path) -> Path:
    """Layout (a), sheet "Packages": one row per purchase.

    Mess: merged title A1:I1, a "printed" line, blank row 3, header on row 4, a blank separator
    (row 7), dates as date cells and as text ("15/01/2025", "2 Mar 2025", "2025-09-02"; day-first
    file), money as numbers, "€110", "200 EUR", "$100.00", paid as yes/no, remaining as formulas
    with cached values — F10's formula points at row 9 (=D9-E9) instead of row 10 — an expiry of
    "ask Maria", Emma's purchase entered twice, "Frank Moreau" merged down over two rows,
    "Ana Lopez" / "Ana López" / "lopez, ana", a totals row of SUM formulas, and a "Prices" sheet
    that is not data.
    """
    wb, f = _wb(path)
    ws = wb.add_worksheet("Packages")
    ws.merge_range("A1:I1", "Harmony Music School – lesson packages", f["title"])
    ws.write("A2", "Printed 1 April 2025")
    ws.write_row("A4", ["Student", "Package", "Purchase date", "Lessons bought", "Used", "Remaining", "Price", "Paid", "Expiry"], f["bold"])
    rows = [
        # row, student, package, date, bought, used, remaining formula (cached), price, paid, expiry
        (5, "Ana Lopez", "10-pack", D(2025, 1, 5), 10, 10, ("=D5-E5", 0), 200, 200, D(2025, 7, 5)),
        (6, "Ben Okafor", "5-pack", "15/01/2025", 5, 2, ("=D6-E6", 3), "€110", "yes", "15/07/2025"),
        (8, "Ana López", "10-pack", "2 Mar 2025", 10, 7, ("=D8-E8", 3), "200 EUR", 100, "2025-09-02"),
        (9, "Chloe Martin", "20-pack", D(2025, 2, 1), 20, 4, ("=D9-E9", 16), 380, 380, "ask Maria"),
        (10, "Dev Patel", "10-pack", D(2025, 2, 10), 10, 1, ("=D9-E9", 16), 200, "no", D(2025, 8, 10)),
        (11, "Emma Schulz", "5-pack", D(2025, 3, 3), 5, 0, ("=D11-E11", 5), 110, 110, D(2025, 9, 3)),
        (12, "Emma Schulz", "5-pack", D(2025, 3, 3), 5, 0, ("=D12-E12", 5), 110, 110, D(2025, 9, 3)),
        (13, "lopez, ana", "5-pack", D(2025, 4, 1), 5, 0, ("=D13-E13", 5), 100, "$100.00", D(2025, 10, 1)),
        (14, "Frank Moreau", "5-pack", D(2025, 1, 20), 5, 5, ("=D14-E14", 0), 110, 110, D(2025, 7, 20)),
        (15, None, "10-pack", D(2025, 3, 15), 10, 2, ("=D15-E15", 8), 200, 200, D(2025, 9, 15)),
    ]
    for r, student, package, date, bought, used, (formula, cached), price, paid, expiry in rows:
        if student is not None:
            ws.write(f"A{r}", student)
        ws.write(f"B{r}", package)
        _write_any(ws, f"C{r}", date, f["dmy"])
        ws.write_number(f"D{r}", bought)
        ws.write_number(f"E{r}", used)
        ws.write_formula(f"F{r}", formula, None, cached)
        _write_any(ws, f"G{r}", price, f["eur"])
        _write_any(ws, f"H{r}", paid, f["eur"])
        _write_any(ws, f"I{r}", expiry, f["dmy"])
    ws.merge_range("A14:A15", "Frank Moreau")
    ws.write("A17", "Total", f["bold"])
    ws.write_formula("D17", "=SUM(D5:D15)", None, 85)
    ws.write_formula("E17", "=SUM(E5:E15)", None, 31)
    ws.write_formula("F17", "=SUM(F5:F15)", None, 61)
    prices = wb.add_worksheet("Prices")
    prices.write_row("A1", ["5 lessons cost 110, 10 lessons cost 200. Ask Maria about discounts."])
    wb.close()
    return path


# The owner's answers to what purchases_xlsx leaves unknowable in a USD studio: the "€110" and "200 EUR"
# signs were slips (the school charges in dollars), and F10's formula points at the wrong row (9 left).
PURCHASES_ANSWERS = {"Packages!G6": "110", "Packages!G8": "200", "Packages!F10": "9"}


def answer(legacy: Path, corrections: dict[str, str], **sheet_keys) -> Path:
    """Save the detected mapping beside `legacy` with a person's answers (corrections; per-sheet keys
    such as unit or yearless_from as {sheet: {key: value}}), as someone would after a dry run."""
    from xl_ledger.migrate.mapping import mapping_path_for
    from xl_ledger.migrate.mapping import save_mapping
    from xl_ledger.migrate.reader import read_legacy

    mapping = read_legacy(legacy, save=False).mapping
    mapping.corrections.update(corrections)
    for sheet, keys in sheet_keys.items():
        for k, v in keys.items():
            setattr(mapping.for_sheet(sheet), k, v)
    return save_mapping(mapping, mapping_path_for(legacy))


def _write_any(ws, ref: str, value, fmt) -> None:
    if isinstance(value, dt.datetime):
        ws.write_datetime(ref, value, fmt)
    elif isinstance(value, (int, float)):
        ws.write_number(ref, value, fmt)
    else:
        ws.write_string(ref, value)


def balance_xlsx(path: Path) -> Path:
    """Layout (b): one sheet per student with a running balance.

    "Ana Lopez" (lessons): merged title, "Student: Ana Lopez" line, balance as formulas with cached
    values; the late cancel of 26 Jan is entered twice (rows 8 and 9); a date typed as text
    "02/02/2025"; E11 is typed 5 where the running total gives 4; blank separator row 12.
    "Ben" (hours): no student line (the sheet name is the student), header on row 2, used hours as
    "1h30", "1:30", "90 min" and 1.5, and a TOTAL row. "Notes" is not data.
    """
    wb, f = _wb(path)
    ws = wb.add_worksheet("Ana Lopez")
    ws.merge_range("A1:E1", "Lesson account", f["title"])
    ws.write("A2", "Student: Ana Lopez")
    ws.write_row("A4", ["Date", "Description", "Bought", "Used", "Balance"], f["bold"])
    lines = [
        (5, D(2025, 1, 5), "Bought 10-pack", 10, None, "=C5-D5", 10),
        (6, D(2025, 1, 12), "Lesson", None, 1, "=E5+C6-D6", 9),
        (7, D(2025, 1, 19), "Lesson", None, 1, "=E6+C7-D7", 8),
        (8, D(2025, 1, 26), "Late cancel", None, 1, "=E7+C8-D8", 7),
        (9, D(2025, 1, 26), "Late cancel", None, 1, "=E8+C9-D9", 6),
        (10, "02/02/2025", "Lesson", None, 1, "=E9+C10-D10", 5),
        (11, D(2025, 2, 9), "Lesson", None, 1, None, 5),  # typed over the formula
        (13, D(2025, 3, 1), "Bought 5-pack", 5, None, "=E11+C13-D13", 10),
    ]
    for r, date, desc, bought, used, formula, cached in lines:
        _write_any(ws, f"A{r}", date, f["date"])
        ws.write(f"B{r}", desc)
        if bought is not None:
            ws.write_number(f"C{r}", bought)
        if used is not None:
            ws.write_number(f"D{r}", used)
        if formula:
            ws.write_formula(f"E{r}", formula, None, cached)
        else:
            ws.write_number(f"E{r}", cached)
    ws2 = wb.add_worksheet("Ben")
    ws2.write("A1", "Ben – hours")
    ws2.write_row("A2", ["Date", "Notes", "Hours in", "Hours out", "Hours left"], f["bold"])
    ben = [
        (3, D(2025, 1, 10), "10 hour package", 10, None, 10),
        (4, D(2025, 1, 17), "lesson", None, "1h30", 8.5),
        (5, D(2025, 1, 24), "lesson", None, "1:30", 7),
        (6, D(2025, 1, 31), "lesson", None, "90 min", 5.5),
        (7, D(2025, 2, 7), "lesson", None, 1.5, 4),
    ]
    for r, date, note, hin, hout, left in ben:
        ws2.write_datetime(f"A{r}", date, f["date"])
        ws2.write(f"B{r}", note)
        if hin is not None:
            ws2.write_number(f"C{r}", hin)
        if hout is not None:
            _write_any(ws2, f"D{r}", hout, None)
        ws2.write_formula(f"E{r}", f"=E{r - 1}+N(C{r})-N(D{r})" if r > 3 else "=C3", None, left)
    ws2.write("A8", "TOTAL")
    ws2.write_formula("C8", "=SUM(C3:C7)", None, 10)
    ws2.write_number("E8", 4)
    notes = wb.add_worksheet("Notes")
    notes.write("A1", "Ben pays cash, remind him in March")
    wb.close()
    return path


def grid_xlsx(path: Path) -> Path:
    """Layout (c): students down, dates across, hours marked.

    Mess: merged title, month banners merged above the dates (row 2), header on row 3 with dates as
    date cells and as text ("20 Jan" without a year: the title's 2025; "14/02/2025"), marks X, ✓,
    1, 1.5, "1h30", NS, LC, C, an unknown "??", "Bought"/"Left" columns, a blank row, "ana lopez"
    typed in lower case, and a Total row.
    """
    wb, f = _wb(path)
    ws = wb.add_worksheet("Attendance")
    ws.merge_range("A1:J1", "Attendance – hours – spring 2025", f["title"])
    ws.merge_range("C2:E2", "January", f["bold"])
    ws.merge_range("F2:H2", "February", f["bold"])
    ws.write_row("A3", ["Student", "Package"], f["bold"])
    headers = [D(2025, 1, 6), D(2025, 1, 13), "20 Jan", D(2025, 2, 3), "14/02/2025", D(2025, 2, 17)]
    for i, h in enumerate(headers):
        _write_any(ws, xlsxwriter.utility.xl_rowcol_to_cell(2, 2 + i), h, f["date"])
    ws.write_row("I3", ["Bought", "Left"], f["bold"])
    ws.write_row("A4", ["Ana Lopez", "10 hours", "X", "✓", 1, "NS", 1.5, "LC"])
    ws.write_number("I4", 10)
    ws.write_formula("J4", "=I4-3.5", None, 6.5)
    ws.write_row("A5", ["Ben Okafor", "5 hours", 1, None, "1h30", "C", "X", "??"])
    ws.write_number("I5", 5)
    ws.write_formula("J5", "=I5-2.5", None, 2.5)
    ws.write_row("A7", ["ana lopez", None, None, None, None, None, None, None])
    ws.write("H7", "X")
    ws.write("A8", "Total")
    ws.write_formula("C8", '=COUNTA(C4:C7)', None, 2)
    wb.close()
    return path


def totals_grid_xlsx(path: Path) -> Path:
    """Layout (c) with totals only: marks and a "Left" column, but no "Bought" column (no purchases).

    "Gia Rossi" has three lessons marked (X, NS, C) and 7 left; "Hugo Blanc" has no marks and 4 left.
    The importer opens each with an opening balance (the only way to honour a bare total).
    """
    wb, f = _wb(path)
    ws = wb.add_worksheet("Register")
    ws.write_row("A1", ["Student"], f["bold"])
    for i, d in enumerate([D(2025, 1, 6), D(2025, 1, 13), D(2025, 1, 20)]):
        ws.write_datetime(0, 1 + i, d, f["date"])
    ws.write("E1", "Left", f["bold"])
    ws.write_row("A2", ["Gia Rossi", "X", "NS", "C"])
    ws.write_number("E2", 7)
    ws.write("A3", "Hugo Blanc")
    ws.write_number("E3", 4)
    wb.close()
    return path


LOG_CSV_ROWS = [
    "Lesson log exported from the old tablet",
    "",
    "Date;Student;Duration;Status;Notes",
    "05/01/2025;Ana López;1h30;;scales",
    "12/01/2025;Ana Lopez;90 min;;",
    "19/01/2025;Ben Okafor;1:30;NS;",
    "26/01/2025;Ben Okafor;1.5;;",
    "2 Feb 2025;Chloé Martin;2;late cancel;called at 9am",
    "13/02/2025;Chloé Martin;1h;;",
    "14/02/2025;Ben Okafor;xx;;",
    ";;;;",
    "Total;;8.5 h;;",
]


def log_csv(path: Path) -> Path:
    """Layout (d) as CSV: Windows code page (cp1252 'ó', 'é'), semicolons, title line, blank line,
    day-first dates, durations 1h30 / 90 min / 1:30 / 1.5 / 2 (bare numbers are hours), statuses
    NS and 'late cancel', an unreadable duration 'xx', a blank separator and a Total line."""
    path.write_bytes(("\r\n".join(LOG_CSV_ROWS) + "\r\n").encode("cp1252"))
    return path


def log_xlsx(path: Path, rows: int = 0) -> Path:
    """Layout (d) as xlsx: title, header on row 3 (Date | Student | Minutes | Status | Notes).

    With rows=0: ten hand-written rows (dates as cells and text, a duplicate, a Total row).
    With rows=N: N generated lessons for the speed harness (date cells, 25 a day from 40 students,
    30-90 min, every 50th a no-show).
    """
    wb = xlsxwriter.Workbook(str(path), {"constant_memory": rows > 0})
    date_fmt = wb.add_format({"num_format": "yyyy-mm-dd"})
    ws = wb.add_worksheet("Log")
    ws.write("A1", "Lessons 2025")
    ws.write_row("A3", ["Date", "Student", "Minutes", "Status", "Notes"])
    if rows:
        rng = random.Random(6)
        students = [f"Student {i:02d}" for i in range(40)]
        start = D(2020, 1, 1)
        for i in range(rows):
            r = 3 + i
            ws.write_datetime(r, 0, start + dt.timedelta(days=i // 25), date_fmt)
            ws.write_string(r, 1, students[(i * 7) % 40])  # 25 distinct students a day: no duplicates
            ws.write_number(r, 2, rng.choice((30, 45, 60, 90)))
            if i % 50 == 0:
                ws.write_string(r, 3, "NS")
        wb.close()
        return path
    data = [
        (D(2025, 1, 6), "Ana Lopez", 60, None, None),
        (D(2025, 1, 6), "Ben Okafor", 45, None, None),
        ("2025-01-13", "Ana Lopez", 60, "LC", "sick"),
        ("Jan 20, 2025", "Ana Lopez", 90, None, None),
        (D(2025, 1, 20), "Ben Okafor", 45, "no show", None),
        (D(2025, 1, 20), "Ben Okafor", 45, "no show", None),
        (D(2025, 1, 27), "Ana Lopez", "1h", None, None),
    ]
    for i, (date, student, minutes, status, note) in enumerate(data):
        r = 3 + i
        if isinstance(date, dt.datetime):
            ws.write_datetime(r, 0, date, date_fmt)
        else:
            ws.write_string(r, 0, date)
        ws.write_string(r, 1, student)
        if isinstance(minutes, str):
            ws.write_string(r, 2, minutes)
        else:
            ws.write_number(r, 2, minutes)
        if status:
            ws.write_string(r, 3, status)
        if note:
            ws.write_string(r, 4, note)
    ws.write_string(11, 0, "Total")
    ws.write_formula(11, 2, "=SUM(C4:C10)", None, 405)
    wb.close()
    return path


# ----------------------------------------------------------------------------------------------
# Hostile and broken files


def encrypted_xlsx(path: Path, plain: Path) -> Path:
    """A password-protected workbook, as Excel writes one: an OLE container with EncryptionInfo."""
    from msoffcrypto.format.ooxml import OOXMLFile

    with plain.open("rb") as fh, path.open("wb") as out:
        OOXMLFile(fh).encrypt("secret", out)
    return path


def truncated_xlsx(path: Path, plain: Path) -> Path:
    data = plain.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def garbage_xlsx(path: Path) -> Path:
    path.write_bytes(bytes(random.Random(1).randrange(256) for _ in range(4096)))
    return path


def _rewrite(plain: Path, path: Path, replace: dict[str, bytes], compress: int = zipfile.ZIP_DEFLATED) -> None:
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(path, "w", compress) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, replace.get(info.filename, src.read(info.filename)))


def zip_bomb_xlsx(path: Path, plain: Path) -> Path:
    """A workbook whose sharedStrings part inflates 64 MB of zeros from ~64 KB (ratio ~1000:1)."""
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info.filename))
        with dst.open("xl/bomb.xml", "w") as fh:
            block = b"\0" * (1 << 20)
            for _ in range(64):
                fh.write(block)
    return path


def lying_zip_xlsx(path: Path, plain: Path) -> Path:
    """A part whose headers declare 1 KB but which inflates to 8 MB: caught while streaming it."""
    big = b"<x>" + b" " * (8 << 20) + b"</x>"
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info.filename))
        dst.writestr("xl/lie.xml", big)
    data = bytearray(path.read_bytes())
    name = b"xl/lie.xml"
    # Patch the uncompressed size in the local header (offset 22) and the central directory (24).
    for sig, size_off in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        pos = 0
        while (pos := data.find(sig, pos)) >= 0:
            name_off = 30 if sig == b"PK\x03\x04" else 46
            if data[pos + name_off: pos + name_off + len(name)] == name:
                data[pos + size_off: pos + size_off + 4] = (1024).to_bytes(4, "little")
            pos += 4
    path.write_bytes(bytes(data))
    return path


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" uniqueCount="1"><si><t>&lol9;</t></si></sst>"""


def entity_bomb_xlsx(path: Path, plain: Path, part: str = "xl/sharedStrings.xml") -> Path:
    """The billion-laughs DTD planted in one part of an otherwise real workbook."""
    _rewrite(plain, path, {part: BILLION_LAUGHS})
    return path


_SHEET_HEAD = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
               b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">')


def million_rows_xlsx(path: Path, plain: Path, rows: int = 1_000_000, dimension: bool = True) -> Path:
    """Sheet 1 of `plain` replaced by `rows` real rows (one number each), streamed into the zip.

    With dimension=False the sheet has no <dimension> element, so only counting rows catches it.
    """
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as dst:
        for info in src.infolist():
            if info.filename != "xl/worksheets/sheet1.xml":
                dst.writestr(info.filename, src.read(info.filename))
                continue
            with dst.open(info.filename, "w", force_zip64=True) as fh:
                fh.write(_SHEET_HEAD)
                if dimension:
                    fh.write(f'<dimension ref="A1:A{rows}"/>'.encode())
                fh.write(b"<sheetData>")
                for start in range(1, rows + 1, 20_000):
                    stop = min(start + 20_000, rows + 1)
                    fh.write("".join(f'<row r="{i}"><c r="A{i}"><v>1</v></c></row>' for i in range(start, stop)).encode())
                fh.write(b"</sheetData></worksheet>")
    return path


def wide_xlsx(path: Path) -> Path:
    """One value in A1 and one in XFD1: calamine would allocate 16,384 columns per row."""
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("Wide")
    ws.write("A1", "Student")
    ws.write(0, 16383, "far away")
    for r in range(1, 100):
        ws.write(r, 0, f"row {r}")
    ws.write(99, 16383, 1)
    wb.close()
    return path


def bytes_of(path: Path) -> io.BytesIO:
    return io.BytesIO(path.read_bytes())
