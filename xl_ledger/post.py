"""The Post cycle: input sheets → validated events → Log → recomputed engine sheets, all or nothing.

`post` is one pipeline of named stages (docs/engine.md has the same numbered steps):

1. open_log      the store's Log, verified (a broken chain stops here: BrokenChainError, nothing written)
2. read_inputs   Settings, Staff, Reasons, Products, Students, Actions; the operator checked against Staff
3. master_data   Settings, Staff, Products and Students diffed against what the Log says → events
4. sessions      Sessions rows diffed against the logged sessions → events
5. actions       each new Actions row through its command; each row sees the rows before it
6. auto_renew    a new package for what is owed on an auto-renew product, until nothing is
7. fold          the state as of the post's date
8. render        the engine sheets, and hand-typed cells found in them (drift)
9. commit        one Change (Log rows, engine sheets, Actions status cells), atomic in the store

Stages 2-6 each return (events, problems), as beancount's loader does: the events they appended to the
Log (through `Posting.append`, so later rows see earlier ones) and the problems to show — a rejected row
(its own row and Alerts, with its cell, e.g. `studio.xlsm!Sessions!D14`) or a Notice (Alerts only).
What a store keeps to make this fast (FileStore's checkpoint, book/warm.py) stays behind `open_log`
and the OpenLog's `sessions`/`untouched`/`commit`; nothing here knows about it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from dataclasses import field
from decimal import Decimal
from typing import Callable
from typing import Optional

from xl_ledger.book import anchors
from xl_ledger.book import render
from xl_ledger.book import schema
from xl_ledger.book import upgrade
from xl_ledger.book.columns import check_columns
from xl_ledger.book.store import BrokenChainError
from xl_ledger.book.store import Change
from xl_ledger.book.store import OpenLog
from xl_ledger.book.store import SheetData
from xl_ledger.book.store import Store
from xl_ledger.book.store import gc_paused
from xl_ledger.core import chain
from xl_ledger.core import commands
from xl_ledger.core import inputs
from xl_ledger.core import staff as staff_rules
from xl_ledger.core.errors import Problem
from xl_ledger.core.errors import Source
from xl_ledger.core.errors import one_line
from xl_ledger.core.journal import Journal
from xl_ledger.core.kinds import AlertKind
from xl_ledger.core.scope import Scopes
from xl_ledger.core.state import State
from xl_ledger.today import local_today  # noqa: F401  (callers say post.local_today)


class PostError(Exception):
    """The post cannot run at all. Nothing was written. `str(error)` says where and what to do."""


# The Log no longer verifies: posting on top of it would bless the tampering. A store error (every store
# raises it from open_log, with one message); the name stays for callers that catch it here.
ChainBroken = BrokenChainError


class KeyNeeded(PostError):
    """The Log says it is signed with the owner's key, and no key was given. Nothing was written."""

    def __init__(self, book: str):
        super().__init__(f"{book}!Log is signed with the owner's key (its Log says so), so posting to it needs "
                         "that key: run the command again with --key-file KEYFILE. Nothing was written. (Without "
                         "the key the ledger cannot tell the owner's rows from forged ones.)")


class NotAllowed(PostError):
    """The operator is not on the Staff sheet (or has no role that may post)."""


@dataclass(frozen=True)
class Notice(Problem):
    """A problem that rejects nothing (a deleted Sessions row, an edited applied action): Alerts only."""


@dataclass
class PostResult:
    applied: list[str] = field(default_factory=list)  # one line per applied Actions row
    rejected: list[str] = field(default_factory=list)  # one line per rejected row (any sheet)
    notices: list[str] = field(default_factory=list)
    drift: list[str] = field(default_factory=list)
    new_rows: int = 0
    renewals: int = 0
    state: Optional[State] = None
    change: Optional[Change] = None
    up_to_date: Optional[dt.date] = None  # recompute only: the engine sheets already held this date's recompute

    def summary(self) -> str:
        return (f"{self.new_rows} new Log rows; {len(self.applied)} actions applied, {len(self.rejected)} rows "
                f"rejected, {self.renewals} auto-renewals, {len(self.drift)} hand-typed cells corrected")


