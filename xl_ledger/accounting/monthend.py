"""What the month-end commands share: the Log read and folded once, the months asked for, the Accounts
sheet, and files written whole or not at all. The CLI (command.py) and the ribbon call these."""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from xl_ledger.accounting import iif
from xl_ledger.accounting import journal as J
from xl_ledger.accounting import qbo
from xl_ledger.accounting import xero
from xl_ledger.core import finance
from xl_ledger.core.journal import Journal
from xl_ledger.core.scope import Scopes
from xl_ledger.core.state import State

FORMATS = {"qbo": qbo, "iif": iif, "xero": xero}
_MONTH = re.compile(r"(\d{4})-(\d{2})")


class MonthEndError(Exception):
    """A stop with where, what and what to do (the CLI prints it in the product's error format)."""

    def __init__(self, where: str, what: str, todo: str = "", value: object = None,
                 not_allowed: bool = False):
        super().__init__(what)
        # not_allowed: the Staff sheet refuses this user (the CLI exits 6 for it, as post does), not a usage error
        self.where, self.what, self.todo, self.value, self.not_allowed = where, what, todo, value, not_allowed


@dataclass
class Books:
    """One verified read of a workbook's Log, folded as of today."""
    name: str
    journal: Journal
    state: State
    today: dt.date
    log: object = None  # the store's OpenLog: a command that writes commits through it

    @property
    def months(self) -> list[finance.Month]:
        return finance.months(self.state, self.journal.entries)


def open_books(store, key: Optional[bytes], today: Optional[dt.date], now: dt.datetime) -> Books:
    from xl_ledger import post

    log = store.open_log(key)
    journal = Journal(log.entries())
    settings = Scopes(e for e in journal.entries if e.event.kind == "settings_set").settings
    today = today or post.local_today(now, settings.timezone)
    return Books(store.name, journal, journal.fold(today), today, log)


def parse_months(text: str, books: Books, option: str = "--month") -> list[finance.Month]:
    """`2026-11` or `2026-09..2026-11`: months that have ended (a month still running cannot be exported
    or closed: its figures still move)."""
    parts = text.strip().split("..")
    keys = []
    for part in parts:
        m = _MONTH.fullmatch(part.strip())
        if not m or not 1 <= int(m.group(2)) <= 12 or len(parts) > 2:
            raise MonthEndError(option, "is not a month.", "Write it as YYYY-MM, e.g. 2026-11, or a range "
                                "2026-09..2026-11.", text)
        keys.append(part.strip())
    first, last = keys[0], keys[-1]
    if last < first:
        raise MonthEndError(option, "ends before it starts.", "Write the earlier month first.", text)
    running = f"{books.today.year:04d}-{books.today.month:02d}"
    if last >= running:
        raise MonthEndError(option, f"{last} has not ended (today is {books.today.isoformat()}).",
                            "Choose a month that has ended.", text)
    found = [m for m in books.months if first <= m.month <= last]
    if not found:
        raise MonthEndError(option, "has no figures: the Log holds nothing that early.",
                            "Check the month.", text)
    return found


def accounts(store) -> dict[str, J.Account]:
    from xl_ledger.book.store import StoreError

    try:
        records = list(store.read_sheet("Accounts").records())
    except StoreError:
        records = []  # a workbook made before the Accounts sheet: the defaults
    accts, problems = J.accounts(records)
    if problems:
        raise MonthEndError(f"{store.name}!Accounts", problems[0].split(": ", 1)[1], "Fix the account column.")
    return accts


def export(store, books: Books, months: list[finance.Month], fmt: str, out: Path) -> list[Path]:
    """The months' journals in `fmt`, written to `out` (and out-2, out-3… when Xero needs more files)."""
    accts = accounts(store)
    try:
        journals = [J.month_journal(m, accts, books.state.settings.studio_name) for m in months]
        files = FORMATS[fmt].write(journals, iif_trnstype=books.state.settings.iif_trnstype)
    except J.Unbalanced as e:
        raise MonthEndError(f"{store.name}", str(e), "Nothing was written; report this with the workbook.") from None
    paths = [out if i == 0 else out.with_name(f"{out.stem}-{i + 1}{out.suffix}") for i in range(len(files))]
    write_all(dict(zip(paths, files)))
    return paths


