"""Issue 12: the ways the ledger could still lose count without a word, each closed and tried the way a
new user would meet it (from the command line where the user would)."""

from __future__ import annotations

import datetime as dt

import pytest
from post_helpers import NOW
from post_helpers import records
from post_helpers import studio
from post_helpers import type_rows

from xl_ledger import post
from xl_ledger.book.filestore import FileStore
from xl_ledger.core.parse import ParseError
from xl_ledger.core.parse import parse_date
from xl_ledger.core.parse import parse_datetime


# --- item 4: a year is never made up ---------------------------------------------------------------
@pytest.mark.parametrize("text", ["March", "3/4", "Tuesday", "Mar 14", "March 2026", "2026-03", "2026"])
def test_text_without_a_full_date_is_refused(text):
    with pytest.raises(ParseError, match="write the full date"):
        parse_date(text)
    with pytest.raises(ParseError, match="write the full date"):
        parse_datetime(text + " 16:30" if not text.isdigit() else text)


@pytest.mark.parametrize("value", ["1989-12-31", dt.date(1900, 1, 1), 1, 60, "12 May 1970"])
def test_dates_before_the_studio_s_life_are_refused(value):
    with pytest.raises(ParseError, match="before 1990"):
        parse_date(value)


def test_full_dates_still_read():
    assert parse_date("14 Mar 2026") == dt.date(2026, 3, 14)
    assert parse_date("March 14th, 2026") == dt.date(2026, 3, 14)
    assert parse_datetime("2026-03-14 16:30") == dt.datetime(2026, 3, 14, 16, 30)
    assert parse_date(46000) == dt.date(2025, 12, 9)


def test_a_sale_dated_march_or_decades_ahead_is_rejected_in_its_cell(tmp_path):
    """A sale dated "March" used to become 2000-03-01: applied, expired at once, 10 paid lessons worth 0.
    One dated 2062 (NOW is 2026-03-10, more than two years ahead) is a slip too."""
    path = studio(tmp_path)
    type_rows(path, "Actions", {
        2: {"action": "sell", "date": "March", "student_id": "S1", "product_id": "P10"},
        3: {"action": "sell", "date": dt.date(2062, 3, 1), "student_id": "S1", "product_id": "P10"},
        4: {"action": "sell", "date": "2026-03-01", "student_id": "S1", "product_id": "P10"}})
    type_rows(path, "Sessions", {
        2: {"session_id": "L1", "date": "Tuesday", "student_id": "S1", "status": "attended", "minutes": 45},
        3: {"session_id": "L2", "date": dt.date(2031, 3, 3), "student_id": "S1", "status": "scheduled",
            "minutes": 45},
        4: {"session_id": "L3", "date": dt.date(2026, 3, 3), "student_id": "S1", "status": "attended",
            "minutes": 45}})
    result = post.post(FileStore(path), now=NOW, operator="owner")
    rows = records(path, "Actions")
    assert [rows[r]["status"] for r in (2, 3, 4)] == ["rejected", "rejected", "applied"]
    assert "write the full date" in rows[2]["message"].lower()
    assert "2062-03-01 is more than 2 years after today" in rows[3]["message"]
    where = {a["where"]: a["message"] for a in records(path, "Alerts").values() if a["kind"] == "rejected"}
    assert "write the full date" in where["studio.xlsm!Sessions!B2"]
    assert "2031-03-03 is more than 2 years after today" in where["studio.xlsm!Sessions!B3"]
    assert len(result.applied) == 1
    logged = [r for r in FileStore(path).read_log() if str(r[13]).startswith("Sessions!")]
    assert [r[13] for r in logged] == ["Sessions!4"]


# --- item 9: one "today" ----------------------------------------------------------------------------
def test_demo_and_recompute_agree_on_today_late_in_the_evening(tmp_path, monkeypatch, capsys):
    """At 02:00 UTC on 11 March it is still 10 March in New York (the demo studio's time zone). The demo
    used the UTC date, so a `recompute` right after it rewrote every sheet as of the day before."""
    from xl_ledger import cli

    monkeypatch.setattr(cli, "now_utc", lambda: dt.datetime(2026, 3, 11, 2, 0, tzinfo=dt.timezone.utc))
    path = tmp_path / "demo.xlsm"
    assert cli.run(["demo", str(path)]) == 0
    assert "as of 2026-03-10:" in capsys.readouterr().out
    assert cli.run(["recompute", str(path)]) == 0
    assert "as of 2026-03-10" in capsys.readouterr().out


