"""The Post cycle: input sheets → validated events → Log → recomputed engine sheets, all or nothing.

1. Read the Log and verify its chain (a broken chain stops the post: nothing is written).
2. Read Settings, Products, Students, Staff, Reasons; check the operator against Staff.
3. Diff Settings/Products/Students/Sessions against what the Log says; each new or changed row is an
   event, each bad row a rejection shown in Alerts (with its cell).
4. Apply each new Actions row through its command (rejected rows change nothing else).
5. Auto-renew, fold, render the engine sheets; report hand-typed drift in Alerts.
6. One Change: append the Log rows, rewrite the engine sheets, mark Actions rows — committed
   atomically by the store, which also refuses if someone posted meanwhile.

With a FileStore, a checkpoint beside the workbook (book/checkpoint.py; DECISIONS.md 2026-11-21) saves
re-reading what the last post knew: its verified Log rows are used only when the Log part is byte-for-
byte the one they came from (else step 1 runs in full, so an edited Log still stops the post); an
engine sheet whose part is untouched since the engine wrote it and whose new body is the same is not
rewritten (and, untouched, cannot hold typed-over cells); Sessions rows with the same raw cells as at
the last post reuse their parse, and a Sessions part byte-for-byte as last read (every row clean) is not
read at all (diff_sessions still runs over every row, so duplicates and deleted rows are found as
before). The checkpoint is MAC'd (owner key or a per-user secret), written only after the commit
succeeded, and ignored whenever anything about it does not check out.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from dataclasses import field
from decimal import Decimal
from typing import Optional
from zoneinfo import ZoneInfo
from zoneinfo import ZoneInfoNotFoundError

from xl_ledger.book import checkpoint
from xl_ledger.book import render
from xl_ledger.book import schema
from xl_ledger.book.store import Change
from xl_ledger.book.store import SheetData
from xl_ledger.book.store import Store
from xl_ledger.book.store import check_log_row
from xl_ledger.book.store import gc_paused
from xl_ledger.core import chain
from xl_ledger.core import commands
from xl_ledger.core import inputs
from xl_ledger.core.errors import Problem
from xl_ledger.core.errors import Source
from xl_ledger.core.errors import one_line
from xl_ledger.core.journal import Journal
from xl_ledger.core.journal import row_to_entry
from xl_ledger.core.scope import Scopes
from xl_ledger.core.state import State


class PostError(Exception):
    """The post cannot run at all. Nothing was written. `str(error)` says where and what to do."""


class ChainBroken(PostError):
    """The Log no longer verifies: posting on top of it would bless the tampering."""


class NotAllowed(PostError):
    """The operator is not on the Staff sheet (or has no role that may post)."""


def check_chain(store: Store, rows: list[tuple], key: Optional[bytes]) -> None:
    _refuse_broken(store, chain.verify(rows, key))


def _refuse_broken(store: Store, broken: Optional[chain.Break]) -> None:
    if broken is not None:
        raise ChainBroken(f"{store.name}!Log!A{broken.index + 2} (seq {broken.seq}): {broken.explanation}. "
                          "Nothing was written. Run `xl-ledger verify` and restore the file from a backup.")


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


def local_today(now: dt.datetime, timezone: str) -> dt.date:
    try:
        return now.astimezone(ZoneInfo(timezone)).date()
    except (ZoneInfoNotFoundError, ValueError):
        return now.astimezone(dt.timezone.utc).date()


def _where(sheet: SheetData, p: Problem) -> str:
    if p.source.row is None:
        return f"{sheet.book}!{sheet.sheet}"
    column = p.source.column if p.source.column in sheet.headers else None
    return sheet.where(p.source.row, column)


def _alert(sheet: SheetData, p: Problem, kind: str = "rejected") -> tuple:
    value = None if p.value is None else str(p.value)[:60]
    return (kind, None, None, _where(sheet, p), one_line(p), value, None)


def post(store: Store, *, now: dt.datetime, operator: str, key: Optional[bytes] = None, dry_run: bool = False,
         as_of: Optional[dt.date] = None, today: Optional[dt.date] = None) -> PostResult:
    """Run one Post against `store`. `now` is the clock (aware UTC); the core never reads it.

    `today` overrides the studio's local date derived from `now` (a backdated run, the demo).
    """
    with gc_paused():
        return _post(store, now=now, operator=operator, key=key, dry_run=dry_run, as_of=as_of, today=today)


def _post(store: Store, *, now: dt.datetime, operator: str, key: Optional[bytes], dry_run: bool,
          as_of: Optional[dt.date], today: Optional[dt.date]) -> PostResult:
    result = PostResult()
    head = store.head()
    warm = _open_log(store, key, head)
    journal = Journal(warm.entries())
    scopes = Scopes(journal.entries)
    same_sessions = _sessions_unchanged(warm)
    sheets = {name: store.read_sheet(name) for name in ("Settings", "Products", "Students", "Staff", "Reasons",
                                                         "Sessions", "Actions")
              if not (name == "Sessions" and same_sessions)}
    if same_sessions:  # not read: its rows are only ever parsed, and the parse is cached
        sheets["Sessions"] = SheetData(store.name, "Sessions", _headers(warm.cp.sessions[0]), ())
    alerts: list[tuple] = []

    settings, problems = inputs.read_settings(sheets["Settings"].records())
    alerts += [_alert(sheets["Settings"], p) for p in problems]
    day_first = settings.date_order == "dmy"
    if same_sessions and _dmy(warm.cp.sessions[0]) != day_first:
        same_sessions = False  # the cached parses read text dates the other way round: read afresh
        sheets["Sessions"] = store.read_sheet("Sessions")
    today = today or local_today(now, settings.timezone)
    as_of = as_of or today
    staff, problems = inputs.read_staff(sheets["Staff"].records())
    alerts += [_alert(sheets["Staff"], p) for p in problems]
    role = "owner" if not staff else staff.get(operator.lower())
    if role is None:
        raise NotAllowed(f"{store.name}!Staff: {operator!r} is not on the Staff sheet, so cannot post. "
                        "Add the user with a role (owner, admin or staff), or post with --as USER.")
    reasons = inputs.read_reasons(sheets["Reasons"].records())

    def append(events, sources=None, who=operator) -> list[tuple]:
        new = journal.append(events, operator=who, recorded_at=now, sources=sources, key=key)
        for entry in journal.entries[-len(new):] if new else []:
            scopes.add(entry)
        result.new_rows += len(new)
        log_rows.extend(new)
        return new

    log_rows: list[tuple] = []
    # Master data first: later rows (sales, sessions) refer to it.
    append(commands.diff_settings(settings, scopes.settings, today), ["Settings"])
    for name, reader, differ, current in (
            ("Products", inputs.read_products, commands.diff_products, lambda: scopes.catalog(as_of).products),
            ("Students", inputs.read_students, commands.diff_students, lambda: scopes.students)):
        parsed, problems = reader(sheets[name].records())
        alerts += [_alert(sheets[name], p) for p in problems]
        events, problems = differ(parsed, current(), today)
        alerts += [_alert(sheets[name], p) for p in problems]
        append(events, [ev.note or name for ev in events])
    result.rejected += [a[3] + ": " + a[4] for a in alerts]

    # Sessions.
    outcome = _sessions_outcome_as_last_time(warm, same_sessions, day_first, as_of, log_rows)
    cached = _cached_sessions(warm) if same_sessions and outcome is None else None
    if outcome is not None:
        pairs, more, notices = [], [], outcome
        problems, session_cache, session_rows = [], warm.cp.sessions, warm.cp.sessions_rows[1]
    else:
        if cached is not None:
            parsed, problems, session_cache, session_rows = cached, [], warm.cp.sessions, warm.cp.sessions_rows[1]
        else:
            if same_sessions:  # the cached parse would not load after all: read the sheet
                sheets["Sessions"] = store.read_sheet("Sessions")
            parsed, problems, session_cache, session_rows = _read_sessions(sheets["Sessions"], warm.cp, day_first)
        pairs, more, notices = commands.diff_sessions(parsed, scopes.catalog(as_of), today)
    # What the next post may take as this one's Sessions outcome (see _sessions_outcome_as_last_time).
    clean = None if problems or more or session_rows is None else \
        (day_first, as_of, [(p.message, p.remedy) for p in notices if p.source.row is None])
    for p in problems + more:
        alerts.append(_alert(sheets["Sessions"], p))
        result.rejected.append(f"{_where(sheets['Sessions'], p)}: {one_line(p)}")
    for p in notices:
        alerts.append(_alert(sheets["Sessions"], p, "notice"))
        result.notices.append(f"{_where(sheets['Sessions'], p)}: {one_line(p)}")
    append([ev for _r, ev in pairs], [f"Sessions!{r}" for r, _ev in pairs])
    # Only its name and headers are needed from here on (to say where): let its rows go.
    sheets["Sessions"] = SheetData(store.name, "Sessions", sheets["Sessions"].headers, ())
    del parsed, pairs

    # Actions: only rows not applied yet; each one sees the effect of the rows before it.
    cells: dict[tuple[int, str], object] = {}
    actions_sheet = sheets["Actions"]
    raw_rows = list(actions_sheet.records())
    pending = [(r, raw) for r, raw in raw_rows if str(raw.get("status") or "").strip().lower() != "applied"]
    for where_row, message in edited_after_posting(raw_rows, journal):
        where = actions_sheet.where(*where_row)
        alerts.append(("notice", None, None, where, message, None, None))
        result.notices.append(f"{where}: {message}")
    parsed, problems = inputs.read_actions(pending, day_first)
    bad_rows = {}
    for p in problems:
        bad_rows.setdefault(p.source.row, p)
    for row_no, p in sorted(bad_rows.items()):
        _mark(cells, row_no, "rejected", one_line(p), None)
        result.rejected.append(f"{_where(actions_sheet, p)}: {one_line(p)}")
        alerts.append(_alert(actions_sheet, p))
    for row_no, action in parsed:
        when = action.date or today
        if action.action in commands.CATALOG_ONLY:
            state = scopes.for_selling(when)
        else:
            involved = [action.student_id, action.to_student_id, scopes.package_owner.get(action.package_id or "")]
            state = scopes.fold_for([s for s in involved if s], when)
        ctx = commands.Context(state=state, today=today, operator=operator, role=role, reasons=reasons,
                               package_ids=scopes.package_ids)
        events, problem = commands.decide(action, ctx)
        if problem is not None:
            _mark(cells, row_no, "rejected", one_line(problem), None)
            result.rejected.append(f"{_where(actions_sheet, problem)}: {one_line(problem)}")
            alerts.append(_alert(actions_sheet, problem))
            continue
        new = append(events, [f"Actions!{row_no}"] * len(events))
        _mark(cells, row_no, "applied", _describe(events), new[0][chain.SEQ])
        result.applied.append(f"Actions!{row_no}: {_describe(events)} (Log seq {new[0][chain.SEQ]})")

    # Auto-renew until nothing owed is left on an auto-renew product, then the final fold.
    state = journal.fold(as_of)
    for _round in range(20):
        ctx = commands.Context(state=state, today=today, package_ids=scopes.package_ids)
        sales = commands.auto_renew(state, today, ctx)
        if not sales:
            break
        append(sales, ["auto_renew"] * len(sales), who="xl-ledger")
        result.renewals += len(sales)
        state = journal.fold(as_of)
    result.state = state

    body = render.all_sheets(state, alerts)
    drift = find_drift(store, body, skip=warm.untouched())
    result.drift = [f"{d[3]}: typed {d[5]!r}, the ledger says {d[6]!r}" for d in drift]
    if drift:
        body[schema.ALERTS.name] = drift + body[schema.ALERTS.name]
    packed = warm.pack(body)
    rewrite = warm.changed(body, packed)
    change = Change(expected_seq=head[0], expected_hash=head[1], log_rows=tuple(log_rows), sheets=rewrite,
                    cells={"Actions": cells} if cells else {}, keep=warm.keep(rewrite) if not dry_run else {})
    result.change = change
    if not dry_run:
        # With nothing of the inputs' own in Alerts (no rejected row, notice or typed-over cell), the
        # engine sheets are exactly what `recompute` would write for this Log and date.
        pure = not alerts and not drift
        _commit(store, change, key, warm, packed, as_of if pure else None, session_cache, session_rows,
                scopes.settings.timezone, clean)
    return result


# --- the checkpoint: skip re-reading what the last post already knew (book/checkpoint.py) -----------

@dataclass
class _Warm:
    """The verified Log rows, and what the checkpoint (if genuine and current) says about the parts."""

    cp: Optional[checkpoint.Checkpoint]
    digests: Optional[dict[str, str]]  # the store's part digests now (FileStore only)
    read: Optional[list[tuple]] = None  # the rows as read from the workbook; None: the checkpoint's are current

    from_checkpoint: bool = False  # the rows are the checkpoint's (its pieces can be saved again as they are)

    # Once decoded: the rows as checkpoint pieces (with their row counts), and their head. The next
    # checkpoint is these pieces plus the new rows', so the rows themselves are dropped (a million of
    # them is GBs).
    blobs: Optional[list[bytes]] = None
    counts: Optional[list[int]] = None
    head: tuple = (0, chain.GENESIS)
    _previous: dict = field(default_factory=dict)  # sheet -> the checkpoint's body for it, unpickled

    def entries(self) -> list:
        """The Log decoded into entries. From the checkpoint a piece at a time, so that its rows are never
        all held at once; rows read from the workbook are packed into pieces for the next checkpoint and
        let go."""
        if self.read is None:
            self.from_checkpoint = True
            self.read = []
            out: list = []
            for blob in self.cp.log_blobs:
                out += map(row_to_entry, checkpoint.unpack(blob))
            if self.digests is not None:
                self.blobs, self.counts = list(self.cp.log_blobs), list(self.cp.log_counts)
        else:
            rows = self.read
            out = [row_to_entry(r) for r in rows]
            if self.digests is None:
                return out  # a store without a checkpoint (LiveStore): nothing to pack them for
            self.blobs, self.counts = checkpoint.pack_rows(rows)
            self.read = []
        self.head = (out[-1].seq, out[-1].hash) if out else (0, chain.GENESIS)
        return out

    @property
    def current(self) -> bool:
        """The checkpoint describes this very Log."""
        return self.from_checkpoint or (self.read is None and self.cp is not None)

    def untouched(self) -> set[str]:
        """Engine sheets whose part is byte-for-byte what the engine last wrote: nobody typed in them."""
        if self.cp is None or self.digests is None:
            return set()
        return {name for name, (_fp, digest) in self.cp.sheets.items() if self.digests.get(name) == digest}

    def previous(self, sheet: str) -> Optional[list[tuple]]:
        """The body the engine last wrote to `sheet` (unpickled once), or None."""
        if self.cp is None or self.digests is None:
            return None
        if sheet not in self._previous:
            self._previous[sheet] = self.cp.body(sheet)
        return self._previous[sheet]

    def pack(self, body: dict[str, list[tuple]]) -> dict[str, tuple[list[bytes], str]]:
        """Each sheet's body as checkpoint blocks with its fingerprint (stores with part digests only).
        Blocks equal to the last body's are its bytes again, so an unchanged body keeps its fingerprint."""
        if not self.digests:
            return {}
        out = {}
        for name, rows in body.items():
            previous = self.previous(name)
            blocks = checkpoint.pack_body(rows, previous, self.cp.bodies.get(name, ()) if previous else ())
            out[name] = (blocks, checkpoint.body_fingerprint(blocks))
        return out

    def changed(self, body: dict[str, list[tuple]], packed: dict[str, tuple[list[bytes], str]]
                ) -> dict[str, list[tuple]]:
        """The sheets to rewrite: all of them, less those whose part is untouched and already holds
        exactly this body."""
        same = self.untouched()
        return {name: rows for name, rows in body.items()
                if not (name in same and name in packed and self.cp.sheets[name][0] == packed[name][1])}

    def keep(self, sheets: dict[str, list[tuple]]) -> dict[str, tuple[str, list[tuple]]]:
        """Change.keep for the sheets to rewrite: the body each untouched part holds, so that the store
        writes only the rows that differ from it."""
        same = self.untouched()
        out = {}
        for name in sheets:
            body = self.previous(name) if name in same else None
            if body is not None:
                out[name] = (self.digests[name], body)
        return out


