"""Each legacy layout, built as a real file by tests/legacy_fixtures.py, read into the records we expect."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
from decimal import Decimal

import pytest

import legacy_fixtures as lf
from xl_ledger.migrate import read_legacy
from xl_ledger.migrate.records import LegacyLesson

d = dt.date


def _one(result, kind):
    found = result.findings_of(kind)
    assert len(found) == 1, [f.message for f in result.findings]
    return found[0]


@pytest.fixture(scope="module")
def purchases(tmp_path_factory):
    path = lf.purchases_xlsx(tmp_path_factory.mktemp("a") / "purchases.xlsx")
    return read_legacy(path, save=False)


def test_purchases_layout_and_header_detected(purchases):
    sheet = purchases.mapping.for_sheet("Packages")
    assert (sheet.layout, sheet.header_row, sheet.unit) == ("purchases", 4, "lessons")
    assert sheet.columns == {"student": "A", "package": "B", "purchased_on": "C", "quantity": "D", "used": "E",
                             "remaining": "F", "price": "G", "paid": "H", "expires_on": "I"}
    assert purchases.mapping.day_first is True  # "15/01/2025" can only be day-first
    assert purchases.mapping.for_sheet("Prices").layout == "ignore"


def test_purchases_records(purchases):
    by_row = {p.row_cell.rsplit("!", 1)[1]: p for p in purchases.purchases}
    assert sorted(by_row) == ["A10", "A11", "A12", "A13", "A14", "A15", "A5", "A6", "A8", "A9"]
    ana = by_row["A5"]
    assert (ana.student, ana.package_label, ana.purchased_on, ana.quantity, ana.unit) == ("Ana Lopez", "10-pack", d(2025, 1, 5), 10, "lessons")
    assert (ana.price, ana.paid, ana.expires_on, ana.stated_used, ana.stated_remaining) == (200, 200, d(2025, 7, 5), 10, 0)
    assert ana.cells["stated_remaining"] == "purchases.xlsx!Packages!F5"
    assert ana.cells["package_label"] == "purchases.xlsx!Packages!B5" and ana.cells["purchased_on"] == "purchases.xlsx!Packages!C5"
    ben = by_row["A6"]  # text date, "€110", paid "yes" = full price, text expiry
    assert (ben.purchased_on, ben.price, ben.paid, ben.expires_on, ben.stated_remaining) == (d(2025, 1, 15), Decimal("110"), Decimal("110"), d(2025, 7, 15), 3)
    ana2 = by_row["A8"]  # "2 Mar 2025", "200 EUR", partly paid; remaining 3 from a formula's cached value
    assert (ana2.student, ana2.purchased_on, ana2.price, ana2.paid, ana2.stated_remaining) == ("Ana López", d(2025, 3, 2), 200, 100, 3)
    assert ana2.expires_on == d(2025, 9, 2)
    dev = by_row["A10"]
    assert (dev.paid, dev.stated_remaining) == (0, 16)  # "no" paid; the broken formula's cached 16
    assert by_row["A13"].paid == Decimal("100.00") and by_row["A13"].student == "lopez, ana"
    # Frank's name is merged down over rows 14-15: both purchases are his.
    assert [(p.student, p.quantity, p.purchased_on) for p in (by_row["A14"], by_row["A15"])] == [
        ("Frank Moreau", 5, d(2025, 1, 20)), ("Frank Moreau", 10, d(2025, 3, 15))]
    assert by_row["A9"].expires_on is None and "expires_on" not in by_row["A9"].cells


def test_purchases_findings(purchases):
    assert sorted({f.kind for f in purchases.findings}) == [
        "duplicate_row", "ignored_sheet", "name_variant", "remaining_mismatch", "skipped_total", "unreadable_cell"]
    mismatch = _one(purchases, "remaining_mismatch")
    assert mismatch.cells[0] == "purchases.xlsx!Packages!F10"
    assert "leaves 9" in mismatch.message and "row 9" in mismatch.message
    assert _one(purchases, "duplicate_row").cells == ("purchases.xlsx!Packages!A11", "purchases.xlsx!Packages!A12")
    assert _one(purchases, "skipped_total").cells == ("purchases.xlsx!Packages!A17",)
    bad = _one(purchases, "unreadable_cell")
    assert bad.cells == ("purchases.xlsx!Packages!I9",) and "ask Maria" in bad.message
    variant = _one(purchases, "name_variant")
    assert all(s in variant.message for s in ('"Ana Lopez"', '"Ana López"', '"lopez, ana"'))
    assert set(variant.cells) == {"purchases.xlsx!Packages!A5", "purchases.xlsx!Packages!A8", "purchases.xlsx!Packages!A13"}
    # never merged: three students, each with its own cells
    assert {"Ana Lopez", "Ana López", "lopez, ana"} <= set(purchases.students)
    assert purchases.students["Ana López"].cells == ("purchases.xlsx!Packages!A8",)
    assert len({purchases.students[n].match_key for n in ("Ana Lopez", "Ana López", "lopez, ana")}) == 1


def test_running_balance(tmp_path):
    legacy = lf.balance_xlsx(tmp_path / "balance.xlsx")
    res = read_legacy(legacy, save=False)
    ana_map, ben_map = res.mapping.for_sheet("Ana Lopez"), res.mapping.for_sheet("Ben")
    # Ana's sheet says "Bought", "Used", "Balance" and "Bought 10-pack": nothing names the unit, and
    # whole numbers are no reason for lessons. The sheet is held until the mapping says it.
    assert (ana_map.layout, ana_map.header_row, ana_map.student, ana_map.unit) == ("running_balance", 4, "Ana Lopez", None)
    assert [(f.kind, f.cells) for f in res.held()] == [("unit_unclear", ("balance.xlsx!Ana Lopez!A4",))]
    assert not [x for x in res.balance_lines if x.student == "Ana Lopez"]
    lf.answer(legacy, {}, **{"Ana Lopez": {"unit": "lessons"}})
    res = read_legacy(legacy)
    ana_map = res.mapping.for_sheet("Ana Lopez")
    assert (ana_map.unit, res.held()) == ("lessons", [])
    assert (ben_map.layout, ben_map.header_row, ben_map.student, ben_map.unit) == ("running_balance", 2, "Ben", "hours")
    ana = [(x.date, x.delta, x.stated_balance, x.kind, x.note) for x in res.balance_lines if x.student == "Ana Lopez"]
    assert ana == [
        (d(2025, 1, 5), 10, 10, "purchase", "Bought 10-pack"),
        (d(2025, 1, 12), -1, 9, "lesson", "Lesson"),
        (d(2025, 1, 19), -1, 8, "lesson", "Lesson"),
        (d(2025, 1, 26), -1, 7, "lesson", "Late cancel"),
        (d(2025, 1, 26), -1, 6, "lesson", "Late cancel"),
        (d(2025, 2, 2), -1, 5, "lesson", "Lesson"),
        (d(2025, 2, 9), -1, 5, "lesson", "Lesson"),
        (d(2025, 3, 1), 5, 10, "purchase", "Bought 5-pack"),
    ]
    ben = [(x.date, x.delta, x.stated_balance) for x in res.balance_lines if x.student == "Ben"]
    assert ben == [(d(2025, 1, 10), 10, 10), (d(2025, 1, 17), Decimal("-1.5"), Decimal("8.5")), (d(2025, 1, 24), Decimal("-1.5"), 7),
                   (d(2025, 1, 31), Decimal("-1.5"), Decimal("5.5")), (d(2025, 2, 7), Decimal("-1.5"), 4)]
    assert [(s.student, s.unit, s.stated_remaining, s.cell) for s in res.stated_balances] == [
        ("Ana Lopez", "lessons", 10, "balance.xlsx!Ana Lopez!E13"), ("Ben", "hours", 4, "balance.xlsx!Ben!E7")]
    twice = _one(res, "duplicate_row")  # the late cancel counted twice
    assert twice.cells == ("balance.xlsx!Ana Lopez!A8", "balance.xlsx!Ana Lopez!A9") and "counted twice" in twice.message
    off = _one(res, "balance_mismatch")
    assert off.cells == ("balance.xlsx!Ana Lopez!E11",) and "gives 4" in off.message
    assert _one(res, "skipped_total").cells == ("balance.xlsx!Ben!A8",)
    assert _one(res, "ignored_sheet").cells == ("balance.xlsx!Notes!A1",)


def test_attendance_grid(tmp_path):
    res = read_legacy(lf.grid_xlsx(tmp_path / "grid.xlsx"), save=False)
    m = res.mapping.for_sheet("Attendance")
    assert (m.layout, m.header_row, m.date_columns, m.unit) == ("attendance_grid", 3, "C:H", "hours")
    assert m.columns == {"student": "A", "package": "B", "quantity": "I", "remaining": "J"}
    got = [(x.student, x.date, x.minutes, x.mark, x.cell.rsplit("!", 1)[1]) for x in res.lessons]
    assert got == [
        ("Ana Lopez", d(2025, 1, 6), None, "attended", "C4"),   # X: a usual-length lesson
        ("Ana Lopez", d(2025, 1, 13), None, "attended", "D4"),  # ✓
        ("Ana Lopez", d(2025, 1, 20), 60, "attended", "E4"),    # 1 (hours) under "20 Jan": year from the title
        ("Ana Lopez", d(2025, 2, 3), None, "no_show", "F4"),
        ("Ana Lopez", d(2025, 2, 14), 90, "attended", "G4"),    # 1.5 under text "14/02/2025"
        ("Ana Lopez", d(2025, 2, 17), None, "late_cancel", "H4"),
        ("Ben Okafor", d(2025, 1, 6), 60, "attended", "C5"),
        ("Ben Okafor", d(2025, 1, 20), 90, "attended", "E5"),   # "1h30"
        ("Ben Okafor", d(2025, 2, 3), None, "cancelled", "F5"),
        ("Ben Okafor", d(2025, 2, 14), None, "attended", "G5"),
        ("ana lopez", d(2025, 2, 17), None, "attended", "H7"),
    ]
    assert all(x.unit == "hours" and x.credits is None for x in res.lessons)
    assert [(p.student, p.package_label, p.quantity, p.purchased_on, p.stated_remaining) for p in res.purchases] == [
        ("Ana Lopez", "10 hours", 10, None, Decimal("6.5")), ("Ben Okafor", "5 hours", 5, None, Decimal("2.5"))]
    assert [(s.student, s.stated_remaining, s.cell) for s in res.stated_balances] == [
        ("Ana Lopez", Decimal("6.5"), "grid.xlsx!Attendance!J4"), ("Ben Okafor", Decimal("2.5"), "grid.xlsx!Attendance!J5")]
    assert _one(res, "unreadable_cell").cells == ("grid.xlsx!Attendance!H5",)
    assert _one(res, "skipped_total").cells == ("grid.xlsx!Attendance!A8",)
    assert set(_one(res, "name_variant").cells) == {"grid.xlsx!Attendance!A4", "grid.xlsx!Attendance!A7"}


def test_lesson_log_csv_cp1252(tmp_path):
    res = read_legacy(lf.log_csv(tmp_path / "log.csv"), save=False)
    m = res.mapping.for_sheet("log")
    assert (m.layout, m.header_row, m.unit, m.duration_bare) == ("lesson_log", 3, "hours", "hours")
    assert res.mapping.day_first is True
    got = [(x.student, x.date, x.minutes, x.mark, x.note) for x in res.lessons]
    assert got == [
        ("Ana López", d(2025, 1, 5), 90, "attended", "scales"),
        ("Ana Lopez", d(2025, 1, 12), 90, "attended", None),
        ("Ben Okafor", d(2025, 1, 19), 90, "no_show", "NS"),
        ("Ben Okafor", d(2025, 1, 26), 90, "attended", None),
        ("Chloé Martin", d(2025, 2, 2), 120, "late_cancel", "late cancel; called at 9am"),
        ("Chloé Martin", d(2025, 2, 13), 60, "attended", None),
        ("Ben Okafor", d(2025, 2, 14), None, "attended", None),
    ]
    assert res.lessons[0].cell == "log.csv!log!A4"
    bad = _one(res, "unreadable_cell")
    assert bad.cells == ("log.csv!log!C10",) and '"xx"' in bad.message
    assert _one(res, "skipped_total").cells == ("log.csv!log!A12",)
    assert set(_one(res, "name_variant").cells) == {"log.csv!log!B4", "log.csv!log!B5"}


def test_lesson_log_xlsx(tmp_path):
    res = read_legacy(lf.log_xlsx(tmp_path / "log.xlsx"), save=False)
    m = res.mapping.for_sheet("Log")
    assert (m.layout, m.header_row, m.duration_bare) == ("lesson_log", 3, "minutes")
    got = [(x.student, x.date, x.minutes, x.mark) for x in res.lessons]
    assert got == [
        ("Ana Lopez", d(2025, 1, 6), 60, "attended"), ("Ben Okafor", d(2025, 1, 6), 45, "attended"),
        ("Ana Lopez", d(2025, 1, 13), 60, "late_cancel"), ("Ana Lopez", d(2025, 1, 20), 90, "attended"),
        ("Ben Okafor", d(2025, 1, 20), 45, "no_show"), ("Ben Okafor", d(2025, 1, 20), 45, "no_show"),
        ("Ana Lopez", d(2025, 1, 27), 60, "attended"),
    ]
    assert _one(res, "duplicate_row").cells == ("log.xlsx!Log!A8", "log.xlsx!Log!A9")
    assert isinstance(res.lessons[0], LegacyLesson)


def test_day_first_option_overrides_detection(tmp_path):
    res = read_legacy(lf.log_csv(tmp_path / "log.csv"), day_first=False, save=False)
    assert res.mapping.day_first is False
    # "05/01/2025" is now 1 May; "19/01/2025" cannot be month-first and is reported, not guessed.
    assert res.lessons[0].date == d(2025, 5, 1)
    assert any(f.cells == ("log.csv!log!A6",) for f in res.findings_of("unreadable_cell"))


@pytest.mark.libreoffice
def test_xls_converted_by_libreoffice(tmp_path):
    """No Python writer for .xls with cached formula values exists in our deps (xlwt writes no cached
    results), so LibreOffice converts the purchases fixture, as a studio's old Excel would have saved it."""
    soffice = shutil.which("soffice")
    if soffice is None:
        if os.environ.get("XL_LEDGER_REQUIRE_LIBREOFFICE"):
            pytest.fail("soffice is required here but missing")
        pytest.skip("LibreOffice (soffice) is not installed; it is the only .xls writer available")
    src = lf.purchases_xlsx(tmp_path / "purchases.xlsx")
    out = tmp_path / "out"
    subprocess.run([soffice, f"-env:UserInstallation=file://{tmp_path}/profile", "--headless", "--convert-to", "xls",
                    "--outdir", str(out), str(src)], check=True, capture_output=True, timeout=180, start_new_session=True)
    res = read_legacy(out / "purchases.xls", save=False)
    assert res.mapping.for_sheet("Packages").header_row == 4
    got = [(p.student, p.purchased_on, p.quantity, p.stated_remaining) for p in res.purchases]
    assert got[:3] == [("Ana Lopez", d(2025, 1, 5), 10, 0), ("Ben Okafor", d(2025, 1, 15), 5, 3), ("Ana López", d(2025, 3, 2), 10, 3)]
    assert len(got) == 10
    assert res.findings_of("remaining_mismatch")[0].cells[0] == "purchases.xls!Packages!F10"
