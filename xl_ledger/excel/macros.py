"""The Ledger ribbon's macros: one Python function per button, run by the VBA callbacks via RunPython.

Every macro finds its workbook with `xw.Book.caller()`, checks that the workbook's xlwings VBA module
matches the installed xlwings, works through a LiveStore (one bulk read per sheet, bulk writes) and
reports in a message box. Errors are shown, never raised into VBA's console: the message names the
Sheet!Cell and what to do, and the workbook is left unchanged (the store writes nothing until a Change
is complete, and puts back what it wrote if Excel refuses a write half-way).

Only BSD xlwings is used: Book.caller, sheets and ranges, app.selection, app.status_bar, app.alert.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Optional

import xlwings as xw

from xl_ledger.book import schema
from xl_ledger.book.livestore import LiveStore
from xl_ledger.book.livestore import excel_text
from xl_ledger.book.store import BrokenChainError
from xl_ledger.book.store import StoreError
from xl_ledger.core import chain
from xl_ledger.core import queries
from xl_ledger.excel import cache
from xl_ledger.excel import config
from xl_ledger.post import PostError
from xl_ledger.post import local_today
from xl_ledger.post import post as run_post
from xl_ledger.post import recompute

TITLE = "xl-ledger"
MAX_LINES = 15  # lines of a list shown in a message box; the rest are in Alerts/Actions


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def alert(book, text: str, critical: bool = False) -> None:
    book.app.alert(text, title=TITLE, mode="critical" if critical else "info")


def status(book, text) -> None:
    try:
        book.app.status_bar = text
    except (NotImplementedError, AttributeError):
        pass


def macro(fn):
    """Run a ribbon macro on the calling workbook; show problems in a message box."""

    @functools.wraps(fn)
    def run(book=None):
        book = book or xw.Book.caller()
        try:
            problem = config.version_problem(_vba_version(book))
            if problem:
                alert(book, problem, critical=True)
                return None
            return fn(book)
        except (StoreError, PostError, LookupError, ValueError) as error:
            alert(book, f"{error}\n\nNothing was changed.", critical=True)
        finally:
            status(book, False)
        return None

    return run


def _vba_version(book):
    return config.workbook_vba_version(book)


def _lines(items: list[str]) -> str:
    shown = "\n".join(f"  {s}" for s in items[:MAX_LINES])
    more = f"\n  … and {len(items) - MAX_LINES} more" if len(items) > MAX_LINES else ""
    return shown + more


# ------------------------------------------------------------------------------------------ Post
@macro
def post(book):
    """Apply new Sessions and Actions rows, recompute the engine sheets, report applied and rejected."""
    store = LiveStore(book)
    status(book, "xl-ledger: reading and checking the workbook…")
    result = run_post(store, now=_now(), operator=config.operator(), key=config.owner_key(),
                      progress=lambda step: status(book, f"xl-ledger: {step}…"))  # cleared by @macro
    _recalculate(book)
    text = f"Posted: {result.summary()}."
    if result.applied:
        text += "\n\nApplied:\n" + _lines(result.applied)
    if result.rejected:
        text += "\n\nRejected (fix the row, then Post again):\n" + _lines(result.rejected)
    if result.drift:
        text += "\n\nTyped over engine cells (put back; see Alerts):\n" + _lines(result.drift)
    alert(book, text, critical=bool(result.rejected))
    return result


def _recalculate(book) -> None:
    """The worksheet functions read the Log; after a post Excel must recompute them (Windows)."""
    api = _app_api(book)
    if api is not None and hasattr(api, "CalculateFull"):
        api.CalculateFull()


def _app_api(book):
    """The engine's own Application object (Windows COM), or None where there is none."""
    try:
        return book.app.api
    except NotImplementedError:
        return None


# --------------------------------------------------------------------------------- Pre-fills
# action -> (the column the user completes next, what they must do)
PREFILL = {
    "sell": ("product_id", "choose the product (and the amount if it differs from the price)"),
    "refund": ("reason_code", "choose a reason code; the amount is the refund due today"),
    "transfer": ("to_student_id", "choose who receives the credit and a reason code"),
    "freeze": ("days", "type how many days to freeze"),
    "adjust": ("quantity", "type the correction (+ or − credits) and a reason code"),
}