def _open_log(store: Store, key: Optional[bytes], head: Optional[tuple[int, str]]) -> _Warm:
    """The Log rows, verified: from the checkpoint when the Log part (and every part its values are
    read through) is byte-for-byte the one the checkpoint was made from, else read and verified in full."""
    digests = store.part_digests() if hasattr(store, "part_digests") else None
    cp = checkpoint.load(store.path, key) if digests is not None else None
    if cp is not None and cp.log == digests.get("Log") and (head is None or tuple(cp.head) == tuple(head)):
        return _Warm(cp, digests)  # rows unpickled only if asked for
    return _Warm(cp, digests, read_verified_rows(store, key))


def read_verified_rows(store: Store, key: Optional[bytes]) -> list[tuple]:
    """Every Log row, the chain checked (ChainBroken names the first bad row)."""
    if hasattr(store, "read_verified_log"):
        rows, broken = store.read_verified_log(key)
        _refuse_broken(store, broken)
        return rows
    rows = store.read_log()
    check_chain(store, rows, key)
    return rows


def _commit(store: Store, change: Change, key: Optional[bytes], warm: _Warm,
            packed: dict[str, tuple[list[bytes], str]],
            recomputed: Optional[dt.date], session_cache: Optional[tuple] = None,
            session_rows: Optional[list[int]] = None, timezone: Optional[str] = None,
            sessions_outcome: Optional[tuple] = None) -> None:
    """Commit, then (only once the workbook is safely written) record the new checkpoint."""
    if change.log_rows or change.sheets or change.cells:
        store.commit(change)
        digests = getattr(store, "committed", None)
    else:
        digests = warm.digests  # nothing to write: the file is as it was read
    if not digests or "Log" not in digests:
        return
    new_rows = [check_log_row(r, store.name) for r in change.log_rows]
    if warm.blobs is None:
        return  # the Log was not decoded: nothing to save it from
    # The rows as read, as checkpoint pieces, plus the new rows'.
    more, more_counts = checkpoint.pack_rows(new_rows)
    blobs, counts = checkpoint.compact(warm.blobs + more, warm.counts + more_counts)
    head = (new_rows[-1][chain.SEQ], new_rows[-1][chain.HASH]) if new_rows else tuple(warm.head)
    sheets = {name: (fp, digests[name]) for name, (_blocks, fp) in packed.items() if name in digests}
    bodies = {name: packed[name][0] for name in sheets}
    # The Sessions rows as read are still the sheet's only if its part (and what it is read through) is
    # the one read, before this commit, and still is after it.
    same = session_rows is not None and warm.digests is not None and digests.get("Sessions") is not None \
        and digests.get("Sessions") == warm.digests.get("Sessions")
    if timezone is None and warm.current:
        timezone = warm.cp.timezone
    checkpoint.save(store.path, key, checkpoint.Checkpoint(
        log=digests["Log"], head=head, log_blobs=blobs, log_counts=counts, sheets=sheets,
        body_block=checkpoint.BODY_BLOCK, bodies=bodies, recomputed=recomputed,
        timezone=timezone, sessions=session_cache,
        sessions_rows=(digests["Sessions"], session_rows) if same else None,
        sessions_outcome=sessions_outcome if same else None))


