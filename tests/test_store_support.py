"""Helpers for the store tests (no tests here): a workbook built from the schema, sealed log rows.

`build_workbook` writes a small but realistic workbook with XlsxWriter: every schema sheet, input
sheets as Excel tables with a validation, engine sheets protected with column formats and a frozen
header, a user's own sheet with a formula and a chart. `template_or_built` prefers the real
`workbook_template.xlsm` once it exists at the repo root.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import xlsxwriter

from xl_ledger.book import schema
from xl_ledger.core.chain import GENESIS
from xl_ledger.core.chain import LOG_COLUMNS
from xl_ledger.core.chain import seal

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = REPO / "workbook_template.xlsm"

SESSIONS = [
    ("S1", dt.date(2026, 1, 5), "16:30", 60, "ST1", "piano", "attended", "staff", 1, "no", None, "first"),
    ("S2", dt.date(2026, 1, 12), "16:30", 60, "ST1", "piano", "scheduled", "client", 1.5, "no", None, None),
]
ACTIONS = [
    ("sell", dt.date(2026, 1, 2), "ST1", None, "P10", None, None, None, None, None, "new client", None, None, None),
    ("refund", dt.date(2026, 1, 3), "ST1", "PK1", None, None, 25.5, "goodwill", None, None, None, None, None, None),
]


def build_workbook(path: Path, log_rows: list[tuple] = ()) -> Path:
    wb = xlsxwriter.Workbook(str(path))
    date_fmt = wb.add_format({"num_format": "yyyy-mm-dd"})
    money_fmt = wb.add_format({"num_format": "#,##0.00"})
    qty_fmt = wb.add_format({"num_format": "0.00"})
    head_fmt = wb.add_format({"bold": True, "bg_color": "#DDEEFF"})
    formats = {schema.DATE: date_fmt, schema.DATETIME: date_fmt, schema.MONEY: money_fmt, schema.QTY: qty_fmt}
    data = {"Sessions": SESSIONS, "Actions": ACTIONS,
            "Students": [("ST1", "Ann", "F1", "ann@example.com", "yes")],
            "Settings": [("studio_name", "Studio", "name")]}
    for sheet in schema.ALL_SHEETS:
        ws = wb.add_worksheet(sheet.name)
        for i, col in enumerate(sheet.columns):
            ws.set_column(i, i, col.width, formats.get(col.type))
        if sheet.table:
            rows = data.get(sheet.name, [])
            n = max(len(rows), 1)
            options = {"name": sheet.table, "columns": [{"header": h} for h in sheet.headers]}
            if rows:
                options["data"] = [list(r) for r in rows]
            ws.add_table(0, 0, n, len(sheet.columns) - 1, options)
            for r, row in enumerate(rows, start=1):
                for c, v in enumerate(row):
                    if isinstance(v, dt.date):
                        ws.write_datetime(r, c, dt.datetime.combine(v, dt.time()), date_fmt)
            if sheet.name == "Sessions":
                ws.data_validation(1, 6, 500, 6, {"validate": "list", "source": list(schema.LISTS["status"])})
        else:
            ws.write_row(0, 0, sheet.headers, head_fmt)
            ws.freeze_panes(1, 0)
            ws.protect("", {"autofilter": True, "sort": True})
        if sheet.name == "Log":
            for r, row in enumerate(log_rows, start=1):
                ws.write_number(r, 0, row[0])
                for c, v in enumerate(row[1:], start=1):
                    if v:
                        ws.write_string(r, c, v)
    mine = wb.add_worksheet("MyNotes")
    mine.write_row(0, 0, ["month", "lessons"])
    mine.write_row(1, 0, ["Jan", 12])
    mine.write_row(2, 0, ["Feb", 15])
    mine.write_formula(3, 1, "=SUM(B2:B3)", None, 27)
    chart = wb.add_chart({"type": "column"})
    chart.add_series({"categories": "=MyNotes!$A$2:$A$3", "values": "=MyNotes!$B$2:$B$3"})
    mine.insert_chart("D2", chart)
    wb.close()
    return path


def template_or_built(folder: Path, name: str = "studio.xlsm") -> Path:
    """A fresh copy of the real template when it exists, else a workbook built here."""
    target = folder / name
    if TEMPLATE.exists():
        shutil.copyfile(TEMPLATE, target)
        return target
    return build_workbook(target.with_suffix(".xlsx") if name.endswith(".xlsm") else target)


def log_rows(n: int, start: int = 1, prev: str = GENESIS, key: bytes | None = None) -> list[tuple]:
    """n sealed Log rows continuing after seq start-1 whose hash is `prev`, with awkward texts."""
    rows = []
    notes = ["", "plain", "  leading space", "tab\tand\nnewline", "a<b & c>d", "ünïcödé ✓", "cr\rhere",
             "_x0041_ literal", "ctrl\x01char", "0012", "1e5", "=SUM(A1)"]
    for i in range(start, start + n):
        row = [""] * len(LOG_COLUMNS)
        row[0] = i
        row[1] = f"2026-01-{1 + i % 28:02d}T10:00:{i % 60:02d}Z"
        row[2] = "owner"
        row[3] = "sell" if i % 3 else "session"
        row[4] = f"2026-01-{1 + i % 28:02d}"
        row[5] = f"ST{i % 7}"
        row[6] = f"PK{i}"
        row[8] = "10" if i % 2 else "1.5"
        row[9] = "lessons"
        row[10] = "120.50" if i % 3 else ""
        row[12] = notes[i % len(notes)]
        row[13] = f"Actions!{i + 1}"
        row[16] = '{"k": 1}' if i % 5 == 0 else ""
        rows.append(tuple(row))
    return seal(rows, prev, key)