def _context(book, store: LiveStore) -> tuple[Optional[str], Optional[str]]:
    """(student_id, package_id) of the row under the selection, from the sheet it is on."""
    selection = book.app.selection
    if selection is None or selection.row < 2:
        return None, None
    name = selection.sheet.name
    if name not in schema.BY_NAME or name == "Log":
        return None, None
    record = dict(store.read_sheet(name).records()).get(selection.row, {})
    student = record.get("student_id") or record.get("owner")
    package = record.get("package_id")
    return (str(student) if student else None), (str(package) if package else None)


def prefill(book, action: str) -> dict:
    store = LiveStore(book)
    student, package = _context(book, store)
    state = cache.ledger(book).state()
    today = state.as_of
    if package and package not in state.packages:
        package = None
    if package and not student:
        student = state.packages[package].owner
    if not package and student and action in ("refund", "transfer", "freeze"):
        live = [p for p in state.usable_packages(student) if p.owner == student and p.status == "active"]
        live.sort(key=lambda p: (p.expires_on or dt.date.max, p.package_id))
        package = live[0].package_id if live else None
    row = {"action": action, "date": today, "student_id": student}
    if action == "sell":
        owned = sorted((p for p in state.packages.values() if p.owner == student and not p.comp),
                       key=lambda p: (p.purchased_on, p.package_id))
        if owned:
            row["product_id"] = owned[-1].product.product_id
    elif package:
        row["package_id"] = package
        if action == "refund":
            row["quantity"] = queries.unused(state.packages[package])
            row["amount"] = queries.refund_quote(state, package)
        elif action == "transfer":
            row["quantity"] = state.packages[package].remaining
    focus = PREFILL[action][0]
    if action == "sell" and row.get("product_id"):
        focus = "amount"
    where = _append_action(book, store, row, focus)
    status(book, f"xl-ledger: {action} row added at {where}: {PREFILL[action][1]}, then Post.")
    row["where"] = where
    return row


def _append_action(book, store: LiveStore, row: dict, focus: str) -> str:
    actions = store.read_sheet("Actions")
    headers = actions.headers
    at = max((n for n, _v in actions.rows), default=1) + 1
    values = [excel_text(row.get(h)) if row.get(h) is not None else "" for h in headers]
    sheet = book.sheets["Actions"]
    sheet.range((at, 1), (at, len(headers))).value = [values]
    sheet.activate()
    column = headers.index(focus) + 1
    sheet.range((at, column)).select()
    return f"Actions!{schema.col_letter(column)}{at}"


@macro
def sell(book):
    return prefill(book, "sell")


@macro
def refund(book):
    return prefill(book, "refund")


@macro
def transfer(book):
    return prefill(book, "transfer")


@macro
def freeze(book):
    return prefill(book, "freeze")


@macro
def adjust(book):
    return prefill(book, "adjust")


# ------------------------------------------------------------------------------- Check group
@macro
def verify(book):
    """The hash-chain check, naming the first row that no longer matches."""
    rows = LiveStore(book).read_log()
    broken = chain.verify(rows, config.owner_key())
    if broken is None:
        alert(book, f"The Log verifies: {len(rows)} rows, each sealed by the one before.")
        return None
    alert(book, f"{book.name}!Log!A{broken.index + 2} (seq {broken.seq}), column {broken.column}: "
                f"{broken.explanation}.\n\nEvery row from there on is suspect. Restore the workbook from a "
                "backup taken before that row was written; do not post until it verifies.", critical=True)
    return broken


@macro
def alerts(book):
    """Recompute the engine sheets from the Log and show the Alerts sheet."""
    store = LiveStore(book)
    result = recompute(store, now=_now(), key=config.owner_key())
    sheet = book.sheets[schema.ALERTS.name]
    sheet.activate()
    sheet.range("A1").select()
    shown = "already up to date" if result.state is None else f"{len(result.state.alerts)} from the ledger"
    status(book, f"xl-ledger: Alerts refreshed ({shown}).")
    return result


@macro
def statement(book):
    """Fill the Statement sheet for the family of the student under the selection (or that student)."""
    from xl_ledger.statements import command as statement_command
    from xl_ledger.statements import sheet as statement_sheet
    from xl_ledger.statements.load import ledger_from_store

    store = LiveStore(book)
    student, _package = _context(book, store)
    if not student:
        alert(book, "Select a row of a student first (on Students, Sessions, Balances, Packages or Actions), "
                    "then press Statement.")
        return None
    status(book, f"xl-ledger: building the statement of {student}…")
    ledger = ledger_from_store(store, now=_now(), key=config.owner_key())
    family = ledger.scopes.students[student].family_id if student in ledger.scopes.students else None
    doc = statement_command.make(ledger, family_id=family, student_id=None if family else student)
    statement_sheet.write(store, doc)
    sheet = book.sheets[schema.STATEMENT.name]
    sheet.activate()
    sheet.range("A1").select()
    status(book, f"xl-ledger: Statement of {doc.title} ready to print.")
    return doc