def _sessions_unchanged(warm: _Warm) -> bool:
    """The Sessions part (with every part its values are read through) is byte-for-byte the one read at
    the last post, when every row parsed cleanly: its cached parse is the sheet's, so it is not read."""
    cp = warm.cp
    if cp is None or not cp.sessions or not cp.sessions_rows or warm.digests is None:
        return False
    return cp.sessions_rows[0] == warm.digests.get("Sessions")


def _cached_sessions(warm: _Warm) -> Optional[list]:
    """The unchanged Sessions sheet's rows, parsed, from the checkpoint; None if they cannot be loaded."""
    cp = warm.cp
    row_nos = cp.sessions_rows[1]
    try:
        cache = checkpoint.unpack_map(cp.sessions[1])
    except Exception:  # pickle raises many types on a blob it cannot read
        return None
    if not isinstance(cache, dict) or len(cache) != len(row_nos):
        return None
    return list(zip(row_nos, cache.values()))


# Events that change what diff_sessions compares a row with (the students, the logged sessions, the
# closed period). Settings and products do not.
_SESSION_INPUTS = {"student_set", "session_recorded", "session_changed", "period_close"}


def _sessions_outcome_as_last_time(warm: _Warm, same_sessions: bool, day_first: bool, as_of: dt.date,
                                   appended: list[tuple]) -> Optional[list[Problem]]:
    """diff_sessions' answer without parsing or diffing a row, when it is known: the notices to show again.

    After a post whose Sessions diff rejected no row, every row matches the Log: it already did, or its
    event was appended. So while the Log is still exactly that post's (the checkpoint is current), the
    Sessions sheet is byte-for-byte the same, dates are read the same way and this post has appended
    nothing that diff_sessions compares with, the diff gives no event and no problem, and the same notices
    of deleted rows (a row's own notices come only with its events).

    The date does not matter, so the first post of a new day skips the diff too: diff_sessions reads
    `today` and the closed period only for a row that makes an event, and what it compares rows with
    (students, every logged session, the close) is in the catalog whatever its as-of date."""
    cp = warm.cp
    if not same_sessions or not warm.current or cp.sessions_outcome is None:
        return None
    was_day_first, _was_as_of, notices = cp.sessions_outcome
    if was_day_first != day_first:
        return None
    if any(row[chain.COL["kind"]] in _SESSION_INPUTS for row in appended):
        return None
    return [Problem(Source("Sessions", None, None), message, remedy) for message, remedy in notices]


