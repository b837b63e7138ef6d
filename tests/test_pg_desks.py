"""Several workbooks (front desks) posting into one ledger in PostgreSQL: rows entered at one desk appear
at the others marked with their desk, the same session changed at two desks is rejected at the second,
every action is applied exactly once, and all desks show the same balances."""

from __future__ import annotations

import datetime as dt
import shutil

import openpyxl
import pytest
from pg_support import new_studio
from pg_support import pg_url
from post_helpers import NOW
from post_helpers import cli
from post_helpers import fresh
from post_helpers import records
from post_helpers import studio
from post_helpers import type_rows

from xl_ledger import post
from xl_ledger.cli import run
from xl_ledger.book.filestore import FileStore
from xl_ledger.core.chain import verify
from xl_ledger.pg.desk import DeskStore
from xl_ledger.pg.desk import post_at_desk
from xl_ledger.pg.log import PgLog

D = dt.date


@pytest.fixture(scope="module")
def url():
    return pg_url()


def desk_post(path, url, studio_id, **kw) -> post.PostResult:
    store = DeskStore(path, PgLog(url, studio_id), path.stem)
    kw.setdefault("operator", "owner")
    kw.setdefault("now", NOW)
    return post_at_desk(store, **kw)[1]


def sell(student, product="P10", day=D(2026, 3, 1), **more) -> dict:
    return {"action": "sell", "date": day, "student_id": student, "product_id": product, **more}


def lesson(sid, student, day=D(2026, 3, 2), status="attended", **more) -> dict:
    return {"session_id": sid, "date": day, "student_id": student, "status": status, **more}


def balances(path) -> dict:
    return {(r["student_id"], r["unit"]): r["remaining"] for r in records(path, "Balances").values()}


def test_two_desks_and_a_third_that_joins_show_the_same_ledger(url, tmp_path):
    ledger = new_studio()
    front = studio(tmp_path, "front.xlsm")
    type_rows(front, "Actions", {2: sell("S1")})
    type_rows(front, "Sessions", {2: lesson("L1", "S1")})
    assert desk_post(front, url, ledger).rejected == []

    owner = fresh(tmp_path, "owner.xlsm")  # a new workbook: it joins by posting
    first = desk_post(owner, url, ledger)
    assert first.new_rows == 0 and first.rejected == [] and first.notices == []
    students = {r["student_id"] for r in records(owner, "Students").values()}
    assert students == {"S1", "S2", "S3"}
    (row, l1), = records(owner, "Sessions").items()
    assert (l1["session_id"], l1["status"], l1["desk"]) == ("L1", "attended", "front")
    sale = records(owner, "Actions")[2]
    assert (sale["action"], sale["status"], sale["desk"], sale["package_id"]) == ("sell", "applied", "front", "PK-0001")

    # The owner sells to S3 and records S3's lesson; the front desk then sees both, marked "owner".
    type_rows(owner, "Actions", {3: sell("S3", "H10")})
    type_rows(owner, "Sessions", {row + 1: lesson("L2", "S3", minutes=90)})
    assert desk_post(owner, url, ledger).applied[0].startswith("Actions!3: sale PK-0002 10 hours")
    again = desk_post(front, url, ledger)
    assert again.new_rows == 0 and again.notices == [] and again.rejected == []
    front_sessions = {r["session_id"]: r["desk"] for r in records(front, "Sessions").values()}
    assert front_sessions == {"L1": None, "L2": "owner"}
    assert [(r["action"], r["desk"], r["status"]) for r in records(front, "Actions").values()] == \
        [("sell", None, "applied"), ("sell", "owner", "applied")]
    # 10 lessons - 1 = 9 for S1; 10 hours - 1.5 = 8.5 for S3, at both desks.
    assert balances(front) == balances(owner)
    assert balances(front)[("S1", "lessons")] == 9 and balances(front)[("S3", "hours")] == 8.5

    third = fresh(tmp_path, "third.xlsm")
    desk_post(third, url, ledger)
    assert balances(third) == balances(front) == balances(owner)
    log = PgLog(url, ledger).read()
    assert verify(log) is None
    assert FileStore(third).read_log() == FileStore(front).read_log() == log  # every mirror is the whole Log
    assert sum(r[3] == "sale" for r in log) == 2


