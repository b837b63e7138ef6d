"""`xl-ledger`: the command line over a studio workbook on disk (FileStore).

Every user mistake ends in one message format on stderr and an exit code, never a traceback:

    studio.xlsm!Log!A123: "3f2a…"
      hash: the row's contents were changed after it was written
      Restore the file from a backup; the Log must never be edited.

This is the only place that reads the system clock (`now`); `--today`/`--as-of` override it.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import getpass
import json
import os
import sys
import warnings
from decimal import Decimal
from pathlib import Path
from typing import Optional

from xl_ledger.output import QuietStdout
from xl_ledger.output import shown
from xl_ledger.paths import not_a_file

EXIT_CODES = {
    0: "ok",
    1: "the Log does not verify (tampered or damaged): verify names the first bad row",
    2: "usage: bad arguments, a bad date, an unknown student, a file that already exists",
    3: "the workbook is locked by another writer or changed meanwhile: try again",
    4: "the workbook is missing, unreadable or damaged (a sheet or column is gone), or a sheet would pass "
       "Excel's 1,048,576 rows",
    5: "posted, but some rows were rejected: each says why in its own row and in Alerts (tieout: something is "
       "unmatched, each says why on the Tieout sheet)",
    6: "not allowed: the user is not on the Staff sheet, or the sheet was emptied after the Log knew staff",
}
OK, TAMPERED, USAGE, LOCKED, BROKEN, REJECTED, NOT_ALLOWED = range(7)


class CliError(Exception):
    """A stop with a message in the product's error format and an exit code."""

    def __init__(self, where: str, what: str, todo: str = "", value: object = None, code: int = USAGE):
        super().__init__(what)
        self.where, self.what, self.todo, self.value, self.code = where, what, todo, value, code

    def __str__(self) -> str:
        head = self.where + (f": {json.dumps(str(self.value), ensure_ascii=False)}" if self.value is not None else "")
        return "\n".join(line for line in (head, f"  {self.what}", f"  {self.todo}" if self.todo else "") if line)


