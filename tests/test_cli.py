"""`xl-ledger` as users run it: subprocesses, exit codes, the error format, the --json contract.

One demo workbook (module fixture) serves the read-only commands; each subprocess costs ~0.5 s, so
the tests that only check a message run `cli.run()` in-process.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sys
from decimal import Decimal

import openpyxl
import pytest
import python_calamine
from post_helpers import cli
from post_helpers import studio
from post_helpers import type_rows

from xl_ledger import cli as xl_cli
from xl_ledger.book.filestore import FileStore
from xl_ledger.book.store import Change


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo")
    done = cli("demo", "demo.xlsm", "--today", "2026-03-31", cwd=folder)
    assert done.returncode == 0, done.stderr
    return folder / "demo.xlsm", done.stdout


def test_demo_prints_a_summary_and_the_file_verifies(demo):
    path, out = demo
    assert "40 students" in out and "post 3 (2026-03-31)" in out and "actions applied" in out
    assert "rows rejected" in out and "liability" in out
    done = cli("verify", str(path))
    assert done.returncode == 0 and "the Log is intact" in done.stdout, done.stderr
    actions = [r for _, r in FileStore(path).read_sheet("Actions").records()]
    assert {"applied", "rejected"} <= {a["status"] for a in actions}
    assert {"refund", "transfer", "freeze"} <= {a["action"] for a in actions if a["status"] == "applied"}
    sessions = [r for _, r in FileStore(path).read_sheet("Sessions").records()]
    assert {"late_cancel", "no_show", "attended", "scheduled"} <= {s["status"] for s in sessions}


def test_the_demo_reports_one_liability_everywhere(demo):
    """The Report's last month closes at the sum of Packages value_remaining (credit left plus what bookings
    hold), which Balances adds up to as well and the Dashboard and the demo's summary show. The demo's
    bookings hold credit, so value left out of value_remaining would show here."""
    path, out = demo
    store = FileStore(path)

    def column(sheet, name):
        return [Decimal(str(r[name] or 0)) for _, r in store.read_sheet(sheet).records()]

    packages = sum(column("Packages", "value_remaining"))
    assert sum(column("Packages", "reserved")) > 0
    report = next(r for _, r in store.read_sheet("Report").records())
    dashboard = next(r for _, r in store.read_sheet("Dashboard").records())
    assert report["month"] == "2026-03" and dashboard["section"] == "liability"
    assert Decimal(str(report["liability_end"])) == packages == sum(column("Balances", "value_remaining")) \
        == Decimal(str(dashboard["value"])) == Decimal("14271.25")
    assert "liability 14271.25 USD" in out


def test_demo_is_deterministic(demo, tmp_path):
    from xl_ledger import demo as demo_module

    path, _ = demo
    again = tmp_path / "again.xlsm"
    demo_module.build(again, today=dt.date(2026, 3, 31))
    for sheet in ("Packages", "Balances", "Actions", "Sessions"):
        assert FileStore(again).read_sheet(sheet).rows == FileStore(path).read_sheet(sheet).rows, sheet


def test_balance_json_contract(demo):
    path, _ = demo
    done = cli("balance", str(path), "--json", "--as-of", "2026-03-31")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert set(report) == {"as_of", "packages", "students", "family_pools"} and report["as_of"] == "2026-03-31"
    pkg_keys = {"package_id", "product_id", "owner", "unit", "total", "used", "reserved", "remaining",
                "value_remaining", "expires_on", "status"}
    assert report["packages"] and all(set(p) == pkg_keys for p in report["packages"])
    for p in report["packages"]:
        for k in ("total", "used", "reserved", "remaining", "value_remaining"):
            assert isinstance(p[k], str)
            Decimal(p[k])  # a decimal string
            assert "e" not in p[k].lower()
        assert Decimal(p["value_remaining"]).as_tuple().exponent == -2
        assert p["expires_on"] is None or dt.date.fromisoformat(p["expires_on"])
    assert len(report["students"]) == 40
    for s in report["students"]:
        assert set(s) == {"student_id", "name", "remaining", "owed_sessions", "value_remaining", "owed_value"}
        assert isinstance(s["owed_sessions"], int)
        assert all(u in ("hours", "lessons", "months") and isinstance(q, str) for u, q in s["remaining"].items())
    # The same numbers as the Balances sheet the post wrote for that day (what each can use).
    sheet = {(r["student_id"], r["unit"]): r["can_use"]
             for _, r in FileStore(path).read_sheet("Balances").records()}
    for s in report["students"]:
        for unit, q in s["remaining"].items():
            assert Decimal(str(sheet[(s["student_id"], unit)])) == Decimal(q)


def test_balance_and_history_for_one_student(demo, capsys):
    path, _ = demo
    assert xl_cli.run(["balance", str(path), "--student", "S-008", "--json", "--as-of", "2026-03-31"]) == 0
    one = json.loads(capsys.readouterr().out)
    assert [s["student_id"] for s in one["students"]] == ["S-008"]
    assert all(p["owner"] == "S-008" or p["product_id"] == "FAM20" for p in one["packages"])
    assert xl_cli.run(["history", str(path), "--student", "S-008", "--today", "2026-03-31", "--json"]) == 0
    history = json.loads(capsys.readouterr().out)
    final: dict[str, Decimal] = {}
    for pid, q in history["closing"].items():  # each package's running balance after its last line
        unit = next(p["unit"] for p in one["packages"] if p["package_id"] == pid)
        final[unit] = final.get(unit, Decimal(0)) + Decimal(q)
    assert {u: str(q) for u, q in final.items()} == one["students"][0]["remaining"]
    # The running balance of a line is its package's balance that day: the first lines replay from zero.
    first = history["lines"][0]
    assert (first["what"], first["change"], first["balance"]) == ("bought", first["balance"], first["balance"])


def test_init_records_the_interpreter_and_never_overwrites(tmp_path):
    done = cli("init", "studio.xlsm", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    conf = python_calamine.CalamineWorkbook.from_path(str(tmp_path / "studio.xlsm")).get_sheet_by_name(
        "xlwings.conf").to_python()
    pairs = {row[0]: row[1] for row in conf if row and row[0]}
    expected = {"win32": ["INTERPRETER_WIN"], "darwin": ["INTERPRETER_MAC"]}.get(
        sys.platform, ["INTERPRETER_WIN", "INTERPRETER_MAC"])
    for key in expected:
        assert pairs[key] == sys.executable
    assert pairs["UDF Modules"] == "xl_ledger.excel.udfs"
    # xlwings reads A1 down to the first blank row: the keys must be directly under row 1.
    assert [row[0] for row in conf[:len(expected) + 2]] == ["UDF Modules", *expected, ""]
    before = (tmp_path / "studio.xlsm").read_bytes()
    again = cli("init", "studio.xlsm", cwd=tmp_path)
    assert again.returncode == 2 and "already exists" in again.stderr and "Traceback" not in again.stderr
    assert (tmp_path / "studio.xlsm").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["studio.xlsm"]


def test_help_documents_the_exit_codes():
    done = cli("--help")
    assert done.returncode == 0
    for code, meaning in xl_cli.EXIT_CODES.items():
        assert f"{code}  {meaning}" in " ".join(done.stdout.split()) or meaning.split(":")[0] in done.stdout
    assert all(c in done.stdout for c in ("init", "demo", "post", "recompute", "verify", "balance", "history"))


@pytest.mark.parametrize("args, code, message", [
    (["balance", "missing.xlsm"], 4, "missing.xlsm\n  does not exist."),
    (["balance", "{demo}", "--as-of", "2026-02-30"], 2, '--as-of: "2026-02-30"\n  is not a date.'),
    (["balance", "{demo}", "--student", "S-404"], 2, 'demo.xlsm!Students: "S-404"\n  has no student'),
    (["post", "{demo}", "--key-file", "nokey.txt"], 2, "--key-file nokey.txt\n  cannot be read"),
    (["init", "studio.xlsx"], 2, "must end in .xlsm"),
    (["verify", "{folder}"], 4, "is a folder"),
])
def test_user_mistakes_get_a_message_and_an_exit_code(demo, tmp_path, monkeypatch, capsys, args, code, message):
    path, _ = demo
    monkeypatch.chdir(tmp_path)
    args = [a.replace("{demo}", str(path)).replace("{folder}", str(tmp_path)) for a in args]
    assert xl_cli.run(args) == code
    err = capsys.readouterr().err
    assert message in err.replace(str(path.parent) + "/", "") and "Traceback" not in err


def test_errors_in_a_subprocess_no_traceback(tmp_path):
    """The real entry point: a damaged file, a usage error, and argparse's own exit 2."""
    (tmp_path / "junk.xlsm").write_bytes(b"PK\x03\x04 not really a zip")
    done = cli("verify", str(tmp_path / "junk.xlsm"))
    assert done.returncode == 4 and "junk.xlsm" in done.stderr and "Traceback" not in done.stderr
    assert "restore a backup" in done.stderr
    done = cli("frobnicate")
    assert done.returncode == 2 and "Traceback" not in done.stderr


