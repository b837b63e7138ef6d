"""The payout tie-out: the processor's transactions against the ledger's payments, and each payout
against its own lines and the bank's deposit. Pure: lines and Log entries in, rows out (monthend.tieout
reads the files and writes the Tieout sheet and the CSV).

Three legs, each answered line by line:
- a processor charge is a sale or top-up of the Log, a refund a refund, a dispute a chargeback. A Log
  payment whose `payment_ref` names one of the line's ids (its balance transaction, charge, source,
  payment intent or a payment_metadata value) is its match; a payment without a payment_ref matches a
  line of the same amount within two days (the closest first). Processor fees (`fee`, `network_cost`,
  `tax`) are the processor's own costs and have no Log counterpart. Any other category (a dispute won
  back, a failed refund, an adjustment) is left for a person: it is "processor only".
- a Log payment dated within the file's span (its first to its last transaction) that no line matches is
  "ledger only": sold at the desk but never charged, or charged elsewhere. One outside the span is not
  the file's business.
- each payout: Σgross − Σfee must be Σnet, and Σnet the payout (Stripe's own payout row when the file has
  one), and with a bank file the deposit. A deposit is the payout's when its text names the payout id,
  else the one of the same amount near the payout's day, else the nearest within the window (then its
  amount is the difference found). Bank deposits that are no payout of the file are listed and not
  counted: a bank statement holds the studio's other income too.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from dataclasses import field
from decimal import Decimal
from enum import StrEnum
from typing import Iterable
from typing import Optional

from xl_ledger.accounting.payouts import Deposit
from xl_ledger.accounting.payouts import Line
from xl_ledger.core import events as E
from xl_ledger.core.numbers import ZERO
from xl_ledger.core.numbers import money

DAYS = 2  # a card payment is recorded at the desk and charged within two days of each other
DEPOSIT_DAYS = 2  # a payout reaches the bank within two days of its arrival date
DEPOSIT_DAYS_WITHOUT_ARRIVAL = 7  # or, when the file has no arrival date, within a week of its last transaction


class Status(StrEnum):
    MATCHED = "matched"
    DIFFERS = "amount differs"  # matched by payment_ref, but the amounts disagree
    PROCESSOR_ONLY = "processor only"
    LEDGER_ONLY = "ledger only"
    FEE = "processor fee"
    PAYOUT_TIES = "payout ties"
    PAYOUT_DIFFERS = "payout differs"
    BANK_ONLY = "bank only"


UNMATCHED = frozenset({Status.DIFFERS, Status.PROCESSOR_ONLY, Status.LEDGER_ONLY, Status.PAYOUT_DIFFERS})

# Which Log events a processor category pays or repays.
KINDS_OF = {"charge": ("sale", "top_up"), "payment": ("sale", "top_up"), "refund": ("refund",),
            "dispute": ("chargeback",)}
FEES = frozenset({"fee", "network_cost", "tax"})
PAYOUT = "payout"


@dataclass(frozen=True)
class Payment:
    """A Log row that moved money through the processor (or should have)."""
    seq: int
    kind: str
    date: dt.date
    amount: Decimal
    student_id: str
    package_id: str
    source: str
    payment_ref: str = ""


@dataclass
class Result:
    rows: list[tuple] = field(default_factory=list)
    counts: dict = field(default_factory=dict)
    span: Optional[tuple[dt.date, dt.date]] = None

    @property
    def unmatched(self) -> int:
        return sum(n for status, n in self.counts.items() if status in UNMATCHED)


def payments(entries: Iterable[E.Entry], late_refs: Optional[dict[int, str]] = None) -> list[Payment]:
    """The Log's sales, top-ups, refunds and chargebacks that carry money. `late_refs` gives the payment_ref
    typed on an applied Actions row after it was posted (seq → ref), for rows whose Log has none."""
    late_refs = late_refs or {}
    out = []
    for e in entries:
        ev = e.event
        if ev.kind not in ("sale", "top_up", "refund", "chargeback") or not ev.amount:
            continue
        ref = getattr(ev, "payment_ref", None) or late_refs.get(e.seq, "")
        out.append(Payment(e.seq, ev.kind, ev.effective_date, money(ev.amount), ev.student_id or "",
                           ev.package_id or "", e.source or "", ref.strip()))
    return out


def tie_out(lines: list[Line], pays: list[Payment], deposits: Optional[list[Deposit]], book: str,
            processor_file: str, bank_file: str = "") -> Result:
    result = Result()
    matchable = [ln for ln in lines if ln.category in KINDS_OF]
    if matchable:
        result.span = (min(ln.created for ln in matchable), max(ln.created for ln in matchable))
    match = _match(matchable, pays)
    deposit_of, bank_only = _deposits(lines, deposits) if deposits is not None else ({}, [])
    rows = result.rows

    def count(status: Status) -> Status:
        result.counts[status] = result.counts.get(status, 0) + 1
        return status

    for payout_id in dict.fromkeys(ln.payout_id for ln in lines):
        own = [ln for ln in lines if ln.payout_id == payout_id]
        rows.append(_payout_row(payout_id, own, deposit_of.get(payout_id), deposits is not None, bank_file, count))
        for ln in sorted((x for x in own if x.category != PAYOUT), key=lambda x: (x.created, x.row)):
            pay, how = match.get(ln.row, (None, ""))
            if ln.category in FEES:
                status, message = count(Status.FEE), ln.description or "the processor's own cost"
            elif pay is None:
                status = count(Status.PROCESSOR_ONLY)
                wanted = " or ".join(KINDS_OF.get(ln.category, ()))
                message = (f"no {wanted} in the Log for {abs(ln.gross):.2f} within {DAYS} days and no payment_ref "
                           f"naming it; record it, or type its id in the Actions row's payment_ref" if wanted else
                           f"{ln.category}: the ledger has no action for this; look at it in the processor")
                if ln.description:
                    message = f"{ln.description}: {message}"
            elif money(abs(ln.gross)) != pay.amount:
                status = count(Status.DIFFERS)
                message = (f"the Log says {pay.amount:.2f}, the processor {abs(ln.gross):.2f}: a difference of "
                           f"{money(abs(ln.gross) - pay.amount):.2f}")
            else:
                status, message = count(Status.MATCHED), ""
            rows.append((status, ln.payout_id, ln.created, ln.category, ln.transaction_id, ln.gross, ln.fee,
                         ln.net, pay.seq if pay else None, _where(book, pay), pay.student_id if pay else None,
                         pay.package_id if pay else None, pay.amount if pay else None, None, how, message))
    matched = {p.seq for p, _how in match.values()}
    known = {r for ln in lines for r in ln.refs}
    for pay in pays:
        if pay.seq in matched or result.span is None or not result.span[0] <= pay.date <= result.span[1]:
            continue
        count(Status.LEDGER_ONLY)
        if pay.payment_ref and pay.payment_ref not in known:
            message = f"payment_ref {pay.payment_ref} is not in {processor_file}"
        else:
            message = (f"no {' or '.join(_categories(pay.kind))} in {processor_file} for {pay.amount:.2f} within "
                       f"{DAYS} days: paid another way, or not charged")
        rows.append((Status.LEDGER_ONLY, None, pay.date, pay.kind, None, None, None, None, pay.seq,
                     _where(book, pay), pay.student_id, pay.package_id, pay.amount, None, "", message))
    for dep in bank_only:
        count(Status.BANK_ONLY)
        rows.append((Status.BANK_ONLY, None, dep.date, "deposit", f"{bank_file} row {dep.row}", None, None, None,
                     None, None, None, None, None, dep.amount, "",
                     f"{dep.text + ': ' if dep.text else ''}no payout of {processor_file}; not counted"))
    return result


def _categories(kind: str) -> list[str]:
    return [c for c, kinds in KINDS_OF.items() if kind in kinds and c != "payment"]


def _where(book: str, pay: Optional[Payment]) -> Optional[str]:
    if pay is None:
        return None
    return f"{book}!{pay.source}" if "!" in pay.source else (pay.source or None)


def _match(lines: list[Line], pays: list[Payment]) -> dict[int, tuple[Payment, str]]:
    """line row → (payment, how): by payment_ref first, then by amount and date (closest first)."""
    out: dict[int, tuple[Payment, str]] = {}
    taken: set[int] = set()
    by_ref: dict[str, list[Payment]] = {}
    for p in pays:
        if p.payment_ref:
            by_ref.setdefault(p.payment_ref, []).append(p)
    for ln in lines:
        for ref in sorted(ln.refs):
            found = [p for p in by_ref.get(ref, ()) if p.kind in KINDS_OF[ln.category] and p.seq not in taken]
            if found:
                out[ln.row] = (found[0], f"payment_ref {ref}")
                taken.add(found[0].seq)
                break
    # Only payments without a payment_ref are matched by amount: one that names an id the file lacks is
    # someone's statement that it was paid elsewhere (or a typo to be seen), never re-paired by a guess.
    pairs = []
    free = [p for p in pays if not p.payment_ref]
    for ln in lines:
        if ln.row in out:
            continue
        for p in free:
            gap = abs((p.date - ln.created).days)
            if p.kind in KINDS_OF[ln.category] and gap <= DAYS and p.amount == money(abs(ln.gross)):
                pairs.append((gap, ln.row, p.seq, ln, p))
    for gap, row, seq, ln, p in sorted(pairs, key=lambda t: t[:3]):
        if row in out or seq in taken:
            continue
        out[row] = (p, "amount and date" + (f" ({gap} day{'s' if gap > 1 else ''} apart)" if gap else ""))
        taken.add(seq)
    return out


def _payout_day(own: list[Line]) -> tuple[dt.date, bool]:
    arrivals = [ln.arrival for ln in own if ln.arrival]
    if arrivals:
        return max(arrivals), True
    return max(ln.created for ln in own), False


def _deposits(lines: list[Line], deposits: list[Deposit]) -> tuple[dict[str, Deposit], list[Deposit]]:
    """payout id → its bank deposit; and the deposits that are no payout of the file."""
    payouts = {}
    for ln in lines:
        payouts.setdefault(ln.payout_id, []).append(ln)
    out: dict[str, Deposit] = {}
    used: set[int] = set()
    for pid in payouts:  # the deposit's text names the payout
        for d in deposits:
            if d.row not in used and pid.lower() in d.text.lower():
                out[pid] = d
                used.add(d.row)
                break

    def window(pid: str) -> tuple[dt.date, dt.date]:
        day, arrival = _payout_day(payouts[pid])
        if arrival:
            return day - dt.timedelta(days=DEPOSIT_DAYS), day + dt.timedelta(days=DEPOSIT_DAYS)
        return day, day + dt.timedelta(days=DEPOSIT_DAYS_WITHOUT_ARRIVAL)

    for exact in (True, False):  # the same amount near the payout's day; then the nearest deposit in its window
        for pid, own in payouts.items():
            if pid in out:
                continue
            first, last = window(pid)
            amount = _stated(own)[0]
            found = [d for d in deposits if d.row not in used and first <= d.date <= last
                     and (d.amount == amount or not exact)]
            if found:
                day = _payout_day(own)[0]
                best = min(found, key=lambda d: (abs((d.date - day).days), abs(d.amount - amount), d.row))
                out[pid] = best
                used.add(best.row)
    return out, [d for d in deposits if d.row not in used]


def _stated(own: list[Line]) -> tuple[Decimal, str]:
    """The payout's amount: Stripe's own payout row when the file has one (its gross is the money leaving
    the balance, so negative), else the sum of its lines' net."""
    stated = [ln for ln in own if ln.category == PAYOUT]
    if stated:
        return -sum((ln.gross for ln in stated), ZERO), "the payout row"
    return sum((ln.net for ln in own), ZERO), "the sum of net"


