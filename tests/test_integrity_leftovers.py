"""Issue 12, the items an earlier session left open: each tried as a new user would meet it.

- a two-digit year is completed by a fixed rule (Excel's), never from the machine's clock;
- `import` refuses a studio workbook whose input sheet lost or renamed a column, as `post` does;
- the "as of Log seq N" mark on the Dashboard is one of the anchors of the Log's end;
- role changes on the Staff sheet are Log rows (and in the audit export); an emptied Staff sheet is refused;
"""

from __future__ import annotations

import datetime as dt
import shutil
import time

import pytest
from post_helpers import studio

from xl_ledger.core.parse import ParseError
from xl_ledger.core.parse import parse_date
from xl_ledger.core.parse import parse_datetime


# --- dates: a century never comes from the clock ----------------------------------------------------
@pytest.fixture
def clock_in_2090(monkeypatch):
    """The machine's clock says 2090: dateutil's own rule would read "26" as 2126 (its parserinfo
    took the year from time.localtime when it was made)."""
    from dateutil import parser as dateparser

    later = time.mktime((2090, 6, 1, 12, 0, 0, 0, 0, -1))
    real = time.localtime
    monkeypatch.setattr(time, "localtime", lambda secs=None: real(later if secs is None else secs))
    monkeypatch.setattr(dateparser.DEFAULTPARSER.info, "_year", 2090)
    monkeypatch.setattr(dateparser.DEFAULTPARSER.info, "_century", 2000)


@pytest.mark.parametrize("text, day_first, expected", [
    ("3/14/26", False, dt.date(2026, 3, 14)),
    ("14/3/26", True, dt.date(2026, 3, 14)),
    ("14 Mar 26", False, dt.date(2026, 3, 14)),
    ("3/14/99", False, dt.date(1999, 3, 14)),
    ("1/2/00", False, dt.date(2000, 1, 2)),
])
def test_a_two_digit_year_reads_the_same_whatever_the_clock_says(clock_in_2090, text, day_first, expected):
    assert parse_date(text, day_first=day_first) == expected
    assert parse_datetime(f"{text} 16:30", day_first=day_first) == dt.datetime.combine(expected, dt.time(16, 30))


@pytest.mark.parametrize("text, year", [("3/14/30", 1930), ("3/14/89", 1989), ("14 Mar 45 16:30", 1945)])
def test_a_two_digit_year_before_the_studio_s_life_asks_for_the_full_date(clock_in_2090, text, year):
    """Excel's rule reads 30-99 as 1930-1999: before 1990 that is refused, never moved to another century,
    and the message says how the two digits were read."""
    said = f"has a two-digit year, read as {year} as Excel reads it .*write the full date"
    with pytest.raises(ParseError, match=said):
        parse_datetime(text) if ":" in text else parse_date(text)


def test_the_core_s_date_reader_has_no_clock_of_its_own():
    """dateutil's default parser is made with the clock's year; the core reads text through its own."""
    from xl_ledger.core import parse

    assert parse._parser().info.convertyear(26) == 2026
    assert type(parse._parser().info).convertyear is not __import__("dateutil").parser.parserinfo.convertyear


# --- import: a damaged input sheet of the studio stops it --------------------------------------------
@pytest.mark.parametrize("sheet, old, new, said", [
    ("Students", "name", "Name ", 'column "name" is missing from row 1; the closest header found is "Name"'),
    ("Products", "price", None, 'column "price" is missing from row 1'),
])
def test_import_into_a_studio_with_a_missing_or_renamed_column_is_exit_4(tmp_path, sheet, old, new, said):
    """`import` writes Students and Products rows by header and reads Sessions ids: with `name` renamed it
    used to go on as if the column were there."""
    import legacy_fixtures as lf
    from post_helpers import cli
    from test_integrity import _rename_header

    path = studio(tmp_path)
    _rename_header(path, sheet, old, new)
    legacy = lf.purchases_xlsx(tmp_path / "tracking.xlsx")
    before = path.read_bytes()
    out = cli("import", str(legacy), "--into", str(path), "--as", "maria")
    assert out.returncode == 4, (out.stdout, out.stderr)
    assert f"studio.xlsm!{sheet}: {said}" in out.stderr, out.stderr
    assert "Nothing was written" in out.stderr
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["studio.xlsm", "tracking.xlsx"]


