"""Phase 2, step 3: the reconciliation report — what the legacy file says beside what the ledger
recomputes from the imported events, for every student and package, with the cells involved.

Rows (the Migration sheet's columns, schema.MIGRATION):
  student | package | legacy_remaining | recomputed_remaining | difference | cells | finding

* one row per student and unit ("package" = "all lessons" / "all hours"): the balance the legacy
  file states (a running balance's last line, a grid's "Left" column, or the sum of a purchases
  sheet's "Remaining" cells) beside the ledger's balance minus any owed sessions;
* one row per imported package: its row's stated remaining beside the package's remaining;
* first, one row per held finding (a fact the file does not say: the import waits for its answer);
* one row per note the importer made and per phase-1 finding (name variants, unreadable cells,
  skipped totals, duplicates, …), so nothing the reader saw is lost.

`difference` = recomputed − legacy. A difference is explained, never resolved: the finding column
says what the ledger counted and repeats every phase-1 finding that touches the row's cells (a
remaining formula pointing at the wrong row, a late cancel entered twice).
"""

from __future__ import annotations

from decimal import Decimal
from typing import NamedTuple

from xl_ledger import csvsafe
from xl_ledger.core.kinds import CLOSED
from xl_ledger.core.numbers import ZERO
from xl_ledger.core.numbers import text as num_text
from xl_ledger.core.state import State
from xl_ledger.migrate.plan import Plan
from xl_ledger.migrate.plan import PlannedPackage
from xl_ledger.migrate.records import Finding
from xl_ledger.migrate.records import ReadResult

SIXTY = Decimal(60)
HEADERS = ("student", "package", "legacy_remaining", "recomputed_remaining", "difference", "cells", "finding")
MAX_CELLS = 12  # cells listed per row; the rest are counted
MAX_TEXT = 2000  # a cell's text stays readable (and far below Excel's 32,767 limit)


class _Owed(NamedTuple):
    """An owed session restated in the legacy unit (what the report reads of an allocation)."""
    student_id: str
    session_id: str
    date: object
    quantity: Decimal
    unit: str


def _n(x: Decimal | None) -> str:
    return "" if x is None else num_text(x)


def _cells(cells) -> str:
    cells = list(dict.fromkeys(c for c in cells if c))
    more = len(cells) - MAX_CELLS
    text = ", ".join(cells[:MAX_CELLS])
    return text + (f" (+{more} more)" if more > 0 else "")


def _diff(legacy: Decimal | None, recomputed: Decimal) -> Decimal | None:
    return None if legacy is None else recomputed - legacy


def _row_of(cell: str) -> str:
    """'log.csv!log!C10' -> 'log.csv!log!10': a finding about any cell of a row concerns that row."""
    bang = cell.rfind("!") + 1
    return cell[:bang] + cell[bang:].lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ")


class _Related:
    """Phase-1 findings by the rows they name, to repeat them beside the report rows built from those rows."""

    def __init__(self, findings: tuple[Finding, ...]):
        self.by_row: dict[str, list[Finding]] = {}
        for f in findings:
            for c in f.cells:
                self.by_row.setdefault(_row_of(c), []).append(f)

    def of(self, cells) -> list[Finding]:
        out: dict[int, Finding] = {}
        if not self.by_row:
            return []
        for c in cells:
            for f in self.by_row.get(_row_of(c), ()):
                out[id(f)] = f
        return list(out.values())


def legacy_as_of(plan: Plan, today) -> object:
    """The legacy file's last date: the latest date of anything imported from it (a row the import had
    to date on the import day makes that the date, so nothing imported is left out of the comparison)."""
    return max((e.effective_date for e in plan.events), default=today)


def same_as_of(journal, state: State, as_of) -> bool:
    """Whether `state` (folded as of the import day) already reads as of `as_of`: nothing is dated after
    it and no package can lapse meanwhile (legacy packs have no expiry). Saves a second fold of a big log."""
    if state.as_of == as_of:
        return True
    if any(p.expires_on is not None or p.product.period != "none" for p in state.packages.values()):
        return False
    master = ("settings_set", "product_set", "student_set", "reason_set")  # read whatever the date (fold step 1)
    return all(e.event.effective_date <= as_of or e.event.kind in master for e in journal.entries)


