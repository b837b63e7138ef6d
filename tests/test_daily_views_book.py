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
    # Alerts has no rows in this story, so it prints no page (nor do Staff, Migration or Outbox): a sheet's
    # print area starts below its header, and a header alone is not a page.
    assert titles == {"Balances", "Packages", "Report"}, [p[:200] for p in pages]
    printed = [p for p in pages if p.strip()]
    for sheet in ("Alerts", "Staff", "Migration", "Outbox", "Statement", "Audit"):
        assert not [p for p in printed if sheet in p.strip().split("\n")[0]], sheet
    for p in printed:  # no page is only its header, the column names and its page number
        lines = [ln for ln in p.split("\n") if ln.strip()]
        assert len(lines) > 3 or "how this workbook works" in p, p
    assert all(p.split("\n")[0].lstrip().startswith("Rossi & Sons Music") for p in owners)
    for p in owners:
        if "Balances" in p.split("\n")[0] or "Packages" in p.split("\n")[0]:
            assert "check" not in p.split()  # the fingerprint column is hidden: not printed
            assert "Page " in p
    balances = next(p for p in owners if "Balances" in p.split("\n")[0])
    assert "shared by the family" in balances and "$532.00" in balances  # the pool once: 19 × $28


def test_issue_13_stories_post_from_a_fresh_workbook_to_the_numbers_worked_out_by_hand(tmp_path):
    from xl_ledger.core import queries

    path = fresh(tmp_path)
    _settings(path, require_upfront="yes")
    week = {"unit": "lessons", "period": "week", "per_period": 1}
    month = {"unit": "lessons", "quantity": 12, "price": 360, "validity": "3 months", "period": "month",
             "per_period": 4}
    type_rows(path, "Products", {
        2: {"product_id": "2W", "name": "2-week pass", "quantity": 2, "price": 70, "validity": "2 weeks", **week},
        3: {"product_id": "COUPON", "name": "Coupon book", "unit": "lessons", "quantity": 10, "price": 200,
            "apply_at": "service"},
        4: {"product_id": "REG2", "name": "Two lessons", "unit": "lessons", "quantity": 2, "price": 60},
        5: {"product_id": "M4", "name": "4 a month", **month},
        6: {"product_id": "M4P", "name": "4 a month from purchase", "period_start": "purchase", **month}})
    type_rows(path, "Students", {i + 2: {"student_id": f"S{i + 1}", "name": f"Student {i + 1}"} for i in range(5)})
    sell = {"action": "sell"}
    type_rows(path, "Actions", {
        2: {**sell, "date": dt.date(2026, 9, 23), "student_id": "S1", "product_id": "2W"},  # a Wednesday
        3: {**sell, "date": dt.date(2026, 11, 1), "student_id": "S2", "product_id": "COUPON"},  # sold first
        4: {**sell, "date": dt.date(2026, 11, 3), "student_id": "S2", "product_id": "REG2"},
        5: {**sell, "date": dt.date(2026, 11, 27), "student_id": "S3", "product_id": "M4"},  # on the 27th
        6: {**sell, "date": dt.date(2026, 11, 27), "student_id": "S4", "product_id": "M4P"}})
    type_rows(path, "Sessions", {
        2: {"session_id": "L1", "date": dt.date(2026, 11, 6), "student_id": "S2", "status": "attended"},
        3: {"session_id": "L2", "date": dt.date(2026, 12, 9), "student_id": "S5", "status": "scheduled",
            "booked_by": "client"}})
    result = post.post(FileStore(path), now=NOW, operator="owner", today=dt.date(2026, 12, 2))  # asked on the 2nd
    # Pay upfront: S5 has no credit, so their booking is blocked in its own row and never logged.
    assert [r for r in result.rejected if "Sessions" in r] == \
        [r for r in result.rejected if "Sessions!G3" in r and "blocked: no credit; sell a package first" in r]
    assert len(result.rejected) == 1
    # Then S2 books a lesson for 10 Dec (upfront: after the sale is posted): it holds the regular pack's last
    # credit, which is still owed to S2 and so still the studio's liability.
    type_rows(path, "Sessions", {4: {"session_id": "L3", "date": dt.date(2026, 12, 10), "student_id": "S2",
                                     "status": "scheduled", "booked_by": "client"}})
    result = post.post(FileStore(path), now=NOW, operator="owner", today=dt.date(2026, 12, 2))
    assert [r for r in result.rejected if "Sessions" in r and "G4" in r] == []
    pk = {r["package_id"]: r for r in records(path, "Packages").values()}
    # 2-week pass: 2 weekly credits (23–29 Sep, 30 Sep – 6 Oct) at $35, both lapsed unused.
    assert (pk["PK-0001"]["total"], pk["PK-0001"]["expired"], pk["PK-0001"]["status"]) == (2, 2, "expired")
    # The lesson of 6 Nov drew the regular pack, not the coupon book sold before it.
    assert (pk["PK-0002"]["remaining"], pk["PK-0003"]["used"], pk["PK-0003"]["remaining"]) == (10, 1, 0)
    # L3's booking holds the regular pack's other credit: nothing left to book, $30 still owed.
    assert (pk["PK-0003"]["reserved"], pk["PK-0003"]["value_remaining"]) == (1, 30)
    # 4 a month, calendar: November's 4 lapsed on 30 Nov; 8 left = $240. From purchase: all 12, $360.
    assert (pk["PK-0004"]["expired"], pk["PK-0004"]["remaining"], pk["PK-0004"]["value_remaining"]) == (4, 8, 240)
    assert (pk["PK-0005"]["expired"], pk["PK-0005"]["remaining"], pk["PK-0005"]["value_remaining"]) == (0, 12, 360)
    # The Report: breakage in the months the lots lapsed (Sep $35, Oct $35, Nov 4 × $30 = $120), no month
    # after today, and the last month's liability = what is left or booked: 200 + 30 + 240 + 360 = $830,
    # the sum of value_remaining on Packages, on Balances, and the Dashboard's liability today.
    report = [r for r in records(path, "Report").values()]
    assert max(r["month"] for r in report) <= "2026-12"
    breakage = {r["month"]: r["breakage"] for r in report}
    assert (breakage["2026-09"], breakage["2026-10"], breakage["2026-11"]) == (35, 35, 120)
    assert report[0]["liability_end"] == 830 == sum(r["value_remaining"] for r in pk.values())
    state = result.state
    assert queries.liability(state) == 830
    assert sum(r["value_remaining"] for r in records(path, "Balances").values()) == 830
    dashboard = next(iter(records(path, "Dashboard").values()))
    assert (dashboard["section"], dashboard["value"]) == ("liability", 830)