# --- the "as of Log seq N" mark ---------------------------------------------------------------------
def test_the_dashboard_mark_anchors_the_log_when_every_other_record_is_gone(tmp_path):
    """The last post recorded lessons only (no Actions row names its seq); the Log's last rows are cut in
    Excel (which drops the zip comment) and the checkpoint is deleted: only the Dashboard's mark is left,
    and it is enough."""
    import openpyxl
    from post_helpers import NOW
    from post_helpers import cli
    from post_helpers import type_rows

    from xl_ledger import post
    from xl_ledger.book.filestore import FileStore

    path = studio(tmp_path)
    type_rows(path, "Actions", {2: {"action": "sell", "date": dt.date(2026, 3, 1), "student_id": "S1",
                                    "product_id": "P10"}})
    post.post(FileStore(path), now=NOW, operator="owner")
    type_rows(path, "Sessions", {i + 2: {"session_id": f"L{i}", "date": dt.date(2026, 3, 2 + i), "student_id": "S1",
                                         "status": "attended"} for i in range(3)})
    post.post(FileStore(path), now=NOW, operator="owner")
    rows = FileStore(path).read_log()
    end = rows[-1][0]
    mark = [r for r in FileStore(path).read_sheet("Dashboard").records() if r[1]["section"] == "log"]
    assert mark and mark[0][1]["quantity"] == end and f"Sheets as of Log seq {end}, hash {rows[-1][15][:16]}…" \
        in mark[0][1]["item"]

    wb = openpyxl.load_workbook(path, keep_vba=True)
    wb["Log"].delete_rows(wb["Log"].max_row - 1, 2)  # the last two lessons
    wb.save(path)
    for p in tmp_path.iterdir():
        if p.name.endswith("xl-ledger-checkpoint"):
            p.unlink()
    before = path.read_bytes()
    where = f"studio.xlsm!Dashboard!D{mark[0][0]}"
    for command in (("post", str(path), "--today", "2026-03-10"), ("verify", str(path)),
                    ("recompute", str(path), "--today", "2026-03-10")):
        out = cli(*command)
        assert out.returncode == 1, (command, out.stdout, out.stderr)
        assert f"studio.xlsm!Log ends at seq {end - 2}, but {where}" in out.stderr, out.stderr
        assert f"Log rows seq {end - 1}–{end} are missing" in out.stderr, out.stderr
        assert path.read_bytes() == before


def test_a_mark_at_the_end_with_another_hash_means_the_log_was_rewritten(tmp_path):
    from post_helpers import NOW
    from post_helpers import cli
    from post_helpers import type_rows

    from xl_ledger import post
    from xl_ledger.book.filestore import FileStore
    from xl_ledger.book import anchors

    path = studio(tmp_path)
    type_rows(path, "Sessions", {2: {"session_id": "L1", "date": dt.date(2026, 3, 2), "student_id": "S1",
                                     "status": "scheduled"}})
    post.post(FileStore(path), now=NOW, operator="owner")
    sheet = FileStore(path).read_sheet("Dashboard")
    (mark,) = anchors.of_dashboard(sheet)
    head = FileStore(path).head()
    assert (mark.seq, mark.hash) == (head[0], head[1][:16])
    row = mark.what.split("Dashboard!D")[1].split(" ")[0]
    import openpyxl

    wb = openpyxl.load_workbook(path, keep_vba=True)  # typed over in Excel
    wb["Dashboard"][f"B{row}"] = "Sheets as of Log seq 9, hash 0123456789abcdef…"
    wb.save(path)
    out = cli("verify", str(path))
    assert out.returncode == 1 and "records hash 0123456789ab for that row" in out.stderr, out.stderr