def test_the_same_session_changed_at_two_desks_is_rejected_at_the_second(url, tmp_path):
    ledger = new_studio()
    a = studio(tmp_path, "a.xlsm")
    type_rows(a, "Actions", {2: sell("S1")})
    type_rows(a, "Sessions", {2: lesson("L1", "S1", status="scheduled")})
    desk_post(a, url, ledger)
    b = fresh(tmp_path, "b.xlsm")
    desk_post(b, url, ledger)
    type_rows(a, "Sessions", {2: {"status": "attended"}})
    type_rows(b, "Sessions", {2: {"status": "no_show"}})
    assert desk_post(a, url, ledger).rejected == []
    result = desk_post(b, url, ledger)
    assert len(result.rejected) == 1
    assert result.rejected[0].startswith("b.xlsm!Sessions!A2: session L1 was changed at desk a")
    assert "type it again and post" in result.rejected[0]
    row = records(b, "Sessions")[2]
    assert row["status"] == "attended"  # the ledger's value: b's change was not posted
    assert any("b.xlsm!Sessions!A2" in str(r) and "was changed at desk a" in str(r)
               for r in records(b, "Alerts").values())
    log = PgLog(url, ledger).read()
    assert [r[3] for r in log].count("session_changed") == 1  # only a's change
    # Nothing left over: both desks post again and nothing changes.
    assert desk_post(b, url, ledger).new_rows == 0
    assert desk_post(a, url, ledger).new_rows == 0
    assert balances(a) == balances(b)


def test_an_action_the_ledger_took_is_never_applied_twice(url, tmp_path):
    """The database committed, then the workbook was not written (here: the old file put back, as a
    crash between the two would leave it). The next post marks the row applied, and applies nothing."""
    ledger = new_studio()
    a = studio(tmp_path, "a.xlsm")
    desk_post(a, url, ledger)
    type_rows(a, "Actions", {2: sell("S1")})
    before = tmp_path / "before.xlsm"
    shutil.copyfile(a, before)
    desk_post(a, url, ledger)
    shutil.copyfile(before, a)  # the workbook as if its write had been lost
    assert records(a, "Actions")[2]["status"] is None
    result = desk_post(a, url, ledger)
    assert result.new_rows == 0 and result.applied == []
    row = records(a, "Actions")[2]
    assert row["status"] == "applied" and "the ledger holds it as Log seq" in row["message"]
    assert [r[3] for r in PgLog(url, ledger).read()].count("sale") == 1


def test_cli_ledger_init_post_and_reads_with_ledger(url, tmp_path, capsys):
    ledger = new_studio()
    path = studio(tmp_path)
    type_rows(path, "Actions", {2: sell("S1")})
    assert run(["post", str(path), "--today", "2026-03-10"]) == 0
    init = cli("ledger-init", "--ledger", url, "--from", str(path), "--studio", ledger)  # the real entry point
    assert init.returncode == 0 and "copied 7 Log rows" in init.stdout, init.stderr
    capsys.readouterr()
    assert run(["ledger-init", "--ledger", url, "--from", str(path), "--studio", ledger]) == 0
    assert "nothing to copy" in capsys.readouterr().out
    other = fresh(tmp_path, "desk2.xlsm")
    on = ["--ledger", url, "--studio", ledger]
    assert run(["post", str(other), *on, "--today", "2026-03-10"]) == 0
    for args in (["balance", "--json", "--today", "2026-03-10"], ["history", "--student", "S1"],
                 ["statement", "--student", "S1"], ["recompute", "--today", "2026-03-10"]):
        assert run([args[0], str(other), *args[1:], *on]) == 0, args
    capsys.readouterr()
    # The statement reads the ledger, not the workbook's mirror: a sale posted at the first desk since
    # shows at once.
    type_rows(path, "Actions", {3: sell("S1", "H10")})
    assert run(["post", str(path), *on, "--today", "2026-03-10"]) == 0
    capsys.readouterr()
    assert run(["statement", str(other), "--student", "S1", *on]) == 0
    assert "PK-0002" in capsys.readouterr().out
    assert run(["verify", str(other), *on]) == 0
    assert f"(studio '{ledger}'), for desk2.xlsm: the Log is intact (8 rows" in capsys.readouterr().out
    assert run(["balance", str(other), "--json", "--today", "2026-03-10", *on]) == 0
    ledger_json = capsys.readouterr().out
    assert run(["balance", str(path), "--json", "--today", "2026-03-10"]) == 0
    assert ledger_json == capsys.readouterr().out