@macro
def remind(book):
    """Queue the reminders due today on the Outbox sheet (sending stays a deliberate `remind --send`)."""
    from xl_ledger.reminders.command import Remind

    store = LiveStore(book)
    run = Remind(store, _now(), key=config.owner_key())
    new = run.queue([])
    run.save(new)
    sheet = book.sheets[schema.OUTBOX.name]
    sheet.activate()
    queued = sum(1 for r in new if r.status == "queued")
    alert(book, f"{queued} reminders queued on the Outbox sheet, {len(new) - queued} other rows "
                "(no address, or unsure). Read them, then send with: xl-ledger remind <this workbook> --send")
    return new


# ----------------------------------------------------------------------------- Month-end group
# The same functions as `xl-ledger close / export / tieout / audit` (accounting/monthend.py), on the open
# workbook. The month is the one of the Report row under the selection, else the last full month.

def _books(book, store: LiveStore):
    from xl_ledger.accounting import monthend

    return monthend.open_books(store, config.owner_key(), None, _now())


def _month(book, books):
    """The Report row's month under the selection, else the month before today's."""
    from xl_ledger.accounting import monthend

    text = None
    selection = book.app.selection
    if selection is not None and selection.sheet.name == schema.REPORT.name and selection.row >= 2:
        value = selection.sheet.range((selection.row, 1)).value
        text = str(value).strip() if value else None
    if not text:
        last = books.today.replace(day=1) - dt.timedelta(days=1)
        text = f"{last.year:04d}-{last.month:02d}"
    return monthend.parse_months(text, books, "The month")[0]


def _beside(book, name: str):
    """A file next to the workbook (Excel gives its full path)."""
    from pathlib import Path

    return Path(book.fullname).with_name(name)


def _month_end(fn):
    """A month-end macro: a MonthEndError (a month still running, a malformed file…) is shown like any
    other stop, and nothing was changed."""
    @functools.wraps(fn)
    def run(book):
        from xl_ledger.accounting.monthend import MonthEndError

        try:
            return fn(book)
        except MonthEndError as e:
            value = f": {e.value}" if e.value not in (None, "") else ""
            alert(book, f"{e.where}{value}\n{e.what}\n{e.todo}\n\nNothing was changed.".replace("\n\n\n", "\n\n"),
                  critical=True)
        return None

    return run


@macro
@_month_end
def close_month(book):
    """Close the selected (else the last full) month: a period_close row with who and when."""
    from xl_ledger.accounting import monthend

    store = LiveStore(book)
    books = _books(book, store)
    month = _month(book, books)
    rows = monthend.close(store, books, month, config.operator(), _now(), config.owner_key())
    alert(book, f"Closed through {month.last.isoformat()} (Log seq {rows[-1][0]}): {month.month}'s liability "
                f"{month.closing:.2f} is recorded. Rows dated in it are now rejected; date corrections later.")
    return rows


@macro
@_month_end
def export(book):
    """The month's journal in all three formats (QuickBooks Online, QuickBooks Desktop, Xero), beside the
    workbook."""
    from xl_ledger.accounting import monthend

    store = LiveStore(book)
    books = _books(book, store)
    month = _month(book, books)
    written = []
    for fmt, module in monthend.FORMATS.items():
        out = _beside(book, monthend.default_out(_beside(book, book.name), f"journal-{fmt}", [month],
                                                 module.EXTENSION).name)
        written += monthend.export(store, books, [month], fmt, out)
    alert(book, f"{month.month}: sales {month.sales:.2f}, delivered {month.delivered:.2f}, breakage "
                f"{month.breakage:.2f}. Wrote, beside the workbook:\n" + _lines([p.name for p in written]))
    return written


CSV_FILTER = "CSV files (*.csv),*.csv"


def _choose_csv(book, title: str):
    """Excel's Open dialog for a CSV (Windows COM); None when cancelled or where there is no dialog."""
    api = _app_api(book)
    if api is not None and hasattr(api, "GetOpenFilename"):
        chosen = api.GetOpenFilename(CSV_FILTER, 1, title)
        return chosen if isinstance(chosen, str) else None
    return None


TIEOUT_COMMAND = "xl-ledger tieout STUDIO.xlsm --stripe PAYOUTS.csv [--bank DEPOSITS.csv]"


