"""Every command that reads the Log reads the shared ledger's with `--ledger` (or the Settings key), not
the workbook's mirror, which is a desk behind: export, audit, close and remind, here against a real
PostgreSQL server. Hand-worked figures: desk A sells P10 (300.00) on 2 Feb; desk B joins; desk A then
sells H10 (500.00) on 20 Feb, adjusts S1 by +1 lesson (reason goodwill) and records an unpaid lesson for
S3 on 21 Feb, and B does not post. B's February, read from the ledger: sales 300 + 500 = 800.00."""

from __future__ import annotations

import csv
import datetime as dt

import pytest
from pg_support import new_studio
from pg_support import pg_url
from post_helpers import fresh
from post_helpers import records
from post_helpers import studio
from post_helpers import type_rows

from xl_ledger.cli import run
from xl_ledger.pg.log import PgLog

D = dt.date


@pytest.fixture(scope="module")
def url():
    return pg_url()


def test_export_audit_close_and_remind_read_the_ledger_not_the_mirror(url, tmp_path, capsys):
    ledger = new_studio()
    on = ["--ledger", url, "--studio", ledger]
    a = studio(tmp_path, "a.xlsm")
    type_rows(a, "Actions", {2: {"action": "sell", "date": D(2026, 2, 2), "student_id": "S1", "product_id": "P10"}})
    assert run(["post", str(a), *on, "--today", "2026-02-02"]) == 0
    b = fresh(tmp_path, "b.xlsm")
    assert run(["post", str(b), *on, "--today", "2026-02-03"]) == 0  # B joins
    type_rows(a, "Actions", {
        3: {"action": "sell", "date": D(2026, 2, 20), "student_id": "S3", "product_id": "H10"},
        4: {"action": "adjust", "date": D(2026, 2, 20), "student_id": "S1", "package_id": "PK-0001", "quantity": 1,
            "reason_code": "goodwill", "note": "missed bus"}})
    type_rows(a, "Sessions", {2: {"session_id": "L9", "date": D(2026, 2, 21), "student_id": "S2",
                                  "status": "attended", "paid_separately": "no"}})
    assert run(["post", str(a), *on, "--today", "2026-02-21"]) == 0
    capsys.readouterr()

    # export: B's mirror holds only the first sale; the ledger holds both.
    out = tmp_path / "b-feb.csv"
    assert run(["export", str(b), "--month", "2026-02", "--format", "xero", "--out", str(out), "--today",
                "2026-03-10", *on]) == 0
    said = capsys.readouterr().out
    assert "2026-02: sales 800.00" in said, said
    assert run(["export", str(b), "--month", "2026-02", "--format", "xero", "--out", str(out), "--today",
                "2026-03-10"]) == 0  # without the ledger: the mirror, a desk behind
    assert "2026-02: sales 300.00" in capsys.readouterr().out

    # audit: desk A's adjustment, with its desk in the source.
    audit = tmp_path / "b-audit.csv"
    assert run(["audit", str(b), "--month", "2026-02", "--out", str(audit), "--today", "2026-03-10", *on]) == 0
    capsys.readouterr()
    with open(audit, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [(r["what"], r["reason_code"], r["source"]) for r in rows] == [("adjust", "goodwill", "Actions!4@a")]

    # remind: the owed lesson desk A recorded is due at B too.
    assert run(["remind", str(b), "--today", "2026-03-10", *on]) == 0
    capsys.readouterr()
    keys = {r["key"] for r in records(b, "Outbox").values()}
    assert any(k.startswith("S2:owed:") for k in keys), keys

    # close at B: a period_close row in the ledger, signed by desk B; desk A's backdated sale is then
    # rejected in its row at A.
    assert run(["close", str(b), "--month", "2026-02", "--today", "2026-03-10", *on]) == 0
    capsys.readouterr()
    log = PgLog(url, ledger).read()
    assert (log[-1][3], log[-1][13]) == ("period_close", "close@b")
    type_rows(a, "Actions", {5: {"action": "sell", "date": D(2026, 2, 25), "student_id": "S2", "product_id": "P10"}})
    assert run(["post", str(a), *on, "--today", "2026-03-10"]) == 5
    assert "closed" in str(records(a, "Actions")[5]["message"])
    assert [r[3] for r in PgLog(url, ledger).read()].count("sale") == 2


def _cut(ledger: str, after: int) -> None:
    """What a superuser can do behind the triggers: remove the Log's last rows."""
    import psycopg
    from pg_support import pg_super_url

    with psycopg.connect(pg_super_url(), autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute("DELETE FROM xl_ledger_log WHERE studio = %s AND seq > %s", (ledger, after))


def test_a_ledger_cut_short_is_refused_by_every_command_as_a_workbook_is(url, tmp_path, capsys):
    """Seq 1-6 set up the studio, seq 7 and 8 are two sales. A superuser deletes seq 7-8 behind the
    triggers: the chain that is left verifies, but the desk's mirror recorded seq 8. Every command that
    reads the Log stops with exit 1 and the file store's message for a Log cut short (anchors.py), naming
    the ledger; nothing is written."""
    import shutil

    from pg_support import pg_super_url

    pg_super_url()  # skipped (or failed, when required) without a superuser URL
    ledger = new_studio()
    on = ["--ledger", url, "--studio", ledger]
    a = studio(tmp_path, "a.xlsm")
    type_rows(a, "Actions", {2: {"action": "sell", "date": D(2026, 3, 1), "student_id": "S1", "product_id": "P10"}})
    assert run(["post", str(a), *on, "--today", "2026-03-10"]) == 0
    older = tmp_path / "older.xlsm"
    shutil.copyfile(a, older)  # a copy saved between the two posts: its mirror ends at seq 7
    type_rows(a, "Actions", {3: {"action": "sell", "date": D(2026, 3, 2), "student_id": "S3", "product_id": "P10"}})
    assert run(["post", str(a), *on, "--today", "2026-03-10"]) == 0
    assert len(PgLog(url, ledger).read()) == 8
    # The same cut in a plain workbook, for the file store's message.
    plain = studio(tmp_path, "plain.xlsm")
    type_rows(plain, "Actions", {2: {"action": "sell", "date": D(2026, 3, 1), "student_id": "S1", "product_id": "P10"},
                                 3: {"action": "sell", "date": D(2026, 3, 2), "student_id": "S3", "product_id": "P10"}})
    assert run(["post", str(plain), "--today", "2026-03-10"]) == 0
    import openpyxl

    wb = openpyxl.load_workbook(plain, keep_vba=True)
    wb["Log"].delete_rows(8, 2)  # Log rows seq 7-8 (sheet rows 8-9)
    wb.save(plain)
    capsys.readouterr()
    assert run(["verify", str(plain)]) == 1
    file_said = capsys.readouterr().err
    assert "plain.xlsm!Log ends at seq 6, but" in file_said and "Log rows seq 7–8 are missing (cut off the end). " \
        "Nothing was written." in file_said

    _cut(ledger, 6)
    before = a.read_bytes()
    ledger_name = f"the ledger {PgLog(url, ledger).where} ends at seq 6, but"
    for command in (["verify"], ["balance"], ["post", "--today", "2026-03-10"], ["history", "--student", "S1"],
                    ["statement", "--student", "S1"], ["recompute", "--today", "2026-03-10"],
                    ["export", "--month", "2026-02", "--format", "qbo", "--today", "2026-03-10"],
                    ["remind", "--today", "2026-03-10"], ["audit", "--month", "2026-02", "--today", "2026-03-10"]):
        assert run([command[0], str(a), *command[1:], *on]) == 1, command
        said = capsys.readouterr().err
        assert ledger_name in said, (command, said)
        # the mirror, or the checkpoint beside the workbook (both recorded seq 8; the first found is named)
        assert "records that it reached seq 8" in said and ("a.xlsm!Log (this workbook's copy of the ledger" in said
                                                            or "the checkpoint beside it" in said), (command, said)
        assert "Log rows seq 7–8 are missing (cut off the end). Nothing was written. Restore the ledger database " \
               "from a backup" in said, (command, said)
    assert a.read_bytes() == before
    assert len(PgLog(url, ledger).read()) == 6

    # An older copy of the workbook (its mirror ends at seq 7) is refused as well: by its mirror.
    capsys.readouterr()
    assert run(["verify", str(older), *on]) == 1
    assert "records that it reached seq 7" in capsys.readouterr().err
    # With its mirror removed too, the Actions sheet's log_seq still records seq 8 (anchors.of_actions).
    wb = openpyxl.load_workbook(a, keep_vba=True)
    wb["Log"].delete_rows(2, 8)
    wb.save(a)
    from xl_ledger.book import checkpoint

    checkpoint.path_for(a).unlink()
    assert run(["verify", str(a), *on]) == 1
    said = capsys.readouterr().err
    assert ledger_name in said and "(an applied action's log_seq) records that it reached seq 8" in said, said


def test_a_reason_code_added_at_one_desk_is_in_force_at_another_after_its_next_post(url, tmp_path):
    """The Reasons list is master data, so it lives in the Log (reason_set rows, starting from the
    template's list): desk A adds `storm`; desk B, which never typed it, posts an adjustment with it in its
    very next post, and its Reasons sheet shows it. A's re-wording and later removal reach B the same way;
    the template's own list logs nothing."""
    ledger = new_studio()
    on = ["--ledger", url, "--studio", ledger, "--today", "2026-03-10"]
    a = studio(tmp_path, "a.xlsm")
    type_rows(a, "Actions", {2: {"action": "sell", "date": D(2026, 3, 1), "student_id": "S1", "product_id": "P10"}})
    assert run(["post", str(a), *on]) == 0
    assert not [r for r in PgLog(url, ledger).read() if r[3] == "reason_set"]  # the template's list: nothing
    b = fresh(tmp_path, "b.xlsm")
    assert run(["post", str(b), *on]) == 0
    type_rows(a, "Reasons", {11: {"reason_code": "storm", "meaning": "Studio closed by a storm"}})
    assert run(["post", str(a), *on]) == 0
    type_rows(b, "Actions", {3: {"action": "adjust", "date": D(2026, 3, 9), "package_id": "PK-0001", "quantity": 1,
                                 "reason_code": "storm"}})
    assert run(["post", str(b), *on]) == 0
    assert records(b, "Actions")[3]["status"] == "applied"
    assert _reasons(b)["storm"] == "Studio closed by a storm"
    log = PgLog(url, ledger).read()
    assert [(r[3], r[13]) for r in log if r[3] == "reason_set"] == [("reason_set", "Reasons!11@a")]

    # Re-worded at B, then removed at A: each reaches the other desk's sheet at its next post.
    row_b = next(r for r, v in records(b, "Reasons").items() if v["reason_code"] == "storm")
    type_rows(b, "Reasons", {row_b: {"meaning": "Closed: storm or flood"}})
    assert run(["post", str(b), *on]) == 0
    assert run(["post", str(a), *on]) == 0
    assert _reasons(a)["storm"] == "Closed: storm or flood"
    type_rows(a, "Reasons", {11: {"reason_code": None, "meaning": None}})
    assert run(["post", str(a), *on]) == 0
    assert run(["post", str(b), *on]) == 0
    assert "storm" not in _reasons(b) and "storm" not in _reasons(a)
    type_rows(b, "Actions", {4: {"action": "adjust", "date": D(2026, 3, 9), "package_id": "PK-0001", "quantity": 1,
                                 "reason_code": "storm"}})
    assert run(["post", str(b), *on]) == 5
    assert "not in the Reasons list" in records(b, "Actions")[4]["message"]
    kinds = [(r[13], r[16]) for r in PgLog(url, ledger).read() if r[3] == "reason_set"]
    assert [source for source, _data in kinds] == ["Reasons!11@a", f"Reasons!{row_b}@b", "Reasons@a"]
    assert '"removed":"yes"' in kinds[-1][1]


def _reasons(path) -> dict:
    return {r["reason_code"]: r["meaning"] for r in records(path, "Reasons").values()}


def test_a_role_given_at_one_desk_is_in_force_at_another_after_its_next_post(url, tmp_path, capsys):
    """Roles are the studio's, like every master datum: the Staff sheet's changes are staff_set rows
    (core/staff.py), and each desk merges its Staff sheet with them before a post reads it. Desk A lists
    ann (owner) and bea (staff); desk B, which joined with an empty Staff sheet, then refuses zed and lets bea
    post; bea made admin at B is admin at A after A's next post; each change is logged once, by its desk."""
    ledger = new_studio()
    on = ["--ledger", url, "--studio", ledger, "--today", "2026-03-10"]
    a = studio(tmp_path, "a.xlsm")
    assert run(["post", str(a), *on, "--as", "ann"]) == 0  # no staff yet: single-owner mode
    b = fresh(tmp_path, "b.xlsm")
    assert run(["post", str(b), *on, "--as", "zed"]) == 0
    type_rows(a, "Staff", {2: {"user": "ann", "role": "owner"}, 3: {"user": "bea", "role": "staff"}})
    assert run(["post", str(a), *on, "--as", "ann"]) == 0
    capsys.readouterr()
    type_rows(b, "Actions", {2: {"action": "sell", "date": D(2026, 3, 9), "student_id": "S1", "product_id": "P10"}})
    assert run(["post", str(b), *on, "--as", "zed"]) == 6  # the studio's Staff list is in force at B too
    assert "'zed' is not on the Staff sheet" in capsys.readouterr().err
    assert run(["post", str(b), *on, "--as", "bea"]) == 0
    assert {r["user"]: r["role"] for r in records(b, "Staff").values()} == {"ann": "owner", "bea": "staff"}
    assert records(b, "Actions")[2]["status"] == "applied"

    row = next(r for r, v in records(b, "Staff").items() if v["user"] == "bea")
    type_rows(b, "Staff", {row: {"role": "admin"}})
    assert run(["post", str(b), *on, "--as", "ann"]) == 0
    assert run(["post", str(a), *on, "--as", "ann"]) == 0
    assert {r["user"]: r["role"] for r in records(a, "Staff").values()} == {"ann": "owner", "bea": "admin"}
    trail = [(r[2], r[13], r[16]) for r in PgLog(url, ledger).read() if r[3] == "staff_set"]
    assert [(who, source) for who, source, _data in trail] == [("ann", "Staff@a"), ("ann", "Staff@a"),
                                                              ("ann", "Staff@b")]
    assert '"role":"admin"' in trail[-1][2] and '"was":"staff"' in trail[-1][2]
