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