@macro
@_month_end
def tieout(book):
    """Tie Stripe's itemized payout report (and the bank's deposits, if given) to the Log: the Tieout sheet
    and a CSV beside the workbook."""
    from pathlib import Path

    from xl_ledger.accounting import monthend

    stripe = _choose_csv(book, "Stripe's itemized payout reconciliation report (CSV)")
    if not stripe:
        if _app_api(book) is None or not hasattr(_app_api(book), "GetOpenFilename"):
            alert(book, "Choosing a file from the ribbon needs Excel for Windows. On this computer, save and close "
                        f"the workbook, then run in a terminal:\n    {TIEOUT_COMMAND.replace('STUDIO.xlsm', book.name)}",
                  critical=True)
        return None
    bank = _choose_csv(book, "The bank's deposits (CSV); Cancel if you have none")
    store = LiveStore(book)
    books = _books(book, store)
    out = _beside(book, f"{Path(book.name).stem}-tieout-{Path(stripe).stem}.csv")
    result = monthend.tieout(store, books, Path(stripe), Path(bank) if bank else None, out)
    sheet = book.sheets[schema.TIEOUT.name]
    sheet.activate()
    sheet.range("A1").select()
    counts = ", ".join(f"{n} {status}" for status, n in result.counts.items())
    alert(book, f"{Path(stripe).name}: {counts or 'nothing'}.\n\n"
                + (f"{result.unmatched} unmatched: each says why on the Tieout sheet." if result.unmatched else
                   "Everything ties out.") + f"\nAlso written: {out.name}", critical=bool(result.unmatched))
    return result


@macro
@_month_end
def audit(book):
    """Fill the Audit sheet (and a CSV beside the workbook) for the selected, else the last full, month."""
    from xl_ledger.accounting import monthend

    store = LiveStore(book)
    books = _books(book, store)
    month = _month(book, books)
    out = _beside(book, monthend.default_out(_beside(book, book.name), "audit", [month], "csv").name)
    rows = monthend.audit(store, books, month, out)
    sheet = book.sheets[schema.AUDIT.name]
    sheet.activate()
    sheet.range("A1").select()
    status(book, f"xl-ledger: the audit of {month.month} ({len(rows)} changes by hand) is on the Audit sheet, "
                 f"and in {out.name}.")
    return rows


# ------------------------------------------------------------------------------- Setup group
IMPORT_COMMAND = "xl-ledger import LEGACY.xlsx --into STUDIO.xlsm"


@macro
def import_legacy(book):
    """Pick an old tracking workbook and import it into this workbook's Log, in one commit."""
    from xl_ledger.migrate import ImportRefused
    from xl_ledger.migrate import LegacyFileError
    from xl_ledger.migrate import import_legacy as run_import

    path = _choose_file(book)
    if not path:
        return None
    status(book, "xl-ledger: reading the legacy file and checking this workbook…")
    try:
        report = run_import(path, LiveStore(book), operator=config.operator(), now=_now(), key=config.owner_key())
    except LegacyFileError as error:
        alert(book, f"{error}\n\nNothing was imported.", critical=True)
        return None
    except (ImportRefused, BrokenChainError) as error:
        alert(book, str(error), critical=True)
        return None
    _recalculate(book)
    sheet = book.sheets[schema.MIGRATION.name]
    sheet.activate()
    sheet.range("A1").select()
    lines = report.lines()
    alert(book, lines[0] + "\n\n" + "\n".join(lines[1:1 + MAX_LINES])
          + ("\n  … the rest is on the Migration sheet." if len(lines) > 1 + MAX_LINES else ""),
          critical=bool(report.disagreements or report.warnings))
    return report


def _choose_file(book) -> Optional[str]:
    """Excel's own Open dialog (Windows COM). Elsewhere there is no BSD file dialog: say so."""
    api = _app_api(book)
    if api is not None and hasattr(api, "GetOpenFilename"):
        chosen = api.GetOpenFilename("Spreadsheets (*.xlsx;*.xlsm;*.xls;*.csv),*.xlsx;*.xlsm;*.xls;*.csv")
        return chosen if isinstance(chosen, str) else None
    alert(book, "Choosing a file from the ribbon needs Excel for Windows. On this computer, save and close the "
                f"workbook, then run in a terminal:\n    {IMPORT_COMMAND.replace('STUDIO.xlsm', book.name)}", critical=True)
    return None


@macro
def show_help(book):
    sheet = book.sheets[schema.START_SHEET]
    sheet.activate()
    sheet.range("A1").select()
