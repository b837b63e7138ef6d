"""Phase 2: import a legacy tracking file into a studio workbook, in one all-or-nothing commit.

    report = import_legacy("tracking.xlsx", "studio.xlsm", operator="maria", now=now)

1. Read the legacy file (phase 1; hostile files are refused here, before the studio is touched).
2. Open the studio's Log as Post does (verified), refuse a second import of the same file.
3. Plan (plan.py): students, products, sales, adjustments, sessions and opening balances, each event
   with reason code `migration` and its legacy cell as the Log's `source`.
4. Append the events, fold, render the engine sheets as Post does (post.render_sheets) and the
   Migration report (reconcile.py).
5. One Change, committed through the open Log as Post commits: the Log rows, the engine sheets, the Migration sheet, and the new rows of the input
   sheets (Students, Products, Sessions) written exactly as the next Post will read them, so that
   Post finds nothing to add and no session "deleted".
6. Then, outside the workbook: the report as CSV beside it (`studio.migration.csv`) and the detected
   mapping beside the legacy file (`tracking.xlsx.xl-ledger-mapping.json`) for the next run.

`dry_run=True` does all of it in memory and writes nothing at all (not even the mapping); the report
says where the mapping would be saved.
"""

from __future__ import annotations

import copy
import datetime as dt
import os
import time
from dataclasses import dataclass
from dataclasses import field
from decimal import Decimal
from pathlib import Path
from typing import Callable
from typing import Optional

from xl_ledger.book import anchors
from xl_ledger.book import schema
from xl_ledger.book.columns import check_columns
from xl_ledger.book.filestore import FileStore
from xl_ledger.book.store import Change
from xl_ledger.book.store import Store
from xl_ledger.book.store import cell_value
from xl_ledger.core import commands
from xl_ledger.core import events as E
from xl_ledger.core import inputs
from xl_ledger.core import staff as staff_rules
from xl_ledger.core.kinds import Role
from xl_ledger.core.state import Alert
from xl_ledger.migrate import reconcile
from xl_ledger.migrate.mapping import load_mapping
from xl_ledger.migrate.mapping import mapping_path_for
from xl_ledger.migrate.mapping import save_mapping
from xl_ledger.migrate.plan import REASON
from xl_ledger.migrate.plan import Plan
from xl_ledger.migrate.plan import build_plan
from xl_ledger.migrate.plan import with_reason
from xl_ledger.migrate.reader import read_legacy
from xl_ledger.migrate.sources import DEFAULT_LIMITS
from xl_ledger.migrate.sources import Limits
from xl_ledger.migrate.sources import no_gc
from xl_ledger.post import Posting
from xl_ledger.post import read_inputs
from xl_ledger.post import render_sheets


