"""`xl-ledger remind` against a real SMTP server (aiosmtpd) on loopback, started here on a free port.

The studio: the Rossi family (Ann and Bea) share a 20-lesson family pack bought by Ann, who has an email;
Carl Diaz has a 10-lesson pack; Dee Lane has one and no email. By 2026-03-10 the family pack has 2
left (18 lessons: 9 each), Carl 1 (9 lessons) and Dee 2 (8 lessons); low_balance_threshold is 2.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading

import pytest
from post_helpers import REPO
from post_helpers import records
from post_helpers import studio
from post_helpers import type_rows

from xl_ledger import cli as xl_cli
from xl_ledger.book import schema

aiosmtpd_controller = pytest.importorskip("aiosmtpd.controller")
from aiosmtpd.smtp import AuthResult  # noqa: E402
from aiosmtpd.smtp import LoginPassword  # noqa: E402

TODAY = "2026-03-10"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mailbox:
    """aiosmtpd handler: keeps what it accepts; refuses listed recipients; can hold one message's DATA."""

    def __init__(self):
        self.received: list[email.message.EmailMessage] = []
        self.refuse: set[str] = set()
        self.hold: set[str] = set()  # recipients whose message is held at DATA until `release`
        self.holding = threading.Event()
        self.release = threading.Event()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.hold & set(envelope.rcpt_tos):
            self.holding.set()
            while not self.release.is_set():
                await asyncio.sleep(0.05)
            return "451 4.3.0 gave up"  # the client was killed meanwhile: nothing accepted
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        msg["X-Envelope-To"] = ",".join(envelope.rcpt_tos)
        self.received.append(msg)
        return "250 OK"

    def keys(self) -> list[str]:
        return sorted(m["X-Xl-Ledger-Key"] for m in self.received)


class Server:
    """The test's SMTP server on a fixed loopback port; stop() and start() again to take it down and up."""

    def __init__(self, box: Mailbox, port: int, **kwargs):
        self.box, self.port, self.kwargs = box, port, kwargs
        self.controller = None

    def start(self) -> None:
        self.controller = aiosmtpd_controller.Controller(self.box, hostname="127.0.0.1", port=self.port,
                                                         **self.kwargs)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def server():
    box = Mailbox()
    port = free_port()
    srv = Server(box, port)
    srv.start()
    yield box, srv, port
    box.release.set()
    srv.stop()


def setting_rows(values: dict) -> dict[int, dict]:
    keys = list(schema.SETTINGS)
    return {keys.index(k) + 2: {"value": v} for k, v in values.items()}


def book(tmp_path, port: int, **smtp):
    path = studio(tmp_path)
    type_rows(path, "Students", {
        2: {"email": "ann@rossi.test"}, 4: {"email": "carl@diaz.test"},
        5: {"student_id": "S4", "name": "Dee Lane"}})
    type_rows(path, "Settings", setting_rows({
        "studio_name": "Harbour Music", "currency": "GBP", "low_balance_threshold": 2,
        "smtp_host": "127.0.0.1", "smtp_port": port, "smtp_security": "none",
        "smtp_from": "Harbour Music <desk@harbour.test>", **smtp}))
    type_rows(path, "Actions", {
        2: {"action": "sell", "date": "2026-03-01", "student_id": "S1", "product_id": "FAM"},
        3: {"action": "sell", "date": "2026-03-01", "student_id": "S3", "product_id": "P10"},
        4: {"action": "sell", "date": "2026-03-01", "student_id": "S4", "product_id": "P10"}})
    lessons = [("S1", 9), ("S2", 9), ("S3", 9), ("S4", 8)]
    rows, n = {}, 2
    for sid, count in lessons:
        for i in range(count):
            rows[n] = {"session_id": f"L{n}", "date": f"2026-03-0{1 + i % 9}", "start": f"{9 + i}:00",
                       "student_id": sid, "status": "attended"}
            n += 1
    type_rows(path, "Sessions", rows)
    assert xl_cli.run(["post", str(path), "--today", TODAY, "--as", "owner"]) == 0
    return path


def remind(path, *args) -> int:
    return xl_cli.run(["remind", str(path), "--today", TODAY, *args])


def outbox(path) -> list[dict]:
    return list(records(path, "Outbox").values())


def last_status(path) -> dict[str, str]:
    out = {}
    for r in outbox(path):
        out[r["key"]] = r["status"]
    return out


def body(msg) -> tuple[str, str]:
    return (msg.get_body(("plain",)).get_content(), msg.get_body(("html",)).get_content())


