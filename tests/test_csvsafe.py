"""Every CSV the product writes escapes text that a spreadsheet would run as a formula. Checked with an
independent reader: LibreOffice opens the CSV and saves it as xlsx, and no cell may be a formula."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import openpyxl
from libreoffice import convert
from libreoffice import require_soffice

from xl_ledger import csvsafe
from xl_ledger.migrate import reconcile

HOSTILE = ["=1+1", "+1+1", "-1+1", "@SUM(1+1)", "\t=1+1", "\r=1+1", "  =1+1", '=HYPERLINK("http://x","y")',
           "-", "Ann Rossi", "O'Brien"]


def test_text_is_escaped_and_numbers_stay_numbers():
    assert csvsafe.row(["=1+1", "@x", "-2", "Ann", Decimal("-3.50"), -3, None, dt.date(2026, 3, 1), True]) == \
        ["'=1+1", "'@x", "'-2", "Ann", "-3.5", "-3", "", "2026-03-01", "TRUE"]


def test_libreoffice_opens_every_hostile_name_as_text(tmp_path):
    require_soffice()
    rows = [(name, Decimal("-2.5"), 3) for name in HOSTILE]
    path = tmp_path / "names.csv"
    path.write_bytes(csvsafe.to_bytes(("name", "difference", "count"), rows))
    wb = openpyxl.load_workbook(convert(path, "xlsx", tmp_path / "out"))
    ws = wb.active
    got = list(ws.iter_rows(min_row=2))
    assert len(got) == len(HOSTILE)
    for (name, diff, count), typed in zip(got, HOSTILE):
        assert name.data_type == "s" and name.value == csvsafe.escape(typed).replace("\r", "\n"), \
            (name.value, name.data_type, typed)
        assert diff.value == -2.5 and count.value == 3  # numbers are still numbers


def test_the_migration_report_csv_goes_through_the_helper():
    rows = [("=cmd|' /C calc'!A0", "PK-1 Ten lessons", Decimal(10), Decimal(7), Decimal(-3), "A2", "+note")]
    text = reconcile.to_csv(rows).decode("utf-8-sig")
    assert "'=cmd|" in text and ",'+note" in text and ",-3," in text