def post(store: Store, *, now: dt.datetime, operator: str, key: Optional[bytes] = None, dry_run: bool = False,
         as_of: Optional[dt.date] = None, today: Optional[dt.date] = None,
         progress: Optional[Callable[[str], None]] = None) -> PostResult:
    """Run one Post against `store`. `now` is the clock (aware UTC); the core never reads it.

    `today` overrides the studio's local date derived from `now` (a backdated run, the demo).
    `progress`, if given, is told each stage as it starts (the CLI shows it on a terminal).
    """
    say = progress or _quiet
    with gc_paused():
        say("reading and verifying the Log")
        log = store.open_log(key)                                  # 1. open_log
        anchors.check_open(log, key)                               #    its end where the last post left it
        p = Posting(log, now=now, operator=operator, key=key)
        if key is None and p.scopes.settings.signed == "owner_key":
            raise KeyNeeded(log.name)                              #    a signed Log is extended with its key only
        say("reading the input sheets")
        p.record(read_inputs(p, as_of=as_of, today=today))         # 2. read_inputs
        p.record(master_data(p))                                   # 3. master_data
        say("checking Sessions")
        p.record(sessions(p))                                      # 4. sessions
        say("applying Actions")
        p.record(actions(p))                                       # 5. actions
        p.record(auto_renew(p))                                    # 6. auto_renew
        say("recomputing balances")
        state = p.fold()                                           # 7. fold
        body, drift = render_sheets(log, state, p.alerts, p.journal.entries)  # 8. render
        say("saving the workbook")
        commit(p, state, body, drift, dry_run=dry_run)             # 9. commit
        return p.result


def _quiet(_what: str) -> None:
    pass


class Posting:
    """What the stages of one post share: the open Log, the clock and operator, the input sheets as read,
    the Log rows appended so far, and the alerts and result lines recorded so far."""

    def __init__(self, log: OpenLog, *, now: dt.datetime, operator: str, key: Optional[bytes], doing: str = "post"):
        self.log, self.now, self.operator, self.key = log, now, operator, key
        self.doing = doing  # what the operator is doing, as messages say it ("post", "import")
        self.journal = Journal(log.entries())
        self.scopes = Scopes(self.journal.entries)
        self.sheets: dict[str, SheetData] = {}
        self.log_rows: list[tuple] = []
        self.alerts: list[tuple] = []
        self.cells: dict[tuple[int, str], object] = {}  # Actions status/message/log_seq cells to write
        self.result = PostResult()
        self.settings: Optional[inputs.Settings] = None
        self.role = "owner"
        self.staff: dict[str, str] = {}  # the Staff sheet as read: user -> role
        self.desk = staff_rules.desk_of(getattr(log, "source_tag", ""))
        self.reasons = None
        self.today: dt.date = dt.date.min
        self.as_of: dt.date = dt.date.min
        self.day_first = False
        self._folded: tuple[int, Optional[State]] = (-1, None)

    def append(self, events, sources=None, who: Optional[str] = None) -> list[tuple]:
        """Seal events onto the Log (in memory until the commit); later stages see them."""
        journal = self.journal
        tag = getattr(self.log, "source_tag", "")  # a desk of a shared ledger (pg/desk.py): whose row it is
        if tag:
            sources = [(s or "") + tag for s in sources or [""] * len(events)]
        new = journal.append(events, operator=who or self.operator, recorded_at=self.now, sources=sources,
                             key=self.key)
        for entry in journal.entries[-len(new):] if new else []:
            self.scopes.add(entry)
        self.result.new_rows += len(new)
        self.log_rows.extend(new)
        return new

    def fold(self) -> State:
        """The whole Log folded as of the post's date (folded again only after an append)."""
        n = len(self.journal.entries)
        if self._folded[0] != n:
            self._folded = (n, self.journal.fold(self.as_of))
        return self._folded[1]

    def record(self, stage: tuple[list, list[Problem]]) -> None:
        """A stage's problems, into Alerts and the result's lines, in the order they came."""
        _events, problems = stage
        for p in problems:
            sheet = self.sheets[p.source.sheet]
            notice = isinstance(p, Notice)
            self.alerts.append(_alert(sheet, p, AlertKind.NOTICE if notice else AlertKind.REJECTED))
            (self.result.notices if notice else self.result.rejected).append(f"{_where(sheet, p)}: {one_line(p)}")