def _payout_row(pid: str, own: list[Line], deposit: Optional[Deposit], banked: bool, bank_file: str, count) -> tuple:
    items = [ln for ln in own if ln.category != PAYOUT]
    gross = sum((ln.gross for ln in items), ZERO)
    fee = sum((ln.fee for ln in items), ZERO)
    net = sum((ln.net for ln in items), ZERO)
    amount, said_by = _stated(own)
    problems = []
    for ln in items:
        if ln.gross - ln.fee != ln.net:
            problems.append(f"row {ln.row}: gross {ln.gross:.2f} − fee {ln.fee:.2f} is not its net {ln.net:.2f}")
    if gross - fee != net:
        problems.append(f"Σgross {gross:.2f} − Σfee {fee:.2f} = {gross - fee:.2f}, not Σnet {net:.2f}")
    if amount != net:
        problems.append(f"the payout is {amount:.2f} ({said_by}) but Σnet is {net:.2f}")
    bank = None
    if banked:
        day, _arrival = _payout_day(own)
        if deposit is None:
            problems.append(f"no deposit in {bank_file} near {day.isoformat()}")
        else:
            bank = deposit.amount
            if deposit.amount != amount:
                problems.append(f"the bank deposit ({bank_file} row {deposit.row}, {deposit.date.isoformat()}) is "
                                f"{deposit.amount:.2f}, the payout {amount:.2f}: {money(deposit.amount - amount):+.2f}")
    status = count(Status.PAYOUT_DIFFERS if problems else Status.PAYOUT_TIES)
    day, _arrival = _payout_day(own)
    where = f"{bank_file} row {deposit.row}" if deposit is not None else None
    message = "; ".join(problems) if problems else (
        f"Σgross − Σfee = Σnet = {amount:.2f}" + (f" = the bank deposit of {deposit.date.isoformat()}" if deposit else ""))
    return (status, pid, day, PAYOUT, where, gross, fee, net, None, None, None, None, None, bank, "", message)