# --- roles leave a trail ----------------------------------------------------------------------------
def _staff(path, rows: dict[int, dict]):
    from post_helpers import type_rows

    type_rows(path, "Staff", rows)


def _kinds(path, kind: str):
    from xl_ledger.book.filestore import FileStore
    from xl_ledger.core import events as E
    from xl_ledger.core.journal import Journal

    return [e for e in Journal(FileStore(path).open_log(None).entries()).entries if e.event.kind == kind]


def test_a_staff_member_who_promotes_herself_leaves_a_trail_in_the_log_and_the_audit(tmp_path):
    """Bea (staff) makes herself owner on the Staff sheet, posts an owner-only transfer and makes herself
    staff again. Each change is a staff_set Log row saying whose role went from what to what, posted by
    whom and when, and `xl-ledger audit` lists both beside the transfer."""
    import csv

    from post_helpers import cli
    from post_helpers import type_rows

    path = studio(tmp_path)
    _staff(path, {2: {"user": "ann", "role": "owner"}, 3: {"user": "bea", "role": "staff"}})
    type_rows(path, "Actions", {2: {"action": "sell", "date": dt.date(2026, 3, 1), "student_id": "S1",
                                    "product_id": "P10"}})
    assert cli("post", str(path), "--as", "ann", "--today", "2026-03-05").returncode == 0
    _staff(path, {3: {"role": "owner"}})
    type_rows(path, "Actions", {3: {"action": "transfer", "date": dt.date(2026, 3, 6), "package_id": "PK-0001",
                                    "to_student_id": "S3", "quantity": 2, "reason_code": "goodwill"}})
    out = cli("post", str(path), "--as", "bea", "--today", "2026-03-06")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "  notice   Staff: role of bea: staff → owner (Log seq " in out.stdout, out.stdout
    _staff(path, {3: {"role": "staff"}})
    assert cli("post", str(path), "--as", "bea", "--today", "2026-03-07").returncode == 0

    trail = [(e.operator, e.source, e.event.effective_date, e.event.values) for e in _kinds(path, "staff_set")]
    assert trail == [
        ("ann", "Staff", dt.date(2026, 3, 5), {"user": "ann", "role": "owner", "was": ""}),
        ("ann", "Staff", dt.date(2026, 3, 5), {"user": "bea", "role": "staff", "was": ""}),
        ("bea", "Staff", dt.date(2026, 3, 6), {"user": "bea", "role": "owner", "was": "staff"}),
        ("bea", "Staff", dt.date(2026, 3, 7), {"user": "bea", "role": "staff", "was": "owner"}),
    ]
    (transfer,) = _kinds(path, "transfer")
    promoted = _kinds(path, "staff_set")[2]
    assert promoted.seq < transfer.seq  # the promotion is logged before the action it allowed
    assert cli("post", str(path), "--as", "ann", "--today", "2026-03-08").returncode == 0
    assert len(_kinds(path, "staff_set")) == 4  # nothing changed: nothing logged

    out = cli("audit", str(path), "--month", "2026-03", "--today", "2026-04-02")
    assert out.returncode == 0, out.stderr
    with open(tmp_path / "studio-audit-2026-03.csv", newline="", encoding="utf-8-sig") as f:
        lines = [(r["operator"], r["what"]) for r in csv.DictReader(f)]
    assert ("bea", "role of bea: staff → owner") in lines
    assert ("bea", "role of bea: owner → staff") in lines
    assert ("ann", "role of ann: none → owner") in lines
    assert lines.index(("bea", "role of bea: staff → owner")) < [w for _o, w in lines].index(
        "transfer to S3 (PK-0002)") < lines.index(("bea", "role of bea: owner → staff"))