def build_rows(plan: Plan, result: ReadResult, state: State) -> list[tuple]:
    """`state`: the ledger folded as of the date the legacy figures are compared at (legacy_as_of)."""
    related = _Related(result.findings)
    counts = _lesson_counts(result)
    student_cells: dict[str, list[str]] = {}  # every cell of the student's rows (to match findings)
    shown: dict[str, list[str]] = {}  # one cell per row (to show)
    for p in result.purchases:
        student_cells.setdefault(p.student, []).extend([p.row_cell, *p.cells.values()])
        shown.setdefault(p.student, []).append(p.row_cell)
    for line in result.balance_lines:
        student_cells.setdefault(line.student, []).extend(line.cells.values())
        shown.setdefault(line.student, []).append(next(iter(line.cells.values()), ""))
    for s in result.stated_balances:
        student_cells.setdefault(s.student, []).append(s.cell)
    variants: dict[str, list[str]] = {}
    for name, seen in result.students.items():
        variants.setdefault(seen.match_key, []).append(name)
    lesson_units: dict[str, set] = {}
    lesson_cells: dict[str, list[str]] = {}
    for lesson in result.lessons:
        lesson_units.setdefault(lesson.student, set()).add(lesson.unit or "lessons")
        lesson_cells.setdefault(lesson.student, []).append(lesson.cell)
    for line in result.balance_lines:
        lesson_units.setdefault(line.student, set()).add(line.unit or "lessons")
    # Owed sessions, in the unit of the legacy lessons: with no package at all the engine cannot know
    # the unit and counts them in lessons, but the report speaks the legacy file's unit.
    planned = {s[0]: s for s in plan.sessions}
    owed: dict[tuple[str, str], list] = {}
    for a in state.allocations:
        if a.state != "owed":
            continue
        s = planned.get(a.session_id)
        if s is not None and s[8] != a.unit:
            unit = s[8]
            quantity = (s[2] if s[2] is not None else SIXTY) / SIXTY if unit == "hours" else s[5]
            a = _Owed(a.student_id, a.session_id, a.date, quantity, unit)
        owed.setdefault((a.student_id, a.unit or "lessons"), []).append(a)
    # A row's "used" total beyond its pack (a debt: "owes 1h!!") is owed by the session made from it.
    owed_from: dict[str, tuple[Decimal, list[str]]] = {}
    for items in owed.values():
        for a in items:
            s = planned.get(a.session_id)
            if s is not None:
                q, ids = owed_from.get(s[7], (ZERO, []))
                owed_from[s[7]] = (q + a.quantity, [*ids, a.session_id])
    owned: dict[str, list] = {}  # the ledger's packages by owner: a sibling's shared pack is not in her old row
    for p in state.packages.values():
        owned.setdefault(p.owner, []).append(p)
    packages_of: dict[str, list[PlannedPackage]] = {}
    for pkg in plan.packages:
        packages_of.setdefault(pkg.student_id, []).append(pkg)

    rows: list[tuple] = []
    for name, student in plan.students.items():
        sid = student.student_id
        label = f"{name} ({sid})"
        own = packages_of.get(sid, [])
        units = sorted({p.unit for p in own} | lesson_units.get(name, set())
                       | {s.unit or "lessons" for s in result.stated_balances if s.student == name}
                       | ({p.unit for p in state.usable_packages(sid)} if student.existing else set())) or ["lessons"]
        notices = [f"notice: {a.message}" for a in state.notices if a.student_id == sid]
        for unit in units:
            row = _student_row(label, name, sid, unit, own, result, owned.get(sid, []), owed.get((sid, unit), []), related,
                               student_cells.get(name, []), lesson_cells.get(name, []), shown.get(name, []), counts)
            key = result.students[name].match_key if name in result.students else None
            others = [o for o in variants.get(key, []) if o != name]
            if others:
                spelled = ", ".join(f'"{o}" ({plan.students[o].student_id})' for o in others)
                row = row[:6] + (f"{row[6]}; name_variant: may be the same person as {spelled}; kept apart",)
            if notices:  # e.g. a legacy "used" total that found less left once the lessons were matched
                row = row[:6] + ("; ".join([row[6], *notices])[:MAX_TEXT],)
                notices = []
            rows.append(row)
        for pkg in own:
            rows.append(_package_row(label, pkg, state, related, owed_from.get(pkg.used_cell or "")))
    for spelling, message, cells in plan.notes:
        who = f"{spelling} ({plan.students[spelling].student_id})" if spelling in plan.students else ""
        rows.append((who, None, None, None, None, _cells(cells), f"import: {message}"[:MAX_TEXT]))
    held = []
    for f in [*result.findings, *plan.held]:
        row = ("", None, None, None, None, _cells(f.cells), f"{f.kind}: {f.message}"[:MAX_TEXT])
        (held if f.held else rows).append(row)
    return held + rows  # what must be answered first comes first (a dry run shows it at the top)