# --------------------------------------------------------------------------------------- stages
INPUT_SHEETS = ("Settings", "Products", "Students", "Staff", "Reasons", "Actions")  # Sessions: its own stage


def read_inputs(p: Posting, *, as_of: Optional[dt.date], today: Optional[dt.date]) -> tuple[list, list[Problem]]:
    """2. Read the input sheets; Settings (the date, the date order), Staff (may the operator post?) and
    Reasons. Raises NotAllowed for an operator who is not on a non-empty Staff sheet."""
    p.sheets.update({name: p.log.read_sheet(name) for name in INPUT_SHEETS})
    for sheet in p.sheets.values():
        check_columns(sheet)  # a deleted or renamed column stops the post (exit 4), nothing written
    p.settings, problems = inputs.read_settings(p.sheets["Settings"].records())
    p.day_first = p.settings.date_order == "dmy"
    p.today = today or local_today(p.now, p.settings.timezone)
    p.as_of = as_of or p.today
    staff, more = inputs.read_staff(p.sheets["Staff"].records())
    try:  # no Staff rows: single-owner mode, unless the Log has known staff (then the sheet was emptied)
        role = staff_rules.role_of(p.operator, staff, bool(staff or more), p.scopes.staff.of(p.desk),
                                   p.log.name)
    except staff_rules.StaffRefused as e:
        raise NotAllowed(str(e)) from None
    if role is None:
        raise NotAllowed(f"{p.log.name}!Staff: {p.operator!r} is not on the Staff sheet, so cannot {p.doing}. "
                         f"Add the user with a role (owner, admin or staff), or {p.doing} with --as USER.")
    p.role = role
    p.staff = staff
    p.reasons = inputs.read_reasons(p.sheets["Reasons"].records())
    return [], problems + more


def master_data(p: Posting) -> tuple[list, list[Problem]]:
    """3. Settings, Products, Students and Reasons rows that differ from the Log become events. First, because
    later rows (sales, sessions) refer to them."""
    events = list(commands.diff_settings(p.settings, p.scopes.settings, p.today))
    events += commands.sign_log(p.scopes.settings, p.key is not None, p.today)
    p.append(events, ["Settings"] * len(events))
    # Role changes leave a trail: whose role, from what to what; the row says who and when (core/staff.py).
    staff_changes = staff_rules.changes(p.staff, p.scopes.staff.of(p.desk), p.today)
    for ev, row in zip(staff_changes, p.append(staff_changes, ["Staff"] * len(staff_changes))):
        p.result.notices.append(f"Staff: {staff_rules.describe(ev)} (Log seq {row[chain.SEQ]})")
    events += staff_changes
    problems: list[Problem] = []
    for name, reader, differ, current in (
            ("Products", lambda rows: inputs.read_products(rows, p.settings.currency), commands.diff_products,
             lambda: p.scopes.catalog(p.as_of).products),
            ("Students", inputs.read_students, commands.diff_students, lambda: p.scopes.students)):
        parsed, bad = reader(p.sheets[name].records())
        more, worse = differ(parsed, current(), p.today)
        p.append(more, [ev.note or name for ev in more])
        events += more
        problems += bad + worse
    more = commands.diff_reasons(inputs.read_reason_meanings(p.sheets["Reasons"].records()), p.scopes.reasons,
                                 p.today)
    p.append(more, [ev.note for ev in more])
    return events + more, problems