def write_all(files: dict[Path, bytes]) -> None:
    """Each file through a temporary file and a rename: a failed export leaves no half-written file."""
    staged = []
    try:
        for path, data in files.items():
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            staged.append((tmp, path))
        for tmp, path in staged:
            os.replace(tmp, path)
    finally:
        for tmp, _path in staged:
            if os.path.exists(tmp):
                os.unlink(tmp)


def default_out(book: Path, what: str, months: list[finance.Month], ext: str) -> Path:
    span = months[0].month if len(months) == 1 else f"{months[0].month}..{months[-1].month}"
    return book.with_name(f"{book.stem}-{what}-{span}.{ext}")


def audit(store, books: Books, month: finance.Month, out: Path) -> list[tuple]:
    """The month's audit rows: the CSV at `out` and the workbook's Audit sheet, both or neither (the CSV
    is written after the workbook's commit succeeded, through a rename)."""
    from xl_ledger import csvsafe
    from xl_ledger.accounting import audit as A
    from xl_ledger.book.store import Change
    from xl_ledger.book.store import StoreError

    try:
        reasons = A.meanings(store.read_sheet("Reasons").records())
    except StoreError:
        reasons = A.meanings()
    rows = A.rows(books.journal.entries, month, Path(books.name).name, reasons)
    head = books.log.head
    books.log.commit(Change(head[0], head[1], sheets={"Audit": rows}))
    write_all({out: csvsafe.to_bytes(A.HEADERS, rows)})
    return rows


def _staff_role(store, books: Books, operator: str) -> tuple[Optional[str], list, str]:
    """The operator's role by core/staff.py's rule (the Staff sheet over the roles the Log records), the
    Staff changes to log first (a role change before a close or a reopening leaves its trail), and the
    desk's source tag."""
    from xl_ledger.core import inputs
    from xl_ledger.core import staff as staff_rules

    from xl_ledger.book.columns import check_columns

    tag = getattr(books.log, "source_tag", "")  # a desk of a shared ledger signs its rows (pg/desk.py)
    sheet = store.read_sheet("Staff")
    check_columns(sheet)  # a renamed `role` column would read every user as roleless: stop, as post does
    staff, problems = inputs.read_staff(sheet.records())
    known = staff_rules.logged(books.journal.entries)
    try:
        role = staff_rules.role_of(operator, staff, bool(staff or problems), known, store.name)
    except staff_rules.StaffRefused as e:
        raise MonthEndError(e.where, e.what, e.todo, not_allowed=True) from None
    return role, staff_rules.changes(staff, known, books.today), tag


def close(store, books: Books, month: finance.Month, operator: str, now: dt.datetime, key) -> list[tuple]:
    """Close the books through the month's last day: a period_close row in the Log, by an admin or the
    owner (the Staff sheet, by core/staff.py's rule; its changes are logged first), keeping the figures of
    the months it closes (finance.freeze). Afterwards nothing effective on or before that day can be posted
    (commands.py rejects it in its row, saying to date a correction later)."""
    from xl_ledger.book.store import Change
    from xl_ledger.core import commands

    role, changes, tag = _staff_role(store, books, operator)
    if role not in ("owner", "admin"):
        raise MonthEndError(f"{store.name}!Staff", f"{operator!r} is {role or 'not on the Staff sheet'}; closing a "
                            "month needs an admin or the owner.", "Ask an admin or the owner, or run with --as USER.",
                            not_allowed=True)
    ctx = commands.Context(state=books.state, today=books.today, operator=operator, role=role)
    closed = books.state.closed_through
    newly = [m for m in books.months if m.last <= month.last and (closed is None or m.first > closed)]
    events, problem = commands.close_period(month.last, ctx, finance.freeze(newly))
    if problem is not None:
        raise MonthEndError(f"{store.name}!Log", problem.message, problem.remedy)
    rows = books.journal.append(changes + events, operator=operator, recorded_at=now,
                                sources=["Staff" + tag] * len(changes) + ["close" + tag] * len(events), key=key)
    head = books.log.head
    books.log.commit(Change(head[0], head[1], log_rows=tuple(rows)))
    return rows


def read_text(path: Path, option: str) -> str:
    """A CSV file's text (UTF-8, with or without a BOM); a file that is not names the row it breaks on."""
    from xl_ledger.paths import not_a_file

    why = not_a_file(path)
    if why:
        raise MonthEndError(f"{option} {path}", why, "Give the path of the CSV file.")
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        row = data[:e.start].count(b"\n") + 1
        raise MonthEndError(f"{path.name} row {row}", "is not UTF-8 text.", "Save or download the file as CSV "
                            "UTF-8. Nothing was written.") from None


