"""A realistic demo studio, typed into a real workbook and posted month by month.

Forty students in families, a catalogue of hour, lesson and monthly packages, three months of weekly
lessons with late cancels, no-shows and studio cancellations, a refund, a transfer between siblings, a
freeze — and a few honest mistakes (a typo'd product, a refund without a reason, a session for a
student who does not exist) so that Actions show both `applied` and `rejected`, and Alerts explain.

Deterministic: the same seed and `today` give the same workbook content. Everything goes through the
same path a user's edits do: cells written into the input sheets, then `post()`.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from dataclasses import field
from decimal import Decimal
from pathlib import Path
from typing import Callable
from typing import Optional

from xl_ledger import newbook
from xl_ledger import post
from xl_ledger.book.filestore import FileStore
from xl_ledger.book.store import Change
from xl_ledger.core import queries
from xl_ledger.progress import prefixed

DEFAULT_TODAY = dt.date(2026, 3, 31)
OPERATOR = "owner"

SETTINGS = {"studio_name": "Riverside Music & Movement", "timezone": "America/New_York", "late_cancel_hours": 24,
            "refund_admin_fee": 15, "makeup_validity_days": 30}
# product_id, name, unit, quantity, price, extra columns
PRODUCTS = [
    ("PIANO10", "Piano: 10 lessons", "lessons", 10, 450, {"validity": "4 months", "service": "piano"}),
    ("GUIT10", "Guitar: 10 lessons", "lessons", 10, 400, {"validity": "4 months", "service": "guitar"}),
    ("TUTOR10H", "Tutoring: 10 hours", "hours", 10, 550, {"validity": "6 months", "service": "tutoring"}),
    ("PIL-MONTH", "Pilates: 4 classes a month", "lessons", 12, 270,
     {"validity": "3 months", "service": "pilates", "period": "month", "per_period": 4}),
    ("FAM20", "Family pack: 20 lessons", "lessons", 20, 780, {"validity": "6 months", "shared": "yes"}),
    ("INTRO3", "Intro offer: 3 lessons", "lessons", 3, 99, {"validity": "1 months", "intro_only": "yes"}),
]
FIRST = ["Ava", "Ben", "Chloe", "Dan", "Ella", "Finn", "Grace", "Hugo", "Isla", "Jack", "Kai", "Lily", "Max", "Nora",
         "Oscar", "Poppy", "Quinn", "Rosa", "Sam", "Tara", "Uma", "Vik", "Willa", "Xavi", "Yara", "Zac"]
LAST = ["Adams", "Baker", "Chen", "Diaz", "Evans", "Fox", "Garcia", "Hill", "Ito", "Jones", "Khan", "Lopez",
        "Murphy", "Novak", "Okafor", "Patel", "Rossi", "Silva", "Taylor", "Wong"]
SERVICES = {"PIANO10": "piano", "GUIT10": "guitar", "TUTOR10H": "tutoring", "PIL-MONTH": "pilates",
            "FAM20": "piano", "INTRO3": "guitar"}


@dataclass
class Demo:
    today: dt.date
    rnd: random.Random
    students: list[dict] = field(default_factory=list)
    sessions: list[dict] = field(default_factory=list)  # every lesson, with its row on the Sessions sheet
    actions: list[tuple[dt.date, dict]] = field(default_factory=list)


def _plan(today: dt.date, seed: int) -> Demo:
    d = Demo(today, random.Random(seed))
    rnd = d.rnd
    start = today - dt.timedelta(days=89)
    n = 0
    while n < 40:  # families of 1–3; a family with siblings usually buys the shared family pack
        size = min(rnd.choice((1, 1, 1, 2, 2, 3)), 40 - n)
        last = LAST[len({s["family_id"] for s in d.students}) % len(LAST)]
        family = f"FAM-{last.upper()}" if size > 1 else None
        shared = size > 1 and rnd.random() < 0.6
        for _ in range(size):
            n += 1
            product = "FAM20" if shared else rnd.choice(("PIANO10", "PIANO10", "GUIT10", "TUTOR10H", "PIL-MONTH"))
            d.students.append({"student_id": f"S-{n:03d}", "name": f"{FIRST[(n * 7) % len(FIRST)]} {last}",
                               "family_id": family, "email": f"{last.lower()}{n}@example.com", "product": product,
                               "weekday": rnd.randrange(6), "start": rnd.choice(("15:30", "16:30", "17:30", "18:30")),
                               "minutes": rnd.choice((45, 60, 60, 90)) if product == "TUTOR10H" else 45})
    bought: set[str] = set()
    for s in d.students:
        first_day = start + dt.timedelta(days=rnd.randrange(10))
        owner = s["student_id"]
        if s["product"] == "FAM20":  # the family's first member holds the shared pack
            owner = next(o["student_id"] for o in d.students if o["family_id"] == s["family_id"])
        if owner not in bought:
            bought.add(owner)
            d.actions.append((first_day, {"action": "sell", "date": first_day, "student_id": owner,
                                          "product_id": s["product"]}))
        _lessons(d, s, first_day)
    _family_renewals(d)
    _events(d, start)
    return d


def _lessons(d: Demo, s: dict, first_day: dt.date) -> None:
    """Weekly lessons from the first purchase to a week after today, with the usual mix of outcomes."""
    rnd = d.rnd
    day = first_day + dt.timedelta(days=(s["weekday"] - first_day.weekday()) % 7)
    used = Decimal(0)
    size = Decimal(20 if s["product"] == "FAM20" else 12 if s["product"] == "PIL-MONTH" else 10)
    while day <= d.today + dt.timedelta(days=7):
        roll = rnd.random()
        status = ("attended" if roll < 0.82 else "late_cancel" if roll < 0.87 else "no_show" if roll < 0.90
                  else "cancelled" if roll < 0.96 else "studio_cancelled")
        row = {"session_id": f"L-{len(d.sessions) + 1:04d}", "date": day, "start": s["start"],
               "minutes": s["minutes"], "student_id": s["student_id"], "service": SERVICES[s["product"]],
               "status": status, "booked_by": "client"}
        if status == "cancelled":
            row["cancelled_at"] = dt.datetime.combine(day - dt.timedelta(days=3), dt.time(10))
        if day > d.today:
            row["status"] = "scheduled"
        d.sessions.append(row)
        if status in ("attended", "late_cancel", "no_show"):
            used += Decimal(s["minutes"]) / 60 if s["product"] == "TUTOR10H" else 1
        # Most families buy again when one lesson is left; a few forget (their sessions show as owed).
        if s["product"] != "FAM20" and used >= size - 2 and rnd.random() < 0.9:
            when = min(day, d.today)
            d.actions.append((when, {"action": "sell", "date": when, "student_id": s["student_id"],
                                    "product_id": s["product"], "note": "renewal"}))
            used -= size
        day += dt.timedelta(days=7)


def _family_renewals(d: Demo) -> None:
    """A shared family pack is bought again by the family's first member when the family has used 18."""
    owner_of = {}
    for s in d.students:
        if s["product"] == "FAM20":
            owner_of.setdefault(s["family_id"], s["student_id"])
    family_of = {s["student_id"]: s["family_id"] for s in d.students if s["product"] == "FAM20"}
    used: dict[str, int] = {}
    for row in sorted(d.sessions, key=lambda r: (r["date"], r["session_id"])):
        family = family_of.get(row["student_id"])
        if family and row["status"] in ("attended", "late_cancel", "no_show", "scheduled"):
            used[family] = used.get(family, 0) + 1
            if used[family] >= 18:
                when = min(row["date"], d.today)
                d.actions.append((when, {"action": "sell", "date": when, "student_id": owner_of[family],
                                         "product_id": "FAM20", "note": "renewal"}))
                used[family] -= 20


