"""Issue 13's stories posted through a real workbook from the template, read back by other programs."""

from __future__ import annotations

import datetime as dt

import openpyxl
from post_helpers import NOW
from post_helpers import fresh
from post_helpers import records
from post_helpers import type_rows

from xl_ledger import post
from xl_ledger.book.filestore import FileStore


def _settings(path, **values) -> None:
    rows = {r: {"value": values[row["key"]]} for r, row in FileStore(path).read_sheet("Settings").records()
            if row["key"] in values}
    type_rows(path, "Settings", rows)


def test_a_gbp_studio_shows_pounds_in_every_money_cell_and_flags_a_dollar_amount_in_its_cell(tmp_path):
    path = fresh(tmp_path)
    _settings(path, currency="GBP")
    type_rows(path, "Products", {2: {"product_id": "P10", "name": "Ten lessons", "unit": "lessons", "quantity": 10,
                                     "price": "£300"},
                                 3: {"product_id": "P5", "name": "Five lessons", "unit": "lessons", "quantity": 5,
                                     "price": "$150"}})
    type_rows(path, "Students", {2: {"student_id": "S1", "name": "Ann"}})
    type_rows(path, "Actions", {2: {"action": "sell", "date": dt.date(2026, 3, 1), "student_id": "S1",
                                    "product_id": "P10"},
                                3: {"action": "sell", "date": dt.date(2026, 3, 1), "student_id": "S1",
                                    "product_id": "P10", "amount": "$280"}})
    result = post.post(FileStore(path), now=NOW, operator="owner", today=dt.date(2026, 3, 10))
    # "$150" and "$280" name dollars in a pound studio: each is flagged in its own cell, nothing guessed.
    assert any("Products!E3" in r and "GBP" in r for r in result.rejected), result.rejected
    actions = records(path, "Actions")
    assert actions[2]["status"] == "applied" and actions[3]["status"] == "rejected"
    assert "GBP" in actions[3]["message"]
    # openpyxl (not our reader) sees every money column formatted in pounds: the engine's and the inputs'.
    wb = openpyxl.load_workbook(path)
    value = wb["Packages"]["I2"]
    assert value.value == 300 and value.number_format == '"£"#,##0.00'
    assert wb["Products"]["E2"].number_format == '"£"#,##0.00'
    assert "$" not in "".join(str(c.number_format) for ws in wb for row in ws.iter_rows(max_row=3) for c in row)


def test_the_owners_sheets_print_with_the_studio_the_sheet_and_the_as_of_date_and_no_check_column(tmp_path):
    """LibreOffice prints the posted workbook; every Balances and Packages page carries the header, and the
    engine's fingerprint column neither shows nor prints."""
    import shutil
    import subprocess

    from libreoffice import convert
    from post_helpers import studio

    path = studio(tmp_path)
    _settings(path, studio_name="Rossi & Sons Music")
    type_rows(path, "Actions", {2: {"action": "sell", "date": dt.date(2026, 3, 1), "student_id": "S1",
                                    "product_id": "FAM"}})
    type_rows(path, "Sessions", {2: {"session_id": "L1", "date": dt.date(2026, 3, 2), "student_id": "S2",
                                     "status": "attended"}})
    post.post(FileStore(path), now=NOW, operator="owner", today=dt.date(2026, 3, 10))
    pdf = convert(path, "pdf", tmp_path / "out")
    assert shutil.which("pdftotext"), "poppler-utils (pdftotext) is needed"
    pages = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True,
                           check=True).stdout.split("\f")
    owners = [p for p in pages if "as of 2026-03-10" in p]
    titles = {name for p in owners for name in ("Balances", "Packages", "Alerts", "Report") if name in p.split("\n")[0]}
    assert titles == {"Balances", "Packages", "Alerts", "Report"}, [p[:200] for p in pages]
    assert all(p.split("\n")[0].lstrip().startswith("Rossi & Sons Music") for p in owners)
    for p in owners:
        if "Balances" in p.split("\n")[0] or "Packages" in p.split("\n")[0]:
            assert "check" not in p.split()  # the fingerprint column is hidden: not printed
            assert "Page " in p
    balances = next(p for p in owners if "Balances" in p.split("\n")[0])
    assert "shared by the family" in balances and "$532.00" in balances  # the pool once: 19 × $28
