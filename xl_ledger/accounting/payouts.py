"""The two files a payout tie-out reads, as values: Stripe's itemized payout reconciliation report and the
bank's deposits. Pure: CSV text in, lines out, or one FileProblem naming the row and column; the command
(monthend.tieout) reads the files and writes nothing until both have been read whole.

Stripe's report (Reports > Payout reconciliation > Itemized, "payout_reconciliation.itemized") has one row
per balance transaction settled by an automatic payout, in major units ("100.00"), ISO times and
lowercase currency codes. Columns are found by header name, so Stripe may add or reorder columns; the
ones read are `automatic_payout_id`, `balance_transaction_id`, `created`, `currency`, `gross`, `fee`,
`net`, `reporting_category`, and when present `charge_id`, `source_id`, `payment_intent_id`,
`description`, `automatic_payout_effective_at` (the day the payout reaches the bank) and every
`payment_metadata[...]` column.

A bank file is whatever the bank exports, with a `date` and an `amount` column (any case) and, when it
has one, a `description`, `reference` or `memo` column. Its dates follow the studio's date order when
typed as text (Settings `date_order`), as everywhere else; amounts may carry the currency sign.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass
from decimal import Decimal
from decimal import InvalidOperation
from typing import Optional

from xl_ledger.core import parse as P

REQUIRED = ("automatic_payout_id", "balance_transaction_id", "created", "currency", "gross", "fee", "net",
            "reporting_category")
OPTIONAL = ("charge_id", "source_id", "payment_intent_id", "description", "automatic_payout_effective_at")
METADATA = re.compile(r"payment_metadata\[(.+)\]")
_AMOUNT = re.compile(r"-?\d+(\.\d+)?")  # Stripe writes plain major units: 100.00, -20.00
_WHEN = re.compile(r"(\d{4}-\d{2}-\d{2})([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?")
BANK_TEXT = ("description", "reference", "memo")


class FileProblem(Exception):
    """A file that cannot be read as it should: where (file, row, column), the value, what, what to do."""

    def __init__(self, name: str, row: Optional[int], column: Optional[str], what: str, todo: str,
                 value: object = None):
        self.where = name if row is None else f"{name} row {row}" + (f", column {column}" if column else "")
        self.what, self.todo, self.value = what, todo, value
        super().__init__(f"{self.where}: {what}")


@dataclass(frozen=True)
class Line:
    """One balance transaction of a payout, as Stripe reports it."""
    row: int  # the file's row (the header is row 1), as a spreadsheet shows it
    payout_id: str
    transaction_id: str
    created: dt.date
    category: str
    gross: Decimal
    fee: Decimal
    net: Decimal
    charge_id: str = ""
    description: str = ""
    refs: frozenset = frozenset()  # every id a ledger payment_ref may name: transaction, charge, source, metadata
    arrival: Optional[dt.date] = None


@dataclass(frozen=True)
class Deposit:
    row: int
    date: dt.date
    amount: Decimal
    text: str = ""


def _rows(name: str, text: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        records = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as e:
        raise FileProblem(name, None, None, f"is not a CSV file ({e}).", "Download the report again as CSV.") from None
    if not records or not any(c.strip() for c in records[0]):
        raise FileProblem(name, 1, None, "has no header row.", "Download the report again as CSV, with its headers.")
    headers = [h.strip() for h in records[0]]
    body = [(i + 2, r) for i, r in enumerate(records[1:]) if any(c.strip() for c in r)]
    return headers, body


def _cell(name: str, headers: list[str], row_no: int, row: list[str], column: str) -> str:
    i = headers.index(column)
    if i >= len(row):
        raise FileProblem(name, row_no, column, f"is missing: the row has {len(row)} cells and {column} is "
                          f"cell {i + 1}.", "Download the report again; a row was cut short.")
    return row[i].strip()


def _amount(name: str, row_no: int, column: str, value: str) -> Decimal:
    if not _AMOUNT.fullmatch(value):
        raise FileProblem(name, row_no, column, "is not an amount in major units (e.g. 100.00 or -20.00).",
                          "Download Stripe's itemized payout reconciliation report again; amounts are plain "
                          "numbers in it.", value)
    try:
        return Decimal(value)
    except InvalidOperation:  # pragma: no cover - the pattern above admits only numbers
        raise FileProblem(name, row_no, column, "is not a number.", "Download the report again.", value) from None


def _day(name: str, row_no: int, column: str, value: str) -> dt.date:
    m = _WHEN.fullmatch(value)
    if m:
        try:
            return dt.date.fromisoformat(m.group(1))
        except ValueError:  # 2026-02-30
            pass
    raise FileProblem(name, row_no, column, "is not a date and time like 2026-02-03 14:05:22.",
                      "Download the report again; Stripe writes times as YYYY-MM-DD HH:MM:SS.", value)


def read_stripe(name: str, text: str, currency: str) -> list[Line]:
    """Every row of an itemized payout reconciliation report. A missing column, a row without its payout,
    an amount or time that is not one, another currency than the studio's, or a transaction twice stops
    the read with the row and column named: a tie-out of half a file would be a guess."""
    headers, body = _rows(name, text)
    missing = [c for c in REQUIRED if c not in headers]
    if missing:
        raise FileProblem(name, 1, None, f"has no column {', '.join(missing)}: this is not Stripe's itemized payout "
                          "reconciliation report.", "In Stripe: Reports > Payout reconciliation > Download > "
                          "Itemized (all columns), as CSV.")
    if not body:
        raise FileProblem(name, 2, None, "holds no transactions.", "Choose a date range with payouts in Stripe.")
    meta = [h for h in headers if METADATA.fullmatch(h)]
    seen: dict[str, int] = {}
    lines = []
    for row_no, row in body:
        def get(column: str) -> str:
            return _cell(name, headers, row_no, row, column) if column in headers else ""

        payout = get("automatic_payout_id")
        if not payout:
            raise FileProblem(name, row_no, "automatic_payout_id", "is empty: the row is in no payout.",
                              "Use the payout reconciliation report (automatic payouts), not the balance report.")
        txn = get("balance_transaction_id")
        if not txn:
            raise FileProblem(name, row_no, "balance_transaction_id", "is empty.", "Download the report again.")
        if txn in seen:
            raise FileProblem(name, row_no, "balance_transaction_id", f"is also on row {seen[txn]}: the same "
                              "transaction twice.", "Remove the repeated rows (two downloads pasted together?).", txn)
        seen[txn] = row_no
        code = get("currency")
        if code.upper() != currency.upper():
            raise FileProblem(name, row_no, "currency", f"is not the studio's currency ({currency.upper()}).",
                              f"Tie out the {currency.upper()} payouts only: filter the report by currency.", code)
        category = get("reporting_category").lower()
        if not category:
            raise FileProblem(name, row_no, "reporting_category", "is empty.", "Download the report again.")
        arrival = get("automatic_payout_effective_at")
        refs = {txn, get("charge_id"), get("source_id"), get("payment_intent_id")}
        refs |= {get(h) for h in meta}
        lines.append(Line(row=row_no, payout_id=payout, transaction_id=txn,
                          created=_day(name, row_no, "created", get("created")), category=category,
                          gross=_amount(name, row_no, "gross", get("gross")),
                          fee=_amount(name, row_no, "fee", get("fee")),
                          net=_amount(name, row_no, "net", get("net")),
                          charge_id=get("charge_id"), description=get("description"),
                          refs=frozenset(r for r in refs if r),
                          arrival=_day(name, row_no, "automatic_payout_effective_at", arrival) if arrival else None))
    return lines


def read_bank(name: str, text: str, currency: str, day_first: bool = False) -> list[Deposit]:
    """The bank's deposits: rows with a date and an amount (money paid out of the account, a negative
    amount, is left out: a payout is a deposit)."""
    headers, body = _rows(name, text)
    lower = [h.lower() for h in headers]
    missing = [c for c in ("date", "amount") if c not in lower]
    if missing:
        raise FileProblem(name, 1, None, f"has no column {' or '.join(missing)} (found: {', '.join(headers)}).",
                          "Export the bank statement as CSV and name its columns date and amount (and "
                          "description).")
    named = {h.lower(): h for h in headers}
    out = []
    for row_no, row in body:
        def get(column: str) -> str:
            return _cell(name, headers, row_no, row, named[column]) if column in named else ""

        raw_date, raw_amount = get("date"), get("amount")
        try:
            day = P.parse_date(raw_date, day_first=day_first)
        except P.ParseError as e:
            raise FileProblem(name, row_no, named["date"], f"{e}.", "Type the date like 2026-02-06.",
                              raw_date) from None
        try:
            amount = P.parse_money(raw_amount)
        except P.ParseError as e:
            raise FileProblem(name, row_no, named["amount"], f"{e}.", "Type the amount like 480.20.",
                              raw_amount) from None
        named_currency = P.money_currencies(raw_amount)
        if named_currency is not None and currency.upper() not in named_currency:
            raise FileProblem(name, row_no, named["amount"], f"is not in the studio's currency ({currency.upper()}).",
                              "Give the bank account the payouts are paid into.", raw_amount)
        if amount > 0:
            out.append(Deposit(row_no, day, amount, " ".join(get(c) for c in BANK_TEXT if c in named).strip()))
    return out
