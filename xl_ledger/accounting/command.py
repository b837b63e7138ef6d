"""`xl-ledger export` (and the other month-end commands): argparse wiring over monthend.py."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("export", help="a month's journal for QuickBooks Online (qbo), QuickBooks Desktop (iif) "
                                      "or Xero (xero)",
                       description="One balanced journal per month: sales, delivered, breakage, refunds and "
                                   "chargebacks in the accounts of the Accounts sheet; comps in the memo.")
    p.add_argument("path", metavar="PATH", help="the studio workbook (.xlsm)")
    p.add_argument("--month", required=True, metavar="YYYY-MM", help="a month that has ended, or a range "
                                                                      "2026-09..2026-11")
    p.add_argument("--format", required=True, choices=("qbo", "iif", "xero"))
    p.add_argument("--out", metavar="F", help="the file to write (default: beside the workbook)")
    p.add_argument("--key-file", metavar="F", help="the owner's key: the chain is an HMAC")
    p.add_argument("--today", metavar="DATE", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_export)
    register_audit(sub)
    register_close(sub)
    register_reopen(sub)
    register_tieout(sub)


def _books(args):
    from xl_ledger import cli
    from xl_ledger.accounting import monthend

    store = cli.open_store(args.path, args)  # the shared ledger (pg/) when --ledger or Settings name one
    now, today = cli.clock(args)
    return store, monthend.open_books(store, cli.read_key(args.key_file), today, now)


def _fail(e) -> int:
    """Print the stop in the product's error format (cli.CliError's) and return its exit code. Printed
    here, not raised: under `python -m xl_ledger.cli` the running module's CliError is another class."""
    from xl_ledger.cli import NOT_ALLOWED
    from xl_ledger.cli import USAGE
    from xl_ledger.cli import CliError

    err = e if isinstance(e, CliError) else \
        CliError(e.where, e.what, e.todo, e.value, code=NOT_ALLOWED if e.not_allowed else USAGE)
    print(str(err), file=sys.stderr)
    return err.code


def _one_month(args, books, todo: str) -> list:
    """`--month` as a list of exactly one month (audit and close work on one month at a time)."""
    from xl_ledger.accounting import monthend

    months = monthend.parse_months(args.month, books)
    if len(months) != 1:
        raise monthend.MonthEndError("--month", "names more than one month.", todo, args.month)
    return months


def cmd_export(args) -> int:
    from xl_ledger.accounting import monthend
    from xl_ledger.cli import CliError

    try:
        store, books = _books(args)
    except CliError as e:
        return _fail(e)
    try:
        months = monthend.parse_months(args.month, books)
        fmt = monthend.FORMATS[args.format]
        out = Path(args.out) if args.out else monthend.default_out(Path(args.path), f"journal-{args.format}", months,
                                                                  fmt.EXTENSION)
        paths = monthend.export(store, books, months, args.format, out)
    except monthend.MonthEndError as e:
        return _fail(e)
    for m in months:
        print(f"{m.month}: sales {m.sales:.2f}, delivered {m.delivered:.2f}, breakage {m.breakage:.2f}, "
              f"liability {m.opening:.2f} → {m.closing:.2f}")
    for path in paths:
        print(f"wrote {path}", file=sys.stdout)
    return 0


def register_audit(sub) -> None:
    p = sub.add_parser("audit", help="a month's audit trail: who changed what, when and why (CSV and the Audit sheet)",
                       description="Every adjustment, refund, chargeback, comp, transfer, extension, freeze and "
                                   "close effective or recorded in the month: who, when, the effective date, the "
                                   "reason and its meaning, the note and the source cell.")
    p.add_argument("path", metavar="PATH", help="the studio workbook (.xlsm)")
    p.add_argument("--month", required=True, metavar="YYYY-MM", help="a month that has ended")
    p.add_argument("--out", metavar="F", help="the CSV to write (default: beside the workbook)")
    p.add_argument("--key-file", metavar="F", help="the owner's key: the chain is an HMAC")
    p.add_argument("--today", metavar="DATE", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_audit)


def cmd_audit(args) -> int:
    from xl_ledger.accounting import monthend
    from xl_ledger.cli import CliError

    try:
        store, books = _books(args)
    except CliError as e:
        return _fail(e)
    try:
        months = _one_month(args, books, "Give one month, e.g. 2026-11.")
        out = Path(args.out) if args.out else monthend.default_out(Path(args.path), "audit", months, "csv")
        rows = monthend.audit(store, books, months[0], out)
    except monthend.MonthEndError as e:
        return _fail(e)
    print(f"{months[0].month}: {len(rows)} changes by hand; wrote {out} and the Audit sheet of {Path(args.path).name}")
    return 0


def register_close(sub) -> None:
    p = sub.add_parser("close", help="close a month: nothing dated in it or before can change afterwards",
                       description="Append a period_close row to the Log (who and when are recorded). Needs an "
                                   "admin or the owner. Later rows dated in a closed month are rejected in their "
                                   "row, with what to do: a dated correction in the open month.")
    _period_row_arguments(p, "a month that has ended", "closing")
    p.set_defaults(func=cmd_close)