_DMY = "<date_order=dmy>"  # marks a Sessions parse cache made with text dates read day-first


def _cache_key(headers: tuple, day_first: bool) -> tuple:
    return tuple(headers) + ((_DMY,) if day_first else ())


def _dmy(key: tuple) -> bool:
    return bool(key) and key[-1] == _DMY


def _headers(key: tuple) -> tuple:
    return tuple(key[:-1]) if _dmy(key) else tuple(key)


def _read_sessions(sheet: SheetData, cp: Optional[checkpoint.Checkpoint], day_first: bool = False):
    """inputs.read_sessions, except that a row whose raw values parsed cleanly at the last post reuses
    that parse (a row's parse depends on its own cells only). Duplicate ids and deleted rows are found
    later, by diff_sessions over every row, so they are caught as before. Returns (parsed, problems,
    the cache for the next checkpoint)."""
    headers = sheet.headers
    key = _cache_key(headers, day_first)
    blob = cp.sessions[1] if cp is not None and cp.sessions and tuple(cp.sessions[0]) == key else None
    try:
        cache = checkpoint.unpack_map(blob) if blob else {}
    except Exception:  # pickle raises many types on a blob it cannot read: parse every row instead
        cache, blob = {}, None
    width = len(headers)
    known, todo, keys = [], [], {}
    for row_no, values in sheet.rows:
        raw = tuple(values) + (None,) * (width - len(values))
        k = raw if bool not in map(type, raw) else ("bool",) + tuple(repr(v) if type(v) is bool else v for v in raw)
        # ^ True == 1 as a dict key, but not as a cell: a row holding a bool gets a key that says so
        keys[row_no] = k
        try:
            hit = cache.get(k)
        except TypeError:  # an unhashable value: parse it
            hit = None
        if hit is not None:
            known.append((row_no, hit))
        else:
            todo.append((row_no, raw))
    # Parsed a slice at a time (a row's parse depends on its own cells), so that a first post of a
    # big Sessions sheet does not hold a dict of every row besides the parsed rows.
    parsed, problems = [], []
    for i in range(0, len(todo), checkpoint.MAP_CHUNK):
        more, bad = inputs.read_sessions([(r, dict(zip(headers, raw))) for r, raw in todo[i:i + checkpoint.MAP_CHUNK]],
                                         day_first)
        parsed += more
        problems += bad
    del todo
    merged = sorted(known + parsed, key=lambda item: item[0])
    fresh = {keys[r]: s for r, s in merged}
    # Each cached parse's Excel row, in the cache's order: lets the next post skip reading an unchanged
    # sheet (_sessions_unchanged). Only when every row parsed and no two rows share their raw values.
    rows = [r for r, _s in merged] if not problems and len(fresh) == len(merged) else None
    if blob and not parsed and len(fresh) == len(cache):
        if rows is not None and list(cache) != list(fresh):
            rows = None  # the cache is in another order (rows moved): keep its bytes, but no row list
        return merged, problems, (key, blob), rows  # every row as last time: the same bytes will do
    return merged, problems, (key, checkpoint.pack_map(fresh)), rows


