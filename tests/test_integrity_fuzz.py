"""Issue 12: fuzz with raw Excel cells. The Actions sheet's XML is written by hand, cell by cell, with
what Excel and other programs put there: error cells (t="e"), formula results (t="str"), booleans
(t="b"), ISO dates (t="d"), 1E+308, -0, the date serials -1, 0, 60 and 2958466 in a date-formatted
cell, a shared-string index that does not exist, 10,000-character text, control and zero-width
characters. The real command runs on it: no traceback, every bad row is rejected in its own row with
a message, and every good row is applied."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest
from post_helpers import cli
from post_helpers import records
from post_helpers import studio



def _actions_date_style() -> str:
    """The template's style for the Actions date column, read from its <col> (widths change; the style is what counts)."""
    with zipfile.ZipFile(Path(__file__).resolve().parents[1] / "workbook_template.xlsm") as z:
        wb, rels = z.read("xl/workbook.xml").decode(), z.read("xl/_rels/workbook.xml.rels").decode()
        rid = re.search(r'<sheet [^>]*name="Actions"[^>]*r:id="(rId\d+)"', wb).group(1)
        part = "xl/" + re.search(rf'<Relationship [^>]*Id="{rid}"[^>]*Target="([^"]+)"', rels).group(1)
        return re.search(r'<col min="2" max="2" [^>]*style="(\d+)"', z.read(part).decode()).group(1)


DATE_STYLE = _actions_date_style()


def _inline(ref: str, text: str) -> str:
    text = text.replace("&", "&amp;").replace("<", "&lt;")
    return f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{text}</t></is></c>'


def _row(r: int, date_cell: str | None = None, student: str | None = None, note: str | None = None,
         sst_student: bool = False) -> str:
    cells = [_inline(f"A{r}", "sell"),
             date_cell.replace("{ref}", f"B{r}") if date_cell else _inline(f"B{r}", "2026-03-01"),
             f'<c r="C{r}" t="s"><v>999999</v></c>' if sst_student else _inline(f"C{r}", student or "S1"),
             _inline(f"E{r}", "P10")]
    if note is not None:
        cells.append(_inline(f"K{r}", note))
    return f'<row r="{r}">{"".join(cells)}</row>'


# (what the row holds, its raw cells, whether it is a good row)
CASES = [
    ("good", dict(), True),
    ("error cell", dict(date_cell='<c r="{ref}" t="e"><v>#N/A</v></c>'), False),
    ("formula result text", dict(date_cell='<c r="{ref}" t="str"><f>TEXT(TODAY(),"yyyy-mm-dd")</f><v>2026-03-01</v></c>'),
     True),
    ("boolean", dict(date_cell='<c r="{ref}" t="b"><v>1</v></c>'), False),
    ("ISO date cell", dict(date_cell='<c r="{ref}" t="d"><v>2026-03-01T00:00:00</v></c>'), True),
    ("1E+308", dict(date_cell=f'<c r="{{ref}}" s="{DATE_STYLE}"><v>1E+308</v></c>'), False),
    ("-1E+308", dict(date_cell=f'<c r="{{ref}}" s="{DATE_STYLE}"><v>-1E+308</v></c>'), False),
    ("-0", dict(date_cell=f'<c r="{{ref}}" s="{DATE_STYLE}"><v>-0</v></c>'), False),
    ("serial -1", dict(date_cell=f'<c r="{{ref}}" s="{DATE_STYLE}"><v>-1</v></c>'), False),
    ("serial 0", dict(date_cell=f'<c r="{{ref}}" s="{DATE_STYLE}"><v>0</v></c>'), False),
    ("serial 60", dict(date_cell=f'<c r="{{ref}}" s="{DATE_STYLE}"><v>60</v></c>'), False),
    ("serial 2958466", dict(date_cell=f'<c r="{{ref}}" s="{DATE_STYLE}"><v>2958466</v></c>'), False),
    ("serial 46082 (2026-03-01)", dict(date_cell=f'<c r="{{ref}}" s="{DATE_STYLE}"><v>46082</v></c>'), True),
    ("10k characters", dict(note="x" * 10_000), True),
    ("control character", dict(student="S1_x0007_"), False),
    ("zero-width space", dict(student="S1\u200b"), False),
    ("right-to-left override", dict(student="\u202eS1"), False),
]


def _fuzzed(path, cases=CASES) -> None:
    """Rewrite the Actions part with `cases` from row 2 on (the header row kept as it is)."""
    with zipfile.ZipFile(path) as z:
        wb, rels = z.read("xl/workbook.xml").decode(), z.read("xl/_rels/workbook.xml.rels").decode()
        rid = re.search(r'<sheet [^>]*name="Actions"[^>]*r:id="(rId\d+)"', wb).group(1)
        part = "xl/" + re.search(rf'<Relationship [^>]*Id="{rid}"[^>]*Target="([^"]+)"', rels).group(1)
        parts = {i.filename: z.read(i.filename) for i in z.infolist()}
    xml = parts[part].decode()
    assert re.search(rf'<col min="2" max="2" [^>]*style="{DATE_STYLE}"', xml)  # the date column's style
    body = "".join(_row(i + 2, **cells) for i, (_what, cells, _good) in enumerate(cases))
    xml = re.sub(r'(</row>)(<row r="2".*?</row>)?(</sheetData>)', lambda m: m.group(1) + body + m.group(3), xml,
                 count=1, flags=re.S)
    xml = re.sub(r'<dimension ref="[^"]*"/>', f'<dimension ref="A1:O{len(cases) + 1}"/>', xml)
    parts[part] = xml.encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in parts.items():
            z.writestr(name, data)


def test_raw_cells_never_give_a_traceback_and_each_row_is_answered(tmp_path):
    path = studio(tmp_path)
    _fuzzed(path)
    out = cli("post", str(path), "--today", "2026-03-10")
    assert "Traceback" not in out.stderr and "panicked" not in out.stderr, out.stderr
    assert out.returncode == 5, (out.stdout, out.stderr)  # posted, with the bad rows rejected
    rows = records(path, "Actions")
    for i, (what, _cells, good) in enumerate(CASES):
        row = rows[i + 2]
        if good:
            assert row["status"] == "applied", (what, row)
        else:
            assert row["status"] == "rejected" and row["message"], (what, row)
    assert out.stdout.count("applied  Actions!") == sum(good for *_x, good in CASES)
    assert cli("verify", str(path)).returncode == 0


def test_a_shared_string_index_that_does_not_exist_is_a_damaged_sheet_and_nothing_is_written(tmp_path):
    """The one raw cell that makes the sheet unreadable as a whole (calamine refuses it): exit 4 naming
    the sheet, no traceback, nothing written; the good row is not lost, only not posted yet."""
    path = studio(tmp_path)
    _fuzzed(path, [CASES[0], ("bad shared-string index", dict(sst_student=True), False)])
    before = path.read_bytes()
    out = cli("post", str(path), "--today", "2026-03-10")
    assert out.returncode == 4 and "studio.xlsm!Actions cannot be read" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr and "panicked" not in out.stderr
    assert path.read_bytes() == before