def sessions(p: Posting) -> tuple[list, list[Problem]]:
    """4. Sessions rows: new or changed ones become events; a deleted or edited past lesson is a notice."""
    folds: dict[str, State] = {}

    def credit(student_id: str) -> State:
        """The student's component folded to the post's date: what pay-upfront looks for credit in, and where
        a product kept to one location is checked (the catalog has no packages). Once per family, and only
        for a row that needs it."""
        key = p.scopes.component(student_id)
        if key not in folds:
            folds[key] = p.scopes.fold_for([student_id], p.as_of)
        return folds[key]

    sheet, pairs, problems, notices = p.log.sessions(
        p.day_first, p.log_rows,
        lambda parsed: commands.diff_sessions(parsed, p.scopes.catalog(p.as_of), p.today, credit))
    check_columns(sheet)  # before anything is appended from rows read without a column
    p.sheets["Sessions"] = sheet  # its name and headers (to say where); the rows are let go
    events = [ev for _r, ev in pairs]
    p.append(events, [f"Sessions!{r}" for r, _ev in pairs])
    return events, problems + [Notice(n.source, n.message, n.remedy, n.value) for n in notices]


def actions(p: Posting) -> tuple[list, list[Problem]]:
    """5. Actions rows not applied yet, each through its command; each sees the effect of the rows before
    it. The row's status/message/log_seq cells say what happened."""
    raw_rows = list(p.sheets["Actions"].records())
    problems: list[Problem] = []
    for (row, column), message in edited_after_posting(raw_rows, p.journal, getattr(p.log, "source_tag", "")):
        fixed = _logged_sale_id(row, raw_rows, p.journal) if column == "package_id" else None
        if fixed is not None:  # a sale's typed id the engine ignored (before issue 12): the cell follows the Log once
            p.cells[(row, "package_id")] = fixed
            message = f"package_id now says {fixed}, the id the Log gave this sale (the id typed here was not used)."
        problems.append(Notice(Source("Actions", row, column), message))
    pending = [(r, raw) for r, raw in raw_rows if str(raw.get("status") or "").strip().lower() != "applied"]
    parsed, bad = inputs.read_actions(pending, p.day_first, p.settings.currency)
    first_bad = {}
    for problem in bad:
        first_bad.setdefault(problem.source.row, problem)
    for row_no, problem in sorted(first_bad.items()):
        _mark(p.cells, row_no, "rejected", one_line(problem), None)
        problems.append(problem)
    events: list = []
    scopes = p.scopes
    for row_no, action in parsed:
        when = action.date or p.today
        if action.action in commands.CATALOG_ONLY:
            state = scopes.for_selling(when)
        else:
            involved = [action.student_id, action.to_student_id, scopes.package_owner.get(action.package_id or "")]
            state = scopes.fold_for([s for s in involved if s], when)
        ctx = commands.Context(state=state, today=p.today, operator=p.operator, role=p.role, reasons=p.reasons,
                               package_ids=scopes.package_ids)
        made, problem = commands.decide(action, ctx)
        if problem is not None:
            _mark(p.cells, row_no, "rejected", one_line(problem), None)
            problems.append(problem)
            continue
        new = p.append(made, [f"Actions!{row_no}"] * len(made))
        events += made
        _mark(p.cells, row_no, "applied", _describe(made), new[0][chain.SEQ])
        if action.action == "sell" and not action.package_id:
            p.cells[(row_no, "package_id")] = made[0].package_id  # the id it was given, in its own row
        p.result.applied.append(f"Actions!{row_no}: {_describe(made)} (Log seq {new[0][chain.SEQ]})")
    return events, problems


def auto_renew(p: Posting) -> tuple[list, list[Problem]]:
    """6. Auto-renew until nothing owed is left on an auto-renew product."""
    events: list = []
    for _round in range(20):
        state = p.fold()
        sales = commands.auto_renew(state, p.today, commands.Context(state=state, today=p.today,
                                                                       package_ids=p.scopes.package_ids))
        if not sales:
            break
        p.append(sales, ["auto_renew"] * len(sales), who="xl-ledger")
        p.result.renewals += len(sales)
        events += sales
    return events, []


def render_sheets(log: OpenLog, state: State, alerts: list[tuple] = (), entries=()
                  ) -> tuple[dict[str, list[tuple]], list[tuple]]:
    """8. The engine sheets' bodies, with any cells typed over by hand listed first in Alerts; and those.
    `entries` (the Log) gives the Report its money events."""
    body = render.all_sheets(state, alerts, entries)
    drift = find_drift(log, body)
    if drift:
        body[schema.ALERTS.name] = drift + body[schema.ALERTS.name]
    return body, drift