def recompute(store: Store, *, now: dt.datetime, key: Optional[bytes] = None,
              as_of: Optional[dt.date] = None, today: Optional[dt.date] = None) -> PostResult:
    """Rewrite the engine sheets from the Log alone (no inputs read, nothing appended).

    When the checkpoint says the engine sheets already are this Log's recompute for this date, and
    every one of their parts is byte-for-byte as the engine wrote it, there is nothing to do: the result
    has `up_to_date` set and no state (the Log is not even decoded)."""
    with gc_paused():
        warm = _open_log(store, key, None)
        cp = warm.cp
        if as_of is None and today is None and warm.current and cp.timezone is not None:
            as_of = local_today(now, cp.timezone)
        if as_of is not None or today is not None:
            as_of = as_of or today
            if warm.current and cp.recomputed == as_of and warm.untouched() >= set(render.SHEETS):
                head = tuple(cp.head)
                return PostResult(change=Change(expected_seq=int(head[0]), expected_hash=str(head[1])),
                                  up_to_date=as_of)
        journal = Journal(warm.entries())
        head = journal.head()
        settings = Scopes(e for e in journal.entries if e.event.kind == "settings_set").settings
        as_of = as_of or local_today(now, settings.timezone)
        state = journal.fold(as_of)
        body = render.all_sheets(state)
        drift = find_drift(store, body, skip=warm.untouched())
        if drift:
            body[schema.ALERTS.name] = drift + body[schema.ALERTS.name]
        packed = warm.pack(body)
        rewrite = warm.changed(body, packed)
        change = Change(expected_seq=int(head[0]), expected_hash=str(head[1]), sheets=rewrite,
                        keep=warm.keep(rewrite))
        cache = cp.sessions if cp is not None else None
        rows_of = cp.sessions_rows[1] if cp is not None and cp.sessions_rows \
            and cp.sessions_rows[0] == warm.digests.get("Sessions") else None  # still that sheet's
        _commit(store, change, key, warm, packed, None if drift else as_of, cache, rows_of, settings.timezone)
    return PostResult(state=state, change=change, drift=[f"{d[3]}: typed {d[5]!r}" for d in drift])


