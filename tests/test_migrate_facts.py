"""Imports that keep every fact of the old sheet (issue 16): each test states what the legacy file says
and asserts the ledger says the same as of the legacy file's own last date and as of the import day.
The legacy files are in tests/legacy_cases.py; studios are real copies of the template."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

import legacy_cases as lc
import legacy_fixtures as lf
from xl_ledger.book.filestore import FileStore
from xl_ledger.template import template_path
from xl_ledger.core import queries
from xl_ledger.core.journal import Journal
from xl_ledger.migrate.importer import ImportRefused
from xl_ledger.migrate.importer import import_legacy
from xl_ledger.migrate.mapping import mapping_path_for
from xl_ledger.post import post

NOW = dt.datetime(2025, 10, 15, 9, 0, tzinfo=dt.timezone.utc)
TODAY = NOW.date()


def studio(folder: Path) -> Path:
    path = folder / "studio.xlsm"
    shutil.copy(template_path(), path)
    return path


def state_of(book: Path, as_of: dt.date):
    return Journal.from_rows(FileStore(book).read_log()).fold(as_of)


def packages(state) -> dict[str, tuple]:
    """product name -> (total, used, remaining) of each imported package."""
    return {p.product.name: (p.granted, p.used, p.remaining) for p in state.packages.values()}


def sheet(book: Path, name: str) -> list[tuple]:
    return [tuple(v) for _r, v in FileStore(book).read_sheet(name).rows]


def posts_clean(book: Path) -> None:
    result = post(FileStore(book), now=NOW, operator="owner")
    assert (result.new_rows, result.rejected) == (0, []), result.summary()


# --------------------------------------------------------------------------- 1. packs in every layout
def test_a_grid_pack_column_becomes_a_purchase(tmp_path):
    legacy = lc.grid_with_pack(tmp_path / "autumn.xlsx")
    book = studio(tmp_path)
    report = import_legacy(legacy, book, operator="owner", now=NOW)
    # Old sheet: Dana pack 8, 4 marks -> 4 left; Eli pack 5, X X NS -> 3 charged -> 2 left.
    assert (report.products, report.packages, report.sessions, report.disagreements) == (2, 2, 7, 0)
    legacy_day = dt.date(2025, 9, 22)
    for as_of in (legacy_day, TODAY):
        s = state_of(book, as_of)
        assert packages(s) == {"Legacy 8 lessons": (8, 4, 4), "Legacy 5 lessons": (5, 3, 2)}
        assert queries.owed(s) == []
    # The "8 Sep" header has no year: the title's 2025 says it; the sales are dated at the first lesson.
    sessions = sheet(book, "Sessions")
    assert sorted({s[1] for s in sessions}) == [dt.date(2025, 9, d) for d in (1, 8, 15, 22)]
    assert [(p[0], p[4], p[5], p[7], p[11]) for p in sheet(book, "Packages")] == [
        ("LEG-P0001", 8, 4, 4, dt.date(2025, 9, 1)), ("LEG-P0002", 5, 3, 2, dt.date(2025, 9, 1))]
    balances = {b[1]: (b[3], b[4], b[5]) for b in sheet(book, "Balances")}
    assert balances == {"Dana Wu": ("lessons", 4, 0), "Eli Park": ("lessons", 2, 0)}
    posts_clean(book)


def test_a_lesson_log_pack_column_becomes_a_purchase_on_its_rows_date(tmp_path):
    legacy = lc.log_with_packs(tmp_path / "piano.xlsx")
    book = studio(tmp_path)
    report = import_legacy(legacy, book, operator="owner", now=NOW)
    # Old sheet: Lia bought 10 on 6 Jan, then 4 lessons (the no-show charged) -> 6 left; Max bought 5 at
    # his first lesson on 20 Jan, then 2 lessons -> 3 left. The purchase-only row is not a lesson.
    assert (report.products, report.packages, report.sessions, report.disagreements, report.held) == (2, 2, 6, 0, 0)
    assert report.as_of == dt.date(2025, 2, 3)
    for as_of in (dt.date(2025, 2, 3), TODAY):
        s = state_of(book, as_of)
        assert packages(s) == {"Legacy 10 lessons": (10, 4, 6), "Legacy 5 lessons": (5, 2, 3)}
        # Liability = 6 × $30 + 3 × $35 = $285 (the Paid column priced each pack).
        assert queries.liability(s) == Decimal("285.00") and queries.owed(s) == []
    # Bought on the row's own date: on 19 Jan Max had nothing yet and Lia had used 2 of her 10.
    s = state_of(book, dt.date(2025, 1, 19))
    assert packages(s) == {"Legacy 10 lessons": (10, 2, 8)}
    assert [(p[0], p[3], p[11]) for p in sheet(book, "Packages")] == [
        ("LEG-P0001", "lessons", dt.date(2025, 1, 6)), ("LEG-P0002", "lessons", dt.date(2025, 1, 20))]
    # The lessons keep their lengths (45 min, "1h") although the packs count lessons.
    assert sorted((v[1], v[3]) for v in sheet(book, "Sessions")) == [
        (dt.date(2025, 1, 6), 45), (dt.date(2025, 1, 13), 45), (dt.date(2025, 1, 20), 45), (dt.date(2025, 1, 20), 60),
        (dt.date(2025, 1, 27), 60), (dt.date(2025, 2, 3), 45)]
    migration = {(m[0], m[1]): m for m in sheet(book, "Migration")}
    assert migration[("Lia Chen (LEG-S001)", "LEG-P0001 Legacy 10 lessons")][5] == "piano.xlsx!Log!B4, piano.xlsx!Log!E4"
    posts_clean(book)


def test_a_pack_cell_repeated_on_every_lesson_row_is_asked_then_read_as_the_mapping_says(tmp_path):
    legacy = lc.log_with_repeated_pack(tmp_path / "lessons.xlsx")
    book = studio(tmp_path)
    before = book.read_bytes()
    report = import_legacy(legacy, book, operator="owner", now=NOW, dry_run=True)
    held = [r[6] for r in report.rows if r[6].startswith("pack_repeated")]
    assert held == ["pack_repeated: lessons.xlsx!Lessons!C4: Ola Berg's pack cell repeats Lessons!C3 (and 1 more of "
                    "Ola Berg's rows), so it is either a new pack bought that day or the pack the lesson drew from. "
                    "The row is held: nothing from this file is imported until it is answered; set \"pack_repeats\" "
                    "for sheet \"Lessons\" in the mapping file to \"same pack\" (the column names the pack in use; "
                    "it was bought where its run starts) or \"purchase\" (each cell is a new pack), or clear the "
                    "repeated cells."]
    with pytest.raises(ImportRefused):
        import_legacy(legacy, book, operator="owner", now=NOW)
    assert book.read_bytes() == before
    # "same pack": one pack of 10 bought on 3 March, 3 lessons drawn -> 7 left, as of the legacy date and today.
    lf.answer(legacy, {}, Lessons={"pack_repeats": "same pack"})
    import_legacy(legacy, book, operator="owner", now=NOW)
    for as_of in (dt.date(2025, 3, 17), TODAY):
        assert packages(state_of(book, as_of)) == {"Legacy 10 lessons": (10, 3, 7)}
    # "purchase": each row bought a new pack of 10 and had a lesson -> 3 packs, 27 left (oldest drawn first).
    other = tmp_path / "other"
    other.mkdir()
    book2 = studio(other)
    lf.answer(legacy, {}, Lessons={"pack_repeats": "purchase"})
    import_legacy(legacy, book2, operator="owner", now=NOW)
    s = state_of(book2, dt.date(2025, 3, 17))
    assert sorted((p.purchased_on.day, p.remaining) for p in s.packages.values()) == [(3, 7), (10, 10), (17, 10)]


# ----------------------------------------------------------------- 2. nothing dated on the import day
def test_rows_without_a_date_are_held_never_dated_on_the_import_day(tmp_path):
    legacy = lc.undated_rows(tmp_path / "tutor.xlsx")
    book = studio(tmp_path)
    before = book.read_bytes()
    report = import_legacy(legacy, book, operator="owner", now=NOW, dry_run=True)
    held = sorted(r[6].split(". The row is held")[0] for r in report.rows if r[6].startswith("undated"))
    assert held == [
        "undated: tutor.xlsx!Hana Kim!A6: the line has no date, and lines above it have one",
        "undated: tutor.xlsx!Packages!C4: Gil Ortiz's purchase (10h pack) shows no date, and no lesson of theirs in "
        "the file says when it was in use"]
    with pytest.raises(ImportRefused) as err:
        import_legacy(legacy, book, operator="owner", now=NOW)
    assert book.read_bytes() == before and err.value.reason == "held"
    assert 'set "undated_purchases_on" for sheet "Packages" in the mapping file' in str(err.value)
    # The owner answers: Gil bought on 20 Feb; Hana's undated lesson was on 10 March.
    lf.answer(legacy, {"Packages!C4": "2025-02-20", "Hana Kim!A6": "2025-03-10"})
    report = import_legacy(legacy, book, operator="owner", now=NOW)
    assert (report.disagreements, report.held, report.as_of) == (0, 0, dt.date(2025, 3, 17))
    # Old sheet: Fay 10 - 4 = 6 h; Gil 10 - 2.5 = 7.5 h (used by his last lesson, 12 Mar); Hana brought
    # forward 5, then 3 lessons -> 2. Nothing is dated on the import day (2025-10-15).
    for as_of, gil, hana in ((dt.date(2025, 3, 11), 10, 3), (dt.date(2025, 3, 17), Decimal("7.5"), 2), (TODAY, Decimal("7.5"), 2)):
        s = state_of(book, as_of)
        ids = {st.name: sid for sid, st in s.students.items()}
        assert (queries.balance(s, ids["Fay Lund"], "hours"), queries.balance(s, ids["Gil Ortiz"], "hours"),
                queries.balance(s, ids["Hana Kim"], "lessons")) == (6, gil, hana)
    dates = {e.event.effective_date for e in Journal.from_rows(FileStore(book).read_log()).entries
             if e.event.reason_code == "migration" and e.event.kind in ("sale", "session_recorded", "adjust")}
    assert max(dates) == dt.date(2025, 3, 17) and min(dates) == dt.date(2025, 2, 3)
    # "Brought forward" above the sheet's first date holds from that date, and says so.
    migration = {(m[0], m[1]): m for m in sheet(book, "Migration")}
    hana = migration[("Hana Kim (LEG-S003)", "LEG-P0003 Legacy opening balance (lessons)")]
    assert "the legacy line has no date; dated 2025-03-03 (tutor.xlsx!Hana Kim!A5, the sheet's first date)" in hana[6]
    posts_clean(book)


def test_undated_purchases_on_answers_a_whole_sheet(tmp_path):
    legacy = lc.undated_rows(tmp_path / "tutor.xlsx")
    lf.answer(legacy, {"Hana Kim!A6": "2025-03-10"}, Packages={"undated_purchases_on": "2025-02-01"})
    book = studio(tmp_path)
    report = import_legacy(legacy, book, operator="owner", now=NOW)
    assert report.held == 0
    gil = [p for p in state_of(book, dt.date(2025, 3, 17)).packages.values() if p.owner == "LEG-S002"]
    assert [(p.purchased_on, p.remaining) for p in gil] == [(dt.date(2025, 2, 1), Decimal("7.5"))]
    assert any(m[6] == 'corrected: tutor.xlsx!Packages!C4: the purchase shows no date; the mapping\'s '
                      '"undated_purchases_on" for sheet Packages dates it 2025-02-01.' for m in sheet(book, "Migration"))


def test_units_come_from_the_header_the_cell_or_the_name_and_are_asked_otherwise(tmp_path):
    legacy = lc.hours_purchases(tmp_path / "tutoring.xlsx")
    book = studio(tmp_path)
    before = book.read_bytes()
    # "Gold" names no unit and the "Bought" header has none: the row is held, nothing is imported.
    with pytest.raises(ImportRefused) as err:
        import_legacy(legacy, book, operator="owner", now=NOW)
    assert err.value.reason == "held" and book.read_bytes() == before
    assert "unit_unclear: tutoring.xlsx!Packages!D7: nothing on the row names the unit" in str(err.value)
    # The owner answers in the saved mapping: Gold is 10 hours.
    saved = mapping_path_for(legacy)
    data = json.loads(saved.read_text(encoding="utf-8"))
    data["corrections"] = {"Packages!D7": "10 hours"}
    saved.write_text(json.dumps(data), encoding="utf-8")
    report = import_legacy(legacy, book, operator="owner", now=NOW)
    assert report.disagreements == 0
    # "10h" -> 10 hours (bought blank), "20 lessons" -> 20 lessons although the sheet looks like hours,
    # "5 x 60 min" -> 5 hours, Gold -> 10 hours (the answer), "5h" -> 5 hours.
    units = {p[0]: p[3] for p in sheet(book, "Packages")}
    assert units == {"LEG-P0001": "hours", "LEG-P0002": "lessons", "LEG-P0003": "hours", "LEG-P0004": "hours",
                     "LEG-P0005": "hours"}


def test_a_product_that_names_lessons_in_an_hours_headed_sheet_is_lessons_when_the_row_agrees(tmp_path):
    legacy = lc.hours_headers_lesson_packs(tmp_path / "mixed.xlsx")
    book = studio(tmp_path)
    before = book.read_bytes()
    # Uma's "20 lessons" under "Hours used" / "Hours left": 20 − 12 = 8 holds in lessons, so it is read
    # as lessons (the header's word is a label, or a lesson is an hour: the same numbers). Wes's
    # "10 lessons" with 4.5 "Hours used" and no "left": how many lessons is 4.5 hours? Asked.
    with pytest.raises(ImportRefused) as err:
        import_legacy(legacy, book, operator="owner", now=NOW)
    assert book.read_bytes() == before
    held = [line for line in str(err.value).splitlines() if line.startswith("  unit_unclear")]
    assert held == ['  unit_unclear: mixed.xlsx!Packages!E6: the header "Hours used" counts hours, but the pack counts '
                    "lessons, and how many lessons 4.5 hours make depends on how long a lesson was. The row is held: "
                    "nothing from this file is imported until it is answered; add a correction for Packages!E6 saying "
                    'what it means in lessons (such as "3 lessons" for 4.5 hours of 90-minute lessons).']
    lf.answer(legacy, {"Packages!E6": "3 lessons"})  # Wes's lessons are 90 minutes (his row's note)
    report = import_legacy(legacy, book, operator="owner", now=NOW)
    assert (report.held, report.disagreements, report.as_of) == (0, 0, dt.date(2025, 4, 4))
    # Old sheet: Uma 20 lessons, 12 used, 8 left; Val 10 h, 2.5 used, 7.5 left; Wes 10 lessons, 3 used
    # (the answer); Xia "Gold" 10, 3 used, 7 left, in hours (only the "Hours used" header names a unit).
    units = {p[0]: p[3] for p in sheet(book, "Packages")}
    assert units == {"LEG-P0001": "lessons", "LEG-P0002": "hours", "LEG-P0003": "lessons", "LEG-P0004": "hours"}
    for as_of in (dt.date(2025, 4, 4), TODAY):
        s = state_of(book, as_of)
        assert packages(s) == {"20 lessons": (20, 12, 8), "10h": (10, Decimal("2.5"), Decimal("7.5")),
                               "10 lessons": (10, 3, 7), "Gold": (10, 3, 7)}
        # 8 × 35 + 7.5 × 45 + 7 × 30 + 7 × 40 = 280 + 337.50 + 210 + 280
        assert queries.liability(s) == Decimal("1107.50")
    migration = {(m[0], m[1]): m[6] for m in sheet(book, "Migration")}
    assert ('unit_read: mixed.xlsx!Packages!E4: the header "Hours used" counts hours, but the pack counts lessons; '
            "the row's own numbers agree in lessons (20 − 12 = 8), so they were read as lessons.") in \
        migration[("Uma Roe (LEG-S001)", "LEG-P0001 20 lessons")]
    posts_clean(book)


def test_a_sheet_whose_unit_only_numbers_suggest_is_asked(tmp_path):
    legacy = lc.grid_numbers_only(tmp_path / "spring.xlsx")
    book = studio(tmp_path)
    report = import_legacy(legacy, book, operator="owner", now=NOW, dry_run=True)
    assert [r[6].split(". The sheet is held")[0] for r in report.rows if r[6].startswith("unit_unclear")] == [
        'unit_unclear: spring.xlsx!Spring!A2: nothing in sheet "Spring" says whether it counts hours or lessons (not '
        "the pack column's header, the title, the pack cells or the marks; numbers like 1.5 are not a reason)"]
    lf.answer(legacy, {}, Spring={"unit": "hours"})
    report = import_legacy(legacy, book, operator="owner", now=NOW)
    # Old sheet: 1 + 1.5 + 1 = 3.5 hours attended, 6.5 left -> an opening of 10 hours before the first lesson.
    assert (report.held, report.disagreements) == (0, 0)
    for as_of in (dt.date(2025, 3, 17), TODAY):
        assert packages(state_of(book, as_of)) == {"Legacy opening balance (hours)": (10, Decimal("3.5"), Decimal("6.5"))}


# ----------------------------------------------------------------------- 2. usage keeps its time
def test_usage_without_dates_is_consumption_on_the_rows_latest_date(tmp_path):
    legacy = lc.hours_purchases(tmp_path / "tutoring.xlsx")
    lf.answer(legacy, {"Packages!D7": "10 hours"})
    book = studio(tmp_path)
    report = import_legacy(legacy, book, operator="owner", now=NOW)
    legacy_day = dt.date(2025, 3, 28)  # the latest date in the old sheet
    assert report.as_of == legacy_day  # the reconciliation compares there
    assert "Legacy figures are compared as of 2025-03-28, the legacy file's last date." in report.lines()
    # Old sheet (total, used, left): Amy 10h 6.5 3.5; Bo 20 lessons 12 8; Cy 5h 1.5 3.5; Di 10h 2 8;
    # Ed 5h, 6 used, -1 left (the debt is item 4 below: 5 used from the pack, 1 hour owed).
    expected = {"10h": (10, Decimal("6.5"), Decimal("3.5")), "20 lessons": (20, 12, 8),
                "5 x 60 min": (5, Decimal("1.5"), Decimal("3.5")), "Gold": (10, 2, 8), "5h": (5, 5, 0)}
    for as_of in (legacy_day, TODAY):
        assert packages(state_of(book, as_of)) == expected
    # Amy's usage is dated at her last lesson (2025-03-20), not the import day: before it she had 10 hours.
    s = state_of(book, dt.date(2025, 3, 19))
    assert packages(s)["10h"] == (10, 0, 10)
    # Liability = Σ value_remaining: Amy 3.5 × 45 + Bo 8 × 35 + Cy 3.5 × 50 + Di 8 × 40 + Ed 0 = 932.50,
    # not the sum of the sales (450 + 700 + 250 + 400 + 250 = 2,050).
    s = state_of(book, legacy_day)
    assert queries.liability(s) == Decimal("932.50")
    assert sum(p.value_remaining for p in s.packages.values()) == Decimal("932.50")
    # The delivered value lands in the Report's months: March holds Amy 6.5 × 45 = 292.50, Bo 12 × 35 =
    # 420, Cy 1.5 × 50 = 75, Di 2 × 40 = 80 and Ed 5 × 50 = 250 (the owed hour has no value) = 1,117.50.
    report = {r[0]: r[1:] for r in sheet(book, "Report")}
    assert report["2025-03"][1] == Decimal("1117.5") and report["2025-03"][6] == Decimal("932.5")  # liability_end
    # Packages shows total and used as the old sheet does (not total = what was left, used 0).
    rows = {p[0]: (p[4], p[5], p[7], p[8]) for p in sheet(book, "Packages")}
    assert rows["LEG-P0001"] == (10, 6.5, 3.5, 157.5)  # total, used, remaining, value_remaining (README's example)
    migration = {(m[0], m[1]): m for m in sheet(book, "Migration")}
    amy = migration[("Amy Chen (LEG-S001)", "LEG-P0001 10h")]
    assert "6.5 hours used before the migration (the row's total, no lesson dates): recorded as one session on " \
           "2025-03-20, its last lesson" in amy[6]
    posts_clean(book)


# ----------------------------------------------------------------------------- 4. debts stay debts
def test_a_negative_remaining_is_an_owed_hour_not_zero(tmp_path):
    legacy = lc.hours_purchases(tmp_path / "tutoring.xlsx")
    lf.answer(legacy, {"Packages!D7": "10 hours"})
    book = studio(tmp_path)
    import_legacy(legacy, book, operator="owner", now=NOW)
    # Ed Ruiz: 5h pack, 6 used, "-1" left, "owes 1h!!": 5 hours drawn from the pack, 1 hour owed.
    for as_of in (dt.date(2025, 3, 28), TODAY):
        s = state_of(book, as_of)
        ed = next(sid for sid, st in s.students.items() if st.name == "Ed Ruiz")
        assert queries.balance(s, ed, "hours") == 0
        assert [(a.quantity, a.unit) for a in queries.owed(s, ed)] == [(1, "hours")]
    balances = {b[1]: (b[4], b[5]) for b in sheet(book, "Balances")}
    assert balances["Ed Ruiz"] == (0, 1)  # remaining 0, one owed session
    migration = {(m[0], m[1]): m for m in sheet(book, "Migration")}
    ed_pkg = migration[("Ed Ruiz (LEG-S005)", "LEG-P0005 5h")]
    assert ed_pkg[2:5] == (-1, -1, 0) and "1 hour used beyond the pack is owed (LEG-L000005), so the debt stays a debt" in ed_pkg[6]
    assert migration[("Ed Ruiz (LEG-S005)", "all hours")][2:5] == (-1, -1, 0)


# ----------------------------------------------------------------------------- 5. no invented facts
def test_facts_the_sheet_does_not_say_are_asked_and_nothing_is_imported_until_answered(tmp_path):
    legacy = lc.facts_not_in_the_sheet(tmp_path / "sales.xlsx")
    book = studio(tmp_path)
    before = book.read_bytes()
    # The dry run shows every finding first.
    report = import_legacy(legacy, book, operator="owner", now=NOW, dry_run=True)
    held = [r[6].split(":", 1)[0] + " " + r[5] for r in report.rows if r[6].startswith(
        ("yearless_date", "foreign_currency", "remaining_mismatch"))]
    assert held == ["yearless_date sales.xlsx!Sales!C3",
                    "remaining_mismatch sales.xlsx!Sales!F5, sales.xlsx!Sales!D5, sales.xlsx!Sales!E5",
                    "foreign_currency sales.xlsx!Sales!G4, sales.xlsx!Sales!A4"]
    assert report.held == 3 and not mapping_path_for(legacy).exists()
    with pytest.raises(ImportRefused) as err:
        import_legacy(legacy, book, operator="owner", now=NOW)
    assert book.read_bytes() == before  # not even Kai's fine row: nothing until everything is answered
    assert '"Sept 20" has no year' in str(err.value) and "the amount is in GBP, but the studio counts in USD" in str(err.value)
    # Nothing became 2000-09-20, and no £550 became $550.
    assert "2000" not in str(err.value)
    # The owner answers: Sept 20 is 2025; £550 was $700; Jo's Remaining cell is wrong (10 - 4 = 6).
    lf.answer(legacy, {"Sales!C3": "2025-09-20", "Sales!G4": "700", "Sales!F5": "6"})
    report = import_legacy(legacy, book, operator="owner", now=NOW)
    assert report.disagreements == 0 and report.held == 0
    # Old sheet (answered): Gus 10 − 4 = 6, Ivy 10 − 2 = 8 ($700), Jo 10 − 4 = 6, Kai 5 − 1 = 4; the
    # legacy date is Gus's 20 Sep. Liability 6 × 30 + 8 × 70 + 6 × 30 + 4 × 32 = 180 + 560 + 180 + 128.
    for as_of in (dt.date(2025, 9, 20), TODAY):
        s = state_of(book, as_of)
        assert sorted((p.purchased_on, p.price, p.granted, p.used, p.remaining) for p in s.packages.values()) == [
            (dt.date(2025, 9, 2), 700, 10, 2, 8), (dt.date(2025, 9, 5), 300, 10, 4, 6),
            (dt.date(2025, 9, 10), 160, 5, 1, 4), (dt.date(2025, 9, 20), 300, 10, 4, 6)]
        assert queries.liability(s) == Decimal("1048.00")
    months = [r[0] for r in sheet(book, "Report")]
    assert months == ["2025-10", "2025-09"]  # no 2000-09 month; the Report runs to the import's month
    findings = [m[6] for m in sheet(book, "Migration") if m[6].startswith("corrected:")]
    assert findings[0] == 'corrected: sales.xlsx!Sales!C3 holds "Sept 20"; the mapping\'s correction reads it as "2025-09-20".'
    posts_clean(book)


def test_yearless_from_answers_a_whole_sheet(tmp_path):
    legacy = lc.facts_not_in_the_sheet(tmp_path / "sales.xlsx")
    lf.answer(legacy, {"Sales!G4": "700", "Sales!F5": "6"}, Sales={"yearless_from": "2025-08-01"})
    book = studio(tmp_path)
    report = import_legacy(legacy, book, operator="owner", now=NOW)
    assert report.held == 0
    # "Sept 20" is the first 20 September on or after 2025-08-01.
    for as_of in (dt.date(2025, 9, 20), TODAY):
        gus = [p for p in state_of(book, as_of).packages.values() if p.owner == "LEG-S001"]
        assert [(p.purchased_on, p.remaining) for p in gus] == [(dt.date(2025, 9, 20), 6)]


@pytest.mark.parametrize("text, size", [
    ("20 lessons", (20, "lessons", None)), ("10h", (10, "hours", None)), ("5 x 60 min", (5, "hours", 5)),
    ("4 × 90 mins", (6, "hours", 4)), ("90 min", (Decimal("1.5"), "hours", None)), ("10-pack", (10, None, None)),
    ("Gold", None), ("Pack (lessons)", None),
])
def test_pack_size_from_a_name(text, size):
    from xl_ledger.migrate.units import pack_size

    assert (tuple(pack_size(text)) if pack_size(text) else None) == size


@pytest.mark.parametrize("header, unit", [("Pack (lessons)", "lessons"), ("Hours bought", "hours"), ("Credits", "lessons"),
                                          ("Bought", None), ("Package", None), ("Lessons (hours)", None)])
def test_unit_of_a_header(header, unit):
    from xl_ledger.migrate.units import unit_of_text

    assert unit_of_text(header) == unit


# ------------------------------------------------------------------------------------- 3. families
def test_a_parent_column_makes_families_and_a_family_pack_is_shared(tmp_path):
    legacy = lc.siblings_purchases(tmp_path / "families.xlsx")
    book = studio(tmp_path)
    report = import_legacy(legacy, book, operator="owner", now=NOW)
    assert report.disagreements == 0
    students = {v[1]: v[2] for v in sheet(book, "Students")}
    # "Lin Wu" and "lin wu " are one parent: Mia and Noah are siblings; Pia's row names no parent.
    assert students == {"Mia Wu": "LEG-F001", "Noah Wu": "LEG-F001", "Oli Berg": "LEG-F002", "Pia Sand": None}
    shared = {v[1]: v[10] for v in sheet(book, "Products")}
    assert shared == {"Family pack 20 lessons": "yes", "10 lessons": None, "Siblings pack 10 lessons": None}  # blank = no
    for as_of in (dt.date(2025, 9, 5), TODAY):
        s = state_of(book, as_of)
        ids = {st.name: sid for sid, st in s.students.items()}
        # Old sheet: Mia's family pack 20 - 6 = 14, Noah's own 10 - 3 = 7; Noah may draw on the family pack.
        assert queries.balance(s, ids["Mia Wu"]) == 14
        assert queries.balance(s, ids["Noah Wu"]) == 7 + 14
        assert queries.balance(s, ids["Oli Berg"]) == 8 and queries.balance(s, ids["Pia Sand"]) == 9
    migration = [m for m in sheet(book, "Migration")]
    pia = next(m for m in migration if m[0] == "Pia Sand (LEG-S004)" and m[1] is None)
    assert '"Siblings pack 10 lessons" sounds like a pack for the family, but no parent or family column names' in pia[6]
    assert any(m[6] == 'import: family LEG-F001 ("Lin Wu"): Mia Wu, Noah Wu' for m in migration)
    # Each student's own row agrees with the old sheet (a sibling's shared pack is not in her row).
    assert {m[0]: m[2:5] for m in migration if m[1] == "all lessons"}["Noah Wu (LEG-S002)"] == (7, 7, 0)
    posts_clean(book)


def test_a_session_that_names_its_package_draws_only_from_it():
    """The engine rule the import's usage relies on: a session with a package_id is pinned to that
    package, even when an older package would come first in the draw order; with no credit left there
    it is owed, never taken from the other package."""
    from studio import Studio
    from xl_ledger.core import events as E

    s = Studio(today="2026-03-01")
    s.product("TEN", "lessons", 10, 200)
    s.student("S1")
    old = s.sell("S1", "TEN", "2026-01-05")
    new = s.sell("S1", "TEN", "2026-02-01")
    s._append([E.SessionRecorded(effective_date=dt.date(2026, 2, 10), student_id="S1", session_id="U1",
                                 quantity=Decimal(12), status="attended", package_id=new)])
    state = s.state()
    # 10 of the 12 from the newer pack, 2 owed; the older pack keeps its 10.
    assert (state.packages[old].remaining, state.packages[new].used, state.packages[new].remaining) == (10, 10, 0)
    assert [a.quantity for a in queries.owed(state, "S1")] == [2]


# ---------------------------------------------------------------------------------- the round trip
def export_tracking_sheet(state, path: Path) -> Path:
    """A ledger written out as the plain sheet a studio would keep: one row per package (student,
    family, product, bought with its unit, used, remaining, price, purchase and last lesson dates).
    A student's owed sessions go on their latest package of that unit, as a tracking sheet shows a
    debt: used more than bought, remaining below zero."""
    import xlsxwriter

    owed: dict[tuple[str, str], Decimal] = {}
    for a in queries.owed(state):
        owed[(a.student_id, a.unit)] = owed.get((a.student_id, a.unit), Decimal(0)) + a.quantity
    latest = {}
    for p in sorted(state.packages.values(), key=lambda p: (p.purchased_on, p.package_id)):
        latest[(p.owner, p.unit)] = p.package_id
    last_use: dict[str, dt.date] = {}
    for a in state.allocations:
        if a.package_id and a.state == "used":
            last_use[a.package_id] = max(a.date, last_use.get(a.package_id, a.date))
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("Tracking")
    datef = wb.add_format({"num_format": "yyyy-mm-dd"})
    ws.write_row(0, 0, ["Student", "Family", "Product", "Purchased", "Bought", "Used", "Remaining", "Price", "Last lesson"])
    for r, p in enumerate(sorted(state.packages.values(), key=lambda p: p.package_id), start=1):
        debt = owed.get((p.owner, p.unit), Decimal(0)) if latest[(p.owner, p.unit)] == p.package_id else Decimal(0)
        ws.write(r, 0, state.students[p.owner].name)
        ws.write(r, 1, state.students[p.owner].family_id or "")
        ws.write(r, 2, p.product.name)
        ws.write_datetime(r, 3, dt.datetime.combine(p.purchased_on, dt.time()), datef)
        ws.write(r, 4, f"{p.granted} {p.unit}")
        ws.write_number(r, 5, float(p.used + debt))
        ws.write_number(r, 6, float(p.remaining - debt))
        ws.write_number(r, 7, float(p.price))
        if p.package_id in last_use:
            ws.write_datetime(r, 8, dt.datetime.combine(last_use[p.package_id], dt.time()), datef)
    wb.close()
    return path


def facts(state) -> tuple:
    """What must survive the round trip: balances by name and unit, owed, families (as groups of names), liability."""
    balances = {(st.name, u): queries.balance(state, sid, u) for sid, st in state.students.items()
                for u in queries.units_of(state, sid)}
    owed = sorted((state.students[a.student_id].name, a.unit, a.quantity) for a in queries.owed(state))
    families: dict[str, list[str]] = {}
    for st in state.students.values():
        if st.family_id:
            families.setdefault(st.family_id, []).append(st.name)
    return balances, owed, sorted(sorted(v) for v in families.values()), queries.liability(state)


def test_a_ledger_exported_to_a_plain_sheet_imports_with_the_same_facts(tmp_path):
    from studio import Studio

    s = Studio(today="2026-03-01")
    s.product("FAM5H", "hours", 5, 250, name="Family 5 hours", shared="yes")
    s.product("P5", "lessons", 5, 110, name="5 lessons")
    s.product("P10", "lessons", 10, 200, name="10 lessons")
    for sid, name, fam in [("S1", "Ana Lopez", "F-LOPEZ"), ("S2", "Ben Lopez", "F-LOPEZ"), ("S3", "Cleo Diaz", None),
                           ("S4", "Dev Okafor", "F-OKAFOR")]:
        s.student(sid, name, fam)
    s.sell("S1", "FAM5H", "2026-01-10")
    s.sell("S2", "P5", "2026-01-06")
    s.sell("S3", "P5", "2026-01-07")
    s.sell("S4", "P10", "2026-01-08")
    s.sell("S4", "P10", "2026-02-20")
    s.session("A1", "2026-01-12", "S1", minutes=90)
    s.session("A2", "2026-01-19", "S1", minutes=60)
    s.session("B1", "2026-01-13", "S2")
    s.session("B2", "2026-01-20", "S2", status="no_show")
    for i, date in enumerate(["2026-01-14", "2026-01-21", "2026-01-28", "2026-02-04", "2026-02-11", "2026-02-18"]):
        s.session(f"C{i}", date, "S3")  # Cleo: 6 lessons on a 5-pack, one owed
    for i in range(3):
        s.session(f"D{i}", f"2026-02-{2 + 7 * i:02d}", "S4")
    before = s.state("2026-03-01")
    # By hand: Ana's family pack 5 - 1.5 - 1 = 2.5 hours (Ben may use it too); Ben 5 - 2 = 3 lessons;
    # Cleo 5 - 6 = 0 left and 1 lesson owed; Dev 10 - 3 = 7 and 10 unused. Liability 2.5 × 50 + 3 × 22
    # + 0 + 7 × 20 + 10 × 20 = 125 + 66 + 140 + 200 = 531.
    assert facts(before)[3] == Decimal("531.00")
    assert facts(before)[1] == [("Cleo Diaz", "lessons", 1)]

    legacy = export_tracking_sheet(before, tmp_path / "tracking.xlsx")
    book = studio(tmp_path)
    report = import_legacy(legacy, book, operator="owner", now=dt.datetime(2026, 3, 1, 9, tzinfo=dt.timezone.utc))
    assert report.disagreements == 0 and report.held == 0
    after = state_of(book, dt.date(2026, 3, 1))
    assert facts(after) == facts(before), (facts(after), facts(before))
    posts_clean_on = post(FileStore(book), now=dt.datetime(2026, 3, 1, 9, tzinfo=dt.timezone.utc), operator="owner")
    assert (posts_clean_on.new_rows, posts_clean_on.rejected) == (0, [])


def test_the_reconciliation_folds_again_only_when_the_legacy_date_can_read_differently():
    from studio import Studio
    from xl_ledger.migrate.reconcile import same_as_of

    s = Studio(today="2026-03-01")
    s.product("TEN", "lessons", 10, 200)
    s.student("S1")
    s.sell("S1", "TEN", "2026-01-05")
    today = s.state("2026-03-01")
    assert same_as_of(s.journal, today, dt.date(2026, 1, 31))  # nothing after it, nothing can lapse
    assert not same_as_of(s.journal, today, dt.date(2026, 1, 1))  # the sale is dated after it
    s.product("MONTH", "lessons", 4, 80, validity="1 month")
    s.sell("S1", "MONTH", "2026-01-06")
    assert not same_as_of(s.journal, s.state("2026-03-01"), dt.date(2026, 1, 31))  # a pack that expires


# ------------------------------------------------------------------ 6. the reconciliation CSV is safe
def test_the_reconciliation_csv_escapes_cells_a_spreadsheet_would_run(tmp_path):
    import csv
    import io

    legacy = tmp_path / "log.csv"
    legacy.write_text('Date,Student,Minutes,Notes\n2025-01-06,"=HYPERLINK(""http://x"",""hi"")",60,\n'
                      "2025-01-07,@SUM(1+1),60,+ok\n2025-01-08,-Bo,60,\n", encoding="utf-8")
    book = studio(tmp_path)
    report = import_legacy(legacy, book, operator="owner", now=NOW)
    data = report.csv_path.read_bytes()
    rows = list(csv.reader(io.StringIO(data[3:].decode("utf-8"))))
    students = {r[0] for r in rows[1:] if r[0]}
    # Each name is text that starts with the spreadsheet's text mark, never a formula.
    assert students == {"'=HYPERLINK(\"http://x\",\"hi\") (LEG-S001)", "'@SUM(1+1) (LEG-S002)", "'-Bo (LEG-S003)"}
    # Numbers stay numbers, exact: a lesson log without purchases owes each hour (-1 is a number, not text).
    assert {(r[0], r[3]) for r in rows[1:] if r[1] == "all hours"} == {
        ("'=HYPERLINK(\"http://x\",\"hi\") (LEG-S001)", "-1"), ("'@SUM(1+1) (LEG-S002)", "-1"), ("'-Bo (LEG-S003)", "-1")}
    # The Migration sheet keeps the names as they are (a cell, not a CSV): the Log says what was typed.
    assert {m[0] for m in sheet(book, "Migration") if m[1] == "all hours"} == {
        '=HYPERLINK("http://x","hi") (LEG-S001)', "@SUM(1+1) (LEG-S002)", "-Bo (LEG-S003)"}
