"""A month's figures (core/finance.py) → one balanced journal, in accounts named by the Accounts sheet.

- sales: Dr processor clearing / Cr deferred revenue;
- delivered: Dr deferred revenue / Cr class revenue;
- breakage: Dr deferred revenue / Cr breakage income;
- refunds: Dr deferred revenue (the liability released) / Cr clearing (what was paid back), the fee
  kept to refund fee income; chargebacks likewise, what the bank took beyond the unused value to
  chargeback losses;
- adjustments (credit an admin added or removed): credit adjustments / deferred revenue;
- comps carry no money: they are told in the journal's memo only.
A negative figure (a catch-up in delivered value) swaps its line's sides. Every line is in cents; the
journal must balance or the export refuses with the difference.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from xl_ledger.book import schema
from xl_ledger.core.finance import Month
from xl_ledger.core.numbers import ZERO
from xl_ledger.core.numbers import money


@dataclass(frozen=True)
class Account:
    role: str
    name: str
    code: str
    tax_rate: str


def accounts(records=()) -> tuple[dict[str, Account], list[str]]:
    """The Accounts sheet's rows over the defaults: (role → Account, problems naming the row)."""
    out = {role: Account(role, name, code, tax) for role, name, code, tax in schema.DEFAULT_ACCOUNTS}
    problems = []
    for row, rec in records:
        role = str(rec.get("account") or "").strip()
        if not role:
            continue
        if role not in out:
            problems.append(f"Accounts!A{row}: \"{role}\" is not an account the export uses; use one of "
                            + ", ".join(out) + ".")
            continue
        base = out[role]
        out[role] = Account(role, str(rec.get("name") or "").strip() or base.name,
                            str(rec.get("code") or "").strip() or base.code,
                            str(rec.get("tax_rate") or "").strip() or base.tax_rate)
    return out, problems


@dataclass(frozen=True)
class Line:
    account: Account
    debit: Decimal  # one of debit and credit is zero
    credit: Decimal
    description: str


@dataclass(frozen=True)
class Journal:
    number: str  # XL-2026-11
    date: dt.date  # the month's last day
    memo: str
    lines: tuple[Line, ...]

    @property
    def debits(self) -> Decimal:
        return sum((x.debit for x in self.lines), ZERO)

    @property
    def credits(self) -> Decimal:
        return sum((x.credit for x in self.lines), ZERO)


class Unbalanced(Exception):
    pass


def month_journal(m: Month, accts: dict[str, Account], studio: str = "") -> Journal:
    lines: list[Line] = []

    def book(debit_role: str, credit_role: str, amount: Decimal, description: str) -> None:
        amount = money(amount)
        if amount < 0:
            debit_role, credit_role, amount = credit_role, debit_role, -amount
        if amount:
            lines.append(Line(accts[debit_role], amount, ZERO, description))
            lines.append(Line(accts[credit_role], ZERO, amount, description))

    def single(role: str, amount: Decimal, description: str, debit: bool) -> None:
        amount = money(amount)
        if amount < 0:
            debit, amount = not debit, -amount
        if amount:
            lines.append(Line(accts[role], amount if debit else ZERO, ZERO if debit else amount, description))

    book("clearing", "deferred_revenue", m.sales, f"{m.month} packages sold ({m.sales_count})")
    book("credit_adjustments", "deferred_revenue", m.adjustments, f"{m.month} credit added or removed by an admin")
    book("deferred_revenue", "class_revenue", m.delivered, f"{m.month} sessions delivered ({m.delivered_count})")
    book("deferred_revenue", "breakage_income", m.breakage, f"{m.month} unused credit expired (breakage)")
    if m.refunds or m.refunds_paid:
        text = f"{m.month} refunds"
        single("deferred_revenue", m.refunds, text, debit=True)
        single("clearing", m.refunds_paid, text, debit=False)
        single("refund_fees", m.refunds - m.refunds_paid, f"{m.month} refund fees kept", debit=False)
    if m.chargebacks or m.chargebacks_paid:
        text = f"{m.month} chargebacks"
        single("deferred_revenue", m.chargebacks, text, debit=True)
        single("clearing", m.chargebacks_paid, text, debit=False)
        single("chargeback_losses", m.chargebacks_paid - m.chargebacks, f"{m.month} chargebacks beyond unused credit",
               debit=True)
    memo = f"{studio + ' ' if studio else ''}month-end {m.month}"
    if m.comps:
        memo += f"; comps {m.comps} (list value {money(m.comps_value)}), memo only"
    journal = Journal(f"XL-{m.month}", m.last, memo, tuple(lines))
    if journal.debits != journal.credits:
        raise Unbalanced(f"the {m.month} journal does not balance: debits {journal.debits} − credits "
                         f"{journal.credits} = {journal.debits - journal.credits}")
    return journal


def amount(x: Decimal) -> str:
    """Money as an importer reads it: plain digits, two decimals, a minus sign when negative."""
    return f"{money(x):f}"


def one_line(text: str) -> str:
    """Tabs and line breaks would end a field or a row in every format: spaces instead."""
    return " ".join(str(text).split())