def commit(p: Posting, state: State, body: dict[str, list[tuple]], drift: list[tuple], *, dry_run: bool) -> None:
    """9. One Change: the new Log rows, the engine sheets, the Actions cells; all or nothing."""
    log = p.log
    # With nothing of the inputs' own in Alerts (no rejected row, notice or typed-over cell), the
    # engine sheets are exactly what `recompute` would write for this Log and date.
    pure = not p.alerts and not drift
    relayout = upgrade.stale_sheets(log.store, body)
    p.result.notices += [upgrade.notice(log.name, sheet, found) for sheet, found in relayout.items()]
    p.result.notices += near_limit(log, body, len(p.log_rows))
    change = Change(log.head[0], log.head[1], log_rows=tuple(p.log_rows), sheets=body,
                    cells={"Actions": p.cells} if p.cells else {},
                    money_format=schema.money_format(state.settings.currency),
                    page_headers=render.page_headers(state), relayout=relayout)
    p.result.state = state
    p.result.drift = [f"{d[3]}: typed {d[5]!r}, the ledger says {d[6]!r}" for d in drift]
    p.result.change = log.commit(change, dry_run=dry_run, recomputed=p.as_of if pure else None,
                                 timezone=p.scopes.settings.timezone)


def near_limit(log: OpenLog, body: dict[str, list[tuple]], new_rows: int = 0) -> list[str]:
    """The sheets this commit leaves past 90% of Excel's row limit (book/limits.py), the Log when it is the
    workbook's own and the engine sheets: put first in Alerts (a function of the Log and the bodies only, so
    post and recompute write the same), and returned as the command's output lines."""
    from xl_ledger.book import limits

    in_sheet = getattr(log.store, "log_in_sheet", True)
    rows = {"Log": 1 + log.head[0] + new_rows} if in_sheet else {}
    rows.update((name, 1 + len(sheet)) for name, sheet in body.items())
    near = limits.near_alerts(log.name, rows, ledger=not in_sheet)
    if near:
        body[schema.ALERTS.name] = [alert for alert, _line in near] + list(body[schema.ALERTS.name])
    return [line for _alert, line in near]


def _where(sheet: SheetData, p: Problem) -> str:
    if p.source.row is None:
        return f"{sheet.book}!{sheet.sheet}"
    column = p.source.column if p.source.column in sheet.headers else None
    return sheet.where(p.source.row, column)


def _alert(sheet: SheetData, p: Problem, kind: AlertKind = AlertKind.REJECTED) -> tuple:
    value = None if p.value is None else str(p.value)[:60]
    return (kind, None, None, _where(sheet, p), one_line(p), value, None)


def recompute(store: Store, *, now: dt.datetime, key: Optional[bytes] = None,
              as_of: Optional[dt.date] = None, today: Optional[dt.date] = None, cold: bool = False,
              progress: Optional[Callable[[str], None]] = None) -> PostResult:
    """Rewrite the engine sheets from the Log alone (no inputs read, nothing appended): stages 1, 7-9.

    When the store knows the engine sheets already are this Log's recompute for this date, there is
    nothing to do: the result has `up_to_date` set and no state (the Log is not even decoded)."""
    say = progress or _quiet
    with gc_paused():
        say("reading and verifying the Log")
        # cold: from the Log alone, whatever a store's cache says (a cache altered by someone with this
        # user's secret could otherwise keep showing its numbers)
        log = store.open_cold_log(key) if cold and hasattr(store, "open_cold_log") else store.open_log(key)
        anchors.check_open(log, key)
        if as_of is None and today is None and log.timezone() is not None:
            as_of = local_today(now, log.timezone())
        as_of = as_of or today
        if as_of is not None and log.up_to_date(as_of):
            return PostResult(change=Change(log.head[0], log.head[1]), up_to_date=as_of)
        journal = Journal(log.entries())
        settings = Scopes(e for e in journal.entries if e.event.kind == "settings_set").settings
        as_of = as_of or local_today(now, settings.timezone)
        say("recomputing balances")
        state = journal.fold(as_of)
        body, drift = render_sheets(log, state, entries=journal.entries)
        say("saving the workbook")
        relayout = upgrade.stale_sheets(log.store, body)
        near = near_limit(log, body)
        change = log.commit(Change(log.head[0], log.head[1], sheets=body,
                                   money_format=schema.money_format(state.settings.currency),
                                   page_headers=render.page_headers(state), relayout=relayout),
                            recomputed=None if drift else as_of, timezone=settings.timezone)
    return PostResult(state=state, change=change, drift=[f"{d[3]}: typed {d[5]!r}" for d in drift],
                      notices=[upgrade.notice(log.name, sheet, found) for sheet, found in relayout.items()]
                      + near)


