"""Legacy files for the cases where an import used to change the facts (issue 16), written the way
studios write them: title rows, merged banners and headers, totals rows, mixed date formats, units in
headers, notes in cells. Each builder's docstring states what the old sheet says; the tests in
tests/test_migrate_facts.py assert the ledger says the same.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import xlsxwriter

D = dt.datetime


def _wb(path: Path):
    wb = xlsxwriter.Workbook(str(path))
    f = {
        "date": wb.add_format({"num_format": "yyyy-mm-dd"}),
        "title": wb.add_format({"bold": True, "font_size": 14, "align": "center"}),
        "bold": wb.add_format({"bold": True, "align": "center"}),
        "usd": wb.add_format({"num_format": "$#,##0.00"}),
    }
    return wb, f


def _cell(ws, r: int, c: int, v, f) -> None:
    if isinstance(v, dt.datetime):
        ws.write_datetime(r, c, v, f["date"])
    elif v is not None:
        ws.write(r, c, v)


def grid_with_pack(path: Path) -> Path:
    """An attendance grid whose pack size is a column headed "Pack (lessons)".

    Row 1 title "Group classes – autumn 2025" (merged), row 2 a "September" banner merged over the
    dates, row 3 the header: Student | Pack (lessons) | 1 Sep (date cell) | "8 Sep" (text, no year:
    the title's) | "15/09/2025" (text, day first) | 22 Sep (date cell) | Used | Left.
    The old sheet says:  Dana Wu   pack 8,  X X X X   used 4, left 4   (=B4-G4)
                         Eli Park  pack 5,  X . NS X  used 3, left 2
    and a "Total" row. The legacy date is 2025-09-22.
    """
    wb, f = _wb(path)
    ws = wb.add_worksheet("Autumn")
    ws.merge_range("A1:H1", "Group classes – autumn 2025", f["title"])
    ws.merge_range("C2:F2", "September", f["bold"])
    for c, h in enumerate(["Student", "Pack (lessons)", D(2025, 9, 1), "8 Sep", "15/09/2025", D(2025, 9, 22), "Used", "Left"]):
        _cell(ws, 2, c, h, f)
    rows = [("Dana Wu", 8, ["X", "X", "X", "X"], 4, 4), ("Eli Park", 5, ["X", None, "NS", "X"], 3, 2)]
    for i, (name, pack, marks, used, left) in enumerate(rows):
        r = 3 + i
        ws.write(r, 0, name)
        ws.write_number(r, 1, pack)
        for j, m in enumerate(marks):
            _cell(ws, r, 2 + j, m, f)
        ws.write_formula(r, 6, f"=COUNTA(C{r + 1}:F{r + 1})", None, used)
        ws.write_formula(r, 7, f"=B{r + 1}-G{r + 1}", None, left)
    ws.write(6, 0, "Total")
    ws.write_formula(6, 1, "=SUM(B4:B5)", None, 13)
    ws.write_formula(6, 7, "=SUM(H4:H5)", None, 6)
    wb.close()
    return path


def hours_purchases(path: Path) -> Path:
    """A tutor's purchases list that *looks* like hours (1.5, 6.5 used) with product names that say
    the unit, "Hours used" columns and no lesson dates.

    Row 1 "Tutoring 2025" (merged), row 2 blank, header row 3:
      Student | Package | Purchased | Bought | Used | Left | Last lesson | Price | Notes
    The old sheet says (legacy date 2025-03-28, the latest date in it):
      Amy Chen  "10h"         2025-01-10  (blank)  6.5 used  3.5 left  last 2025-03-20  $450
      Bo Li     "20 lessons"  2025-02-01  20      12 used    8 left    last 2025-03-28  $700
      Cy Diaz   "5 x 60 min"  "3/1/2025"  5        1.5 used  3.5 left  (none)           $250
      Di Fox    "Gold"        2025-03-05  10       2 used    8 left    (none)           $400  <- no unit anywhere
      Ed Ruiz   "5h"          2025-02-10  5        6 used   -1 left    last 2025-03-14  $250  "owes 1h!!"
    and a "Total" row.
    """
    wb, f = _wb(path)
    ws = wb.add_worksheet("Packages")
    ws.merge_range("A1:I1", "Tutoring 2025", f["title"])
    for c, h in enumerate(["Student", "Package", "Purchased", "Bought", "Used", "Left", "Last lesson", "Price", "Notes"]):
        ws.write(2, c, h, f["bold"])
    rows = [
        ("Amy Chen", "10h", D(2025, 1, 10), None, 6.5, 3.5, D(2025, 3, 20), 450, None),
        ("Bo Li", "20 lessons", D(2025, 2, 1), 20, 12, 8, D(2025, 3, 28), 700, None),
        ("Cy Diaz", "5 x 60 min", "3/1/2025", 5, 1.5, 3.5, None, 250, None),
        ("Di Fox", "Gold", D(2025, 3, 5), 10, 2, 8, None, 400, None),
        ("Ed Ruiz", "5h", D(2025, 2, 10), 5, 6, -1, D(2025, 3, 14), 250, "owes 1h!!"),
    ]
    for i, row in enumerate(rows):
        r = 3 + i
        for c, v in enumerate(row):
            if c == 7:
                ws.write_number(r, c, v, f["usd"])
            else:
                _cell(ws, r, c, v, f)
    ws.write(9, 0, "Total")
    ws.write_formula(9, 7, "=SUM(H4:H8)", None, 2050)
    wb.close()
    return path


def facts_not_in_the_sheet(path: Path) -> Path:
    """Rows that say something the importer cannot know, in a USD studio.

    Header on row 2 under a title; columns Client | Pack | Date | Lessons bought | Used | Remaining | Paid.
      Gus Hale   10-pack  "Sept 20"     10  4  6   $300    <- no year
      Ivy Moss   10-pack  2025-09-02    10  2  8   "£550"  <- pounds in a dollar studio
      Jo Park    10-pack  2025-09-05    10  4  5   $300    <- 10 - 4 is not 5
      Kai Ng     5-pack   2025-09-10     5  1  4   $160    <- fine
    """
    wb, f = _wb(path)
    ws = wb.add_worksheet("Sales")
    ws.write(0, 0, "Front desk sales – autumn")
    for c, h in enumerate(["Client", "Pack", "Date", "Lessons bought", "Used", "Remaining", "Paid"]):
        ws.write(1, c, h, f["bold"])
    rows = [
        ("Gus Hale", "10-pack", "Sept 20", 10, 4, 6, 300),
        ("Ivy Moss", "10-pack", D(2025, 9, 2), 10, 2, 8, "£550"),
        ("Jo Park", "10-pack", D(2025, 9, 5), 10, 4, 5, 300),
        ("Kai Ng", "5-pack", D(2025, 9, 10), 5, 1, 4, 160),
    ]
    for i, row in enumerate(rows):
        for c, v in enumerate(row):
            if c == 6 and not isinstance(v, str):
                ws.write_number(2 + i, c, v, f["usd"])
            else:
                _cell(ws, 2 + i, c, v, f)
    wb.close()
    return path


def siblings_purchases(path: Path) -> Path:
    """A purchases list with a "Parent / family" column and family packs.

    Row 1 title, row 2 merged banners ("Who" over A:B, "Lessons" over E:G), row 3 the header:
      Student | Parent / family | Package | Date | Bought | Used | Left | Price
    The old sheet says (legacy date 2025-09-05):
      Mia Wu    "Lin Wu"    "Family pack 20 lessons"    2025-09-01  20  6  14  $500
      Noah Wu   "lin wu "   "10 lessons"                2025-09-03  10  3   7  $280   <- same parent, typed loosely
      Oli Berg  "Sara Berg" "10 lessons"                2025-09-04  10  2   8  $280
      Pia Sand  (blank)     "Siblings pack 10 lessons"  2025-09-05  10  1   9  $260   <- shared with whom?
    """
    wb, f = _wb(path)
    ws = wb.add_worksheet("Families")
    ws.merge_range("A1:H1", "Kids' piano – families", f["title"])
    ws.merge_range("A2:B2", "Who", f["bold"])
    ws.merge_range("E2:G2", "Lessons", f["bold"])
    for c, h in enumerate(["Student", "Parent / family", "Package", "Date", "Bought", "Used", "Left", "Price"]):
        ws.write(2, c, h, f["bold"])
    rows = [
        ("Mia Wu", "Lin Wu", "Family pack 20 lessons", D(2025, 9, 1), 20, 6, 14, 500),
        ("Noah Wu", "lin wu ", "10 lessons", D(2025, 9, 3), 10, 3, 7, 280),
        ("Oli Berg", "Sara Berg", "10 lessons", D(2025, 9, 4), 10, 2, 8, 280),
        ("Pia Sand", None, "Siblings pack 10 lessons", D(2025, 9, 5), 10, 1, 9, 260),
    ]
    for i, row in enumerate(rows):
        for c, v in enumerate(row):
            _cell(ws, 3 + i, c, v, f)
    wb.close()
    return path


def log_with_packs(path: Path) -> Path:
    """A lesson log (one row per lesson) whose packs are a "Pack (lessons)" column, as a piano teacher
    keeps it: title "Piano – lesson log 2025" merged over the columns, a blank row, the header on row 3:
      Date | Student | Length | Status | Pack (lessons) | Paid | Notes
    Dates are date cells, "13/01/2025" typed as text (day first) and "3 Feb 2025"; lengths "45 min",
    45, "1h". A pack bought before the first lesson is a row of its own; Max bought his at his first
    lesson (the same row). The old sheet says (legacy date 2025-02-03):
      Lia Chen  bought 10 on 2025-01-06 ($300); lessons 06/01, 13/01, NS 20/01, 03/02 -> 4 used, 6 left
      Max Roy   bought 5 on 2025-01-20 ($175) at his first lesson; lessons 20/01, 27/01 -> 2 used, 3 left
    and a "Total" row (Paid $475). Liability: 6 x $30 + 3 x $35 = $285.
    """
    wb, f = _wb(path)
    ws = wb.add_worksheet("Log")
    ws.merge_range("A1:G1", "Piano – lesson log 2025", f["title"])
    for c, h in enumerate(["Date", "Student", "Length", "Status", "Pack (lessons)", "Paid", "Notes"]):
        ws.write(2, c, h, f["bold"])
    rows = [
        (D(2025, 1, 6), "Lia Chen", None, None, 10, 300, "bought 10 (cash)"),
        (D(2025, 1, 6), "Lia Chen", "45 min", None, None, None, "scales"),
        ("13/01/2025", "Lia Chen", 45, None, None, None, None),
        (D(2025, 1, 20), "Max Roy", "1h", None, 5, 175, "new pack, first lesson"),
        (D(2025, 1, 20), "Lia Chen", 45, "NS", None, None, "no call"),
        (D(2025, 1, 27), "Max Roy", "1h", None, None, None, None),
        ("3 Feb 2025", "Lia Chen", "45 min", None, None, None, None),
    ]
    for i, row in enumerate(rows):
        for c, v in enumerate(row):
            if c == 5 and v is not None:
                ws.write_number(3 + i, c, v, f["usd"])
            else:
                _cell(ws, 3 + i, c, v, f)
    ws.write(11, 0, "Total")
    ws.write_formula(11, 5, "=SUM(F4:F10)", f["usd"], 475)
    wb.close()
    return path


def log_with_repeated_pack(path: Path) -> Path:
    """A lesson log whose "Package" column names the pack on every lesson row ("10 lessons"), under a
    title row. Is each "10 lessons" a new pack, or the one the lesson drew from? The sheet cannot say.
      Date | Student | Package | Minutes
      2025-03-03 Ola Berg "10 lessons" 60;  2025-03-10 "10 lessons" 60;  2025-03-17 "10 lessons" 60
    (legacy date 2025-03-17; read as one pack: 10 bought, 3 used, 7 left).
    """
    wb, f = _wb(path)
    ws = wb.add_worksheet("Lessons")
    ws.write(0, 0, "Lessons – spring")
    for c, h in enumerate(["Date", "Student", "Package", "Minutes"]):
        ws.write(1, c, h, f["bold"])
    for i, d in enumerate((3, 10, 17)):
        _cell(ws, 2 + i, 0, D(2025, 3, d), f)
        ws.write_row(2 + i, 1, ["Ola Berg", "10 lessons", 60])
    wb.close()
    return path


def undated_rows(path: Path) -> Path:
    """Rows that show no date, in a tutor's file (legacy date 2025-03-17).

    Sheet "Packages" (title row, header on row 2): Student | Package | Date bought | Hours bought |
    Hours used | Hours left | Last lesson | Price
      Fay Lund   "10h pack"  2025-02-03  10  4    6    2025-03-10    $400
      Gil Ortiz  "10h pack"  (blank)     10  2.5  7.5  "12 Mar 2025" $400   <- when was it bought?
    and a Total row. Sheet "Hana Kim" (a running balance under "Student: Hana Kim"):
      Date | Description | In | Out | Lessons left
      (blank)     "Brought forward"          5     <- carried in: holds from the sheet's first date
      2025-03-03  Lesson               1     4
      (blank)     Lesson               1     3     <- which day? asked
      2025-03-17  Lesson               1     2
    """
    wb, f = _wb(path)
    ws = wb.add_worksheet("Packages")
    ws.write(0, 0, "Tutoring – packages")
    for c, h in enumerate(["Student", "Package", "Date bought", "Hours bought", "Hours used", "Hours left",
                           "Last lesson", "Price"]):
        ws.write(1, c, h, f["bold"])
    rows = [("Fay Lund", "10h pack", D(2025, 2, 3), 10, 4, 6, D(2025, 3, 10), 400),
            ("Gil Ortiz", "10h pack", None, 10, 2.5, 7.5, "12 Mar 2025", 400)]
    for i, row in enumerate(rows):
        for c, v in enumerate(row):
            if c == 7:
                ws.write_number(2 + i, c, v, f["usd"])
            else:
                _cell(ws, 2 + i, c, v, f)
    ws.write(4, 0, "Total")
    ws.write_formula(4, 7, "=SUM(H3:H4)", f["usd"], 800)
    hk = wb.add_worksheet("Hana Kim")
    hk.write(0, 0, "Student: Hana Kim")
    for c, h in enumerate(["Date", "Description", "In", "Out", "Lessons left"]):
        hk.write(2, c, h, f["bold"])
    lines = [(None, "Brought forward", None, None, 5), (D(2025, 3, 3), "Lesson", None, 1, 4),
             (None, "Lesson", None, 1, 3), (D(2025, 3, 17), "Lesson", None, 1, 2)]
    for i, row in enumerate(lines):
        for c, v in enumerate(row):
            _cell(hk, 3 + i, c, v, f)
    wb.close()
    return path


def hours_headers_lesson_packs(path: Path) -> Path:
    """An hours-looking sheet ("Hours used", "Hours left") whose products name their own unit.

    Row 1 "Lessons & tutoring 2025" (merged), row 2 a "Usage" banner merged over E:F, header row 3:
      Student | Package | Purchased | Bought | Hours used | Hours left | Price | Notes
    The old sheet says (legacy date 2025-04-04):
      Uma Roe  "20 lessons"  2025-04-01  20  12   8    $700                 <- 20 − 12 = 8: lessons
      Val Kim  "10h"         2025-04-02  10  2.5  7.5  $450
      Wes Cho  "10 lessons"  "4/3/2025"  10  4.5  (blank) $300 "lessons are 90 min"  <- 4.5 h = how many lessons?
      Xia Lo   "Gold"        2025-04-04  10  3    7    $400                 <- only the header names a unit: hours
    and a "Total" row.
    """
    wb, f = _wb(path)
    ws = wb.add_worksheet("Packages")
    ws.merge_range("A1:H1", "Lessons & tutoring 2025", f["title"])
    ws.merge_range("E2:F2", "Usage", f["bold"])
    for c, h in enumerate(["Student", "Package", "Purchased", "Bought", "Hours used", "Hours left", "Price", "Notes"]):
        ws.write(2, c, h, f["bold"])
    rows = [
        ("Uma Roe", "20 lessons", D(2025, 4, 1), 20, 12, 8, 700, None),
        ("Val Kim", "10h", D(2025, 4, 2), 10, 2.5, 7.5, 450, None),
        ("Wes Cho", "10 lessons", "4/3/2025", 10, 4.5, None, 300, "lessons are 90 min"),
        ("Xia Lo", "Gold", D(2025, 4, 4), 10, 3, 7, 400, None),
    ]
    for i, row in enumerate(rows):
        for c, v in enumerate(row):
            if c == 6:
                ws.write_number(3 + i, c, v, f["usd"])
            else:
                _cell(ws, 3 + i, c, v, f)
    ws.write(7, 0, "Total")
    ws.write_formula(7, 6, "=SUM(G4:G7)", f["usd"], 1850)
    wb.close()
    return path


def grid_numbers_only(path: Path) -> Path:
    """An attendance grid whose marks are bare numbers (1, 1.5) and whose title, headers and cells name
    no unit: "Attendance – spring 2025" (merged), header row 2: Student | 3 Mar 2025 | 10 Mar | 17 Mar | Left.
      Ria Sol   1   1.5   1   Left 6.5       (legacy date 2025-03-17)
    1.5 looks like hours, but could be a lesson and a half: the importer asks.
    """
    wb, f = _wb(path)
    ws = wb.add_worksheet("Spring")
    ws.merge_range("A1:E1", "Attendance – spring 2025", f["title"])
    ws.write(1, 0, "Student", f["bold"])
    for i, d in enumerate((3, 10, 17)):
        ws.write_datetime(1, 1 + i, D(2025, 3, d), f["date"])
    ws.write(1, 4, "Left", f["bold"])
    ws.write_row(2, 0, ["Ria Sol", 1, 1.5, 1, 6.5])
    wb.close()
    return path