def test_reminders_arrive_once_per_key_over_three_runs_with_their_numbers(tmp_path, server, capsys):
    box, _controller, port = server
    path = book(tmp_path, port)
    assert remind(path, "--send") == 0
    assert box.keys() == ["PK-0001:low_balance:2", "PK-0002:low_balance:2"]
    by_to = {m["X-Envelope-To"]: m for m in box.received}
    family, carl = by_to["ann@rossi.test"], by_to["carl@diaz.test"]
    plain, html = body(family)
    # The shared pack is the family's: one message to its owner, naming both children, 20 − 18 = 2 left,
    # worth 2 × 560/20 = 56.00 GBP; the studio's name and currency in both parts.
    assert family["Subject"] == "Harbour Music: 2 lessons left for Ann Rossi and Bea Rossi"
    assert "2 lessons left on Family pack (56.00 GBP)" in plain and "Harbour Music · amounts in GBP" in plain
    assert "56.00 GBP" in html and "Harbour Music" in html and html.startswith("<!DOCTYPE html>")
    plain, _ = body(carl)
    assert carl["Subject"] == "Harbour Music: 1 lesson left for Carl Diaz"  # 10 − 9; 1 × 30.00
    assert "1 lesson left on Ten lessons (30.00 GBP)" in plain
    # No family sees another's data.
    assert not any(x in body(family)[0] + body(family)[1] for x in ("Carl", "Diaz", "30.00"))
    assert not any(x in body(carl)[0] + body(carl)[1] for x in ("Rossi", "Ann", "Bea", "56.00"))
    status = last_status(path)
    assert status == {"PK-0001:low_balance:2": "sent", "PK-0002:low_balance:2": "sent",
                      "PK-0003:low_balance:2": "failed"}
    # No family contact is marked on Students: the buyer stands in, and the family pack's queued row says so.
    (fam,) = [r for r in outbox(path) if r["key"] == "PK-0001:low_balance:2" and r["status"] == "queued"]
    assert "no family contact marked for ROSSI: it goes to the buyer, S1" in fam["answer"]
    dee = [r for r in outbox(path) if r["key"] == "PK-0003:low_balance:2"]
    assert len(dee) == 1 and "no address" in dee[0]["answer"] and "Students!D5" in dee[0]["answer"]
    for _ in range(2):
        assert remind(path, "--send") == 0
    assert box.keys() == ["PK-0001:low_balance:2", "PK-0002:low_balance:2"]  # three runs, one message per key
    # The Outbox only grows: queued → sending → sent per message, one failed row for Dee, nothing more.
    assert [r["status"] for r in outbox(path)] == ["queued", "queued", "failed", "sending", "sent", "sending",
                                                   "sent"]
    # A post keeps the Outbox (it is not recomputed from the Log).
    assert xl_cli.run(["post", str(path), "--today", TODAY, "--as", "owner"]) == 0
    assert len(outbox(path)) == 7


def test_a_refused_recipient_and_a_server_down_are_failed_and_retried_next_run(tmp_path, server, capsys):
    box, controller, port = server
    path = book(tmp_path, port)
    box.refuse.add("carl@diaz.test")
    assert remind(path, "--send") == 5
    assert box.keys() == ["PK-0001:low_balance:2"]
    carl = [r for r in outbox(path) if r["key"] == "PK-0002:low_balance:2"][-1]
    assert carl["status"] == "failed" and carl["answer"].startswith("550 5.1.1 mailbox unavailable")
    assert "550" in capsys.readouterr().out
    controller.stop()  # the server is down
    box.refuse.clear()
    assert remind(path, "--send") == 5
    carl = [r for r in outbox(path) if r["key"] == "PK-0002:low_balance:2"][-1]
    assert carl["status"] == "failed" and "could not reach 127.0.0.1" in carl["answer"]
    controller.start()
    assert remind(path, "--send") == 0
    assert box.keys() == ["PK-0001:low_balance:2", "PK-0002:low_balance:2"]
    assert last_status(path)["PK-0002:low_balance:2"] == "sent"


