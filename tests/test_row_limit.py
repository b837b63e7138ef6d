"""Excel's row limit (book/limits.py): a post that would put a sheet past 1,048,576 rows is refused with the
file unchanged; a sheet past 90% is named in Alerts and the command's output; a desk's Log mirror keeps the
ledger's most recent rows. The limit is lowered for the tests (a module constant read at call time): a
million-row workbook is not built in a unit test."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from post_helpers import records
from post_helpers import studio
from post_helpers import type_rows

from xl_ledger.book import checkpoint
from xl_ledger.book import limits
from xl_ledger.book.filestore import FileStore
from xl_ledger.cli import run
from xl_ledger.core import chain

D = dt.date
TODAY = ["--today", "2026-03-10"]


def sell(student, product="P10", day=D(2026, 3, 1)) -> dict:
    return {"action": "sell", "date": day, "student_id": student, "product_id": product}


def test_a_post_past_excels_row_limit_is_refused_and_the_workbook_is_left_byte_for_byte(tmp_path, monkeypatch,
                                                                                       capsys):
    path = studio(tmp_path)
    assert run(["post", str(path), *TODAY]) == 0
    seq = FileStore(path).head()[0]
    type_rows(path, "Actions", {2: sell("S1"), 3: sell("S3", "H10")})
    before, cp_before = path.read_bytes(), checkpoint.path_for(path).read_bytes()
    capsys.readouterr()
    monkeypatch.setattr(limits, "ROWS", 1 + seq + 1)  # room for one more Log row; the post makes two
    assert run(["post", str(path), *TODAY]) == 4
    err = capsys.readouterr().err
    assert f"studio.xlsm!Log would hold {seq + 3} rows, past Excel's limit of {seq + 2} rows per sheet" in err
    assert "Nothing was written." in err
    assert f"`xl-ledger ledger-init --ledger postgresql://USER@HOST/DB --from studio.xlsm`" in err
    assert path.read_bytes() == before and checkpoint.path_for(path).read_bytes() == cp_before
    # With room (the real limit), the same post goes through: nothing was lost.
    monkeypatch.setattr(limits, "ROWS", 1_048_576)
    assert run(["post", str(path), *TODAY]) == 0
    assert [r["status"] for r in records(path, "Actions").values()] == ["applied", "applied"]
    assert FileStore(path).head()[0] == seq + 2


def test_a_sheet_past_90_percent_of_the_limit_is_named_in_alerts_and_the_output(tmp_path, monkeypatch, capsys):
    path = studio(tmp_path)
    assert run(["post", str(path), *TODAY]) == 0
    rows = 1 + FileStore(path).head()[0]
    limit = int(rows / 0.95)  # the Log fills 95-100% of the sheet
    monkeypatch.setattr(limits, "ROWS", limit)
    for command in (["post"], ["recompute", "--cold"]):
        capsys.readouterr()
        assert run([*command, str(path), *TODAY]) == 0
        out = capsys.readouterr().out
        share = f"{rows / limit:.0%}"
        assert re.search(rf"notice +studio\.xlsm!Log: Log holds {rows} of Excel's {limit} rows "
                         rf"\({share}\); a post that would pass the limit is refused\. Move the Log to PostgreSQL",
                         out), out
        first = records(path, "Alerts")[2]
        assert (first["kind"], first["where"], first["found"]) == ("notice", "studio.xlsm!Log", str(rows))
        assert first["message"] == f"Log holds {rows} of Excel's {limit} rows ({share}); past it a post " \
                                   "is refused: move the Log to PostgreSQL (xl-ledger ledger-init)"
    # Below 90%: no such alert.
    monkeypatch.setattr(limits, "ROWS", rows * 2)
    assert run(["recompute", "--cold", str(path), *TODAY]) == 0
    assert not any(r["where"] == "studio.xlsm!Log" for r in records(path, "Alerts").values())


# ----------------------------------------------------------------------------------- desks (PostgreSQL)
@pytest.fixture()
def url():
    from pg_support import pg_url

    return pg_url()


def desk_post(path, url, ledger, **kw):
    from post_helpers import NOW

    from xl_ledger.pg.desk import DeskStore
    from xl_ledger.pg.desk import post_at_desk
    from xl_ledger.pg.log import PgLog

    return post_at_desk(DeskStore(path, PgLog(url, ledger), path.stem), now=NOW, operator="owner", **kw)[1]


def balances(path) -> dict:
    return {(r["student_id"], r["unit"]): r["remaining"] for r in records(path, "Balances").values()}


def test_a_desks_mirror_keeps_the_ledgers_most_recent_rows_and_still_verifies(url, tmp_path, monkeypatch, capsys):
    from pg_support import new_studio
    from post_helpers import fresh

    from xl_ledger.pg.log import PgLog
    from xl_ledger.pg.store import mirror_keep

    ledger = new_studio()
    a = studio(tmp_path, "a.xlsm")
    assert desk_post(a, url, ledger).rejected == []
    start = PgLog(url, ledger).head()[0]
    # 12 rows: more than any other sheet here holds (the Dashboard's 9), fewer than the ledger's rows will be
    monkeypatch.setattr(limits, "ROWS", 12)
    keep = mirror_keep()
    for i in range(9):  # one sale per post: the ledger grows past what a sheet may hold
        type_rows(a, "Actions", {2 + i: sell("S1" if i % 2 else "S2")})
        assert desk_post(a, url, ledger).rejected == []
    b = fresh(tmp_path, "b.xlsm")  # a new desk joins a ledger longer than its sheet may hold
    assert desk_post(b, url, ledger).rejected == []
    ledger_rows = PgLog(url, ledger).read()
    assert len(ledger_rows) == start + 9 > limits.ROWS
    for desk in (a, b):
        mirror = FileStore(desk).read_log()
        assert 1 + len(mirror) <= limits.ROWS
        assert len(mirror) >= keep
        assert mirror == ledger_rows[-len(mirror):]  # the ledger's most recent rows, as they are
        # its first row chains to the ledger's row before it
        assert mirror[0][chain.PREV] == ledger_rows[-len(mirror) - 1][chain.HASH]
        assert run(["verify", str(desk), "--ledger", url, "--studio", ledger]) == 0
    # On its own (no --ledger), the window is not a whole Log: verify says so and how to check it (exit 1).
    capsys.readouterr()
    assert run(["verify", str(b)]) == 1
    assert "its Log keeps only the ledger's most recent rows (Excel's row limit): verify it against the ledger, " \
           f"`xl-ledger verify {b} --ledger URL`" in capsys.readouterr().err
    assert balances(a) == balances(b)
    assert balances(a)[("S1", "lessons")] == 40 and balances(a)[("S2", "lessons")] == 50
    # Posting again changes nothing; a shortened mirror is still the anchor of a cut ledger.
    assert desk_post(b, url, ledger).new_rows == 0
    assert desk_post(a, url, ledger).new_rows == 0


def test_a_desks_windowed_mirror_reads_back_in_libreoffice(url, tmp_path, monkeypatch):
    from libreoffice import convert
    from pg_support import new_studio

    from xl_ledger.pg.log import PgLog

    ledger = new_studio()
    a = studio(tmp_path, "a.xlsm")
    desk_post(a, url, ledger)
    monkeypatch.setattr(limits, "ROWS", 12)
    type_rows(a, "Actions", {2 + i: sell(f"S{1 + i % 3}") for i in range(12 - PgLog(url, ledger).head()[0])})
    assert desk_post(a, url, ledger).rejected == []
    mirror = FileStore(a).read_log()
    assert mirror[0][chain.SEQ] > 1
    back = convert(a, "xlsx", tmp_path / "lo")
    assert FileStore(back).read_log() == mirror  # the window's rows, under row 1's header, as LibreOffice reads them


def test_a_desk_refuses_a_post_that_would_put_a_sheet_past_the_limit_before_the_ledger_is_touched(
        url, tmp_path, monkeypatch, capsys):
    from pg_support import new_studio
    from post_helpers import fresh

    from xl_ledger.pg.log import PgLog

    ledger = new_studio()
    a = studio(tmp_path, "a.xlsm")
    type_rows(a, "Actions", {2 + i: sell(f"S{1 + i % 3}") for i in range(5)})
    assert desk_post(a, url, ledger).rejected == []
    b = fresh(tmp_path, "b.xlsm")
    type_rows(b, "Actions", {2: sell("S1")})  # b's own sale: it would be appended to the ledger
    head, before = PgLog(url, ledger).head(), b.read_bytes()
    # a's five sales, added below b's own, would end at row 7 of b's Actions (and Packages hold 6 + header).
    monkeypatch.setattr(limits, "ROWS", 6)
    on = ["--ledger", url, "--studio", ledger]
    capsys.readouterr()
    assert run(["post", str(b), *on, *TODAY]) == 4
    err = capsys.readouterr().err
    assert re.search(r"b\.xlsm!(Packages|Actions) would hold 7 rows, past Excel's limit of 6 rows per sheet", err), err
    assert "Nothing was written." in err and "with --ledger" in err
    assert PgLog(url, ledger).head() == head and b.read_bytes() == before
