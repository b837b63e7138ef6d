"""`xl-ledger remind BOOK [--send] [--dry-run] [--retry KEY]`.

1. Fold the Log as of today; list the reminders due (rules.py); every key the Outbox has not seen gets a
   `queued` row (or `failed` with "no address"). Without --send, that is all: the owner reads the Outbox.
2. With --send, each queued or failed message goes out on one SMTP connection: `sending` is saved before
   it goes and `sent`/`failed` (with the server's answer) after; a message left `sending` by a run that
   died is marked `unsure` and not sent again (outbox.py).
The Outbox is rewritten with its old rows unchanged and new rows after them, in one atomic save each time.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
from pathlib import Path
from typing import Optional

from xl_ledger.reminders import addresses
from xl_ledger.reminders import mail
from xl_ledger.reminders import outbox
from xl_ledger.reminders import rules
from xl_ledger.reminders import templates
from xl_ledger.reminders.outbox import Row
from xl_ledger.reminders.outbox import Status


class Remind:
    """One remind run over a store (a FileStore from the CLI, a LiveStore from the ribbon)."""

    def __init__(self, store, now: dt.datetime, today: Optional[dt.date] = None, key: Optional[bytes] = None):
        from xl_ledger import post
        from xl_ledger.book.store import BrokenFileError
        from xl_ledger.core.journal import Journal
        from xl_ledger.core.scope import Scopes

        self.store = store
        self.journal = Journal(self.store.open_log(key).entries())
        self.now = now
        settings_sheet = self.store.read_sheet("Settings")
        self.settings_records = list(settings_sheet.records())
        settings = Scopes(e for e in self.journal.entries if e.event.kind == "settings_set").settings
        self.today = today or post.local_today(self.now, settings.timezone)
        self.state = self.journal.fold(self.today)
        name = self.store.name
        try:
            self.outbox_sheet = self.store.read_sheet("Outbox")
        except BrokenFileError:
            raise BrokenFileError(f"{name}!Outbox is missing: this workbook was made before reminders existed. "
                                  "Copy the Outbox and Templates sheets from a new `xl-ledger init` workbook."
                                  ) from None
        try:
            template_records = list(self.store.read_sheet("Templates").records())
        except BrokenFileError:
            template_records = []  # the built-in texts
        try:
            self.templates = templates.from_sheet(template_records, name)
        except templates.TemplateError:
            raise
        self.rows = outbox.read(self.outbox_sheet.records())
        self.addresses = addresses.Addresses(self.store.read_sheet("Students"), self.state.family_of)
        monthly = any(str(r.get("key") or "").strip().lower() == "monthly_statement"
                      and str(r.get("value") or "").strip().lower() in ("yes", "y", "true", "1")
                      for _row, r in self.settings_records)
        self.monthly = monthly
        # A desk of a ledger (pg/desk.py): one outbox per ledger, each key claimed by the desk that sends it.
        self.claims = store.outbox_claims() if hasattr(store, "outbox_claims") else None
        self.retried: set[str] = set()

    # --- the Outbox --------------------------------------------------------------------------------
    def stamp(self) -> str:
        from xl_ledger.core.journal import utc_text

        return utc_text(self.now if self.now.tzinfo else self.now.replace(tzinfo=dt.timezone.utc))

    def save(self, new: list[Row]) -> None:
        from xl_ledger.book.store import Change

        if not new:
            return
        self.rows.extend(new)
        if self.claims is not None:  # what became of this desk's own claims, for the other desks
            for row in new:
                self.claims.settle(row.key, row.status, row.answer, row.time)
        seq, digest = self.store.head()
        self.store.commit(Change(expected_seq=seq, expected_hash=digest,
                                 sheets={"Outbox": [r.cells() for r in self.rows]}))

    def address(self, rule: str, package_id: str, student_id: str) -> addresses.Address:
        family = rules.addressed_family(self.state, rule, package_id, student_id)
        return self.addresses.of(student_id, family)

    def queue(self, retry: list[str]) -> list[Row]:
        """New rows for reminders due and not yet in the Outbox (and `unsure` for interrupted sends)."""
        last = outbox.latest(self.rows)
        stamp = self.stamp()
        new: list[Row] = []
        for key, row in last.items():
            if row.status is Status.SENDING:
                new.append(_again(row, stamp, Status.UNSURE, "the run sending it stopped before the server's "
                                  "answer was saved: it may have arrived. Not sent again; if it did not arrive, "
                                  f"run remind --send --retry {key}"))
        for key in retry:
            if key not in last:
                from xl_ledger.cli import CliError
                raise CliError(f"--retry {key}", "is not a key in the Outbox.", "Copy the key from the Outbox's key "
                               "column.")
            new.append(_again(last[key], stamp, Status.QUEUED, f"queued again by --retry at {stamp}"))
            self.retried.add(key)
        for d in rules.due(self.state, monthly_statement=self.monthly):
            if d.key in last:
                continue
            values = dict(d.values)
            if d.rule is rules.Rule.STATEMENT:
                values["closing"] = self.statement_closing(d)
            text = templates.render(self.templates[str(d.rule)], values)
            address = self.address(d.rule, d.package_id, d.student_id)
            to = address.to
            status, answer = (Status.QUEUED, address.note) if to else (Status.FAILED, address.problem)
            new.append(Row(stamp, d.key, status, str(d.rule), to or "", text.subject, answer, d.student_id,
                           d.package_id, text.plain))
        return self.elsewhere(new, last, stamp)

    def elsewhere(self, new: list[Row], last: dict[str, Row], stamp: str) -> list[Row]:
        """A desk of a ledger: reminders another desk holds are shown as there (sent, or `claimed`) instead of
        queued here; a `claimed` row already here is brought up to date."""
        if self.claims is None:
            return new
        waiting = [k for k, r in last.items() if r.status is Status.CLAIMED]
        held = self.claims.of([r.key for r in new if r.status is Status.QUEUED and r.key not in self.retried]
                              + waiting)
        out = [_held(r, held[r.key], stamp) if r.status is Status.QUEUED and r.key in held else r for r in new]
        for key in waiting:  # only when the other desk's claim has moved on since
            now = _held(last[key], held[key], stamp) if key in held else None
            if now is not None and (now.status, now.answer) != (last[key].status, last[key].answer):
                out.append(now)
        return out

    def statement_closing(self, d: rules.Due) -> str:
        doc = self.statement_doc(d)
        return ", ".join(f"{rules.qty_text(c)} {u}" for u, (_o, c) in sorted(doc.totals.items())) or "nothing"

    def statement_doc(self, d: rules.Due):
        from xl_ledger.core.scope import Scopes
        from xl_ledger.statements import command as statement_command
        from xl_ledger.statements.load import Ledger

        scopes = Scopes(self.journal.entries)
        ledger = Ledger(self.store.name, scopes, scopes.settings, self.today)
        start, end = (dt.date.fromisoformat(d.values[k]) for k in ("from", "to"))
        if d.family_id:
            return statement_command.make(ledger, family_id=d.family_id, start=start, end=end)
        return statement_command.make(ledger, student_id=d.student_id, start=start, end=end)

    # --- sending -----------------------------------------------------------------------------------
    def send(self, smtp: mail.Smtp) -> list[Row]:
        last = outbox.latest(self.rows)
        pending = [r for r in last.values() if r.status in (Status.QUEUED, Status.FAILED)]
        results: list[Row] = []
        connection = mail.Connection(smtp)
        carry: list[Row] = []  # the previous message's result, saved together with the next `sending`
        try:
            for row in pending:
                to = row.to or (self.address(row.rule, row.package_id, row.student_id).to or "")
                if not to:
                    continue  # still no address: the failed row says so; nothing new to write
                stamp = self.stamp()
                if self.claims is not None:  # one desk of the ledger sends it: the first to claim its key
                    held = self.claims.claim(row.key, stamp)
                    if held is not None and row.key in self.retried:
                        self.claims.take_over(row.key, stamp)  # --retry here: the owner decided it goes from here
                    elif held is not None and (held.desk != self.claims.desk or held.status != "claimed"):
                        # Another desk's; or this desk's own, already gone further than this Outbox says (a
                        # workbook restored from a copy): never sent twice.
                        carry.append(_held(row, held, stamp))
                        results.append(carry[-1])
                        continue
                sending = _again(row, stamp, Status.SENDING, f"to {smtp.host}:{smtp.port}", to=to)
                self.save(carry + [sending])
                carry = []
                msg = mail.message(smtp, to, row.subject, row.body, templates.html_of(row.body), row.key,
                                   self.attachment(row))
                ok, answer = connection.send(msg)
                result = _again(row, self.stamp(), Status.SENT if ok else Status.FAILED, answer, to=to)
                carry = [result]
                results.append(result)
        finally:
            if carry:
                self.save(carry)
            connection.close()
        return results

    def attachment(self, row: Row) -> Optional[tuple[str, bytes]]:
        if row.rule != rules.Rule.STATEMENT:
            return None
        import tempfile
        from pathlib import Path

        from xl_ledger.statements.pdf import write_pdf

        who, _rule, month = row.key.split(":")
        start = dt.date.fromisoformat(month + "-01")
        end = (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
        student = self.state.students.get(row.student_id)
        due = rules.Due(row.key, rules.Rule.STATEMENT, row.student_id, "", student.family_id if student else None,
                        {"from": start.isoformat(), "to": end.isoformat()})
        with tempfile.TemporaryDirectory() as folder:
            target = Path(folder) / f"statement-{who}-{month}.pdf"
            write_pdf(self.statement_doc(due), target)
            return target.name, target.read_bytes()


def _held(row: Row, claim, stamp: str) -> Row:
    """`row` as another desk of the ledger holds it (pg/outbox.Claim): sent there, or `claimed` (being sent,
    failed or unsure there: that desk tries it again)."""
    if claim.status == Status.SENT:
        return _again(row, stamp, Status.SENT, f"sent by desk {claim.desk} at {claim.at} (one outbox per ledger: "
                                               "not sent from this desk)")
    return _again(row, stamp, Status.CLAIMED, f"desk {claim.desk} sends it ({claim.status} there at {claim.at}); "
                                              f"not sent from this desk. `--retry {row.key}` here sends it from "
                                              "here instead")


def _again(row: Row, stamp: str, status: Status, answer: str, to: Optional[str] = None) -> Row:
    return Row(stamp, row.key, status, row.rule, row.to if to is None else to, row.subject, answer, row.student_id,
               row.package_id, row.body)


@contextlib.contextmanager
def one_run(workbook: Path):
    """One remind run per workbook at a time. Each run reads the Outbox, then saves it with rows added:
    two runs at once would each miss the other's rows and could send a message twice. The OS lock on
    `.~xl-ledger-remind.<name>` beside the workbook is held for the whole run and dies with the process."""
    from xl_ledger.book.filestore import _os_lock
    from xl_ledger.book.store import LockedError

    fd = os.open(workbook.with_name(f".~xl-ledger-remind.{workbook.name}"), os.O_CREAT | os.O_RDWR, 0o644)
    try:
        if not _os_lock(fd):
            raise LockedError(f"another `xl-ledger remind` is running on {workbook.name}: wait for it to finish, "
                              "then run again (nothing was written)")
        yield
    finally:
        os.close(fd)


def cmd_remind(args) -> int:
    from xl_ledger import cli

    cli.open_store(args.path)  # a missing file or a folder is said plainly before any lock file is made
    with one_run(Path(args.path)):
        return _remind(args)


def _remind(args) -> int:
    from xl_ledger import cli

    store = cli.open_store(args.path, args)  # the shared ledger (pg/) when --ledger or Settings name one
    now, today = cli.clock(args)
    try:
        r = Remind(store, now, today, cli.read_key(getattr(args, "key_file", None)))
    except templates.TemplateError as e:
        head, what, todo = str(e).split("\n")
        raise cli.CliError(head, what.strip(), todo.strip(), code=cli.USAGE) from None
    smtp = None
    try:
        smtp = mail.settings_from(r.settings_records, r.store.name)
    except mail.SetupError as e:
        head, _, rest = str(e).partition("\n")
        raise cli.CliError(head.rstrip(":").split(": ")[0], head.split(": ", 1)[1], rest.strip(),
                           code=cli.USAGE) from None
    new = r.queue(args.retry or [])
    name = r.store.name
    if args.dry_run:
        print(f"Would add {len(new)} Outbox rows to {name} (as of {r.today}); nothing written:")
        for row in new:
            print(f"  {row.status:<7} {row.key:<36} {row.to or '(no address)':<28} {row.subject}")
            if row.answer:
                print(f"          {row.answer}")
        return cli.OK
    r.save(new)
    queued = sum(1 for x in new if x.status is Status.QUEUED)
    held = "" if r.claims is None else (
        f"{sum(1 for x in new if x.status is Status.SENT)} already sent by other desks, "
        f"{sum(1 for x in new if x.status is Status.CLAIMED)} being sent by other desks, ")
    print(f"{name}, as of {r.today}: {queued} reminders queued, {held}"
          f"{sum(1 for x in new if x.status is Status.FAILED)} without an address, "
          f"{sum(1 for x in new if x.status is Status.UNSURE)} unsure (see the Outbox sheet).")
    if not args.send:
        print("  Review them on the Outbox sheet; `xl-ledger remind " + args.path + " --send` sends them.")
        return cli.OK
    if smtp is None:
        raise cli.CliError(f"{name}!Settings", "has no smtp_host: there is no mail server to send through.",
                           "Fill in smtp_host, smtp_port, smtp_security and smtp_from on the Settings sheet.",
                           code=cli.USAGE)
    results = r.send(smtp)
    sent = [x for x in results if x.status is Status.SENT and not x.answer.startswith("sent by desk ")]
    failed = [x for x in results if x.status is Status.FAILED]
    other = len(results) - len(sent) - len(failed)
    print(f"  sent {len(sent)}, failed {len(failed)} (they are tried again on the next run)"
          f"{f'; {other} held by another desk of the ledger' if other else ''}.")
    for x in failed:
        print(f"  failed  {x.key:<36} {x.to:<28} {x.answer}")
    return cli.OK if not failed else cli.REJECTED
