"""Helpers for the Excel tests (no tests here): xlwings' own in-memory book, built from a workbook file.

`xw.Book(json=...)` is xlwings' remote interpreter (PRO code, used here under its noncommercial key,
in tests only; the product uses only the BSD parts). It holds a snapshot of the workbook and records every edit as an action
for the client to apply. `ExcelClient` plays the client: it applies the actions to the snapshot the
way Excel applies values typed or set through the object model (a leading apostrophe keeps text;
otherwise numbers, dates, TRUE/FALSE and formulas are recognised), then gives a fresh book — which is
how a test "reopens" the workbook after a macro ran.
"""

from __future__ import annotations

import copy
import datetime as dt
import os
import re
from pathlib import Path

from python_calamine import CalamineWorkbook

os.environ.setdefault("XLWINGS_LICENSE_KEY", "noncommercial")  # tests only; the product never sets it

import xlwings as xw  # noqa: E402

_NUMBER = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")


def _json_cell(value: object) -> object:
    """A cell as the xlwings client sends it: dates as ISO text, empty as ''."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.replace(microsecond=0).isoformat() + ".000Z"
    if isinstance(value, dt.date):
        return f"{value.isoformat()}T00:00:00.000Z"
    if isinstance(value, dt.time):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def excel_parse(value: object) -> object:
    """What Excel stores when a script sets a cell to `value` (json form)."""
    if not isinstance(value, str):
        return "" if value is None else value
    if value.startswith("'"):
        return value[1:]
    if value == "":
        return ""
    if value.startswith("="):
        return "#FORMULA " + value  # a formula, not the text: a store that forgets the apostrophe fails
    if _NUMBER.match(value):
        number = float(value)
        return int(number) if number.is_integer() and abs(number) < 2**53 else number
    if value.upper() in ("TRUE", "FALSE"):
        return value.upper() == "TRUE"
    if _DATE.match(value):
        return f"{value}T00:00:00.000Z"
    if _DATETIME.match(value):
        return value.replace(" ", "T") + ".000Z"
    return value


def _used_address(values: list[list]) -> str | None:
    last_row = last_col = 0
    for r, row in enumerate(values, start=1):
        for c, v in enumerate(row, start=1):
            if v not in ("", None):
                last_row = max(last_row, r)
                last_col = max(last_col, c)
    if not last_row:
        return None
    from xl_ledger.book.schema import col_letter

    return f"A1:{col_letter(last_col)}{last_row}"


def defined_names(path: Path) -> list[dict]:
    """The workbook-scope defined names of the file, as xlwings' client sends them."""
    import zipfile
    from xml.etree import ElementTree as ET

    with zipfile.ZipFile(path) as zf:
        root = ET.fromstring(zf.read("xl/workbook.xml"))
    ns = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
    return [{"name": d.get("name"), "refers_to": "=" + (d.text or ""), "book_scope": True, "scope_sheet_index": None,
             "scope_sheet_name": None, "sheet_index": None, "address": None}
            for d in root.iter(f"{ns}definedName")
            if d.get("localSheetId") is None and not d.get("name", "").startswith("_xlnm.")]


def book_json(path: Path, name: str | None = None) -> dict:
    """The snapshot xlwings' client would send for the workbook at `path` (every sheet's values)."""
    wb = CalamineWorkbook.from_path(str(path))
    sheets = []
    for sheet_name in wb.sheet_names:
        rows = wb.get_sheet_by_name(sheet_name).to_python(skip_empty_area=False)
        values = [[_json_cell(v) for v in row] for row in rows] or [[]]
        sheets.append({"name": sheet_name, "values": values, "pictures": [], "tables": [],
                       "used_range_address": _used_address(values)})
    start = next((i for i, s in enumerate(sheets) if s["name"] == "Start"), 0)
    return {"version": xw.__version__, "client": "VBA",
            "book": {"name": name or path.name, "active_sheet_index": start, "selection": "A1"},
            "sheets": sheets, "names": defined_names(path)}


class ExcelClient:
    """The workbook as Excel holds it: give out books, apply what macros did, remember the dialogs."""

    def __init__(self, data: dict):
        self.data = data
        self.alerts: list[dict] = []  # message boxes shown: prompt, title, buttons, mode
        self.book: xw.Book | None = None

    @classmethod
    def from_file(cls, path: Path, name: str | None = None) -> "ExcelClient":
        return cls(book_json(path, name))

    def open(self) -> xw.Book:
        """A fresh in-memory book of the current state, set as the RunPython caller."""
        self.book = xw.Book(json=copy.deepcopy(self.data))
        self.book.set_mock_caller()
        return self.book

    def sheet(self, name: str) -> dict:
        return next(s for s in self.data["sheets"] if s["name"] == name)

    def values(self, name: str) -> list[list]:
        return self.sheet(name)["values"]

    def select(self, sheet: str, address: str) -> xw.Book:
        self.data["book"]["active_sheet_index"] = [s["name"] for s in self.data["sheets"]].index(sheet)
        self.data["book"]["selection"] = address
        return self.open()

    def apply(self, book: xw.Book | None = None) -> list[dict]:
        """Apply the actions `book` recorded (Excel running the macro's edits); returns them."""
        book = book or self.book
        actions = book.json()["actions"]
        for action in actions:
            func = action["func"]
            if func == "setValues":
                sheet = self.data["sheets"][action["sheet_position"]]
                values = sheet["values"]
                top, left = action["start_row"], action["start_column"]
                for i, row in enumerate(action["values"]):
                    r = top + i
                    while len(values) <= r:
                        values.append([])
                    line = values[r]
                    for j, v in enumerate(row):
                        c = left + j
                        line.extend([""] * (c + 1 - len(line)))
                        line[c] = excel_parse(v)
                width = max(len(row) for row in values)
                for row in values:
                    row.extend([""] * (width - len(row)))
                sheet["used_range_address"] = _used_address(values)
            elif func == "rangeClearContents":
                sheet = self.data["sheets"][action["sheet_position"]]
                for r in range(action["start_row"], action["start_row"] + action["row_count"]):
                    for c in range(action["start_column"], action["start_column"] + action["column_count"]):
                        if r < len(sheet["values"]) and c < len(sheet["values"][r]):
                            sheet["values"][r][c] = ""
                sheet["used_range_address"] = _used_address(sheet["values"])
            elif func in ("namesAdd", "setNameRefersTo"):
                name, refers_to = (action["args"][0], action["args"][-1])
                names = [n for n in self.data["names"] if n["name"] != name]
                names.append({"name": name, "refers_to": refers_to, "book_scope": True, "scope_sheet_index": None,
                              "scope_sheet_name": None, "sheet_index": None, "address": None})
                self.data["names"] = names
            elif func == "activateSheet":
                self.data["book"]["active_sheet_index"] = action["args"][0]
            elif func == "rangeSelect":
                from xl_ledger.book.schema import col_letter

                self.data["book"]["active_sheet_index"] = action["sheet_position"]
                self.data["book"]["selection"] = (f"{col_letter(action['start_column'] + 1)}"
                                                  f"{action['start_row'] + 1}")
            elif func == "alert":
                prompt, title, buttons, mode, _callback = action["args"]
                self.alerts.append({"prompt": prompt, "title": title, "buttons": buttons, "mode": mode})
        book.json()["actions"] = []
        return actions

    @property
    def active_sheet(self) -> str:
        return self.data["sheets"][self.data["book"]["active_sheet_index"]]["name"]

    @property
    def selection(self) -> str:
        return self.data["book"]["selection"]
