"""One outbox per ledger: desks of one ledger running `remind --send` at the same time mail each reminder
once. Each desk claims a reminder's key in the database before sending it (pg/outbox.py); the other desk's
Outbox shows it as sent by the desk that sent it. A real SMTP server (aiosmtpd) on loopback, real
PostgreSQL, each desk in its own process."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from pg_support import new_studio
from pg_support import pg_url
from post_helpers import REPO
from post_helpers import fresh
from post_helpers import records
from post_helpers import type_rows
from test_remind import TODAY
from test_remind import book
from test_remind import server  # noqa: F401  (the fixture: a real SMTP server on a free loopback port)
from test_remind import setting_rows

from xl_ledger.cli import run

KEYS = ["PK-0001:low_balance:2", "PK-0002:low_balance:2"]  # Dee (PK-0003) has no address: never sent


@pytest.fixture(scope="module")
def url():
    return pg_url()


def outbox(path) -> list[dict]:
    return list(records(path, "Outbox").values())


def last(path) -> dict[str, dict]:
    return {r["key"]: r for r in outbox(path)}


def remind_at_once(paths, on) -> list[subprocess.CompletedProcess]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, "-m", "xl_ledger.cli", "remind", str(p), "--today", TODAY, "--send",
                               *on], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for p in paths]
    out = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=180)
        out.append(subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr))
    return out


def test_two_desks_sending_at_once_mail_each_reminder_once(url, tmp_path, server, capsys):  # noqa: F811
    box, _controller, port = server
    ledger = new_studio()
    on = ["--ledger", url, "--studio", ledger]
    a = book(tmp_path, port)  # studio.xlsm: the studio's workbook, moved into the ledger
    assert run(["ledger-init", "--ledger", url, "--from", str(a), "--studio", ledger]) == 0
    assert run(["post", str(a), *on, "--today", TODAY]) == 0
    b = fresh(tmp_path, "front.xlsm")  # a second desk joins
    type_rows(b, "Settings", setting_rows({"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_security": "none",
                                           "smtp_from": "Harbour Music <front@harbour.test>"}))
    assert run(["post", str(b), *on, "--today", TODAY]) == 0
    capsys.readouterr()

    done = remind_at_once([a, b], on)
    assert [r.returncode for r in done] == [0, 0], [r.stderr for r in done]
    assert box.keys() == KEYS  # exactly one mail per reminder, whichever desk sent it
    # Each desk's Outbox: a key it sent went queued -> sending -> sent; a key the other desk holds is not
    # sent from here. A second run at each desk brings the other desk's outcome in.
    for path in (a, b):
        assert run(["remind", str(path), "--today", TODAY, "--send", *on]) == 0
    assert box.keys() == KEYS  # still once
    sender = {}
    for key in KEYS:
        here = {desk: [r for r in outbox(path) if r["key"] == key] for desk, path in (("studio", a), ("front", b))}
        sent_from = [desk for desk, rows in here.items() if any(r["status"] == "sending" for r in rows)]
        assert len(sent_from) == 1, here
        sender[key] = sent_from[0]
        other = "front" if sender[key] == "studio" else "studio"
        mine, theirs = here[sender[key]][-1], here[other][-1]
        assert mine["status"] == "sent" and mine["answer"].startswith("250")
        assert theirs["status"] == "sent"
        assert theirs["answer"].startswith(f"sent by desk {sender[key]} at 2026-"), theirs["answer"]
        assert not any(r["status"] == "sending" for r in here[other])
    # Dee has no address at either desk: failed there, never claimed, never sent.
    assert last(a)["PK-0003:low_balance:2"]["status"] == last(b)["PK-0003:low_balance:2"]["status"] == "failed"


def test_a_reminder_sent_at_one_desk_is_shown_sent_at_the_other_and_retry_takes_it_over(url, tmp_path, server,  # noqa: F811
                                                                                       capsys):
    box, _controller, port = server
    ledger = new_studio()
    on = ["--ledger", url, "--studio", ledger]
    a = book(tmp_path, port)
    assert run(["ledger-init", "--ledger", url, "--from", str(a), "--studio", ledger]) == 0
    b = fresh(tmp_path, "front.xlsm")
    type_rows(b, "Settings", setting_rows({"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_security": "none",
                                           "smtp_from": "Harbour Music <front@harbour.test>"}))
    assert run(["post", str(b), *on, "--today", TODAY]) == 0
    assert run(["remind", str(a), "--today", TODAY, "--send", *on]) == 0
    assert box.keys() == KEYS
    capsys.readouterr()
    assert run(["remind", str(b), "--today", TODAY, "--send", *on]) == 0
    said = capsys.readouterr().out
    assert box.keys() == KEYS  # B sends nothing
    assert "0 reminders queued, 2 already sent by other desks, 0 being sent by other desks" in said, said
    for key in KEYS:
        rows = [r for r in outbox(b) if r["key"] == key]
        assert [r["status"] for r in rows] == ["sent"]  # at B: shown sent, never queued to go from here
        assert rows[0]["answer"].startswith("sent by desk studio at 2026-03-10")
    # The owner decides a message must go again from B (it did not arrive): --retry takes the claim over.
    assert run(["remind", str(b), "--today", TODAY, "--send", "--retry", KEYS[1], *on]) == 0
    assert box.keys() == sorted(KEYS + [KEYS[1]])
    assert run(["remind", str(a), "--today", TODAY, "--send", *on]) == 0
    assert box.keys() == sorted(KEYS + [KEYS[1]])  # A does not send it again: B holds it now