def test_ledger_init_refuses_a_log_that_does_not_verify(url, tmp_path, capsys):
    path = studio(tmp_path)
    type_rows(path, "Actions", {2: sell("S1")})
    run(["post", str(path), "--today", "2026-03-10"])
    ledger = new_studio()
    bad = tmp_path / "bad.xlsm"  # the operator of Log row 2 typed over, as someone editing the sheet would
    wb = openpyxl.load_workbook(path, keep_vba=True)
    wb["Log"]["C2"] = "mallory"
    wb.save(bad)
    capsys.readouterr()
    assert run(["ledger-init", "--ledger", url, "--from", str(bad), "--studio", ledger]) == 1
    err = capsys.readouterr().err
    assert "bad.xlsm!Log!A2" in err and "not copied" in err
    assert PgLog(url, ledger).read() == []


def test_four_desks_posting_at_once_apply_every_action_exactly_once(url, tmp_path):
    """4 desk processes x 50 posts into one ledger, every desk selling to the same two families; three desks
    wait for their turn, one posts optimistically (and posts again when another desk was first). Every
    typed action is in the Log once, every lesson once, and the balances equal one workbook posting the
    same rows serially: 6 students, 200 sales of 10 lessons, 68 lessons attended (desk posts 0, 3, …, 48)."""
    import json
    import subprocess
    import sys

    from post_helpers import REPO

    ledger = new_studio()
    founder = studio(tmp_path, "founder.xlsm")
    type_rows(founder, "Students", {5: {"student_id": "S4", "name": "Dan Wu", "family_id": "WU"},
                                    6: {"student_id": "S5", "name": "Eve Wu", "family_id": "WU"},
                                    7: {"student_id": "S6", "name": "Fay Wu", "family_id": "WU"}})
    desk_post(founder, url, ledger)
    desks = [fresh(tmp_path, f"desk{i}.xlsm") for i in range(4)]
    for path in desks:
        desk_post(path, url, ledger)  # join: the catalogue and the students arrive
    env = {**__import__("os").environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, str(REPO / "tests" / "pg_desk_worker.py"), str(path), url, ledger,
                               str(i), "50", "1" if i < 3 else "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for i, path in enumerate(desks)]
    lines = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-3000:]
        lines += [json.loads(line) for line in out.splitlines()]
    assert sum(line["attempts"] for line in lines if line["desk"] == "desk3") > 50  # it lost races, and retried
    assert len(lines) == 200 and all(line["applied"] == 1 and line["rejected"] == [] for line in lines)

    log = PgLog(url, ledger).read()
    assert verify(log) is None
    sources = [r[13] for r in log if r[3] == "sale"]
    assert len(sources) == len(set(sources)) == 200  # each typed sale once: no loss, no double
    assert set(sources) == {f"Actions!{line['row']}@{line['desk']}" for line in lines}
    lessons = [r[7] for r in log if r[3] == "session_recorded"]
    assert sorted(lessons) == sorted(line["lesson"] for line in lines if line["lesson"])

    # Serial replay: one plain workbook, the same rows typed and posted in one go.
    serial = studio(tmp_path, "serial.xlsm")
    type_rows(serial, "Students", {5: {"student_id": "S4", "name": "Dan Wu", "family_id": "WU"},
                                   6: {"student_id": "S5", "name": "Eve Wu", "family_id": "WU"},
                                   7: {"student_id": "S6", "name": "Fay Wu", "family_id": "WU"}})
    type_rows(serial, "Actions", {i + 2: sell(line["student"]) for i, line in enumerate(lines)})
    type_rows(serial, "Sessions", {i + 2: lesson(name, student) for i, (name, student) in
                                   enumerate((line["lesson"], line["student"]) for line in lines if line["lesson"])})
    assert post.post(FileStore(serial), now=NOW, operator="owner").rejected == []
    expected = balances(serial)
    assert sum(expected.values()) == 200 * 10 - 68
    for path in desks:
        assert desk_post(path, url, ledger).new_rows == 0
        assert balances(path) == expected
        actions = records(path, "Actions")
        assert len(actions) == 200 and all(r["status"] == "applied" for r in actions.values())
    latencies = sorted(line["seconds"] for line in lines)
    print(f"4 desks x 50 posts: p50 {latencies[100]:.2f}s, p95 {latencies[190]:.2f}s, "
          f"{sum(line['attempts'] for line in lines)} attempts")