def _events(d: Demo, start: dt.date) -> None:
    """The month's out-of-the-ordinary rows: refund, transfer, freeze, and a few mistakes."""
    singles = [s for s in d.students if s["family_id"] is None and s["product"] != "PIL-MONTH"]
    siblings = [s for s in d.students if s["family_id"] and s["product"] != "FAM20"]
    pil = [s for s in d.students if s["product"] == "PIL-MONTH"]
    m2, m3 = start + dt.timedelta(days=40), start + dt.timedelta(days=70)
    mover = singles[0]
    # package_id "?": the package the student holds when the row is typed (filled in by build()).
    d.actions.append((m2, {"action": "refund", "date": m2, "student_id": mover["student_id"], "package_id": "?",
                           "reason_code": "moved_away", "note": "moving to Leeds"}))
    d.sessions = [r for r in d.sessions if not (r["student_id"] == mover["student_id"] and r["date"] > m2)]
    d.actions = [(day, a) for day, a in d.actions
                 if not (a["student_id"] == mover["student_id"] and a.get("note") == "renewal" and day > m2)]
    if siblings:
        giver = siblings[0]
        taker = next((s for s in d.students if s["family_id"] == giver["family_id"] and s is not giver), None)
        if taker:
            d.actions.append((m2, {"action": "transfer", "date": m2, "student_id": giver["student_id"],
                                   "to_student_id": taker["student_id"], "quantity": 2, "package_id": "?",
                                   "reason_code": "family_transfer", "note": "two lessons to a sibling"}))
    if pil:
        d.actions.append((m3, {"action": "freeze", "date": m3, "student_id": pil[0]["student_id"], "days": 14, "package_id": "?",
                               "reason_code": "medical", "note": "sprained ankle"}))
    # Mistakes a busy front desk makes: each is rejected with a message in its own row.
    d.actions.append((m2, {"action": "refund", "date": m2, "student_id": singles[1]["student_id"],
                           "note": "asked at the desk"}))
    d.actions.append((m3, {"action": "sell", "date": m3, "student_id": singles[2]["student_id"],
                           "product_id": "PIANO-10"}))
    d.actions.append((m3, {"action": "sell", "date": m3, "student_id": singles[2]["student_id"],
                           "product_id": "INTRO3"}))
    d.sessions.append({"session_id": "L-9999", "date": m3, "start": "17:00", "minutes": 45, "student_id": "S-0O7",
                       "service": "piano", "status": "attended", "note": "typed the id wrong"})


