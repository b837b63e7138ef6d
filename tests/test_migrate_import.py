"""Phase 2: each legacy layout imported into a real studio workbook (a copy of the template), with the
balances and reconciliation lines we expect, then verified and posted: the Log chains, and a Post
right after the import finds nothing to add, reject or call deleted."""

from __future__ import annotations

import csv
import datetime as dt
import io
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

import legacy_fixtures as lf
from xl_ledger.book.filestore import FileStore
from xl_ledger.template import template_path
from xl_ledger.core import chain
from xl_ledger.migrate.importer import import_legacy
from xl_ledger.post import post

NOW = dt.datetime(2025, 4, 15, 10, 0, tzinfo=dt.timezone.utc)
COL = chain.COL


def studio(folder: Path) -> Path:
    path = folder / "studio.xlsm"
    shutil.copy(template_path(), path)
    return path


def run(folder: Path, build, name: str, answers: dict | None = None, **kw):
    legacy = build(folder / name)
    if answers is not None:
        lf.answer(legacy, answers)
    book = studio(folder)
    report = import_legacy(legacy, book, operator="owner", now=NOW, **kw)
    return report, FileStore(book)


def migration(store: FileStore) -> dict[tuple[str, str], tuple]:
    """The Migration sheet read back from the file: (student, package) -> (legacy, recomputed, diff, cells, finding)."""
    out = {}
    for _r, v in store.read_sheet("Migration").rows:
        v = tuple(v) + (None,) * (7 - len(v))
        key = (v[0] or "", v[1] or "")
        if key == ("", ""):
            key = ("finding", v[6].split(":", 1)[0] + ":" + (v[5] or ""))
        out[key] = tuple(None if x is None else (Decimal(str(x)) if isinstance(x, (int, float)) else x) for x in v[2:])
    return out


def balances(store: FileStore) -> dict[tuple[str, str], Decimal]:
    return {(v[0], v[3]): Decimal(str(v[4])) for _r, v in store.read_sheet("Balances").rows}


def log(store: FileStore) -> list[tuple]:
    return store.read_log()


def assert_posts_clean(store: FileStore) -> None:
    rows = store.read_log()
    assert chain.verify(rows) is None
    result = post(store, now=NOW, operator="owner")
    assert (result.new_rows, result.rejected, result.notices) == (0, [], []), result.summary()
    assert chain.verify(store.read_log()) is None
    assert len(store.read_log()) == len(rows)


# ------------------------------------------------------------------------------- purchases layout
@pytest.fixture(scope="module")
def purchases(tmp_path_factory):
    return run(tmp_path_factory.mktemp("p"), lf.purchases_xlsx, "purchases.xlsx", lf.PURCHASES_ANSWERS)


def test_purchases_reconciliation(purchases):
    report, store = purchases
    m = migration(store)
    P = "purchases.xlsx!Packages!"
    # Dev: the Remaining formula in F10 points at row 9 (=D9-E9, 16). The row was held until the owner's
    # correction said 9 (10 bought - 1 used); the report keeps what the cell held.
    legacy, recomputed, diff, cells, finding = m[("Dev Patel (LEG-S005)", "LEG-P0005 10-pack")]
    assert (legacy, recomputed, diff) == (9, 9, 0)
    assert cells.startswith(f"{P}F10, {P}A10, {P}D10, {P}E10")
    assert f'corrected: {P}F10 holds "16"; the mapping\'s correction reads it as "9"' in finding
    assert "1 lesson used before the migration (the row's total, no lesson dates): recorded as one session on " \
           "2025-02-10, the purchase date" in finding
    assert "paid 0 of 200" in finding
    assert m[("Dev Patel (LEG-S005)", "all lessons")][:3] == (9, 9, 0)
    # Every row agrees with its own Remaining cell: usage is consumption, so Ben has 5 - 2 = 3 left.
    assert m[("Ben Okafor (LEG-S002)", "LEG-P0002 5-pack")][:4] == (3, 3, 0, f"{P}F6, {P}A6, {P}D6, {P}E6")
    assert m[("Ana López (LEG-S003)", "LEG-P0003 10-pack")][:3] == (3, 3, 0)
    assert "paid 100 of 200" in m[("Ana López (LEG-S003)", "LEG-P0003 10-pack")][4]
    assert m[("Frank Moreau (LEG-S008)", "all lessons")][:3] == (8, 8, 0)  # 5-pack used up + 10-pack with 8
    emma = m[("Emma Schulz (LEG-S006)", "all lessons")]
    assert emma[:3] == (10, 10, 0) and "Rows 11 and 12 of Packages are the same purchase" in emma[4]
    assert "name_variant: may be the same person as" in m[("Ana Lopez (LEG-S001)", "all lessons")][4]
    # Phase-1 findings are rows of their own.
    assert m[("finding", f"unreadable_cell:{P}I9")][4].startswith('unreadable_cell: purchases.xlsx!Packages!I9 holds "ask Maria"')
    assert ("finding", f"skipped_total:{P}A17") in m
    assert ("finding", f"name_variant:{P}A5, {P}A8, {P}A13") in m
    assert ("finding", f"corrected:{P}G6") in m
    assert report.disagreements == 0 and (report.students, report.packages, report.sessions) == (8, 10, 7)