def test_a_desk_commits_the_whole_change_money_format_page_headers_and_an_older_layout(url, tmp_path):
    """A desk's commit writes what a workbook's own would: the studio's money format, the as-of date in the
    printed page headers, and engine sheets laid out by an earlier xl-ledger laid out again (they were left
    out of the desk's Change, so an older workbook's Balances got today's rows under its old headers)."""
    import zipfile

    from test_upgrade_layout import GOLDEN
    from test_upgrade_layout import UPGRADED

    from xl_ledger.book import schema

    ledger = new_studio()
    path = tmp_path / "older.xlsm"
    shutil.copyfile(GOLDEN, path)
    assert run(["ledger-init", "--ledger", url, "--from", str(path), "--studio", ledger]) == 0
    result = desk_post(path, url, ledger, today=D(2026, 12, 2))
    assert [n.split("!")[1].split(" ")[0] for n in result.notices if "laid out by an earlier" in n] == list(UPGRADED)
    wb = openpyxl.load_workbook(path)
    for sheet in UPGRADED:
        assert tuple(c.value for c in wb[sheet][1]) == schema.BY_NAME[sheet].headers, sheet
    assert desk_post(path, url, ledger, today=D(2026, 12, 2)).drift == []  # the rows are under their headers
    with FileStore(path)._open() as book:
        part = book.sheets["Packages"]
    with zipfile.ZipFile(path) as z:
        assert "as of 2026-12-02" in z.read(part).decode()  # the printed page header


def test_a_desk_shows_money_in_the_studios_currency(url, tmp_path):
    from xl_ledger.book import schema

    ledger = new_studio()
    path = studio(tmp_path, "eur.xlsm")
    keys = list(schema.SETTINGS)
    type_rows(path, "Settings", {keys.index("currency") + 2: {"value": "EUR"}})
    type_rows(path, "Actions", {2: sell("S1")})
    assert desk_post(path, url, ledger).rejected == []
    wb = openpyxl.load_workbook(path)
    headers = [c.value for c in wb["Packages"][1]]
    cell = wb["Packages"].cell(row=2, column=headers.index("value_remaining") + 1)
    assert cell.value == 300 and cell.number_format == schema.money_format("EUR"), cell.number_format


def test_a_conflict_found_by_remind_is_added_to_alerts_and_the_engine_alerts_stay(url, tmp_path):
    """remind at a desk catches the workbook up with the ledger too; a row changed at two desks is reset and
    said in Alerts, above the alerts the last post wrote (remind does not rewrite them)."""
    ledger = new_studio()
    on = ["--ledger", url, "--studio", ledger]
    a = studio(tmp_path, "a.xlsm")
    type_rows(a, "Sessions", {2: lesson("L1", "S3")})  # S3 has no pack: a lesson owed
    assert desk_post(a, url, ledger).rejected == []
    b = fresh(tmp_path, "b.xlsm")
    desk_post(b, url, ledger)
    owed = [r for r in records(b, "Alerts").values() if r["kind"] == "owed"]
    assert owed
    at = {r["student_id"]: n for n, r in records(a, "Students").items()}
    type_rows(a, "Students", {at["S2"]: {"name": "Bea Rossi-Lane"}})
    assert desk_post(a, url, ledger).rejected == []
    at = {r["student_id"]: n for n, r in records(b, "Students").items()}
    type_rows(b, "Students", {at["S2"]: {"name": "Beatrice Rossi"}})  # typed at b too, not posted
    assert run(["remind", str(b), "--today", "2026-03-10", *on]) == 0
    alerts = list(records(b, "Alerts").values())
    assert "student S2 was changed at desk a" in alerts[0]["message"]
    assert [r for r in alerts if r["kind"] == "owed"] == owed
    assert records(b, "Students")[at["S2"]]["name"] == "Bea Rossi-Lane"