def late_refs(store, books: Books) -> dict[int, str]:
    """Log seq → the payment_ref typed on its applied Actions row after it was posted (the Log has none for
    it): the id is often known only once the processor shows the payment. The row must still be the one
    the Log row came from (its log_seq and place agree), as for any check of a posted row."""
    from xl_ledger.book.store import StoreError

    try:
        sheet = store.read_sheet("Actions")
    except StoreError:
        return {}
    if "payment_ref" not in sheet.headers:
        return {}
    from xl_ledger.book.columns import check_columns

    check_columns(sheet)  # a renamed log_seq column would leave every late reference unmatched, silently
    entries = books.journal.entries
    out = {}
    for row, rec in sheet.records():
        ref = str(rec.get("payment_ref") or "").strip()
        try:
            seq = int(float(rec.get("log_seq")))
        except (TypeError, ValueError):
            continue
        if ref and 1 <= seq <= len(entries) and entries[seq - 1].source == f"Actions!{row}" \
                and not getattr(entries[seq - 1].event, "payment_ref", None):
            out[seq] = ref
    return out


def tieout(store, books: Books, stripe: Path, bank: Optional[Path], out: Path):
    """Tie the processor's payouts to the Log and to the bank: the Tieout sheet and the CSV at `out`. Both
    files are read whole first: a malformed one stops everything before anything is written."""
    from xl_ledger import csvsafe
    from xl_ledger.accounting import payouts
    from xl_ledger.accounting import tieout as T
    from xl_ledger.book import schema
    from xl_ledger.book.store import Change

    settings = books.state.settings
    try:
        lines = payouts.read_stripe(stripe.name, read_text(stripe, "--stripe"), settings.currency)
        deposits = None if bank is None else payouts.read_bank(bank.name, read_text(bank, "--bank"), settings.currency,
                                                               settings.date_order == "dmy")
    except payouts.FileProblem as e:
        raise MonthEndError(e.where, e.what, f"{e.todo} Nothing was written.", e.value) from None
    result = T.tie_out(lines, T.payments(books.journal.entries, late_refs(store, books)), deposits,
                       Path(books.name).name, stripe.name, bank.name if bank else "")
    head = books.log.head
    books.log.commit(Change(head[0], head[1], sheets={"Tieout": result.rows},
                            money_format=schema.money_format(settings.currency)))
    write_all({out: csvsafe.to_bytes(schema.TIEOUT.headers, result.rows)})
    return result


def reopen(store, books: Books, month: finance.Month, operator: str, reason: Optional[str], note: Optional[str],
           now: dt.datetime, key) -> list[tuple]:
    """Open the books again from the month's first day: a period_reopen row by the owner, with a reason
    code from the Reasons sheet (who and when in the Log; the audit of the month lists it)."""
    from xl_ledger.book.store import Change
    from xl_ledger.book.store import StoreError
    from xl_ledger.core import commands
    from xl_ledger.core import inputs

    role, changes, tag = _staff_role(store, books, operator)
    if role != "owner":
        raise MonthEndError(f"{store.name}!Staff", f"{operator!r} is {role or 'not on the Staff sheet'}; reopening a "
                            "closed month needs the owner.", "Ask the owner, or run with --as USER.",
                            not_allowed=True)
    from xl_ledger.book.columns import check_columns

    try:
        sheet = store.read_sheet("Reasons")
    except StoreError:
        sheet = None
    if sheet is not None:
        check_columns(sheet)  # a renamed reason_code column would refuse every reason as unknown
    reasons = inputs.read_reasons(sheet.records()) if sheet is not None else set()
    ctx = commands.Context(state=books.state, today=books.today, operator=operator, role=role, reasons=reasons)
    events, problem = commands.reopen_period(month.first, reason, note, ctx)
    if problem is not None:
        raise MonthEndError(f"{store.name}!Log", problem.message, problem.remedy, problem.value)
    rows = books.journal.append(changes + events, operator=operator, recorded_at=now,
                                sources=["Staff" + tag] * len(changes) + ["reopen" + tag] * len(events), key=key)
    head = books.log.head
    books.log.commit(Change(head[0], head[1], log_rows=tuple(rows)))
    return rows