def test_purchases_balances_and_log(purchases):
    _report, store = purchases
    b = balances(store)
    assert b[("LEG-S005", "lessons")] == 9 and b[("LEG-S008", "lessons")] == 8 and b[("LEG-S001", "lessons")] == 0
    rows = log(store)
    assert all(r[COL["reason_code"]] == "migration" and r[COL["operator"]] == "owner" for r in rows)
    assert all(r[COL["source"]].startswith("purchases.xlsx!Packages!") for r in rows)
    dev = [r for r in rows if r[COL["package_id"]] == "LEG-P0005"]
    # Dev's "used 1" is a session on the purchase date (the row shows no later date), drawn from that
    # row's package, not an adjustment dated on the import day.
    assert [(r[COL["kind"]], r[COL["effective_date"]], r[COL["quantity"]], r[COL["amount"]], r[COL["source"]]) for r in dev] == [
        ("sale", "2025-02-10", "10", "200", "purchases.xlsx!Packages!A10"),
        ("session_recorded", "2025-02-10", "1", "", "purchases.xlsx!Packages!E10")]
    packages = {v[0]: v[4:8] for _r, v in store.read_sheet("Packages").rows}
    assert packages["LEG-P0005"] == (10, 1, 0, 9)  # total, used, reserved, remaining: as the old sheet says
    products = {v[0]: v[1:5] for _r, v in store.read_sheet("Products").rows}
    assert products == {"LEG-10L-200": ("10-pack", "lessons", 10, 200), "LEG-5L-110": ("5-pack", "lessons", 5, 110),
                        "LEG-20L-380": ("20-pack", "lessons", 20, 380), "LEG-5L-100": ("5-pack", "lessons", 5, 100)}
    assert [v[:2] for _r, v in store.read_sheet("Students").rows][:3] == [
        ("LEG-S001", "Ana Lopez"), ("LEG-S002", "Ben Okafor"), ("LEG-S003", "Ana López")]


def test_purchases_csv_matches_the_sheet(purchases):
    report, store = purchases
    assert report.csv_path == store.path.with_name("studio.migration.csv")
    data = report.csv_path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data[3:].decode("utf-8"))))
    assert rows[0] == ["student", "package", "legacy_remaining", "recomputed_remaining", "difference", "cells", "finding"]
    dev = next(r for r in rows if r[1] == "LEG-P0005 10-pack")
    assert dev[:5] == ["Dev Patel (LEG-S005)", "LEG-P0005 10-pack", "9", "9", "0"]
    assert len(rows) - 1 == len(store.read_sheet("Migration").rows)


def test_purchases_import_then_post_is_clean(purchases):
    assert_posts_clean(purchases[1])