def test_an_emptied_staff_sheet_is_refused_not_single_owner_mode(tmp_path):
    """Emptying the Staff sheet used to let any name post as the owner."""
    from post_helpers import cli
    from post_helpers import type_rows

    path = studio(tmp_path)
    _staff(path, {2: {"user": "ann", "role": "owner"}, 3: {"user": "bea", "role": "staff"}})
    type_rows(path, "Actions", {2: {"action": "sell", "date": dt.date(2026, 2, 20), "student_id": "S1",
                                    "product_id": "P10"}})
    assert cli("post", str(path), "--as", "ann", "--today", "2026-03-05").returncode == 0
    _staff(path, {2: {"user": None, "role": None}, 3: {"user": None, "role": None}})
    type_rows(path, "Actions", {3: {"action": "sell", "date": dt.date(2026, 3, 6), "student_id": "S1",
                                    "product_id": "P10"}})
    before = path.read_bytes()
    for command in (("post", str(path), "--as", "mallory", "--today", "2026-03-06"),
                    ("close", str(path), "--month", "2026-02", "--as", "mallory", "--today", "2026-03-06")):
        out = cli(*command)
        assert out.returncode != 0, out.stdout
        assert "studio.xlsm!Staff is empty, but the Log lists 2 people on it: ann (owner), bea (staff)" \
            in " ".join(out.stderr.split()), out.stderr
        assert "leave one row: your user name with the role owner" in " ".join(out.stderr.split())
        assert path.read_bytes() == before
    assert cli("post", str(path), "--as", "mallory", "--today", "2026-03-06").returncode == 6

    # One row back, the owner's: the ledger is hers alone; the trail says bea was removed, by ann.
    _staff(path, {2: {"user": "ann", "role": "owner"}})
    assert cli("post", str(path), "--as", "ann", "--today", "2026-03-06").returncode == 0
    last = _kinds(path, "staff_set")[-1]
    assert (last.operator, last.event.values) == ("ann", {"user": "bea", "role": "", "was": "staff"})


def test_a_staff_sheet_whose_only_row_is_mistyped_is_not_single_owner_mode(tmp_path):
    """A row with a role the ledger does not know is still somebody's row: it used to leave the sheet
    without a valid row, which meant anyone could post as the owner."""
    from post_helpers import cli

    path = studio(tmp_path)
    _staff(path, {2: {"user": "ann", "role": "boss"}})
    out = cli("post", str(path), "--as", "mallory", "--today", "2026-03-06")
    assert out.returncode == 6, out.stdout + out.stderr
    assert "'mallory' is not on the Staff sheet" in out.stderr


# --- found on the way: a keyed first post with a changed setting --------------------------------------
def test_the_first_keyed_post_of_a_studio_with_its_own_settings_posts(tmp_path):
    """The first post with --key-file logs the changed settings and the `signed` mark in one go: two Log
    rows from the Settings sheet. It used to stop with an IndexError traceback and exit 1 ("tampered")."""
    from post_helpers import cli
    from post_helpers import type_rows

    from xl_ledger.book.filestore import FileStore

    path = studio(tmp_path)
    rows = {r: rec for r, rec in FileStore(path).read_sheet("Settings").records()}
    (row,) = [r for r, rec in rows.items() if rec["key"] == "studio_name"]
    type_rows(path, "Settings", {row: {"value": "Rossi Music"}})
    key = tmp_path / "owner.key"
    key.write_bytes(b"the owner's key")
    out = cli("post", str(path), "--key-file", str(key), "--today", "2026-03-10")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Traceback" not in out.stderr
    logged = [(r[3], r[13], r[16]) for r in FileStore(path).read_log() if r[3] == "settings_set"]
    assert [source for _k, source, _d in logged] == ["Settings", "Settings"]
    assert "Rossi Music" in logged[0][2] and "owner_key" in logged[1][2]
    assert cli("verify", str(path), "--key-file", str(key)).returncode == 0