_KIND_OF_ACTION = {"sell": "sale", "top_up": "top_up", "comp": "comp"}
_COMPARED = ("package_id", "student_id", "quantity", "amount", "reason_code", "to_student_id", "days", "payment_ref")


def edited_after_posting(raw_rows, journal: Journal, tag: str = "") -> list[tuple[tuple[int, str], str]]:
    """Applied Actions rows whose cells no longer say what their Log row recorded.

    Post skips applied rows, so an edit there would otherwise change nothing and say nothing.
    """
    out = []
    entries = journal.entries
    for row_no, raw in raw_rows:
        if str(raw.get("status") or "").strip().lower() != "applied":
            continue
        try:
            seq = int(float(raw.get("log_seq")))
        except (TypeError, ValueError):
            continue
        if not 1 <= seq <= len(entries) or entries[seq - 1].source != f"Actions!{row_no}{tag}":
            continue  # moved or re-sorted rows: nothing reliable to compare with
        values, problems = inputs.parse_row("Actions", row_no, raw, inputs.ACTION_FIELDS, ())
        ev = entries[seq - 1].event
        logged = {"package_id": ev.package_id, "student_id": ev.student_id, "quantity": ev.quantity,
                  "amount": ev.amount, "reason_code": ev.reason_code,
                  "to_student_id": getattr(ev, "to_student_id", None), "days": getattr(ev, "days", None),
                  "payment_ref": getattr(ev, "payment_ref", None)}
        kind = _KIND_OF_ACTION.get(values.get("action"), values.get("action"))
        changed = [p.source.column for p in problems]
        if kind != ev.kind and not (kind == "top_up" and ev.kind == "sale"):  # a top-up with no package sells
            changed.append("action")
        for column in _COMPARED:
            if column in values and logged.get(column) not in (None, "") and values[column] != logged[column]:
                changed.append(column)
        if changed:
            column = changed[0]
            shown = logged.get(column)
            was = f" (the Log says {shown.normalize():f})" if isinstance(shown, Decimal) else \
                (f" (the Log says {shown})" if shown else "")
            out.append(((row_no, column if column in _COMPARED or column == "action" else None),
                        f"{column} was edited after this row was posted as Log seq {seq}{was}; a posted action "
                        "never changes. Put the value back, and post a new row (an adjust, a refund…) to correct it."))
    return out


def _logged_sale_id(row_no: int, raw_rows, journal: Journal) -> Optional[str]:
    """The package id the Log gave the sale posted from this applied Actions row, or None."""
    raw = dict(raw_rows).get(row_no) or {}
    try:
        seq = int(float(raw.get("log_seq")))
    except (TypeError, ValueError):
        return None
    entries = journal.entries
    if not 1 <= seq <= len(entries) or entries[seq - 1].event.kind != "sale":
        return None
    return entries[seq - 1].event.package_id


def _mark(cells: dict, row: int, status: str, message: str, seq) -> None:
    cells[(row, "status")] = status
    cells[(row, "message")] = message[:250]
    cells[(row, "log_seq")] = seq