class ImportRefused(Exception):
    """The studio workbook cannot take this import. Nothing was written. `str(error)` says why and what
    to do; `reason` is one of "already_imported", "not_allowed", "held" (rows wait for the mapping or the
    file to say what they mean). A broken Log chain is the store's BrokenChainError, with Post's message."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


@dataclass
class ImportReport:
    legacy: Path
    studio: str
    dry_run: bool
    migration_date: dt.date
    mapping_path: Path
    mapping_status: str  # saved | reused | given | would be saved | not saved
    students: int = 0
    products: int = 0
    packages: int = 0
    sessions: int = 0
    log_rows: int = 0
    rows: list[tuple] = field(default_factory=list)  # the Migration sheet's rows
    findings: int = 0
    disagreements: int = 0
    held: int = 0  # rows that wait for an answer (dry run only: a real import with any is refused)
    as_of: Optional[dt.date] = None  # the date the reconciliation compares at: the legacy file's last date
    csv_path: Optional[Path] = None
    warnings: list[str] = field(default_factory=list)  # files beside that could not be written after the commit
    seconds: dict[str, float] = field(default_factory=dict)  # per phase: read, studio, plan, append, fold, report, commit

    def summary(self) -> str:
        verb = "would import" if self.dry_run else "imported"
        return (f"{self.legacy.name} → {self.studio}: {verb} {self.students} students, {self.products} products, "
                f"{self.packages} packages, {self.sessions} sessions ({self.log_rows} Log rows, reason "
                f"'{REASON}'); {self.disagreements} balances disagree with the legacy file; "
                f"{self.findings} findings to review"
                + (f"; {self.held} rows held until the mapping or the file says what they mean." if self.held else "."))

    def lines(self) -> list[str]:
        """What the CLI prints: the summary, where things went, then every report row."""
        out = [self.summary()]
        if self.dry_run:
            out.append("Dry run: nothing was written (not the studio, not the report CSV, not the mapping).")
        out.append(f"Mapping: {self.mapping_path} ({self.mapping_status}).")
        if self.csv_path is not None:
            out.append(f"Reconciliation: the Migration sheet of {self.studio} and {self.csv_path}.")
        if self.as_of is not None:
            out.append(f"Legacy figures are compared as of {self.as_of.isoformat()}, the legacy file's last date.")
        out.extend(f"Warning: {w}" for w in self.warnings)
        for r in self.rows:
            numbers = ""
            if r[2] is not None or r[3] is not None:
                numbers = f" legacy {_show(r[2])}, recomputed {_show(r[3])}, difference {_show(r[4])};"
            head = " / ".join(x for x in (r[0], r[1]) if x)
            out.append(f"  {head + ':' if head else ''}{numbers} {r[6]} [{r[5]}]".replace("  ", "  ", 1))
        return out


def _show(x) -> str:
    return "-" if x is None else reconcile._n(x)


def import_legacy(legacy_path: str | os.PathLike, studio: str | os.PathLike | Store, *,
                  operator: str, now: dt.datetime, mapping_path: str | os.PathLike | None = None,
                  day_first: bool | None = None, dry_run: bool = False, key: bytes | None = None,
                  limits: Limits = DEFAULT_LIMITS, progress: Callable[[str], None] | None = None) -> ImportReport:
    """Import `legacy_path` into `studio` (a workbook path, or any Store such as the live-Excel one).

    Raises LegacyFileError (the legacy file is unreadable or hostile), ImportRefused (the studio
    cannot take it), or the store's StoreError (locked, damaged, changed meanwhile). On any error
    nothing is written anywhere. `progress`, if given, is told each step (the CLI shows it on a terminal).
    """
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime (the clock is passed in)")
    # Tens of thousands of acyclic rows, events and entries are built below: the cyclic GC's full
    # collections would re-walk all of them again and again (measured: a third of a 50k-row import).
    with no_gc():
        return _import(legacy_path, studio, operator=operator, now=now, mapping_path=mapping_path,
                       day_first=day_first, dry_run=dry_run, key=key, limits=limits,
                       say=progress or (lambda _what: None))


def _import(legacy_path, studio, *, operator: str, now: dt.datetime, mapping_path, day_first, dry_run: bool,
            key: bytes | None, limits: Limits, say: Callable[[str], None]) -> ImportReport:
    legacy = Path(legacy_path)
    clock = _Clock()
    say(f"reading {legacy.name}")
    # 1. the legacy file, before anything else: a refusal here has touched nothing.
    mapping = load_mapping(mapping_path) if mapping_path is not None else None
    saved = mapping_path_for(legacy)
    if mapping_path is not None:
        where, status = Path(mapping_path), "given"
    elif saved.exists():
        where, status = saved, "reused"
    else:
        where, status = saved, "would be saved" if dry_run else "saved"
    result = read_legacy(legacy, mapping=mapping, day_first=day_first, save=False, limits=limits)
    clock.lap("read")

    # 2. the studio: its Log opened as Post opens it (stage 1; a broken chain is the store's BrokenChainError).
    store: Store = FileStore(studio) if isinstance(studio, (str, os.PathLike)) else studio
    say("reading and verifying the Log")
    log = store.open_log(key)
    anchors.check_open(log, key)  # a Log cut short is refused here too (exit 1)
    # Post's stage 2 reads the input sheets and checks their columns (a deleted or renamed one stops the
    # import, exit 4) and the operator (not on Staff: post.NotAllowed, exit 6), with Post's messages.
    p = Posting(log, now=now, operator=operator, key=key, doing="import")
    journal = p.journal
    _refuse_second_import(store.name, legacy.name, journal.entries)
    read_inputs(p, as_of=None, today=None)
    sheets = {**p.sheets, "Sessions": log.read_sheet("Sessions")}
    check_columns(sheets["Sessions"])
    settings, today = p.settings, p.today
    if p.role not in (Role.OWNER, Role.ADMIN):
        raise ImportRefused(f"{store.name}!Staff: {operator!r} is {p.role}; an import adds sales and corrections, "
                            "so it needs the owner or an admin. Nothing was imported.", "not_allowed")
    before = journal.fold(today)
    clock.lap("studio")

    # 3. the plan.
    say("planning the import")
    taken = set(before.students) | set(before.sessions) | set(before.products)
    taken |= {e.event.package_id for e in journal.entries if e.event.package_id}
    taken |= {getattr(e.event, "to_package_id", "") for e in journal.entries} - {""}
    taken |= {s.family_id for s in before.students.values() if s.family_id}
    sheet_ids = {n: {str(v[0]).strip() for _r, v in sheets[n].rows if v and v[0] is not None}
                 for n in ("Products", "Students", "Sessions")}
    taken |= sheet_ids["Products"] | sheet_ids["Students"] | sheet_ids["Sessions"]
    existing_products: dict[str, tuple | None] = {pid: None for pid in sheet_ids["Products"]}
    existing_products.update({pid: (p.unit, p.quantity, p.price) for pid, p in before.products.items()})
    plan = build_plan(result, today=today, taken_ids=taken, existing_products=existing_products,
                      existing_students={s.name: sid for sid, s in before.students.items()}, currency=settings.currency,
                      existing_families={sid: s.family_id for sid, s in before.students.items()})
    held = result.held() + plan.held
    if held and not dry_run:
        _refuse_held(store.name, legacy, held, result.mapping, where if status == "saved" else None)

    # 4. events: master data first (the studio's own unposted Settings too, as Post would), then history.
    cells: dict[str, dict[tuple[int, str], object]] = {}
    events: list[E.Event] = []
    sources: list[str] = []
    for ev in commands.diff_settings(settings, before.settings, today):
        events.append(ev)
        sources.append("Settings")
    for ev in staff_rules.changes(p.staff, p.scopes.staff.of(p.desk), today):  # a trail, as in a post
        events.append(ev)
        sources.append("Staff")
    product_events, student_events = _master_data(plan, before, sheets, cells, today)
    for ev, source in product_events + student_events:
        events.append(with_reason(ev))
        sources.append(source)
    events.extend(plan.events)
    sources.extend(plan.sources)
    _session_cells(plan, sheets["Sessions"], cells)
    clock.lap("plan")
    say(f"sealing {len(events):,} Log rows")
    new_rows = journal.append(events, operator=operator, recorded_at=now, sources=sources, key=key)
    clock.lap("append")
    say("recomputing balances")
    state = journal.fold(today)
    clock.lap("fold")
    # The old sheet's figures are compared as of its own last date (a legacy pack may expire later).
    as_of = reconcile.legacy_as_of(plan, today)
    rows = reconcile.build_rows(plan, result, state if reconcile.same_as_of(journal, state, as_of) else journal.fold(as_of))

    body, _drift = render_sheets(log, _owed_in_summary(state), entries=journal.entries)  # Post's stage 8
    body[schema.MIGRATION.name] = rows
    clock.lap("report")
    report = ImportReport(legacy, store.name, dry_run, today, where, status,
                          students=sum(1 for s in plan.students.values() if not s.existing),
                          products=len(product_events), packages=len(plan.packages), sessions=len(plan.sessions),
                          log_rows=len(new_rows), rows=rows, findings=len(result.findings) + len(plan.notes),
                          disagreements=reconcile.disagreements(rows), seconds=clock.laps, held=len(held), as_of=as_of)
    if dry_run:
        return report

    # 5. one commit; 6. then the files beside.
    say("saving the workbook")
    log.commit(Change(log.head[0], log.head[1], log_rows=tuple(new_rows), sheets=body, cells=cells))  # stage 9
    clock.lap("commit")
    # The import is committed; a file beside that cannot be written is a warning, not a failure.
    path = getattr(store, "path", None)
    if path is not None:
        csv_path = Path(path).with_name(Path(path).stem + ".migration.csv")
        try:
            _write_atomically(csv_path, reconcile.to_csv(rows))
            report.csv_path = csv_path
        except OSError as e:
            report.warnings.append(f"the import is done, but {csv_path} could not be written ({e.strerror}); "
                                   f"the Migration sheet of {store.name} holds the same report.")
    if status == "saved":
        try:
            save_mapping(result.mapping, where)
        except OSError as e:
            report.mapping_status = "not saved"
            report.warnings.append(f"the import is done, but the mapping could not be saved to {where} ({e.strerror}).")
    return report


class _Clock:
    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self.t = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round(now - self.t, 4)
        self.t = now


def _refuse_second_import(book: str, legacy_name: str, entries: list[E.Entry]) -> None:
    prefix = f"{legacy_name}!"
    for entry in entries:
        if entry.event.reason_code == REASON and entry.source.startswith(prefix):
            raise ImportRefused(
                f"{book} already holds an import of {legacy_name} (Log seq {entry.seq}, recorded "
                f"{entry.recorded_at}). Importing it again would count every purchase and lesson twice, "
                "so nothing was imported. To redo it, start again from a copy of the studio taken before the import.",
                "already_imported")


def _refuse_held(book: str, legacy: Path, held, mapping, save_to: Path | None) -> None:
    """Rows the importer cannot read without guessing (no year, no unit, another currency, cells that
    disagree): nothing is imported. The mapping is saved so that its corrections can answer them."""
    saved = ""
    if save_to is not None:
        try:
            save_mapping(mapping, save_to)
            saved = f" The mapping was saved to {save_to}: answer them there (\"corrections\", or a sheet's \"unit\", \"yearless_from\", \"currency\", \"undated_purchases_on\", \"pack_repeats\"; each finding says which) or in {legacy.name}, then run the import again."
        except OSError:
            pass
    lines = "\n".join(f"  {f.kind}: {f.message}" for f in held)
    raise ImportRefused(f"{legacy.name}: {len(held)} row(s) say something the importer cannot know, so nothing was "
                        f"imported and {book} is unchanged.{saved}\n{lines}", "held")


def _next_row(sheet) -> int:
    return max((r for r, _v in sheet.rows), default=1) + 1


def _master_data(plan: Plan, before, sheets, cells, today: dt.date):
    """New products and students: the input-sheet rows, and the events Post would make of them."""
    product_rows = []
    row = _next_row(sheets["Products"])
    sources = {}
    for p in plan.products.values():
        if p.product_id in before.products:
            continue  # the same product is already in the studio
        raw = {"product_id": p.product_id, "name": _safe_text(p.name), "unit": p.unit, "quantity": p.quantity,
               "price": p.price, "active": "yes", **({"shared": "yes"} if p.shared else {})}
        product_rows.append((row, {k: cell_value(v) for k, v in raw.items()}))
        cells.setdefault("Products", {}).update({(row, k): v for k, v in raw.items()})
        sources[row] = p.cell
        row += 1
    parsed, problems = inputs.read_products(product_rows)
    _assert_clean(problems)
    events, problems = commands.diff_products(parsed, before.products, today)
    _assert_clean(problems)
    product_events = [(ev, sources[int(ev.note.split("!")[1])]) for ev in events]

    student_rows = []
    row = _next_row(sheets["Students"])
    for s in plan.students.values():
        if s.existing:
            continue
        raw = {"student_id": s.student_id, "name": _safe_text(s.name), "active": "yes",
               **({"family_id": s.family_id} if s.family_id else {})}
        student_rows.append((row, {k: cell_value(v) for k, v in raw.items()}))
        cells.setdefault("Students", {}).update({(row, k): v for k, v in raw.items()})
        sources[("s", row)] = s.cell
        row += 1
    parsed, problems = inputs.read_students(student_rows)
    _assert_clean(problems)
    events, problems = commands.diff_students(parsed, before.students, today)
    _assert_clean(problems)
    student_events = [(ev, sources[("s", int(ev.note.split("!")[1]))]) for ev in events]
    return product_events, student_events


def _assert_clean(problems) -> None:
    if problems:  # the plan builds these rows itself: a problem here is a bug, not the user's data
        raise AssertionError("; ".join(str(p) for p in problems))


def _safe_text(text: str) -> str:
    """A text that starts with '=' would read back as 'a formula typed as text' and be rejected by the next
    Post; a leading space keeps it text (inputs strip it again, so the logged value is unchanged)."""
    return " " + text if text.startswith("=") else text


def _session_cells(plan: Plan, sheet, cells) -> None:
    """Sessions rows exactly as the SessionRecorded events say (blank = the column's default)."""
    if not plan.sessions:
        return
    out = cells.setdefault("Sessions", {})
    row = _next_row(sheet)
    one = 1
    for session_id, date, minutes, student_id, status, credits, note, _source, _unit in plan.sessions:
        out[(row, "session_id")] = session_id
        out[(row, "date")] = date
        out[(row, "student_id")] = student_id
        out[(row, "status")] = status
        if minutes is not None:
            out[(row, "minutes")] = minutes
        if credits != one:
            out[(row, "credits")] = credits
        if note:
            out[(row, "note")] = _safe_text(note)
        row += 1


OWED_LISTED = 10  # owed sessions per student and unit listed one by one on the import's Alerts sheet


def _owed_in_summary(state):
    """The state the import renders its Alerts sheet from: a student's owed sessions in one alert once
    there are more than OWED_LISTED of them (per unit). A legacy log without purchases owes every
    lesson, and tens of thousands of one-line alerts say less than "1,250 sessions from … to … have no
    credit". Each owed session is still on the Allocations sheet, and the next Post renders Alerts from
    the Log again, one row per session. Returns `state` itself when nothing is summarised, else a
    shallow copy with other alerts."""
    owed: dict[tuple, list] = {}
    for a in state.allocations:
        if a.state == "owed":
            owed.setdefault((a.student_id, a.unit), []).append(a)
    many = {key for key, items in owed.items() if len(items) > OWED_LISTED}
    if not many:
        return state
    many_students = {sid for sid, _unit in many}
    kept = [a for a in state.alerts if a.kind != "owed" or a.student_id not in many_students]
    for (sid, unit), items in owed.items():
        if sid not in many_students:
            continue
        if (sid, unit) not in many:  # the same student's few owed sessions in another unit: listed as usual
            wheres = {f"Sessions {i.session_id}" for i in items}
            kept.extend(a for a in state.alerts if a.kind == "owed" and a.student_id == sid and a.where in wheres)
            continue
        first = min(items, key=_when)
        last = max(items, key=_when)
        total = sum((a.quantity for a in items), Decimal(0))
        kept.append(Alert("owed", sid, None, f"Sessions {first.session_id} … {last.session_id}",
                          f"{len(items):,} sessions from {first.date.isoformat()} to {last.date.isoformat()} have no "
                          f"credit: {total.normalize():f} {unit or 'lessons'} owed (each is on the Allocations sheet; "
                          "the next Post lists them one by one here)"))
    view = copy.copy(state)
    view.alerts = kept
    return view


def _when(a) -> tuple:
    return a.date, a.session_id


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