# ------------------------------------------------------------------------- running balance layout
def test_running_balance(tmp_path):
    # Nothing on Ana's sheet names its unit (held until answered): the owner says lessons.
    legacy = lf.balance_xlsx(tmp_path / "balance.xlsx")
    lf.answer(legacy, {}, **{"Ana Lopez": {"unit": "lessons"}})
    report, store = run(tmp_path, lambda _path: legacy, "balance.xlsx")
    m = migration(store)
    B = "balance.xlsx!Ana Lopez!"
    legacy, recomputed, diff, cells, finding = m[("Ana Lopez (LEG-S001)", "all lessons")]
    # E11 was typed 5 over the formula (the running total gives 4), so the sheet ends one too high.
    assert (legacy, recomputed, diff) == (10, 9, -1)
    assert cells.startswith(f"{B}E13, ")
    assert "legacy says 10 lessons remaining (its stated balance, balance.xlsx!Ana Lopez!E13)" in finding
    assert "15 bought − 6 used" in finding
    assert "balance_mismatch: balance.xlsx!Ana Lopez!E11 says the balance is 5" in finding
    assert "Rows 8 and 9 of Ana Lopez both take 1 from Ana Lopez on 2025-01-26 for 'Late cancel'" in finding  # counted twice
    assert m[("Ana Lopez (LEG-S001)", "LEG-P0001 Legacy 10 lessons")][:3] == (None, 4, None)
    assert m[("Ana Lopez (LEG-S001)", "LEG-P0002 Legacy 5 lessons")][:3] == (None, 5, None)
    assert m[("Ben (LEG-S002)", "all hours")][:3] == (4, 4, 0)
    sessions = [(v[1], v[6], v[8] if len(v) > 8 else None, v[3]) for _r, v in store.read_sheet("Sessions").rows]
    assert len(sessions) == 10
    assert [s[1] for s in sessions[:6]] == ["attended", "attended", "late_cancel", "late_cancel", "attended", "attended"]
    assert [s[3] for s in sessions[6:]] == [90, 90, 90, 90]  # Ben's 1h30, 1:30, 90 min, 1.5 h
    assert balances(store)[("LEG-S002", "hours")] == 4
    assert report.disagreements == 1
    assert_posts_clean(store)


# ------------------------------------------------------------------------- attendance grid layout
def test_attendance_grid(tmp_path):
    report, store = run(tmp_path, lf.grid_xlsx, "grid.xlsx")
    m = migration(store)
    G = "grid.xlsx!Attendance!"
    ana = m[("Ana Lopez (LEG-S001)", "all hours")]
    # J4 is =I4-3.5; the marks (X, ✓, 1, NS, 1.5, LC) come to 6.5 hours under the deduct policy.
    assert ana[:3] == (Decimal("6.5"), Decimal("3.5"), -3)
    assert "10 bought − 6.5 used" in ana[4]
    assert "2 mark(s) without a length counted as 1 hour each; 1 no-show(s) and 1 late cancel(s) charged" in ana[4]
    pkg = m[("Ana Lopez (LEG-S001)", "LEG-P0001 10 hours")]
    assert pkg[:4] == (Decimal("6.5"), Decimal("3.5"), -3, f"{G}J4, {G}A4, {G}I4")
    assert "no purchase date; dated 2025-01-06 (the first lesson)" in pkg[4]
    ben = m[("Ben Okafor (LEG-S002)", "all hours")]
    assert ben[:3] == (Decimal("2.5"), Decimal("1.5"), -1)
    assert 'unreadable_cell: grid.xlsx!Attendance!H5 holds "??"' in ben[4]
    other = m[("ana lopez (LEG-S003)", "all hours")]  # the lower-case spelling: a lesson and no package
    assert other[:3] == (None, -1, None) and "1 session(s) (1 hours) have no credit to draw from and are owed" in other[4]
    assert report.disagreements == 4
    assert_posts_clean(store)


def test_totals_only_become_opening_balances(tmp_path):
    report, store = run(tmp_path, lf.totals_grid_xlsx, "totals.xlsx")
    m = migration(store)
    gia = m[("Gia Rossi (LEG-S001)", "LEG-P0001 Legacy opening balance (lessons)")]
    assert gia[:3] == (7, 7, 0)
    assert "stated remaining 7 + 2 used by the imported lessons" in gia[4]  # X and NS charged, C not
    assert m[("Hugo Blanc (LEG-S002)", "LEG-P0002 Legacy opening balance (lessons)")][:3] == (4, 4, 0)
    sales = [r for r in log(store) if r[COL["kind"]] == "sale"]
    assert [(r[COL["effective_date"]], r[COL["quantity"]], r[COL["amount"]], r[COL["source"]]) for r in sales] == [
        ("2025-01-06", "9", "0", "totals.xlsx!Register!E2"), ("2025-01-20", "4", "0", "totals.xlsx!Register!E3")]
    # Hugo's bare "4 left" (no marks) is opened on the grid's last date column, the latest date the file
    # shows, not on the import day (2025-04-15): as of the legacy date the ledger says 4, as the sheet does.
    hugo = m[("Hugo Blanc (LEG-S002)", "LEG-P0002 Legacy opening balance (lessons)")]
    assert "stated remaining 4, dated 2025-01-20, the latest date the file shows" in hugo[4]
    assert report.disagreements == 0
    assert_posts_clean(store)