def test_post_exit_codes_locked_not_allowed_rejected(tmp_path):
    path = studio(tmp_path)
    type_rows(path, "Actions", {2: {"action": "sell", "student_id": "S1", "product_id": "P10"},
                                3: {"action": "refund", "student_id": "S1", "package_id": "PK-0001"}})
    done = cli("post", str(path), "--as", "owner", "--today", "2026-03-10")
    assert done.returncode == 5, done.stderr  # posted, with one row rejected
    assert "1 actions applied, 1 rows rejected" in done.stdout and "studio.xlsm!Actions!H3" in done.stdout
    lock = tmp_path / "~$studio.xlsm"  # Excel has it open
    lock.write_bytes(bytes([5]) + b"maria" + bytes(50))
    done = cli("post", str(path))
    assert done.returncode == 3 and "open in Excel by maria" in done.stderr and "Traceback" not in done.stderr
    lock.unlink()
    type_rows(path, "Staff", {2: {"user": "maria", "role": "owner"}})
    done = cli("post", str(path), "--as", "mallory")
    assert done.returncode == 6 and "studio.xlsm!Staff" in done.stderr and "--as USER" in done.stderr
    type_rows(path, "Actions", {3: {"reason_code": "goodwill"}})
    done = cli("post", str(path), "--as", "maria", "--today", "2026-03-10")
    assert done.returncode == 0 and "1 actions applied, 0 rows rejected" in done.stdout, done.stdout
    done = cli("recompute", str(path), "--today", "2026-03-10")
    # The post left nothing of the inputs' own in Alerts, so its sheets already are the recompute.
    assert done.returncode == 0 and "studio.xlsm is up to date as of 2026-03-10" in done.stdout, done.stdout
    done = cli("recompute", str(path), "--today", "2026-03-11")  # another day: expiries may differ
    assert done.returncode == 0 and "Recomputed studio.xlsm as of 2026-03-11" in done.stdout, done.stdout