def test_a_run_killed_after_queueing_or_while_sending_never_sends_twice(tmp_path, server, capsys):
    box, _controller, port = server
    path = book(tmp_path, port)
    # Queued and stopped before sending: the next run sends each message once.
    assert remind(path) == 0
    assert box.received == [] and set(last_status(path).values()) == {"queued", "failed"}
    # Killed while the server holds Carl's message (after Ann's was accepted).
    box.hold.add("carl@diaz.test")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = subprocess.Popen([sys.executable, "-m", "xl_ledger.cli", "remind", str(path), "--today", TODAY, "--send"],
                           env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert box.holding.wait(60), "the held message never reached the server"
    finally:
        run.send_signal(signal.SIGKILL)
        run.wait(30)
    assert box.keys() == ["PK-0001:low_balance:2"]
    assert last_status(path)["PK-0002:low_balance:2"] == "sending"
    box.release.set()
    box.hold.clear()
    for _ in range(2):
        assert remind(path, "--send") == 0
    # It may or may not have arrived: it is marked unsure and never sent again by itself.
    assert box.keys() == ["PK-0001:low_balance:2"]
    carl = [r for r in outbox(path) if r["key"] == "PK-0002:low_balance:2"]
    assert [r["status"] for r in carl] == ["queued", "sending", "unsure"]
    assert "--retry PK-0002:low_balance:2" in carl[-1]["answer"]
    # The owner checked: it did not arrive. --retry queues it again, and it goes once.
    assert remind(path, "--send", "--retry", "PK-0002:low_balance:2") == 0
    assert remind(path, "--send") == 0
    assert box.keys() == ["PK-0001:low_balance:2", "PK-0002:low_balance:2"]


def certificate(tmp_path):
    """A self-signed certificate for 127.0.0.1 (the client trusts it through XL_LEDGER_SMTP_CAFILE)."""
    if not shutil_which("openssl"):
        pytest.skip("openssl is needed to make the test server's certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return cert, context


@pytest.fixture
def tls_server(tmp_path):
    cert, context = certificate(tmp_path)
    box = Mailbox()
    logins = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (b"desk", b"s3cret")
        logins.append((mechanism, ok, session.ssl is not None))
        return AuthResult(success=ok)

    srv = Server(box, free_port(), tls_context=context, require_starttls=True, authenticator=authenticator,
                 auth_require_tls=True)
    srv.start()
    yield box, srv.port, cert, logins
    srv.stop()


def shutil_which(name: str):
    import shutil

    return shutil.which(name)


def test_starttls_with_login_password_from_the_environment(tmp_path, tls_server, monkeypatch, capsys):
    box, port, cert, logins = tls_server
    path = book(tmp_path, port, smtp_security="starttls", smtp_user="desk")
    monkeypatch.delenv("XL_LEDGER_SMTP_PASSWORD", raising=False)
    assert remind(path, "--send") == 2  # a user without a password: refused before anything is queued
    err = capsys.readouterr().err
    assert "Settings!B" in err and "XL_LEDGER_SMTP_PASSWORD" in err
    assert outbox(path) == []
    monkeypatch.setenv("XL_LEDGER_SMTP_PASSWORD", "s3cret")
    monkeypatch.setenv("XL_LEDGER_SMTP_CAFILE", str(cert))
    assert remind(path, "--send") == 0
    assert box.keys() == ["PK-0001:low_balance:2", "PK-0002:low_balance:2"]
    assert logins and all(ok and tls for _m, ok, tls in logins)  # logged in, and only inside TLS


def test_a_password_typed_in_the_workbook_is_refused(tmp_path, server, capsys):
    _box, _controller, port = server
    path = book(tmp_path, port)
    rows = records(path, "Settings")
    type_rows(path, "Settings", {max(rows) + 1: {"key": "smtp_password", "value": "hunter2"}})
    assert remind(path, "--send") == 2
    err = capsys.readouterr().err
    assert f"Settings!B{max(rows) + 1}" in err and "XL_LEDGER_SMTP_PASSWORD" in err
    assert outbox(path) == []


def test_monthly_statement_goes_to_each_family_once_with_the_pdf(tmp_path, server, capsys):
    box, _srv, port = server
    path = book(tmp_path, port, monthly_statement="yes")
    for _ in range(2):
        assert xl_cli.run(["remind", str(path), "--today", "2026-04-02", "--send"]) == 0
    statements = sorted((m for m in box.received if ":statement:" in m["X-Xl-Ledger-Key"]),
                        key=lambda m: m["X-Xl-Ledger-Key"])
    assert [m["X-Xl-Ledger-Key"] for m in statements] == ["ROSSI:statement:2026-03", "S3:statement:2026-03"]
    rossi = statements[0]
    assert rossi["To"] == "ann@rossi.test" and rossi["Subject"] == "Harbour Music: statement for ROSSI, March 2026"
    assert "2 lessons left at the end of it" in body(rossi)[0]  # 20 − 18 on 31 March
    (pdf,) = [p for p in rossi.iter_attachments() if p.get_content_type() == "application/pdf"]
    text = subprocess.run(["pdftotext", "-layout", "-", "-"], input=pdf.get_content(), capture_output=True,
                          check=True).stdout.decode()
    assert "Family ROSSI: Ann Rossi, Bea Rossi" in text and "Carl" not in text
    total = next(line for line in text.splitlines() if "Total lessons" in line).split()
    assert total[-2:] == ["0", "2"]  # opening 1 March 0 (bought that day), closing 2


def test_implicit_tls_ssl_on_its_own_port(tmp_path, monkeypatch, capsys):
    cert, context = certificate(tmp_path)
    box = Mailbox()
    srv = Server(box, free_port(), ssl_context=context)
    srv.start()
    try:
        path = book(tmp_path, srv.port, smtp_security="ssl")
        monkeypatch.delenv("XL_LEDGER_SMTP_CAFILE", raising=False)
        assert remind(path, "--send") == 5  # a certificate the client does not trust: failed, and says why
        assert "CERTIFICATE_VERIFY_FAILED" in last_rows(path)["PK-0001:low_balance:2"]["answer"]
        assert box.received == []
        monkeypatch.setenv("XL_LEDGER_SMTP_CAFILE", str(cert))
        assert remind(path, "--send") == 0  # the failed ones are retried, now over TLS
        assert box.keys() == ["PK-0001:low_balance:2", "PK-0002:low_balance:2"]
    finally:
        srv.stop()


def last_rows(path) -> dict[str, dict]:
    return {r["key"]: r for r in outbox(path)}


def test_a_second_remind_while_one_runs_is_refused(tmp_path, server, capsys):
    from xl_ledger.reminders.command import one_run

    box, _srv, port = server
    path = book(tmp_path, port)
    with one_run(path):  # another run holds the workbook's remind lock
        assert remind(path, "--send") == 3
        assert "another `xl-ledger remind` is running" in capsys.readouterr().err
    assert outbox(path) == [] and box.received == []
    assert remind(path, "--send") == 0  # once it has finished, the next run goes ahead
    assert box.keys() == ["PK-0001:low_balance:2", "PK-0002:low_balance:2"]


def test_a_shared_packs_reminder_goes_to_the_family_contact_and_two_contacts_are_reported(tmp_path, server,
                                                                                         capsys):
    box, _srv, port = server
    # Bea (S2, Students row 3) is the Rossis' contact; Carl (S3, row 4, no family) marking himself changes
    # nothing for the Rossis. The pack was bought by Ann (S1), so without the mark it would go to Ann.
    path = book(tmp_path, port)
    type_rows(path, "Students", {3: {"email": "bea@rossi.test", "family_contact": "yes"},
                                 4: {"family_contact": "yes"}})
    assert remind(path, "--send") == 0
    by_key = {m["X-Xl-Ledger-Key"]: m for m in box.received}
    assert by_key["PK-0001:low_balance:2"]["X-Envelope-To"] == "bea@rossi.test"
    assert by_key["PK-0001:low_balance:2"]["To"] == "bea@rossi.test"
    assert by_key["PK-0002:low_balance:2"]["X-Envelope-To"] == "carl@diaz.test"  # his own pack, his own email
    assert last_rows(path)["PK-0001:low_balance:2"]["to"] == "bea@rossi.test"

    # A second studio where Ann and Bea are both marked: the family's reminder goes to no one, and its
    # failed row names both cells (family_contact is column F); Carl's still goes.
    other = tmp_path / "two"
    other.mkdir()
    box.received.clear()
    path = book(other, port)
    type_rows(path, "Students", {2: {"family_contact": "yes"}, 3: {"email": "bea@rossi.test", "family_contact": "yes"}})
    assert remind(path, "--send") == 0
    assert box.keys() == ["PK-0002:low_balance:2"]
    fam = last_rows(path)["PK-0001:low_balance:2"]
    assert fam["status"] == "failed" and fam["to"] in ("", None)
    assert "2 family contacts marked for ROSSI" in fam["answer"]
    assert "studio.xlsm!Students!F2 (S1)" in fam["answer"] and "studio.xlsm!Students!F3 (S2)" in fam["answer"]
    # The studio clears Ann's mark: the next run sends the failed reminder to Bea, once.
    type_rows(path, "Students", {2: {"family_contact": None}})
    for _ in range(2):
        assert remind(path, "--send") == 0
    assert box.keys() == ["PK-0001:low_balance:2", "PK-0002:low_balance:2"]
    assert {m["X-Xl-Ledger-Key"]: m["X-Envelope-To"] for m in box.received}["PK-0001:low_balance:2"] == \
        "bea@rossi.test"