# ------------------------------------------------------------------------------ lesson log layout
def test_lesson_log_csv(tmp_path):
    report, store = run(tmp_path, lf.log_csv, "log.csv")
    m = migration(store)
    ben = m[("Ben Okafor (LEG-S003)", "all hours")]
    # No purchases in a lesson log: every lesson is owed. NS 1.5 h + 1.5 h + the unreadable "xx" (1 h).
    assert ben[:3] == (None, -4, None)
    assert "3 session(s) (4 hours) have no credit to draw from and are owed, first LEG-L000003 on 2025-01-19" in ben[4]
    assert 'unreadable_cell: log.csv!log!C10 holds "xx"' in ben[4]
    assert m[("Chloé Martin (LEG-S004)", "all hours")][:2] == (None, -3)
    sessions = {v[0]: v for _r, v in store.read_sheet("Sessions").rows}
    assert sessions["LEG-L000003"][6] == "no_show" and sessions["LEG-L000005"][6] == "late_cancel"
    assert sessions["LEG-L000005"][11] == "late cancel; called at 9am" and sessions["LEG-L000005"][3] == 120
    assert ("finding", "name_variant:log.csv!log!B5, log.csv!log!B4") in m
    sources = [r[COL["source"]] for r in log(store) if r[COL["kind"]] == "session_recorded"]
    assert sources == ["log.csv!log!A4", "log.csv!log!A5", "log.csv!log!A6", "log.csv!log!A7", "log.csv!log!A8",
                       "log.csv!log!A9", "log.csv!log!A10"]
    assert report.sessions == 7
    assert_posts_clean(store)


def test_lesson_log_xlsx(tmp_path):
    report, store = run(tmp_path, lf.log_xlsx, "log.xlsx")
    m = migration(store)
    ben = m[("Ben Okafor (LEG-S002)", "all hours")]
    assert ben[:2] == (None, Decimal("-2.25"))  # 45 + 45 + 45 minutes owed (the no-show entered twice)
    assert "Rows 8 and 9 of Log record the same lesson (Ben Okafor on 2025-01-20)" in ben[4]
    assert m[("Ana Lopez (LEG-S001)", "all hours")][:2] == (None, Decimal("-4.5"))  # 60 + LC 60 + 90 + 60
    assert ("finding", "skipped_total:log.xlsx!Log!A12") in m
    assert report.sessions == 7
    assert_posts_clean(store)


def test_a_larger_log_imports_and_posts_clean(tmp_path):
    report, store = run(tmp_path, lambda p: lf.log_xlsx(p, rows=2_000), "big.xlsx")
    assert report.sessions == 2_000 and report.log_rows == 2_000 + 40
    assert len(store.read_sheet("Sessions").rows) == 2_000
    # No purchases: every lesson is owed. The import's Alerts sheet says so once per student (50 each);
    # the Allocations sheet lists every session, and the next Post lists the alerts one by one again.
    owed = [v for _r, v in store.read_sheet("Alerts").rows if v[0] == "owed"]
    assert len(owed) == 40 and all(" … " in v[3] for v in owed)
    s00 = next(v for v in owed if v[1] == "LEG-S001")
    # (in lessons, as the engine's own owed alerts say when a student has no package to take the unit from)
    assert s00[4].startswith("50 sessions from 2020-01-01 to 2020-03-19 have no credit: 50 lessons owed"), s00
    assert len(store.read_sheet("Allocations").rows) == 2_000
    assert_posts_clean(store)
    assert sum(1 for _r, v in store.read_sheet("Alerts").rows if v[0] == "owed") == 2_000