def test_verify_with_the_owner_key(tmp_path):
    path = studio(tmp_path)
    key = tmp_path / "owner.key"
    key.write_text("correct horse battery staple\n")
    type_rows(path, "Actions", {2: {"action": "sell", "student_id": "S1", "product_id": "P10"}})
    assert cli("post", str(path), "--key-file", str(key)).returncode == 0
    assert cli("verify", str(path), "--key-file", str(key)).returncode == 0
    plain = cli("verify", str(path))  # the Log says it is signed: a key is needed, not "tampered" (issue 12)
    assert plain.returncode == 2 and "signed with the owner's key" in plain.stderr, plain.stderr


def test_export_writes_a_balanced_journal_per_format_and_refuses_a_running_month(demo, tmp_path):
    import csv
    from decimal import Decimal

    path, _ = demo
    for fmt in ("qbo", "iif", "xero"):
        out = tmp_path / f"feb.{fmt}"
        done = cli("export", str(path), "--month", "2026-02", "--format", fmt, "--out", str(out), "--today", "2026-03-31")
        assert done.returncode == 0, done.stderr
        assert f"wrote {out}" in done.stdout and "2026-02: sales" in done.stdout
    rows = list(csv.DictReader((tmp_path / "feb.qbo").open(encoding="utf-8", newline="")))
    assert sum(Decimal(r["Debits"] or 0) for r in rows) == sum(Decimal(r["Credits"] or 0) for r in rows) > 0
    done = cli("export", str(path), "--month", "2026-03", "--format", "qbo", "--out", str(tmp_path / "mar.csv"),
               "--today", "2026-03-31")
    assert done.returncode == 2 and "2026-03 has not ended" in done.stderr and not (tmp_path / "mar.csv").exists()


