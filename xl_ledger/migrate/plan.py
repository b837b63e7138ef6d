"""Phase 2, step 1: turn what a legacy file says (a ReadResult) into ledger events, without deciding
anything the sheet does not say.

* Students: one per spelling (variants stay apart, as phase 1 reported them). A spelling that is
  exactly the name of a student already in the studio is that student (an import in several files:
  purchases from one, lessons from another); anything else gets a new id `LEG-S001`.
* A row whose price names another currency than the studio's is held (a `foreign_currency` finding).
* Families: one `LEG-F001` per distinct parent/family text; a "family pack" of a student with a family
  is a shared product (without a family: unshared, and a note).
* Products: one per distinct (package label, unit, quantity, price), id like `LEG-10L-200`
  (10 lessons for 200), `LEG-5H` (5 hours, price unknown). No validity: legacy expiry dates are
  per row and often stale, and expiring credit during an import would silently forfeit it — a
  passed expiry is reported instead.
* History where the sheet has it: a purchase is a Sale on its date (an undated one takes the student's
  first lesson date; with no lesson it is held: the import day is never a legacy fact); a purchase row's "used" total, which has no lesson dates, is one
  attended Session of that many credits (or hours) on the latest date the row shows, pinned to the
  row's package (the session event's package_id) — consumption,
  so `used`, the Report's delivered value and owed debts come out as the sheet says; a lesson is a Session (NS → no_show, LC → late_cancel, C →
  cancelled; charged by the products' default `deduct` policy).
* Opening balances where the sheet only has a total: a stated balance for a student (and unit) with
  no purchase becomes a Sale of `LEG-OPEN-L`/`LEG-OPEN-H` of the stated remaining plus what that
  student's imported lessons consume, so the lessons keep their dates and the balance comes out as
  the sheet says (the report says so).

Every event carries reason code `migration` and the legacy cell it came from (the Log's `source`).
This module only plans: no I/O, no clock (the migration date is passed in).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from dataclasses import dataclass
from dataclasses import field
from decimal import Decimal

from xl_ledger.core import events as E
from xl_ledger.core.numbers import ZERO
from xl_ledger.core.numbers import text as num_text
from xl_ledger.migrate.records import Cell
from xl_ledger.migrate.records import Finding
from xl_ledger.migrate.records import LegacyBalanceLine
from xl_ledger.migrate.records import LegacyLesson
from xl_ledger.migrate.records import ReadResult
from xl_ledger.migrate.values import norm_header
from xl_ledger.migrate.values import read_mark
from xl_ledger.migrate.values import same_currency

REASON = "migration"
SIXTY = Decimal(60)
ONE = Decimal(1)
CHARGED = ("attended", "no_show", "late_cancel")
USED_NOTE = "used before the migration (the legacy row's total; no lesson dates)"  # the default `deduct` policy for late cancels and no-shows


@dataclass
class PlannedStudent:
    student_id: str
    name: str
    cell: Cell  # first place the spelling was seen
    existing: bool = False  # already in the studio (same exact name): no row, no event
    family_id: str | None = None  # from a parent / family / guardian column: siblings share it


@dataclass
class PlannedProduct:
    product_id: str
    name: str
    unit: str
    quantity: Decimal
    price: Decimal
    cell: Cell
    shared: bool = False  # a family pack ("family pack", "siblings") of a student with a family


@dataclass
class PlannedPackage:
    package_id: str
    student_id: str
    product_id: str
    unit: str
    quantity: Decimal
    price: Decimal
    date: dt.date
    origin: str  # purchase | balance | opening
    cells: tuple[Cell, ...]  # the legacy cells this package was read from
    stated_remaining: Decimal | None = None  # what the legacy row says is left on it
    stated_cell: Cell | None = None
    used: Decimal | None = None  # a purchase row's used total (imported as an Adjust)
    notes: list[str] = field(default_factory=list)
    shown: tuple[Cell, ...] = ()  # the cells a report shows for it (cells has every cell, for matching findings)
    used_cell: Cell | None = None  # the row's "used" total, imported as one session with this cell as its source


@dataclass
class Plan:
    """The events to append (with their legacy source cells) and the rows for the input sheets."""

    students: dict[str, PlannedStudent]  # legacy spelling -> student
    products: dict[str, PlannedProduct]
    packages: list[PlannedPackage]
    sessions: list[tuple]  # (session_id, date, minutes, student_id, status, credits, note, source, unit)
    events: list[E.Event]  # sales, adjusts and sessions, in Log order (master data is added by the importer)
    sources: list[Cell]
    notes: list[tuple[str, str, tuple[Cell, ...]]]  # (student spelling or "", message, cells): importer findings
    opening: dict[tuple[str, str], Decimal] = field(default_factory=dict)  # (student_id, unit) -> opening qty
    held: list[Finding] = field(default_factory=list)  # rows the studio's settings make unclear (a foreign currency)


class Ids:
    """Next free ids with a prefix, never reusing one the studio already has."""

    def __init__(self, taken: set[str]):
        self.taken = taken
        self.next: dict[str, int] = {}

    def new(self, prefix: str, width: int) -> str:
        n = self.next.get(prefix)
        if n is None:
            pat = re.compile(re.escape(prefix) + r"(\d+)$")
            n = 1 + max((int(m.group(1)) for t in self.taken if (m := pat.match(t))), default=0)
        self.next[prefix] = n + 1
        return f"{prefix}{n:0{width}d}"


def _unit_word(unit: str, amount: Decimal) -> str:
    return unit[:-1] if amount == ONE else unit


def unit_letter(unit: str) -> str:
    return "H" if unit == "hours" else "L"


def _n(x: Decimal) -> str:
    return num_text(x)


def lesson_charge(lesson: LegacyLesson, unit: str) -> Decimal:
    """What the engine will draw for a lesson under the default `deduct` policy (in `unit`)."""
    if lesson.mark not in CHARGED:
        return ZERO
    if unit == "hours":
        return (lesson.minutes if lesson.minutes is not None else SIXTY) / SIXTY
    return lesson.credits if lesson.credits is not None else ONE


def build_plan(result: ReadResult, *, today: dt.date, existing_students: dict[str, str], taken_ids: set[str],
               existing_products: dict[str, tuple], currency: str | None = None,
               existing_families: dict[str, str] | None = None) -> Plan:
    """`existing_students`: name -> student_id already in the studio; `taken_ids`: every student,
    package, session and product id the studio uses; `existing_products`: product_id -> (unit,
    quantity, price) of products already in the studio (a same-id legacy product must match it)."""
    ids = Ids(set(taken_ids))
    notes: list[tuple[str, str, tuple[Cell, ...]]] = []
    students: dict[str, PlannedStudent] = {}
    for name, seen in result.students.items():
        first = seen.cells[0] if seen.cells else ""
        if name in existing_students:
            students[name] = PlannedStudent(existing_students[name], name, first, existing=True)
            notes.append((name, f'"{name}" is already a student of the studio ({existing_students[name]}); '
                                "the legacy rows were added to that student.", (first,)))
        else:
            students[name] = PlannedStudent(ids.new("LEG-S", 3), name, first)
    _plan_families(students, result, ids, notes, existing_families)
    plan = Plan(students, {}, [], [], [], [], notes)
    products = _Products(plan, ids, existing_products)

    first_lesson: dict[str, dt.date] = {}
    for lesson in result.lessons:
        d = first_lesson.get(lesson.student)
        if d is None or lesson.date < d:
            first_lesson[lesson.student] = lesson.date

    usage: list[tuple[LegacyLesson, str]] = []  # (the row's usage, its package)
    for p in result.purchases:
        sid = students[p.student].student_id
        if p.currency is not None and currency is not None and not same_currency(p.currency, currency):
            cell = p.cells.get("price") or p.cells.get("paid") or p.row_cell
            plan.held.append(Finding(
                "foreign_currency",
                f"{cell}: the amount is in {p.currency}, but the studio counts in {currency}. The row is held: nothing "
                f"from this file is imported until it is answered; convert it and add a correction for "
                f'{cell.split("!", 1)[1]} such as "700", or set "currency" for the sheet in the mapping file if '
                f"the sign is a slip.", (cell, p.row_cell)))
            continue
        if p.quantity is None or p.quantity <= 0:
            notes.append((p.student, f"{p.row_cell}: the purchase has no quantity bought, so it was not imported. "
                                     "Add the quantity in the legacy file (or sell the package by hand).",
                          (p.row_cell,)))
            continue
        unit = p.unit
        if unit is None:  # the readers hold such rows already; never default to lessons here
            plan.held.append(Finding("unit_unclear", f"{p.row_cell}: the unit (hours or lessons) of this purchase is "
                                                     "not known. The row is held: nothing from this file is imported "
                                                     'until it is answered; set "unit" for the sheet in the mapping file.',
                                     (p.row_cell,)))
            continue
        price = p.price if p.price is not None else (p.paid if p.paid is not None else None)
        shared = False
        if p.shared_hint:
            if students[p.student].family_id:
                shared = True
            else:
                notes.append((p.student, f"{p.row_cell}: {p.shared_hint} sounds like a pack for the family, but "
                                         f"no parent or family column names {p.student}'s family, so it was imported "
                                         "for them alone. Add a family column (or a correction) to share it.",
                              (p.row_cell,)))
        product = products.get(p.package_label, unit, p.quantity, price, p.row_cell, shared=shared)
        date = p.purchased_on
        pkg_notes = []
        if date is None and p.student in first_lesson:
            # The pack was in use by the student's first lesson the file records: its balance holds from then.
            date = first_lesson[p.student]
            pkg_notes.append(f"the legacy row has no purchase date; dated {date.isoformat()} (the first lesson)")
        elif date is None:
            plan.held.append(_undated_purchase(p))
            continue
        if p.price is not None and p.paid is not None and p.paid < p.price:
            pkg_notes.append(f"paid {_n(p.paid)} of {_n(p.price)}; the ledger records the price, not what is still owed")
        if p.expires_on is not None and p.expires_on < today:
            pkg_notes.append(f"the legacy expiry {p.expires_on.isoformat()} has passed; legacy packages are imported "
                             "without expiry, so adjust it by hand if the credit should be forfeited")
        cells = tuple(dict.fromkeys([p.row_cell, *p.cells.values()]))
        shown = tuple(c for c in (p.cells.get("stated_remaining"), p.row_cell, p.cells.get("quantity"),
                                  p.cells.get("stated_used")) if c)
        pkg = PlannedPackage(ids.new("LEG-P", 4), sid, product.product_id, unit, p.quantity,
                             price if price is not None else ZERO, date, "purchase", cells,
                             p.stated_remaining, p.cells.get("stated_remaining"), p.stated_used, pkg_notes, shown)
        plan.packages.append(pkg)
        note = f"legacy {p.package_label or 'purchase'}" + (f", expiry {p.expires_on.isoformat()}" if p.expires_on else "") \
            + (f"; {p.note}" if p.note else "")  # the row's own note ("owes 1h!!") stays with the sale
        _add(plan, E.Sale(effective_date=date, student_id=sid, package_id=pkg.package_id, quantity=p.quantity,
                          unit=unit, amount=price, reason_code=REASON, note=note, product_id=product.product_id),
             p.row_cell)
        if p.stated_used:
            # Usage without lesson dates is consumption on the latest date the row shows (its last
            # lesson, else its purchase), never the import day: `used` reads as in the old sheet, the
            # value delivered lands in that Report month, and a debt (used > bought) stays owed.
            used_cell = pkg.used_cell = p.cells.get("stated_used", p.row_cell)
            used_on = max(d for d in (date, p.last_date) if d is not None)
            minutes, credits = (p.stated_used * SIXTY, ONE) if unit == "hours" else (None, p.stated_used)
            usage.append((LegacyLesson(p.student, used_on, minutes, credits, unit, "attended", used_cell,
                                       USED_NOTE), pkg.package_id))
            pkg.notes.append(f"{_n(p.stated_used)} {_unit_word(unit, p.stated_used)} used before the migration (the row's total, no lesson "
                             f"dates): recorded as one session on {used_on.isoformat()}, "
                             + ("its last lesson" if p.last_date and p.last_date >= date else "the purchase date"))

    _plan_balance_lines(plan, result.balance_lines, products, ids)
    session_ids = _SessionIds(ids)
    _plan_lessons(plan, result.lessons, ids, session_ids)
    _plan_lessons(plan, [u for u, _pkg in usage], ids, session_ids, [pkg for _u, pkg in usage])
    _plan_openings(plan, result, products, ids, first_lesson)
    return plan


def _undated_purchase(p) -> Finding:
    """A purchase that shows no date and no lesson of its student: which day it was bought is asked, never
    taken to be the import day (the ledger would show the pack missing at every earlier date)."""
    sheet = p.row_cell.split("!")[-2] if p.row_cell.count("!") >= 2 else ""
    where = p.date_cell or p.row_cell
    answer = (f'type the date into the cell or add a correction for {where.split("!", 1)[1]} such as "2025-01-10", or '
              if p.date_cell else "")
    return Finding("undated", f"{where}: {p.student}'s purchase ({p.package_label or _n(p.quantity or ZERO)}) shows no "
                              "date, and no lesson of theirs in the file says when it was in use. The row is held: "
                              f"nothing from this file is imported until it is answered; {answer}set "
                              f'"undated_purchases_on" for sheet "{sheet}" in the mapping file to date every such row.',
                   tuple(dict.fromkeys([where, p.row_cell])))


def _plan_families(students: dict[str, PlannedStudent], result: ReadResult, ids: Ids, notes: list,
                   existing: dict[str, str] | None) -> None:
    """One family id per distinct parent/family text (case, accents and spacing folded): siblings share it.
    A student already in the studio keeps the family the studio has."""
    by_text: dict[str, str] = {}
    members: dict[str, list[str]] = {}
    for name, (text, cell) in result.families.items():
        student = students.get(name)
        if student is None:
            continue
        if student.existing:
            have = (existing or {}).get(student.student_id)
            if have is None or have == "":
                notes.append((name, f'{cell}: the legacy file names the family "{text}", but {name} is already a '
                                    "student of the studio; set family_id on the Students sheet if it applies.", (cell,)))
            continue
        key = norm_header(text)
        fid = by_text.get(key)
        if fid is None:
            fid = by_text[key] = ids.new("LEG-F", 3)
        student.family_id = fid
        members.setdefault(fid, []).append(name)
    for text_key, fid in by_text.items():
        names = members[fid]
        cells = tuple(result.families[n][1] for n in names)
        notes.append(("", f'family {fid} ("{result.families[names[0]][0]}"): {", ".join(names)}', cells))


def _add(plan: Plan, event: E.Event, source: Cell) -> None:
    plan.events.append(event)
    plan.sources.append(source)


class _Products:
    """One product per (label, unit, quantity, price); ids from unit, quantity and price."""

    def __init__(self, plan: Plan, ids: Ids, existing: dict[str, tuple]):
        self.plan = plan
        self.ids = ids
        self.existing = existing
        self.by_key: dict[tuple, PlannedProduct] = {}

    def get(self, label: str | None, unit: str, quantity: Decimal, price: Decimal | None, cell: Cell,
            name: str | None = None, base: str | None = None, shared: bool = False) -> PlannedProduct:
        key = (label, unit, quantity, price, base, shared)
        found = self.by_key.get(key)
        if found is not None:
            return found
        if base is None:
            base = f"LEG-{_n(quantity).replace('.', '_')}{unit_letter(unit)}"
            if price is not None:
                base += f"-{_n(price).replace('.', '_')}"
            if shared:
                base += "-FAM"
        pid, k = base, 1
        used = {p.product_id for p in self.plan.products.values()}
        while pid in used or (pid in self.existing and self.existing[pid] != (unit, quantity, price or ZERO)):
            k += 1
            pid = f"{base}-{k}"
        product = PlannedProduct(pid, name or label or f"Legacy {_n(quantity)} {unit}", unit, quantity,
                                 price if price is not None else ZERO, cell, shared)
        self.by_key[key] = product
        self.plan.products[pid] = product
        return product


def _plan_balance_lines(plan: Plan, lines: tuple[LegacyBalanceLine, ...], products: _Products, ids: Ids) -> None:
    latest: dict[tuple[str, str], PlannedPackage] = {}
    for line in lines:
        student = plan.students[line.student]
        unit = line.unit or "lessons"
        source = line.cells.get("in") or line.cells.get("out") or line.cells.get("change") or \
            line.cells.get("balance") or next(iter(line.cells.values()), "")
        date = line.date  # extract holds a line it cannot date, so every line here has one
        if line.delta == 0:
            continue  # a line that moves nothing (a note, a zero correction)
        if line.delta > 0 and (line.kind == "purchase" or (student.student_id, unit) not in latest):
            opening = line.kind != "purchase"
            product = products.get(None, unit, line.delta, None, source, name=None) if not opening else \
                _opening_product(products, unit, source)
            pkg = PlannedPackage(ids.new("LEG-P", 4), student.student_id, product.product_id, unit, line.delta,
                                 ZERO, date, "balance", tuple(line.cells.values()))
            if line.dated_by:
                pkg.notes.append(f"the legacy line has no date; dated {date.isoformat()} ({line.dated_by})")
            plan.packages.append(pkg)
            latest[(student.student_id, unit)] = pkg
            _add(plan, E.Sale(effective_date=date, student_id=student.student_id, package_id=pkg.package_id,
                              quantity=line.delta, unit=unit, reason_code=REASON, note=line.note or "legacy purchase",
                              product_id=product.product_id), source)
        elif line.delta > 0 or line.kind == "adjustment":
            pkg = latest.get((student.student_id, unit))
            if pkg is None:
                plan.notes.append((line.student, f"{source}: a correction of {_n(line.delta)} before any purchase "
                                                 "was not imported; check the line.", (source,)))
                continue
            _add(plan, E.Adjust(effective_date=max(date, pkg.date), student_id=student.student_id,
                                package_id=pkg.package_id, quantity=line.delta, unit=unit, reason_code=REASON,
                                note=line.note or "legacy correction"), source)
        else:
            mark = read_mark(line.note) if line.note else None
            status = mark if mark in ("no_show", "late_cancel") else "attended"
            amount = -line.delta
            minutes, credits = (amount * SIXTY, ONE) if unit == "hours" else (None, amount)
            lesson = LegacyLesson(line.student, date, minutes, credits, unit, status, source, line.note)
            _plan_lessons(plan, (lesson,), ids)


def _opening_product(products: _Products, unit: str, cell: Cell) -> PlannedProduct:
    return products.get("opening", unit, ONE, ZERO, cell, name=f"Legacy opening balance ({unit})",
                        base=f"LEG-OPEN-{unit_letter(unit)}")


def _plan_lessons(plan: Plan, lessons, ids: Ids, session_ids: "_SessionIds | None" = None,
                  pins: list[str] | None = None) -> None:
    """Lessons as sessions. `pins`: per lesson, the package it must draw from (a purchase row's usage)."""
    students = plan.students
    sessions = plan.sessions
    events = plan.events
    sources = plan.sources
    session_ids = session_ids or _SessionIds(ids)
    for i, lesson in enumerate(lessons):
        sid = students[lesson.student].student_id
        session_id = session_ids.new()
        minutes = lesson.minutes
        credits = lesson.credits if lesson.credits is not None and lesson.unit != "hours" else ONE
        status = lesson.mark
        sessions.append((session_id, lesson.date, minutes, sid, status, credits, lesson.note, lesson.cell,
                         lesson.unit or "lessons"))
        events.append(E.SessionRecorded(effective_date=lesson.date, student_id=sid, session_id=session_id,
                                        quantity=credits, note=lesson.note, reason_code=REASON, status=status,
                                        minutes=minutes, package_id=pins[i] if pins else None))
        sources.append(lesson.cell)


class _SessionIds:
    """Session ids are the hot path (one per lesson): count locally after the first free number."""

    def __init__(self, ids: Ids):
        first = ids.new("LEG-L", 6)
        self.ids = ids
        self.n = int(first[5:])

    def new(self) -> str:
        n = self.n
        self.n += 1
        self.ids.next["LEG-L"] = self.n
        return f"LEG-L{n:06d}"


def _plan_openings(plan: Plan, result: ReadResult, products: _Products, ids: Ids,
                   first_lesson: dict[str, dt.date]) -> None:
    """A stated balance with no purchase behind it (for that student and unit) becomes an opening balance."""
    bought = {(p.student_id, p.unit) for p in plan.packages}
    by_student_unit: dict[tuple[str, str], list] = {}
    for s in result.stated_balances:
        by_student_unit.setdefault((s.student, s.unit or "lessons"), []).append(s)
    if not by_student_unit:
        return
    charges: dict[tuple[str, str], Decimal] = {}
    for lesson in result.lessons:
        key = (lesson.student, lesson.unit or "lessons")
        if key in by_student_unit:
            charges[key] = charges.get(key, ZERO) + lesson_charge(lesson, key[1])
    for (name, unit), stated in by_student_unit.items():
        student = plan.students[name]
        if (student.student_id, unit) in bought:
            continue
        remaining = stated[-1].stated_remaining
        used = charges.get((name, unit), ZERO)
        quantity = remaining + used
        cell = stated[-1].cell
        if quantity <= 0:
            plan.notes.append((name, f"{cell}: the legacy file states {_n(remaining)} {unit} left and no purchase; "
                                     "no opening balance was needed.", (cell,)))
            continue
        # Opened at the student's first lesson, or (no lesson to draw) at the latest date the file shows:
        # a stated total is the balance as of the file, never as of the import day.
        date = first_lesson.get(name) if used else result.last_date
        if date is None:
            plan.held.append(Finding("undated", f"{cell}: the legacy file states {_n(remaining)} {unit} left for {name} "
                                                "but shows no date at all, so nothing says as of when. The row is held: "
                                                "nothing from this file is imported until it is answered; add the dates "
                                                "to the file (a date column or a dated header).", (cell,)))
            continue
        product = _opening_product(products, unit, cell)
        how = f"stated remaining {_n(remaining)}" + (f" + {_n(used)} used by the imported lessons" if used else
                                                      f", dated {date.isoformat()}, the latest date the file shows")
        pkg = PlannedPackage(ids.new("LEG-P", 4), student.student_id, product.product_id, unit, quantity, ZERO, date,
                             "opening", (cell,), remaining, cell,
                             notes=[f"opening balance: the legacy file has no purchase, only a total ({how})"])
        plan.packages.append(pkg)
        plan.opening[(student.student_id, unit)] = quantity
        _add(plan, E.Sale(effective_date=date, student_id=student.student_id, package_id=pkg.package_id,
                          quantity=quantity, unit=unit, amount=ZERO, reason_code=REASON,
                          note=f"legacy opening balance ({how})", product_id=product.product_id), cell)


def with_reason(event: E.Event) -> E.Event:
    return dataclasses.replace(event, reason_code=REASON)