def test_a_second_file_adds_to_students_of_the_same_exact_name(tmp_path):
    """Purchases from one file, lessons from another: exact spellings are the same student; variants are not."""
    _report, store = run(tmp_path, lf.purchases_xlsx, "purchases.xlsx", lf.PURCHASES_ANSWERS)
    legacy = lf.log_xlsx(tmp_path / "log.xlsx")
    report = import_legacy(legacy, store.path, operator="owner", now=NOW)
    assert report.students == 0 and report.sessions == 7
    m = migration(store)
    # The purchases sheet's "used 10" is a session on her purchase date (2025-01-05), so the 10-pack was used
    # up before the log's lessons: the four lessons of the second file (60 + LC 60 + 90 + 60 min) are owed.
    ana = m[("Ana Lopez (LEG-S001)", "all hours")]
    assert ana[:2] == (None, Decimal("-4.5"))
    assert "4 session(s) (4.5 hours) have no credit to draw from and are owed" in ana[4]
    assert m[("Ana Lopez (LEG-S001)", "all lessons")][:2] == (None, 0)
    assert m[("Ana Lopez (LEG-S001)", "")][4].startswith(
        'import: "Ana Lopez" is already a student of the studio (LEG-S001)')
    sessions = {v[0]: v[4] for _r, v in store.read_sheet("Sessions").rows}
    assert sessions["LEG-L000001"] == "LEG-S001" and sessions["LEG-L000002"] == "LEG-S002"
    assert_posts_clean(store)


def test_texts_that_look_like_formulas_stay_text(tmp_path):
    path = tmp_path / "odd.csv"
    path.write_text("Date,Student,Minutes,Notes\n2025-01-06,Ana,60,=not a formula\n2025-01-07,=Bo,60,\n")
    report, store = run(tmp_path, lambda p: path, "odd.csv")
    assert report.sessions == 2
    names = {v[0]: v[1] for _r, v in store.read_sheet("Students").rows}
    assert names == {"LEG-S001": "Ana", "LEG-S002": " =Bo"}  # the cell keeps a leading space; the Log says "=Bo"
    assert [r[COL["note"]] for r in log(store) if r[COL["kind"]] == "session_recorded"] == ["=not a formula", ""]
    assert_posts_clean(store)


def test_report_files_that_cannot_be_written_are_warnings_after_the_commit(tmp_path):
    legacy = lf.log_xlsx(tmp_path / "log.xlsx")
    book = studio(tmp_path)
    (tmp_path / "studio.migration.csv").mkdir()  # something in the way
    report = import_legacy(legacy, book, operator="owner", now=NOW)
    assert report.csv_path is None and "studio.migration.csv could not be written" in report.warnings[0]
    assert any(line.startswith("Warning: the import is done") for line in report.lines())
    assert len(FileStore(book).read_log()) == report.log_rows


def test_staff_may_not_import(tmp_path):
    from xl_ledger.book.store import Change
    from xl_ledger.migrate.importer import ImportRefused

    book = studio(tmp_path)
    FileStore(book).commit(Change(0, chain.GENESIS, cells={"Staff": {(2, "user"): "maria", (2, "role"): "owner",
                                                                     (3, "user"): "tom", (3, "role"): "staff"}}))
    before = book.read_bytes()
    with pytest.raises(ImportRefused, match="'tom' is staff; an import adds sales and corrections"):
        import_legacy(lf.log_xlsx(tmp_path / "log.xlsx"), book, operator="tom", now=NOW)
    assert book.read_bytes() == before




def test_an_operator_not_on_staff_gets_posts_message_and_exit_6(tmp_path):
    """The import reads the input sheets with Post's stage 2, so it refuses as Post does (exit 6)."""
    from argparse import Namespace

    from xl_ledger.book.store import Change
    from xl_ledger.migrate import command

    book = studio(tmp_path)
    FileStore(book).commit(Change(0, chain.GENESIS, cells={"Staff": {(2, "user"): "maria", (2, "role"): "owner"}}))
    before = book.read_bytes()
    err = io.StringIO()
    args = Namespace(legacy=lf.log_xlsx(tmp_path / "log.xlsx"), studio=book, operator="mallory", mapping=None,
                     day_first=None, dry_run=False, key_file=None)
    assert command.run(args, out=io.StringIO(), err=err) == command.NOT_ALLOWED
    assert "'mallory' is not on the Staff sheet, so cannot import. Add the user with a role (owner, admin or " \
           "staff), or import with --as USER. Nothing was imported." in err.getvalue()
    assert book.read_bytes() == before