# ------------------------------------------------------------------------------------- helpers
def parse_day(text: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise CliError(option, "is not a date.", "Write it as YYYY-MM-DD, e.g. 2026-03-31.", text) from None


def read_key(path: Optional[str]) -> Optional[bytes]:
    """The owner's HMAC key: the file's bytes, without a trailing newline (editors add one)."""
    if not path:
        return None
    try:
        key = Path(path).read_bytes().rstrip(b"\r\n")
    except OSError as e:
        raise CliError(f"--key-file {path}", f"cannot be read ({e.strerror}).",
                       "Give the path of the owner's key file.") from None
    if not key:
        raise CliError(f"--key-file {path}", "is empty.", "Give the path of the owner's key file.")
    return key


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def clock(args) -> tuple[dt.datetime, Optional[dt.date]]:
    """(now, today override): `--today` stands for a day when the command is run (demo, backdating)."""
    today = parse_day(args.today, "--today") if getattr(args, "today", None) else None
    now = now_utc()
    if today is not None:
        now = dt.datetime.combine(today, dt.time(12), dt.timezone.utc)
    return now, today


@contextlib.contextmanager
def shown_progress():
    """A long command's steps on stderr, on a terminal only and after 2 s (xl_ledger/progress.py)."""
    from xl_ledger.progress import shown

    with shown() as progress:
        yield progress


def open_store(path: str, args=None):
    """The workbook's store; with `args`, the shared ledger's (pg/) when --ledger or Settings name one."""
    from xl_ledger.book.filestore import FileStore

    p = Path(path)
    why = not_a_file(p)
    if why == "does not exist.":
        raise CliError(path, "does not exist.", "Check the path, or create a workbook with `xl-ledger init PATH`.",
                       code=BROKEN)
    if why:  # a folder, a pipe, a device: each said as what it is (opening a FIFO would wait forever)
        raise CliError(path, why, "Give the path of the .xlsm file.", code=BROKEN)
    if args is not None:
        from xl_ledger.pg.command import open_ledger_store
        return open_ledger_store(p, args, FileStore(p))
    return FileStore(p)


def read_state(args, as_of: Optional[dt.date] = None):
    """Verify the Log and fold it as of `as_of` (default: today in the studio's time zone)."""
    from xl_ledger.core.journal import Journal
    from xl_ledger.core.scope import Scopes
    from xl_ledger.today import local_today

    from xl_ledger.book import anchors

    store = open_store(args.path, args)
    key = read_key(getattr(args, "key_file", None))
    log = store.open_log(key)
    anchors.check_open(log, key)  # balances of a Log cut short would be wrong without a word
    journal = Journal(log.entries())
    now, today = clock(args)
    if as_of is None:
        settings = Scopes(e for e in journal.entries if e.event.kind == "settings_set").settings
        as_of = today or local_today(now, settings.timezone)
    return store, journal.fold(as_of)


def text(q: Decimal) -> str:
    """A quantity or amount as a decimal string without float noise or exponent (e.g. '20.5')."""
    q = q.normalize() if q else Decimal(0)
    return f"{q:f}"


# ------------------------------------------------------------------------------------ commands
def cmd_init(args) -> int:
    from xl_ledger import newbook

    target = Path(args.path)
    newbook.create(target)
    print(f"Created {target} from the template; Excel will run this Python: {sys.executable}")
    print("Next: fill in Settings, Products and Students, then `xl-ledger post " + str(target) + "`.")
    return OK


def cmd_demo(args) -> int:
    from xl_ledger import demo
    from xl_ledger import post

    # The workbook's conditional formats compare with Excel's TODAY(): a demo dated today looks right. Today
    # is the studio's local date, as for every other command (a demo made at 9 pm in New York is not
    # tomorrow's, or a `recompute` right after it would rewrite every sheet as of another day).
    today = parse_day(args.today, "--today") if args.today else post.local_today(now_utc(), demo.SETTINGS["timezone"])
    target = Path(args.path)
    with shown_progress() as progress:
        summary = demo.build(target, today=today, seed=args.seed, progress=progress)
    print(summary)
    return OK


def cmd_post(args) -> int:
    from xl_ledger import post

    store = open_store(args.path, args)
    now, today = clock(args)
    operator = args.user or os_user()
    as_of = parse_day(args.as_of, "--as-of") if args.as_of else None
    run_post = post.post
    if hasattr(store, "source_tag"):  # a desk of a shared ledger: posts again when another desk was first
        from xl_ledger.pg.desk import post_at_desk
        run_post = lambda store, **kw: post_at_desk(store, **kw)[1]  # noqa: E731
    with shown_progress() as progress:
        result = run_post(store, now=now, operator=operator, key=read_key(args.key_file), dry_run=args.dry_run,
                          as_of=as_of, today=today, progress=progress)
    verb = "Would post" if args.dry_run else "Posted"
    print(f"{verb} {shown(store.name)} as {shown(operator)}: {result.summary()}.")
    if not args.dry_run:
        # One line to keep outside the file: `verify --expect` checks the Log still reaches it.
        print(f"  receipt  Log seq {receipt_of(result.change)} (check later: xl-ledger verify "
              f"{shown(args.path)} --expect {receipt_of(result.change)})")
    for label, lines in (("applied ", result.applied), ("rejected", result.rejected), ("notice  ", result.notices),
                         ("drift   ", result.drift)):
        for line in lines:
            print(f"  {label} {shown(line)}")
    return REJECTED if result.rejected else OK


def receipt_of(change) -> str:
    from xl_ledger.book import anchors
    from xl_ledger.core import chain

    head = (change.log_rows[-1][chain.SEQ], change.log_rows[-1][chain.HASH]) if change.log_rows else \
        (change.expected_seq, change.expected_hash)
    return anchors.receipt(head)


def cmd_recompute(args) -> int:
    from xl_ledger import post

    store = open_store(args.path, args)
    now, today = clock(args)
    as_of = parse_day(args.as_of, "--as-of") if args.as_of else None
    with shown_progress() as progress:
        result = post.recompute(store, now=now, key=read_key(args.key_file), as_of=as_of, today=today,
                                cold=args.cold, progress=progress)
    if result.up_to_date is not None:
        print(f"{store.name} is up to date as of {result.up_to_date}: its engine sheets already hold the "
              "recompute of this Log (checked against the checkpoint), so nothing was written.")
        return OK
    print(f"Recomputed {store.name} as of {result.state.as_of}: {len(result.state.packages)} packages, "
          f"{len(result.drift)} hand-typed cells corrected (listed in Alerts).")
    for line in result.notices:  # engine sheets laid out again (book/upgrade.py)
        print(f"  notice   {shown(line)}")
    return OK


def check_ends(store, key, head, expect: Optional[str]) -> None:
    """The chain verifies; does the Log also reach every end recorded around it (anchors.py), and the
    receipt given with --expect? Raises ShortLogError (exit 1)."""
    from xl_ledger.book import anchors
    from xl_ledger.core import chain

    found = anchors.of_store(store, key)
    if expect:
        try:
            found.append(anchors.parse_receipt(expect))
        except ValueError:
            raise CliError("--expect", "is not a receipt.", "Give it as SEQ:HASH, as `post` printed it, e.g. "
                           "--expect 709:3f2a9c0d51b7.", expect) from None
    hashes = {}

    def hash_at(seq: int):
        if not hashes:  # only for an anchor before the end (a receipt from an earlier post): read the rows
            hashes.update((int(r[chain.SEQ]), str(r[chain.HASH])) for r in store.read_log())
        return hashes.get(seq)

    anchors.check(store.name, head, found, hash_at, anchors.ledger_of(store))


def needs_key(args) -> bool:
    """No --key-file, and the Log says it is signed with the owner's key: a failed check means "give the
    key", not "tampered" (it is read without verifying, only to choose the message)."""
    if getattr(args, "key_file", None) or not getattr(args, "path", None):
        return False
    from xl_ledger.core.chain import declares_owner_key

    try:
        return declares_owner_key(open_store(args.path).read_log())
    except Exception:  # whatever else is wrong is said by the error already being reported
        return False


def key_needed(args) -> str:
    return (f"{Path(args.path).name}!Log is signed with the owner's key (its Log says so): run the command again "
            "with --key-file KEYFILE. Without the key its rows cannot be checked; this does not mean they were "
            "changed.")


def deep_check(store, key, args) -> None:
    """`verify --deep`: every engine sheet recomputed from the Log alone; each differing cell named."""
    from xl_ledger import deep

    now, today = clock(args)
    as_of = parse_day(args.as_of, "--as-of") if args.as_of else today
    as_of, found = deep.differences(store, key, as_of, now)
    if found:
        raise CliError(f"{store.name}: {len(found)}{'+' if len(found) >= deep.MAX_SHOWN else ''} engine cells differ "
                       f"from the Log (recomputed as of {as_of})",
                       "\n  ".join(found),
                       "Run `xl-ledger recompute --cold` to rewrite them from the Log (if the sheets are from another "
                       "day, give that day with --as-of first).", code=TAMPERED)
    print(f"{store.name}: every engine cell is what the Log alone gives as of {as_of} (--deep).")


def cmd_verify(args) -> int:
    from xl_ledger.book import anchors
    from xl_ledger.core import chain

    store = open_store(args.path, args)
    key = read_key(args.key_file)
    if hasattr(store, "check_log"):
        with shown_progress() as progress:
            progress(f"checking every row of {store.name}!Log")
            count, head, broken = store.check_log(key)
    else:
        rows = store.read_log()
        count, head, broken = len(rows), (rows[-1][chain.SEQ], rows[-1][chain.HASH]) if rows else (0, "-"), \
            chain.verify(rows, key)
    if broken is not None and key is None and needs_key(args):
        raise CliError(f"{store.name}!Log", "is signed with the owner's key (its Log says so); without the key its "
                       "rows cannot be checked. This does not mean they were changed.",
                       "Run `xl-ledger verify` again with --key-file KEYFILE.", code=USAGE)
    if broken is None and key is None and needs_key(args):
        # It verifies as plain SHA-256 yet says it is signed: re-sealed without the key, or the marker copied.
        raise CliError(f"{store.name}!Log", "says it is signed with the owner's key, but its rows are sealed with "
                       "plain SHA-256 hashes: only the key can tell whether they are the owner's.",
                       "Run `xl-ledger verify` again with --key-file KEYFILE.", code=USAGE)
    if broken is None:
        check_ends(store, key, head, args.expect)
        if args.deep:
            deep_check(store, key, args)
        print(f"{getattr(store, 'label', store.name)}: the Log is intact ({count} rows, last hash "
              f"{str(head[1])[:16] if count else '-'}…) and reaches every recorded end"
              f"{' and your receipt' if args.expect else ''}; receipt {anchors.receipt(head)}.")
        return OK
    where = store.log_where(broken) if hasattr(store, "log_where") else f"{store.name}!Log!A{broken.index + 2}"
    todo = "The Log must never be edited: restore the file from a backup, then post the change as an Actions row."
    if broken.index == 0 and broken.column == "seq" and not hasattr(store, "log_where"):
        # A desk's mirror of a ledger longer than a sheet holds starts past seq 1 (book/limits.py, pg/store.py).
        todo = (f"If {store.name} is a desk of a ledger in PostgreSQL, its Log keeps only the ledger's most recent "
                f"rows (Excel's row limit): verify it against the ledger, `xl-ledger verify {args.path} --ledger "
                f"URL`. If it is not, its first Log rows were deleted: restore the file from a backup.")
    raise CliError(where,
                   f"seq {broken.seq}, column {broken.column}: found {broken.found or '(empty)'}, expected "
                   f"{broken.expected}. {broken.explanation[0].upper() + broken.explanation[1:]}.",
                   todo, code=TAMPERED)


def _student(state, student_id: Optional[str], store) -> list[str]:
    if student_id is None:
        return sorted(state.students)
    if student_id not in state.students:
        raise CliError(f"{store.name}!Students", f"has no student {student_id!r}.",
                       "Use a student_id from the Students sheet (and post after adding one).", student_id)
    return [student_id]


def balance_report(state, student_ids: list[str]) -> dict:
    """The `balance --json` contract (README): decimal strings for quantities and money. The figures are the
    balance index's (core/balances.py), the same as the Balances sheet's."""
    from xl_ledger.core import balances
    from xl_ledger.core.numbers import ZERO
    from xl_ledger.core.numbers import money

    index = balances.index(state)
    if len(student_ids) == len(state.students):
        pkgs = list(state.packages.values())
    else:
        seen = {p.package_id: p for sid in student_ids for p in index.usable_packages(sid)}
        pkgs = list(seen.values())
    families = {state.family_of(sid) for sid in student_ids}
    lines = index.lines()
    return {
        "as_of": state.as_of.isoformat(),
        "packages": [{
            "package_id": p.package_id, "product_id": p.product.product_id, "owner": p.owner, "unit": p.unit,
            "total": text(p.granted + p.transferred_in), "used": text(p.used), "reserved": text(p.reserved),
            "remaining": text(p.remaining), "value_remaining": f"{money(p.value_remaining):.2f}",
            "expires_on": p.expires_on.isoformat() if p.expires_on else None, "status": p.status,
        } for p in sorted(pkgs, key=lambda p: p.package_id)],
        "students": [{
            "student_id": sid, "name": state.students[sid].name,
            "remaining": {u: text(index.usable(sid, u)) for u in index.units(sid)},
            "owed_sessions": sum(len({a.session_id for a in index.owed(sid, u)}) for u in index.units(sid)),
            "value_remaining": f"{money(sum((ln.value_remaining for ln in lines if ln.student_id == sid), ZERO)):.2f}",
            "owed_value": f"{money(sum((index.owed_value(sid, u) for u in index.units(sid)), ZERO)):.2f}",
        } for sid in student_ids],
        "family_pools": [{
            "family_id": ln.family_id, "unit": ln.unit, "remaining": text(ln.remaining),
            "value_remaining": f"{money(ln.value_remaining):.2f}", "packages": list(ln.packages),
        } for ln in lines if ln.student_id is None and ln.family_id in families],
    }


def cmd_balance(args) -> int:
    as_of = parse_day(args.as_of, "--as-of") if args.as_of else None
    store, state = read_state(args, as_of)
    report = balance_report(state, _student(state, args.student, store))
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
        return OK
    print(f"{store.name}, as of {report['as_of']}")
    for s in report["students"]:
        left = ", ".join(f"{q} {u}" for u, q in s["remaining"].items()) or "no packages"
        cur = state.settings.currency
        worth = f" (own packs worth {s['value_remaining']} {cur})" if Decimal(s["value_remaining"]) else ""
        owed = f"; {s['owed_sessions']} sessions owed ({s['owed_value']} {cur})" if s["owed_sessions"] else ""
        print(f"  {shown(s['student_id']):<10} {shown(s['name']):<24} {shown(left)}{worth}{owed}")
    for f in report["family_pools"]:
        print(f"  family {shown(f['family_id'])} shares {f['remaining']} {f['unit']} ({', '.join(f['packages'])}), "
              f"worth {f['value_remaining']} {state.settings.currency}")
    return OK


def cmd_history(args) -> int:
    from xl_ledger.statements.history import cmd_history as run_history

    return run_history(args)


def cmd_statement(args) -> int:
    from xl_ledger.statements.command import cmd_statement as run_statement

    return run_statement(args)


def cmd_remind(args) -> int:
    from xl_ledger.reminders.command import cmd_remind as run_remind

    return run_remind(args)


def os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name (some containers): single-owner mode still works
        return "owner"


# -------------------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    codes = "\n".join(f"  {code}  {meaning}" for code, meaning in EXIT_CODES.items())
    parser = argparse.ArgumentParser(
        prog="xl-ledger", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="A tamper-evident ledger for prepaid lesson packages, kept in an Excel workbook.",
        epilog=f"exit codes:\n{codes}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func, help: str, path: bool = True):
        p = sub.add_parser(name, help=help, description=help)
        if path:
            p.add_argument("path", metavar="PATH", help="the studio workbook (.xlsm)")
        p.set_defaults(func=func)
        return p

    add("init", cmd_init, "create a new studio workbook from the template (never overwrites)")
    p = add("demo", cmd_demo, "create and post a realistic demo studio, then print a summary", path=False)
    p.add_argument("path", metavar="PATH", nargs="?", default="demo-studio.xlsm")
    p.add_argument("--today", help="the demo's last day (YYYY-MM-DD; default: today). Same date and seed, "
                                   "same workbook")
    p.add_argument("--seed", type=int, default=7, help="random seed (same seed, same workbook)")

    p = add("post", cmd_post, "apply new input rows: validate, append to the Log, recompute the sheets")
    p.add_argument("--as", dest="user", metavar="USER", help="who is posting (default: the OS user); "
                                                             "checked against the Staff sheet")
    p.add_argument("--dry-run", action="store_true", help="check and report, write nothing")
    for q in (p, add("recompute", cmd_recompute, "rewrite Packages, Balances, Allocations, Alerts from the Log")):
        q.add_argument("--key-file", metavar="F", help="the owner's key: the chain is an HMAC")
        q.add_argument("--as-of", metavar="DATE", help="compute balances as of this date")
        q.add_argument("--today", metavar="DATE", help="run as if today were DATE")
    sub.choices["recompute"].add_argument("--cold", action="store_true",
                                          help="ignore the checkpoint: read and verify every Log row (and replace it)")

    p = add("verify", cmd_verify, "check the Log's hash chain and that it reaches every recorded end; name the "
                                  "first row that does not match")
    p.add_argument("--key-file", metavar="F", help="the owner's key: the chain is an HMAC")
    p.add_argument("--expect", metavar="SEQ:HASH", help="a receipt `post` printed: the Log must still reach it")
    p.add_argument("--deep", action="store_true", help="also recompute every engine sheet from the Log alone (no "
                                                       "checkpoint) and name any cell that differs")
    p.add_argument("--as-of", metavar="DATE", help="with --deep: the date the sheets were computed for "
                                                   "(default: today)")
    p.add_argument("--today", metavar="DATE", help=argparse.SUPPRESS)

    p = add("balance", cmd_balance, "balances per student and unit (and packages with --json)")
    p.add_argument("--student", metavar="ID")
    p.add_argument("--as-of", metavar="DATE")
    p.add_argument("--json", action="store_true", help="machine-readable output (see README)")
    p = add("history", cmd_history, "every movement of a student's credit, with a running balance per package")
    p.add_argument("--student", metavar="ID", required=True)
    p.add_argument("--from", dest="from_", metavar="DATE", help="first day (default: the first entry)")
    p.add_argument("--to", metavar="DATE", help="last day (default: today)")
    p.add_argument("--json", action="store_true")
    p = add("statement", cmd_statement, "a family's or a student's statement: every movement, opening and closing "
                                         "balances, the studio's policy; --pdf to print or send")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--family", metavar="F", help="a family_id: every package its members own, shared ones once")
    who.add_argument("--student", metavar="S", help="a student_id: their packages and their family's shared ones")
    p.add_argument("--from", dest="from_", metavar="DATE", help="first day (default: the first entry)")
    p.add_argument("--to", metavar="DATE", help="last day (default: today)")
    p.add_argument("--pdf", metavar="OUT", help="write the statement as a PDF here")
    p.add_argument("--sheet", action="store_true", help="fill the workbook's printable Statement sheet")
    p = add("remind", cmd_remind, "queue the reminders due (low balance, expiring, owed, monthly statement) on the "
                                   "Outbox sheet; --send mails them")
    p.add_argument("--send", action="store_true", help="send queued and failed messages (SMTP from Settings)")
    p.add_argument("--dry-run", action="store_true", help="print what would be queued; write nothing")
    p.add_argument("--retry", metavar="KEY", action="append", help="queue an `unsure` message again (repeatable)")
    for q in (sub.choices["balance"], sub.choices["history"], sub.choices["statement"], sub.choices["remind"]):
        q.add_argument("--key-file", metavar="F", help="the owner's key: the chain is an HMAC")
        q.add_argument("--today", metavar="DATE", help=argparse.SUPPRESS)

    try:  # `xl-ledger import` lives with the migration code (a colleague's module)
        from xl_ledger.migrate import command as migrate_command
    except ImportError:
        migrate_command = None
    if migrate_command is not None:
        migrate_command.register(sub)
    from xl_ledger.accounting import command as month_end  # export (the accountant's month-end)
    month_end.register(sub)
    from xl_ledger.pg import command as ledger_command  # --ledger on every command above, ledger-init
    ledger_command.register(sub)
    return parser


def run(argv: Optional[list[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    outer = sys.stdout
    sys.stdout = QuietStdout(outer)  # `xl-ledger post | head`: the post's own exit code, no traceback
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a library's warning is not a message to a studio owner
            return _run(args)
    finally:
        sys.stdout.flush()
        sys.stdout = outer


def _run(args) -> int:
    def fail(message: str, code: int) -> int:
        # Messages quote cells and file names: their control characters are shown escaped, never sent
        # to the terminal (ESC sequences, a CR that overwrites the line, U+202E).
        print(shown(message, keep_newlines=True), file=sys.stderr)
        return code

    try:
        return int(args.func(args) or 0)
    except CliError as e:
        return fail(str(e), e.code)
    except KeyboardInterrupt:
        return fail("interrupted: nothing half-written (every save is atomic)", 130)
    except Exception as e:
        answer = _answer(e, args)
        if answer is None:
            raise
        return fail(*answer)


def _answer(error: Exception, args) -> Optional[tuple[str, int]]:
    """The message and exit code for an error the user can act on; None for a bug. The error classes are
    imported here, when one happened, so that a command does not load modules it never uses."""
    from xl_ledger.book.anchors import ShortLogError
    from xl_ledger.book.store import BrokenChainError
    from xl_ledger.book.store import BrokenFileError
    from xl_ledger.book.store import LockedError
    from xl_ledger.book.store import StaleLogError
    from xl_ledger.book.store import StoreError
    from xl_ledger.newbook import ExistsError
    from xl_ledger.post import NotAllowed
    from xl_ledger.post import PostError

    if isinstance(error, ExistsError):
        return f"{args.path}\n  {error}", USAGE
    if isinstance(error, (LockedError, StaleLogError)):
        return f"{args.path}\n  {error}", LOCKED
    if isinstance(error, BrokenChainError):  # a StoreError: before the catch-all below
        if needs_key(args):
            return key_needed(args), USAGE
        return str(error), TAMPERED
    if isinstance(error, ShortLogError):
        return str(error), TAMPERED
    if isinstance(error, (BrokenFileError, StoreError)):
        return f"{getattr(args, 'path', '')}\n  {error}", BROKEN
    if isinstance(error, NotAllowed):
        return str(error), NOT_ALLOWED
    if isinstance(error, PostError):
        return str(error), USAGE
    return None


def main(argv: Optional[list[str]] = None) -> None:
    sys.exit(run(argv))


if __name__ == "__main__":
    main()