def _current_package(state, student_id: str, day: dt.date):
    """The package a front desk would pick: the student's newest one bought by `day`."""
    own = [p for p in state.packages.values() if p.owner == student_id and p.purchased_on <= day]
    return max(own, key=lambda p: (p.purchased_on, p.package_id)).package_id if own else None


def _cells(headers: list[str], rows: dict[int, dict]) -> dict[tuple[int, str], object]:
    return {(r, k): v for r, row in rows.items() for k, v in row.items() if k in headers and v is not None}


def build(path: Path, *, today: dt.date = DEFAULT_TODAY, seed: int = 7,
          progress: Optional[Callable[[str], None]] = None) -> str:
    """Create the demo workbook at `path`, post it in three steps (month by month), and return a printable summary.
    `progress`, if given, is told each step (the CLI shows it on a terminal)."""
    say = progress or (lambda _what: None)
    say("planning the demo studio")
    plan = _plan(today, seed)
    say("writing the template and the studio's inputs")
    newbook.create(Path(path))
    store = FileStore(path)
    from xl_ledger.book import schema

    def write(sheet: str, rows: dict[int, dict]) -> None:
        if rows:
            store.commit(Change(*store.head(), cells={sheet: _cells(list(schema.BY_NAME[sheet].headers), rows)}))

    settings_rows = {r: row for r, row in store.read_sheet("Settings").records()}
    write("Settings", {r: {"value": SETTINGS[row["key"]]} for r, row in settings_rows.items()
                       if row["key"] in SETTINGS})
    write("Products", {i + 2: {"product_id": p, "name": n, "unit": u, "quantity": q, "price": pr, **extra}
                       for i, (p, n, u, q, pr, extra) in enumerate(PRODUCTS)})
    write("Students", {i + 2: {k: s[k] for k in ("student_id", "name", "family_id", "email")}
                       for i, s in enumerate(plan.students)})
    sessions = sorted(plan.sessions, key=lambda r: (r["date"], r["start"], r["session_id"]))
    actions = sorted(plan.actions, key=lambda a: (a[0], a[1]["action"] != "sell"))
    steps = [today - dt.timedelta(days=60), today - dt.timedelta(days=30), today]
    lines, results = [], []
    action_row = 2
    for step, day in enumerate(steps):
        # The register as it stood that day: lessons up to a week ahead, future ones still `scheduled`.
        visible = {}
        for i, row in enumerate(sessions):
            if row["date"] <= day + dt.timedelta(days=7):
                shown = dict(row)
                if row["date"] > day:
                    shown["status"] = "scheduled"
                    shown.pop("cancelled_at", None)
                visible[i + 2] = shown
        write("Sessions", visible)
        new = {}
        while actions and actions[0][0] <= day:
            row = dict(actions.pop(0)[1])
            if row.get("package_id") == "?":
                row["package_id"] = _current_package(results[-1].state, row["student_id"], row["date"])
            new[action_row] = row
            action_row += 1
        write("Actions", new)
        now = dt.datetime.combine(day, dt.time(18), dt.timezone.utc)
        result = post.post(store, now=now, operator=OPERATOR, today=day,
                           progress=prefixed(say, f"post {step + 1} of {len(steps)} ({day}): "))
        results.append(result)
        lines.append(f"  post {step + 1} ({day}): {result.summary()}")
    state = results[-1].state
    owed = len(queries.owed(state))
    last_month = today.replace(day=1) - dt.timedelta(days=1)
    stripe_csv, bank_csv = card_payments(store.open_log().entries(), last_month.replace(day=1), last_month,
                                         state.settings.currency)
    stripe_path = Path(path).with_name(f"{Path(path).stem}-stripe-payouts.csv")
    bank_path = Path(path).with_name(f"{Path(path).stem}-bank.csv")
    stripe_path.write_bytes(stripe_csv)
    bank_path.write_bytes(bank_csv)
    families = len({s["family_id"] for s in plan.students if s["family_id"]})
    summary = [
        f"Demo studio {SETTINGS['studio_name']!r} written to {path}",
        f"  {len(state.students)} students ({families} families with siblings), {len(state.products)} products, "
        f"{len(state.packages)} packages, {len(state.sessions)} sessions, {len(store.read_log())} Log rows",
        *lines,
        f"  as of {state.as_of}: liability {queries.liability(state):.2f} {state.settings.currency}, "
        f"{owed} sessions owed, {sum(a.kind == 'low_balance' for a in state.alerts)} low balances, "
        f"{sum(a.kind == 'expiring' for a in state.alerts)} packages expiring soon",
        "  Rejected rows explain themselves in Actions (status, message) and in Alerts.",
        f"  {last_month:%B}'s card payments as Stripe and the bank report them (for `xl-ledger tieout`): "
        f"{stripe_path.name}, {bank_path.name}",
        f"  Try: xl-ledger balance {path} --student {plan.students[0]['student_id']}; xl-ledger verify {path}",
    ]
    return "\n".join(summary)