def test_audit_lists_the_months_changes_by_hand_in_a_csv_and_the_audit_sheet(demo, tmp_path):
    import csv

    book = tmp_path / "studio.xlsm"
    shutil.copy(demo[0], book)
    done = cli("audit", str(book), "--month", "2026-03", "--today", "2026-04-02")
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader((tmp_path / "studio-audit-2026-03.csv").open(encoding="utf-8-sig", newline="")))
    # The demo's refund and sibling transfer (dated 10 Feb, recorded 1 Mar) and its freeze of 12 Mar.
    assert [(r["what"], r["reason_code"], r["source"]) for r in rows] == [
        ("refund", "moved_away", "studio.xlsm!Actions!32"),
        ("transfer to S-009 (PK-0031)", "family_transfer", "studio.xlsm!Actions!33"),
        ("freeze 14 days", "medical", "studio.xlsm!Actions!49")]
    assert rows[0]["reason"] == "Client moved away" and rows[0]["operator"] == "owner"
    sheet = python_calamine.CalamineWorkbook.from_path(str(book)).get_sheet_by_name("Audit").to_python()
    assert [r[4] for r in sheet[1:]] == [r["what"] for r in rows]
    assert cli("verify", str(book)).returncode == 0  # the Log is untouched
    done = cli("audit", str(book), "--month", "2026-04", "--today", "2026-04-02")
    assert done.returncode == 2 and "has not ended" in done.stderr


def test_close_records_who_and_then_a_backdated_sale_is_rejected_in_its_row(demo, tmp_path):
    from post_helpers import records

    book = tmp_path / "studio.xlsm"
    shutil.copy(demo[0], book)
    done = cli("close", str(book), "--month", "2026-02", "--as", "owner", "--today", "2026-03-31")
    assert done.returncode == 0, done.stderr
    assert "closed through 2026-02-28" in done.stdout
    again = cli("close", str(book), "--month", "2026-02", "--as", "owner", "--today", "2026-03-31")
    assert again.returncode == 2 and "already closed through 2026-02-28" in again.stderr
    assert cli("close", str(book), "--month", "2026-03", "--today", "2026-03-31").returncode == 2  # still running
    rows = FileStore(book).read_sheet("Actions").rows
    free = max(r for r, _ in rows) + 1
    type_rows(book, "Actions", {free: {"action": "sell", "date": dt.date(2026, 2, 15), "student_id": "S-001",
                                       "product_id": "PIANO10"}})
    done = cli("post", str(book), "--as", "owner", "--today", "2026-03-31")
    assert done.returncode == 5
    row = records(book, "Actions")[free]
    assert row["status"] == "rejected" and "closed period" in row["message"] and "after the close" in row["message"]