def _describe(events) -> str:
    ev = events[0]
    q = f" {ev.quantity.normalize():f} {ev.unit or ''}".rstrip() if ev.quantity is not None else ""
    money = f" for {ev.amount:.2f}" if ev.amount else ""
    target = f" to {ev.to_student_id} ({ev.to_package_id})" if getattr(ev, "to_student_id", "") else ""
    return f"{ev.kind} {ev.package_id or ''}{q}{money}{target}".replace("  ", " ").strip()


# --- drift: hand-typed values in engine-owned sheets ---------------------------------------------

DRIFT_SHEETS = ("Packages", "Balances")
MAX_DRIFT = 50


def _same(a: object, b: object) -> bool:
    if a in (None, "") and b in (None, ""):
        return True
    if isinstance(a, (int, float, Decimal)) and isinstance(b, (int, float, Decimal)) \
            and not isinstance(a, bool) and not isinstance(b, bool):
        return abs(Decimal(repr(a) if isinstance(a, float) else a) - Decimal(repr(b) if isinstance(b, float) else b)) \
            < Decimal("0.00005")
    if isinstance(a, dt.datetime):
        a = a.date() if a.time() == dt.time(0) else a
    if isinstance(b, dt.datetime):
        b = b.date() if b.time() == dt.time(0) else b
    return str(a) == str(b)


def find_drift(log: OpenLog, body: dict[str, list[tuple]]) -> list[tuple]:
    """Cells someone typed over in engine-owned sheets, with what was there and the ledger's value.

    Each row the engine writes ends with a fingerprint of its values; a row whose values no longer
    match it was edited by hand. Its cells are compared with the recomputed row of the same key.
    """
    out: list[tuple] = []
    skip = log.untouched()
    for name in DRIFT_SHEETS:
        if name in skip:
            continue  # the store knows it holds exactly what the engine wrote: nothing was typed over
        sheet = log.read_sheet(name)
        headers = schema.BY_NAME[name].headers
        # Cells are matched by the sheet's own header names: a sheet laid out by an earlier version
        # (book/upgrade.py) has other columns, and its rows carry that version's fingerprint, over its
        # own columns, in its own last column. Columns it lacks are not compared; those it has that
        # this version dropped neither.
        own = sheet.headers or headers
        if own[-1] != headers[-1]:
            continue  # no fingerprint column to check rows by: the post lays the sheet out again (notice)
        n = len(own) - 1  # the last column is the fingerprint
        at = [headers.index(h) if h in headers[:-1] else None for h in own[:n]]
        key = [own.index(h) if h in own else None for h in ("student_id", "family_id", "unit")] \
            if name == "Balances" else [0]
        if None in key:
            continue  # no key to find the ledger's row by: the post lays the sheet out again (notice)
        # Balances rows are keyed by student, family and unit: a family's shared pool has no student id.
        keyed = {(r[0], r[2], r[3]) if name == "Balances" else r[0]: r for r in body.get(name, [])}
        for excel_row, values in sheet.rows:
            values = tuple(values) + (None,) * (len(own) - len(values))
            k = [values[i] for i in key]
            if not (k[0] or (name == "Balances" and k[1])) or render.fingerprint(values[:n]) == values[n]:
                continue
            expected = keyed.get((k[0] or "", k[1], k[2]) if name == "Balances" else k[0])
            for i in range(n):
                if at[i] is None:
                    continue
                now = expected[at[i]] if expected else None
                if expected is not None and _same(values[i], now):
                    continue
                where = f"{log.name}!{name}!{schema.col_letter(i + 1)}{excel_row}"
                out.append((AlertKind.DRIFT, k[0] if name == "Balances" else None,
                            k[0] if name == "Packages" else None, where,
                            f"{own[i]} was typed over; the ledger recomputes it from the Log. To change it, "
                            "post an adjust action with a reason code.", _show(values[i]), _show(now)))
                if len(out) >= MAX_DRIFT:
                    return out
    return out


def _show(v: object) -> Optional[str]:
    if v is None:
        return None
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, Decimal):
        return f"{v.normalize():f}"
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()[:10] if isinstance(v, dt.date) and not isinstance(v, dt.datetime) else v.isoformat()
    return str(v)