def test_a_desk_s_staff_trail_starts_from_the_workbook_s_own():
    """A shared ledger copied in from a workbook (ledger-init) keeps that workbook's staff rows with no desk
    in their source. The studio's list (one for every desk: pg/desk.py merges each desk's Staff sheet with
    it, tests/test_pg_ledger_commands.py) starts from them: a desk's first post logs only what it changed,
    and an emptied sheet at a new desk is refused."""
    from xl_ledger.core import events as E
    from xl_ledger.core import staff as staff_rules
    from xl_ledger.core.journal import Journal
    from xl_ledger.core.scope import Scopes

    d = dt.date(2026, 3, 1)
    journal = Journal([])
    journal.append(staff_rules.changes({"ann": "owner", "bea": "staff"}, {}, d), operator="ann",
                   recorded_at=dt.datetime(2026, 3, 1, 9, tzinfo=dt.timezone.utc), sources=["Staff", "Staff"])
    journal.append([E.StaffSet(effective_date=d, values={"user": "cy", "role": "staff", "was": ""})],
                   operator="ann", recorded_at=dt.datetime(2026, 3, 2, 9, tzinfo=dt.timezone.utc),
                   sources=["Staff@front"])
    known = Scopes(journal.entries).staff
    everyone = {"ann": "owner", "bea": "staff", "cy": "staff"}  # cy, added at the front desk, is the studio's
    assert known.of("") == known.of("front") == known.of("owner") == everyone
    assert staff_rules.logged(journal.entries, "front") == everyone
    # The owner desk's sheet, merged with the ledger before its post reads it, lists cy too: nothing logged.
    assert staff_rules.changes(dict(everyone), known.of("owner"), d) == []
    with pytest.raises(staff_rules.StaffRefused, match="lists 3 people on it: ann"):
        staff_rules.role_of("mallory", {}, False, known.of("owner"), "owner.xlsm")


# --- close and reopen: a damaged input sheet stops them as it stops post ------------------------------
@pytest.mark.parametrize("command, sheet, old, said", [
    ("close", "Staff", "role", 'column "role" is missing from row 1; the closest header found is "Role"'),
    ("reopen", "Reasons", "reason_code", 'column "reason_code" is missing from row 1; the closest header found '
                                         'is "Reason_code"'),
])
def test_close_and_reopen_with_a_renamed_column_are_exit_4_and_write_nothing(tmp_path, command, sheet, old, said):
    """close reads Staff (who may close) and reopen reads Reasons (the code given must be one): with the
    column renamed, close used to read every user as roleless and reopen every code as unknown."""
    from post_helpers import NOW
    from post_helpers import cli
    from post_helpers import type_rows
    from test_integrity import _rename_header

    from xl_ledger import post
    from xl_ledger.book.filestore import FileStore

    path = studio(tmp_path)
    type_rows(path, "Staff", {2: {"user": "olga", "role": "owner"}})
    type_rows(path, "Actions", {2: {"action": "sell", "date": dt.date(2026, 2, 3), "student_id": "S1",
                                    "product_id": "P10"}})
    post.post(FileStore(path), now=NOW, operator="olga")
    if command == "reopen":
        done = cli("close", str(path), "--month", "2026-02", "--as", "olga", "--today", "2026-03-31")
        assert done.returncode == 0, done.stderr
    _rename_header(path, sheet, old, old.capitalize())
    before = path.read_bytes()
    extra = ["--reason", "billing_error"] if command == "reopen" else []
    done = cli(command, str(path), "--month", "2026-02", "--as", "olga", "--today", "2026-03-31", *extra)
    assert done.returncode == 4, (done.stdout, done.stderr)
    assert f"studio.xlsm!{sheet}: {said}" in done.stderr, done.stderr
    assert "Nothing was written" in done.stderr
    assert path.read_bytes() == before