def test_balance_starts_without_the_modules_only_other_commands_need(tmp_path):
    """Start-up time (issue 11: balance on a 1,000-row workbook in 0.5 s): the Post pipeline, the
    renderer, the importer, dateutil's parser (dates typed as text) and urllib/http/email (which
    xml.sax.saxutils pulls in) are imported by the commands that use them, not by `balance`."""
    import subprocess

    path = studio(tmp_path)
    code = ("import sys\nfrom xl_ledger import cli\nrc = cli.run(['balance', sys.argv[1]])\n"
            "print(rc, ','.join(sorted(m for m in sys.modules if m in ('xl_ledger.post', 'xl_ledger.book.render', "
            "'xl_ledger.migrate.importer', 'dateutil.parser', 'urllib.request', 'http.client', 'email.parser', 'ssl'))))")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines()[-1] == "0 ", out.stdout + out.stderr  # exit 0, none of them


def test_reopen_needs_the_owner_and_a_reason_is_logged_and_the_audit_shows_it(demo, tmp_path):
    import csv

    from post_helpers import records

    book = tmp_path / "studio.xlsm"
    shutil.copy(demo[0], book)
    type_rows(book, "Staff", {2: {"user": "olga", "role": "owner"}, 3: {"user": "adam", "role": "admin"}})
    done = cli("close", str(book), "--month", "2026-02", "--as", "zed", "--today", "2026-03-31")
    assert done.returncode == 6 and "'zed' is not on the Staff sheet" in done.stderr, done.stderr
    assert cli("close", str(book), "--month", "2026-02", "--as", "adam", "--today", "2026-03-31").returncode == 0
    done = cli("reopen", str(book), "--month", "2026-02", "--as", "adam", "--reason", "billing_error",
               "--today", "2026-03-31")
    assert done.returncode == 6 and "needs the owner" in done.stderr, done.stderr  # not allowed, as post says it
    done = cli("reopen", str(book), "--month", "2026-02", "--as", "olga", "--today", "2026-03-31")
    assert done.returncode == 2 and "needs a reason code" in done.stderr, done.stderr
    done = cli("reopen", str(book), "--month", "2026-02", "--as", "olga", "--reason", "no_such_code",
               "--today", "2026-03-31")
    assert done.returncode == 2 and '"no_such_code" is not in the Reasons list' in done.stderr, done.stderr
    done = cli("reopen", str(book), "--month", "2026-02", "--as", "olga", "--reason", "billing_error", "--note",
               "=the late Stripe invoice", "--today", "2026-03-31")
    assert done.returncode == 0 and "reopened from 2026-02-01" in done.stdout, done.stderr
    again = cli("reopen", str(book), "--month", "2026-02", "--as", "olga", "--reason", "billing_error",
                "--today", "2026-03-31")
    assert again.returncode == 2 and "is not closed" in again.stderr
    log = FileStore(book).read_log()
    assert [(r[3], r[2], r[11]) for r in log[-2:]] == [("period_close", "adam", ""),
                                                       ("period_reopen", "olga", "billing_error")]
    # February is open again: a sale dated in it posts.
    free = max(r for r, _ in FileStore(book).read_sheet("Actions").rows) + 1
    type_rows(book, "Actions", {free: {"action": "sell", "date": dt.date(2026, 2, 15), "student_id": "S-001",
                                       "product_id": "PIANO10"}})
    cli("post", str(book), "--as", "olga", "--today", "2026-03-31")  # exit 5: the demo's rejected rows stay so
    assert records(book, "Actions")[free]["status"] == "applied", records(book, "Actions")[free]
    # The audit of February (and of March, when both were recorded) lists the close and the reopening.
    assert cli("audit", str(book), "--month", "2026-02", "--today", "2026-03-31").returncode == 0
    rows = list(csv.DictReader((tmp_path / "studio-audit-2026-02.csv").open(encoding="utf-8-sig", newline="")))
    shown = [(r["what"], r["operator"], r["reason_code"], r["reason"], r["note"]) for r in rows[-2:]]
    assert shown[0][:2] == ("close through 2026-02-28", "adam")
    assert shown[1][:4] == ("reopen from 2026-02-01", "olga", "billing_error", "Correcting a billing or data-entry error")
    assert shown[1][4].startswith("reopened from 2026-02-01 (closed through 2026-02-28) by olga; ")
    assert shown[1][4].endswith("=the late Stripe invoice")