def _student_row(label, name, sid, unit, own, result: ReadResult, ledger_packages: list, owed: list, related: _Related,
                 cells: list[str], lesson_cells: list[str], shown: list[str], counts: dict) -> tuple:
    stated = [s for s in result.stated_balances if s.student == name and (s.unit or "lessons") == unit]
    legacy: Decimal | None = None
    legacy_cells: list[str] = []
    source = ""
    if stated:
        legacy = sum((s.stated_remaining for s in stated), ZERO)
        legacy_cells = [s.cell for s in stated]
        source = "its stated balance"
    else:
        bought = [p for p in own if p.unit == unit and p.origin == "purchase"]
        if bought and all(p.stated_remaining is not None for p in bought):
            legacy = sum((p.stated_remaining for p in bought), ZERO)
            legacy_cells = [p.stated_cell for p in bought]
            source = "the sum of its Remaining cells"
    owed_qty = sum((a.quantity for a in owed), ZERO)
    balance = ZERO
    granted = used = ZERO
    for p in ledger_packages:
        if p.unit != unit or p.status in CLOSED:
            continue
        balance += p.remaining
        granted += p.granted + p.adjusted_out + p.transferred_in
        used += p.used + p.adjusted_out
    recomputed = balance - owed_qty
    diff = _diff(legacy, recomputed)
    parts = []
    if legacy is None:
        parts.append(f"the legacy file states no balance for {name} in {unit}")
    elif diff == 0:
        parts.append("agrees")
    else:
        parts.append(f"{name}: legacy says {_n(legacy)} {unit} remaining ({source}, {_cells(legacy_cells)}); "
                     f"the ledger recomputes {_n(recomputed)}: {_n(granted)} bought − {_n(used)} used"
                     + (f" − {_n(owed_qty)} owed" if owed_qty else "")
                     + f"; difference {_n(diff)}" + _how_lessons_count(counts, name, unit))
    if owed:
        parts.append(f"{len(owed)} session(s) ({_n(owed_qty)} {unit}) have no credit to draw from and are owed, "
                     f"first {owed[0].session_id} on {owed[0].date.isoformat()}")
    kinds = ("remaining_mismatch", "balance_mismatch", "duplicate_row", "unreadable_cell")
    for f in related.of([*legacy_cells, *cells, *lesson_cells]):
        if f.kind in kinds:
            parts.append(f"{f.kind}: {f.message}")
    return (label, f"all {unit}", legacy, recomputed, diff, _cells([*legacy_cells, *shown, *lesson_cells]),
            "; ".join(parts)[:MAX_TEXT])


def _how_lessons_count(counts: dict, name: str, unit: str) -> str:
    """What the ledger charged that a legacy sheet may not have: marks without a length, no-shows, late cancels."""
    bare, ns, lc = counts.get((name, unit), (0, 0, 0))
    said = []
    if bare:
        said.append(f"{bare} mark(s) without a length counted as 1 hour each")
    if ns or lc:
        said.append(f"{ns} no-show(s) and {lc} late cancel(s) charged (the default deduct policy)")
    return f" ({'; '.join(said)})" if said else ""


def _lesson_counts(result: ReadResult) -> dict[tuple[str, str], tuple[int, int, int]]:
    """(student, unit) -> (marks without a length, no-shows, late cancels), counted once per read."""
    counts: dict[tuple[str, str], list[int]] = {}
    for lesson in result.lessons:
        unit = lesson.unit or "lessons"
        c = counts.setdefault((lesson.student, unit), [0, 0, 0])
        if lesson.mark == "no_show":
            c[1] += 1
        elif lesson.mark == "late_cancel":
            c[2] += 1
        elif lesson.mark == "attended" and unit == "hours" and lesson.minutes is None:
            c[0] += 1
    return {k: tuple(v) for k, v in counts.items()}


def _package_row(label: str, plan_pkg: PlannedPackage, state: State, related: _Related,
                 owed: tuple[Decimal, list[str]] | None = None) -> tuple:
    pkg = state.packages.get(plan_pkg.package_id)
    recomputed = pkg.remaining if pkg is not None else ZERO
    parts = []
    if owed is not None:
        # The package is used up and the rest of its row's usage is owed: the row's remaining is the debt.
        recomputed -= owed[0]
        one = owed[0] == 1
        parts.append(f"{_n(owed[0])} {plan_pkg.unit[:-1] if one else plan_pkg.unit} used beyond the pack "
                     f"{'is' if one else 'are'} owed ({', '.join(owed[1])}), so the debt stays a debt")
    legacy = plan_pkg.stated_remaining
    diff = _diff(legacy, recomputed)
    if legacy is None:
        parts.insert(0, "the legacy file states no remaining for this package")
    elif diff == 0:
        parts.insert(0, "agrees")
    else:
        used = (pkg.used + pkg.adjusted_out) if pkg is not None else ZERO
        parts.append(f"legacy says {_n(legacy)} remaining at {plan_pkg.stated_cell}; the ledger counts "
                     f"{_n(plan_pkg.quantity)} bought − {_n(used)} used = {_n(recomputed)}; difference {_n(diff)}")
    parts.extend(plan_pkg.notes)
    for f in related.of(plan_pkg.cells):
        if f.kind != "name_variant":
            parts.append(f"{f.kind}: {f.message}")
    cells = plan_pkg.shown or plan_pkg.cells
    product = state.products.get(plan_pkg.product_id)
    name = f"{plan_pkg.package_id} {product.name}" if product else plan_pkg.package_id
    return (label, name, legacy, recomputed, diff, _cells(cells), "; ".join(parts)[:MAX_TEXT])


def disagreements(rows: list[tuple]) -> int:
    return sum(1 for r in rows if r[4] not in (None, ZERO))


def to_csv(rows: list[tuple]) -> bytes:
    """The report as CSV (UTF-8 with a BOM, so Excel opens accents right); numbers as plain text, and
    a name like `=HYPERLINK(…)` as text, never a formula (xl_ledger/csvsafe.py)."""
    return csvsafe.to_bytes(HEADERS, rows)