# --- item 3: a damaged input sheet stops the post -----------------------------------------------------
def _rename_header(path, sheet: str, old: str, new):
    """Edit row 1 as a user would in Excel (openpyxl rewrites the file; the Log is untouched)."""
    import openpyxl

    wb = openpyxl.load_workbook(path, keep_vba=True)
    ws = wb[sheet]
    for cell in ws[1]:
        if cell.value == old:
            cell.value = new
    wb.save(path)


@pytest.mark.parametrize("sheet, old, new, said", [
    ("Sessions", "minutes", None, 'column "minutes" is missing from row 1'),
    ("Students", "name", "Name ", 'column "name" is missing from row 1; the closest header found is "Name"'),
    ("Actions", "reason_code", "reason", 'column "reason_code" is missing from row 1; the closest header found is '
                                         '"reason"'),
])
def test_a_missing_or_renamed_input_column_stops_the_post_with_exit_4(tmp_path, sheet, old, new, said):
    """Deleting Sessions `minutes` used to write permanent Log rows recharging every 45-minute lesson as
    60 minutes, and exit 5; a renamed `name` rejected every student as "name is empty"."""
    from post_helpers import cli

    path = studio(tmp_path)
    type_rows(path, "Sessions", {2: {"session_id": "L1", "date": dt.date(2026, 3, 2), "student_id": "S1",
                                     "status": "attended", "minutes": 45}})
    type_rows(path, "Actions", {2: {"action": "sell", "date": dt.date(2026, 3, 1), "student_id": "S1",
                                    "product_id": "H10"}})
    _rename_header(path, sheet, old, new)
    before = path.read_bytes()
    out = cli("post", str(path), "--today", "2026-03-10")
    assert out.returncode == 4, (out.stdout, out.stderr)
    assert f"studio.xlsm!{sheet}: {said}" in out.stderr, out.stderr
    assert "Nothing was written" in out.stderr
    assert path.read_bytes() == before


def test_an_older_workbook_without_an_optional_column_still_posts(tmp_path):
    path = studio(tmp_path)
    _rename_header(path, "Students", "email", None)
    _rename_header(path, "Students", "family_contact", None)  # a workbook made before it was added
    type_rows(path, "Actions", {2: {"action": "sell", "date": dt.date(2026, 3, 1), "student_id": "S1",
                                    "product_id": "P10"}})
    result = post.post(FileStore(path), now=NOW, operator="owner")
    assert len(result.applied) == 1


# --- item 5: a sale's typed package id is used -------------------------------------------------------
def test_a_typed_package_id_is_used_a_taken_one_rejected_and_a_blank_one_written_back(tmp_path):
    """The engine used to make PK-0002 and leave "PK1" in the cell; every later post then warned that
    the row "was edited after it was posted", and actions naming PK1 were rejected."""
    path = studio(tmp_path)
    type_rows(path, "Actions", {
        2: {"action": "sell", "date": dt.date(2026, 3, 1), "student_id": "S1", "product_id": "P10",
            "package_id": "PK1"},
        3: {"action": "sell", "date": dt.date(2026, 3, 1), "student_id": "S2", "product_id": "P10",
            "package_id": "PK1"},
        4: {"action": "sell", "date": dt.date(2026, 3, 1), "student_id": "S3", "product_id": "P10"},
        5: {"action": "freeze", "date": dt.date(2026, 3, 2), "package_id": "PK1", "days": 7}})
    post.post(FileStore(path), now=NOW, operator="owner")
    rows = records(path, "Actions")
    assert rows[2]["status"] == "applied" and rows[2]["package_id"] == "PK1"
    assert rows[3]["status"] == "rejected" and '"PK1" is already the id of another package' in rows[3]["message"]
    assert rows[4]["status"] == "applied" and rows[4]["package_id"] == "PK-0001"  # written into its row
    assert rows[5]["status"] == "applied", rows[5]  # an action naming the typed id finds it
    again = post.post(FileStore(path), now=NOW, operator="owner")
    assert not [n for n in again.notices if "edited after" in n]


def test_an_older_workbook_s_mismatched_package_id_is_corrected_once_with_a_notice(tmp_path):
    path = studio(tmp_path)
    type_rows(path, "Actions", {2: {"action": "sell", "date": dt.date(2026, 3, 1), "student_id": "S1",
                                    "product_id": "P10"}})
    post.post(FileStore(path), now=NOW, operator="owner")
    type_rows(path, "Actions", {2: {"package_id": "PK1"}})  # as the engine used to leave it
    result = post.post(FileStore(path), now=NOW, operator="owner")
    assert any("package_id now says PK-0001, the id the Log gave this sale" in n for n in result.notices)
    assert records(path, "Actions")[2]["package_id"] == "PK-0001"
    assert not post.post(FileStore(path), now=NOW, operator="owner").notices