def _period_row_arguments(p, month_help: str, doing: str) -> None:
    """The arguments of a command that appends one period row (close, reopen): the book, its month, who
    signs the row and the owner key it is chained with."""
    p.add_argument("path", metavar="PATH", help="the studio workbook (.xlsm)")
    p.add_argument("--month", required=True, metavar="YYYY-MM", help=month_help)
    p.add_argument("--as", dest="user", metavar="USER", help=f"who is {doing} (default: the OS user)")
    p.add_argument("--key-file", metavar="F", help="the owner's key: the chain is an HMAC")
    p.add_argument("--today", metavar="DATE", help=argparse.SUPPRESS)


def _append_period_row(args, todo: str, append) -> tuple:
    """Open the book, take its one month and append the row with `append(store, books, month, user, now,
    key)`; returns (month, rows). Stops (CliError, MonthEndError) go to the caller."""
    from xl_ledger import cli

    store, books = _books(args)
    months = _one_month(args, books, todo)
    now, _today = cli.clock(args)
    return months[0], append(store, books, months[0], args.user or cli.os_user(), now, cli.read_key(args.key_file))


def cmd_close(args) -> int:
    from xl_ledger.accounting import monthend
    from xl_ledger.cli import CliError

    try:
        m, rows = _append_period_row(args, "Close one month, e.g. 2026-11.", monthend.close)
    except (CliError, monthend.MonthEndError) as e:
        return _fail(e)
    print(f"closed through {m.last.isoformat()} (Log seq {rows[-1][0]}): {m.month} liability {m.closing:.2f}; "
          "later rows dated in it are rejected")
    return 0


def register_reopen(sub) -> None:
    p = sub.add_parser("reopen", help="reopen a closed month (the owner, with a reason code)",
                       description="Append a period_reopen row to the Log: the books are open again from the "
                                   "month's first day (later closed months open with it). Needs the owner and a "
                                   "reason code from the Reasons sheet; the month's audit lists it.")
    _period_row_arguments(p, "a closed month", "reopening")
    p.add_argument("--reason", metavar="CODE", help="a reason code from the Reasons sheet (required)")
    p.add_argument("--note", metavar="TEXT", help="why, in words (kept in the Log and the audit)")
    p.set_defaults(func=cmd_reopen)


def cmd_reopen(args) -> int:
    from xl_ledger.accounting import monthend
    from xl_ledger.cli import CliError

    try:
        month, rows = _append_period_row(
            args, "Reopen one month, e.g. 2026-11.",
            lambda store, books, m, user, now, key: monthend.reopen(store, books, m, user, args.reason, args.note,
                                                                    now, key))
    except (CliError, monthend.MonthEndError) as e:
        return _fail(e)
    first = month.first
    print(f"reopened from {first.isoformat()} (Log seq {rows[-1][0]}, reason {args.reason}): rows dated from then on "
          "can be posted again; close the month again when it is done")
    return 0


def register_tieout(sub) -> None:
    p = sub.add_parser("tieout", help="tie card payouts to the ledger's sales and refunds, and to the bank",
                       description="Match each transaction of Stripe's itemized payout reconciliation report to a "
                                   "sell, top_up, refund or chargeback of the Log (by Actions payment_ref, else by "
                                   "amount within 2 days), check every payout (gross − fee = net = the payout = the "
                                   "bank deposit), and write the Tieout sheet and a CSV. Exit 5 when anything is "
                                   "unmatched.")
    p.add_argument("path", metavar="PATH", help="the studio workbook (.xlsm)")
    p.add_argument("--stripe", required=True, metavar="PAYOUTS.csv",
                   help="Stripe: Reports > Payout reconciliation > Download > Itemized, CSV")
    p.add_argument("--bank", metavar="DEPOSITS.csv", help="the bank's statement as CSV (columns date, amount, "
                                                          "description)")
    p.add_argument("--out", metavar="F", help="the CSV to write (default: beside the workbook)")
    p.add_argument("--key-file", metavar="F", help="the owner's key: the chain is an HMAC")
    p.add_argument("--today", metavar="DATE", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_tieout)


def cmd_tieout(args) -> int:
    from xl_ledger.accounting import monthend
    from xl_ledger.accounting.tieout import Status
    from xl_ledger.cli import CliError
    from xl_ledger.cli import REJECTED

    try:
        store, books = _books(args)
        stripe = Path(args.stripe)
        out = Path(args.out) if args.out else Path(args.path).with_name(f"{Path(args.path).stem}-tieout-{stripe.stem}.csv")
        result = monthend.tieout(store, books, stripe, Path(args.bank) if args.bank else None, out)
    except (CliError, monthend.MonthEndError) as e:
        return _fail(e)
    counts = ", ".join(f"{n} {status}" for status in Status if (n := result.counts.get(status)))
    span = f" ({result.span[0].isoformat()} to {result.span[1].isoformat()})" if result.span else ""
    print(f"{stripe.name}{span}: {counts or 'nothing'}; wrote {out} and the Tieout sheet of {Path(args.path).name}")
    if result.unmatched:
        print(f"{result.unmatched} unmatched: each says why on the Tieout sheet", file=sys.stderr)
        return REJECTED
    return 0