_KIND_OF_ACTION = {"sell": "sale", "top_up": "top_up", "comp": "comp"}
_COMPARED = ("package_id", "student_id", "quantity", "amount", "reason_code", "to_student_id", "days")


def edited_after_posting(raw_rows, journal: Journal) -> list[tuple[tuple[int, str], str]]:
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
        if not 1 <= seq <= len(entries) or entries[seq - 1].source != f"Actions!{row_no}":
            continue  # moved or re-sorted rows: nothing reliable to compare with
        values, problems = inputs.parse_row("Actions", row_no, raw, inputs.ACTION_FIELDS, ())
        ev = entries[seq - 1].event
        logged = {"package_id": ev.package_id, "student_id": ev.student_id, "quantity": ev.quantity,
                  "amount": ev.amount, "reason_code": ev.reason_code,
                  "to_student_id": getattr(ev, "to_student_id", None), "days": getattr(ev, "days", None)}
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


def find_drift(store: Store, body: dict[str, list[tuple]], skip: set[str] = frozenset()) -> list[tuple]:
    """Cells someone typed over in engine-owned sheets, with what was there and the ledger's value.

    Each row the engine writes ends with a fingerprint of its values; a row whose values no longer
    match it was edited by hand. Its cells are compared with the recomputed row of the same key.
    """
    out: list[tuple] = []
    for name in DRIFT_SHEETS:
        if name in skip:
            continue  # its part is byte-for-byte what the engine wrote: nothing was typed over
        sheet = store.read_sheet(name)
        headers = schema.BY_NAME[name].headers
        n = len(headers) - 1  # the last column is the fingerprint
        keyed = {(r[0], r[3]) if name == "Balances" else r[0]: r for r in body.get(name, [])}
        for excel_row, values in sheet.rows:
            values = tuple(values) + (None,) * (len(headers) - len(values))
            if not values[0] or render.fingerprint(values[:n]) == values[n]:
                continue
            expected = keyed.get((values[0], values[3]) if name == "Balances" else values[0])
            for i in range(n):
                now = expected[i] if expected else None
                if expected is not None and _same(values[i], now):
                    continue
                where = f"{store.name}!{name}!{schema.col_letter(i + 1)}{excel_row}"
                out.append(("drift", values[0] if name == "Balances" else None,
                            values[0] if name == "Packages" else None, where,
                            f"{headers[i]} was typed over; the ledger recomputes it from the Log. To change it, "
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