def card_payments(entries, first: dt.date, last: dt.date, currency: str) -> tuple[bytes, bytes]:
    """The demo's card payments of one month as Stripe's itemized payout reconciliation report would list
    them, and the bank's deposits of those payouts: every sale and top-up a charge (fee 2.9 % + 0.30), every
    refund a refund, every chargeback a dispute (fee 15.00); paid out weekly, on the Tuesday after each
    Monday-to-Sunday week, a week that nets below zero carried into the next payout (as Stripe does).
    Made up, for trying `xl-ledger tieout` on the demo; every id says `demo`."""
    import csv
    import io

    from xl_ledger import csvsafe
    from xl_ledger.core.numbers import money

    weeks: dict[dt.date, list] = {}
    for e in entries:
        ev = e.event
        if not (first <= ev.effective_date <= last) or not ev.amount or \
                ev.kind not in ("sale", "top_up", "refund", "chargeback"):
            continue
        amount = money(ev.amount)
        if ev.kind in ("sale", "top_up"):
            category, gross, fee, what = "charge", amount, money(amount * Decimal("0.029") + Decimal("0.30")), \
                f"{getattr(ev, 'product_id', '') or 'top-up'} {ev.student_id}"
        elif ev.kind == "refund":
            category, gross, fee, what = "refund", -amount, Decimal("0.00"), f"REFUND {ev.package_id}"
        else:
            category, gross, fee, what = "dispute", -amount, Decimal("15.00"), f"DISPUTE {ev.package_id}"
        day = ev.effective_date
        monday = day - dt.timedelta(days=day.weekday())
        weeks.setdefault(monday, []).append([f"txn_demo_{e.seq:05d}", f"{day.isoformat()} {10 + e.seq % 8:02d}:"
                                             f"{e.seq % 60:02d}:00", gross, fee, gross - fee, category,
                                             f"ch_demo_{e.seq:05d}", what])
    rows, bank, pending = [], [], []
    for monday in sorted(weeks):
        pending += sorted(weeks[monday], key=lambda r: (r[1], r[0]))
        net = sum((r[4] for r in pending), Decimal(0))
        if net <= 0 and monday != max(weeks):
            continue  # a negative balance is taken from the next payout
        arrival = monday + dt.timedelta(days=8)
        for r in pending:
            rows.append([f"po_demo_{arrival:%Y%m%d}", f"{arrival.isoformat()} 00:00:00", r[0], r[1], currency.lower(),
                         f"{r[2]:.2f}", f"{r[3]:.2f}", f"{r[4]:.2f}", r[5], r[6], csvsafe.escape(r[7])])
        bank.append([arrival.isoformat(), "STRIPE TRANSFER", f"{net:.2f}"])
        pending = []

    def text(headers, body) -> bytes:
        out = io.StringIO(newline="")
        w = csv.writer(out, lineterminator="\r\n")
        w.writerow(headers)
        w.writerows(body)
        return out.getvalue().encode("utf-8")

    return (text(("automatic_payout_id", "automatic_payout_effective_at", "balance_transaction_id", "created",
                  "currency", "gross", "fee", "net", "reporting_category", "charge_id", "description"), rows),
            text(("date", "description", "amount"), bank))
