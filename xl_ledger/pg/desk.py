"""A front desk: one workbook of several posting into one ledger (PostgreSQL).

Each desk's Log rows carry its name in their `source` (`Actions!12@frontdesk`), so every desk can tell
whose rows are whose. Before the Post cycle reads an input sheet, DeskStore brings it up to date with
the ledger by a three-way comparison per row key (setting key, product_id, student_id, session_id):

- base: what the ledger said when this workbook was last posted (its Log mirror ends there),
- now: what the ledger says,
- mine: what the sheet says.

When the ledger has not changed a key since `base`, the sheet's row is this desk's to change: the Post
cycle logs it as usual. When it has changed (another desk posted it), a row still as it was at `base`
(or missing) takes the ledger's values, and a row already equal to them is left alone; a row changed here
too is a conflict: the other desk posted first, so this desk's change is rejected. The row is reset to the
ledger's values, its `desk` cell and Alerts say what happened and what to do, and nothing is logged for it.

Sessions and Actions rows another desk recorded are added at the end of this workbook's sheets with
their desk, so a desk never sees another's rows as deleted. An Actions row of this desk that the ledger
already holds past the mirror's end (the database committed, then the workbook could not be written) is
marked applied instead of being applied again: every action is applied exactly once.

`post_at_desk` runs the Post cycle and, when another desk appended first (StaleLogError), runs it again
on the new state.
"""

from __future__ import annotations

import datetime as dt
import random
import re
import time
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Optional

from xl_ledger import post as post_cycle
from xl_ledger.book import schema
from xl_ledger.book.store import Change
from xl_ledger.book.store import OpenLog
from xl_ledger.book.store import SheetData
from xl_ledger.book.store import StaleLogError
from xl_ledger.core import commands
from xl_ledger.core import events as E
from xl_ledger.core import inputs
from xl_ledger.core.scope import Scopes
from xl_ledger.pg.log import PgLog
from xl_ledger.pg.store import PgStore

_TAGGED = re.compile(r"^(.*)@([^@]*)$")
FORMER = "(before)"  # rows logged before the ledger had desks (copied in from a workbook)


def changed_since(entries) -> dict[str, set]:
    """Per input sheet, the keys the ledger changed in these entries (the ones past a workbook's mirror)."""
    out: dict[str, set] = {"Settings": set(), "Products": set(), "Students": set(), "Sessions": set(),
                           "Reasons": set(), "Staff": set()}
    for entry in entries:
        ev = entry.event
        kind = type(ev)
        if kind is E.SessionRecorded or kind is E.SessionChanged:
            out["Sessions"].add(ev.session_id)
        elif kind is E.ProductSet:
            out["Products"].add(ev.values.get("product_id"))
        elif kind is E.StudentSet:
            out["Students"].add(ev.student_id)
        elif kind is E.SettingsSet:
            out["Settings"].update(ev.values)
        elif kind is E.ReasonSet:
            out["Reasons"].add(ev.values.get("reason_code"))
        elif kind is E.StaffSet:
            out["Staff"].add(ev.values.get("user"))
    return out


def desk_of(source: str) -> str:
    m = _TAGGED.match(source or "")
    return m.group(2) if m else FORMER


def plain_source(source: str) -> str:
    m = _TAGGED.match(source or "")
    return m.group(1) if m else (source or "")


def default_desk(path) -> str:
    """A desk is named after its workbook unless Settings or --desk say otherwise."""
    return re.sub(r"[^\w.-]+", "-", Path(path).stem)[:40] or "desk"


_ACTION_OF_KIND = {"sale": "sell", "top_up": "top_up", "comp": "comp"}


class DeskStore(PgStore):
    """PgStore whose input sheets are brought up to date with the ledger before the Post reads them."""

    def __init__(self, path, log: PgLog, desk: str, queue: bool = True):
        super().__init__(path, log)
        self.desk = desk
        self.queue = queue
        self.source_tag = "@" + desk
        self.conflicts: list[str] = []  # "where: what happened. what to do", one per rejected row
        self._entries: Optional[list] = None
        self._mirror = 0
        self._changed: dict[str, set] = {}
        self._tail: list = []  # the ledger's entries past the mirror's end
        self._cells: dict[str, dict[tuple[int, str], object]] = {}
        self._alerts: list[tuple] = []
        self._views: dict[str, SheetData] = {}

    def fresh(self) -> "DeskStore":
        """The same desk, nothing read yet (to post again on the ledger's new state)."""
        return DeskStore(self.path, PgLog(self.log.url, self.log.studio), self.desk, self.queue)

    # --------------------------------------------------------------------------------- reading
    def open_log(self, key: Optional[bytes] = None) -> OpenLog:
        """The ledger's Log, verified. Warm when nobody posted since this workbook's last post (the
        database ends at the mirror's last row, same hash): then the ledger's Log is the mirror's, and the
        workbook's checkpoint (book/warm.py) serves it as it does a FileStore's, with every fast path.
        Otherwise the database's Log in one streaming read, verified, and the input sheets merged."""
        if self.queue:
            self.log.queue()  # held until this post's rows are committed (PgStore.commit) or it ends
        mirror = self.book.head()
        self._mirror = mirror[0]
        if self.log.head() == tuple(mirror):
            from xl_ledger.book.warm import CheckpointedLog

            # Only the rows up to the mirror's end, whatever another desk appends meanwhile: this post
            # decides on that Log, and its commit is refused (and the post run again) if it moved on.
            self.upto = mirror[0]
            log = CheckpointedLog(self, key)  # reads through this store: sheets, digests, commit
            self._entries, self._tail = None, []
            self._changed = changed_since(())
        else:
            log = super().open_log(key)
            self._entries = log.entries()
            self._tail = self._entries[self._mirror:]
            self._changed = changed_since(self._tail)
        log.source_tag = self.source_tag  # Posting.append adds it to every row's source
        return log

    def outbox_claims(self):
        """One outbox per ledger (`remind --send`): which desk sends each reminder (pg/outbox.py)."""
        from xl_ledger.pg.outbox import OutboxClaims

        return OutboxClaims(self.log, self.desk)

    # What the checkpoint (book/warm.py) needs of a store: the workbook's parts, and its own place.
    def part_digests(self) -> dict[str, str]:
        return self.book.part_digests()

    def read_sheet(self, sheet: str) -> SheetData:
        if sheet in self._views:
            return self._views[sheet]
        data = self.book.read_sheet(sheet)
        merge = getattr(self, f"_merge_{sheet.lower()}", None)
        if merge is None:
            return data
        if not self._changed:
            self.open_log(None)
        if sheet != "Actions" and not self._changed[sheet]:
            return data  # nothing of it changed in the ledger since this workbook's last post: it is this desk's
        view = merge(data)
        self._views[sheet] = view
        return view

    # Scopes of the ledger now and as this workbook last saw it (its mirror's end).
    def _scopes(self):
        if not hasattr(self, "_now"):
            self._now = Scopes(self._entries)
            self._base = Scopes(self._entries[:self._mirror])
        return self._base, self._now

    def _latest(self, kinds: tuple, key) -> dict:
        """key(event) -> (its latest entry) for the given event classes."""
        out = {}
        for entry in self._entries:
            if type(entry.event) in kinds:
                out[key(entry.event)] = entry
        return out

    # --------------------------------------------------------------------------------- merging
    def _set(self, data: SheetData, rows: dict[int, dict], row_no: int, values: dict) -> None:
        """Write `values` (column -> cell) into row `row_no` of the view and the cells to commit."""
        cells = self._cells.setdefault(data.sheet, {})
        row = rows.setdefault(row_no, {h: None for h in data.headers})
        for column, value in values.items():
            if column in data.headers:
                row[column] = value
                cells[(row_no, column)] = value

    def _view(self, data: SheetData, rows: dict[int, dict]) -> SheetData:
        body = []
        for row_no in sorted(rows):
            values = [rows[row_no].get(h) for h in data.headers]
            while values and values[-1] in (None, ""):
                values.pop()
            if values:
                body.append((row_no, tuple(values)))
        return SheetData(data.book, data.sheet, data.headers, tuple(body))

    def _conflict(self, data: SheetData, row_no: int, column: str, what: str, todo: str, value) -> None:
        where = data.where(row_no, column if column in data.headers else None)
        self.conflicts.append(f"{where}: {what} {todo}")
        self._alerts.append(("rejected", None, None, where, f"{what} {todo}", None if value is None else
                             str(value)[:60], None))

    def _merge_keyed(self, data: SheetData, key_column: str, mine: dict, base: dict, now: dict, render,
                     who: dict, noun: str, key_of=lambda cell: str(cell).strip()) -> SheetData:
        """The three-way merge of one keyed sheet. mine/base/now: key -> comparable values; render(key) ->
        the ledger's row as cells; who[key] -> the desk that last changed it; key_of(cell) -> the key a
        key cell stands for (a Staff user is matched in lower case)."""
        rows = {r: dict(values) for r, values in data.records()}
        at = {}
        for r, values in rows.items():
            k = values.get(key_column)
            if k not in (None, "") and key_of(k) not in at:
                at[key_of(k)] = r
        end = max(rows, default=1)
        for k, current in now.items():
            if base.get(k) == current:
                continue  # the ledger has not changed it since this workbook last saw it
            row_no = at.get(k)
            if row_no is None:
                end += 1
                self._set(data, rows, end, render(k))
                continue
            if k not in mine:
                continue  # the row does not parse here: the Post rejects it in its row
            if mine[k] == current:
                continue
            if mine[k] == base.get(k):
                self._set(data, rows, row_no, render(k))
                continue
            typed = rows[row_no]
            self._set(data, rows, row_no, render(k))
            self._conflict(data, row_no, key_column,
                           f"{noun} {k} was changed at desk {who.get(k, '?')} since this workbook was last posted, "
                           "and here too: the other desk posted first, so the change made here was not posted and "
                           "the row now shows the ledger's values.",
                           "If the change made here is still right, type it again and post.",
                           _shown(typed, data.headers))
        return self._view(data, rows)

    def _merge_settings(self, data: SheetData) -> SheetData:
        base_s, now_s = (s.settings for s in self._scopes())
        base, now = commands._values(base_s), commands._values(now_s)
        mine = {}
        rows = {r: dict(values) for r, values in data.records()}
        at = {}
        for r, values in rows.items():
            key = str(values.get("key") or "").strip().lower()
            if key in inputs.SETTINGS_FIELDS and key not in at:
                at[key] = r
                one, problems = inputs.read_settings([(r, values)])
                if not problems:
                    mine[key] = commands._values(one).get(key)
        who = {}
        for entry in self._entries:
            if isinstance(entry.event, E.SettingsSet):
                for k in entry.event.values:
                    who[k] = desk_of(entry.source)
        end = max(rows, default=1)
        for k, current in now.items():
            if base.get(k) == current or mine.get(k) == current:
                continue
            if k in at and mine.get(k) not in (None, base.get(k)):
                self._set(data, rows, at[k], {"value": current})
                self._conflict(data, at[k], "value",
                               f"setting {k} was changed at desk {who.get(k, '?')} since this workbook was last "
                               "posted, and here too: the other desk posted first, so the value typed here was not "
                               "posted.", "If it is still right, type it again and post.", mine.get(k))
            elif k in at:
                self._set(data, rows, at[k], {"value": current})
            else:
                end += 1
                self._set(data, rows, end, {"key": k, "value": current})
        return self._view(data, rows)

    def _merge_products(self, data: SheetData) -> SheetData:
        latest = self._latest((E.ProductSet,), lambda ev: ev.values.get("product_id"))
        base = {}
        for entry in self._entries[:self._mirror]:
            if isinstance(entry.event, E.ProductSet):
                base[entry.event.values.get("product_id")] = entry.event.values
        now = {k: e.event.values for k, e in latest.items()}
        parsed, _problems = inputs.read_products(data.records())
        mine = {p.product_id: commands._values(p) for _r, p in parsed}
        who = {k: desk_of(e.source) for k, e in latest.items()}
        return self._merge_keyed(data, "product_id", mine, base, now, lambda k: _cells("Products", now[k]), who, "product")

    def _merge_students(self, data: SheetData) -> SheetData:
        base_s, now_s = self._scopes()
        base = {k: commands._values(s) for k, s in base_s.students.items()}
        now = {k: commands._values(s) for k, s in now_s.students.items()}
        parsed, _problems = inputs.read_students(data.records())
        mine = {s.student_id: commands._values(s) for _r, s in parsed}
        latest = self._latest((E.StudentSet,), lambda ev: ev.student_id)
        who = {k: desk_of(e.source) for k, e in latest.items()}
        return self._merge_keyed(data, "student_id", mine, base, now, lambda k: _cells("Students", now[k]), who, "student")

    def _merge_reasons(self, data: SheetData) -> SheetData:
        """The Reasons list is the Log's (reason_set rows): a code added, re-worded or removed at another
        desk is in force here after this desk's next post. A code removed there and untouched here is
        cleared from this sheet."""
        base_s, now_s = self._scopes()
        base, now = base_s.reasons, now_s.reasons
        typed = inputs.read_reason_meanings(data.records())
        mine = {code: meaning for code, (_row, meaning) in typed.items()}
        latest = self._latest((E.ReasonSet,), lambda ev: ev.values.get("reason_code"))
        who = {k: desk_of(e.source) for k, e in latest.items()}
        view = self._merge_keyed(data, "reason_code", mine, base, now,
                                 lambda k: {"reason_code": k, "meaning": now[k]}, who, "reason code")
        gone = [k for k in base if k not in now and k in typed and mine[k] == base[k]]
        if not gone:
            return view
        rows = {r: dict(values) for r, values in view.records()}
        for k in gone:
            self._set(data, rows, typed[k][0], {h: None for h in data.headers})
        return self._view(data, rows)

    def _merge_staff(self, data: SheetData) -> SheetData:
        """Roles are the studio's (staff_set rows, core/staff.py): a user given a role, or removed, at another
        desk is so here after this desk's next post; a role changed at two desks is rejected at the second.
        A desk that joins with an empty Staff sheet gets the studio's list, so it cannot post as the owner
        by having none (single-owner mode is for a studio that never listed staff)."""
        from xl_ledger.core import staff as staff_rules

        base = staff_rules.logged(self._entries[:self._mirror])
        now = staff_rules.logged(self._entries)
        mine, _problems = inputs.read_staff(data.records())
        latest = self._latest((E.StaffSet,), lambda ev: ev.values.get("user"))
        who = {k: desk_of(e.source) for k, e in latest.items()}
        view = self._merge_keyed(data, "user", mine, base, now, lambda k: {"user": k, "role": now[k]}, who,
                                 "the role of", key_of=lambda cell: str(cell).strip().lower())
        rows = {r: dict(values) for r, values in view.records()}
        at = {str(v.get("user")).strip().lower(): r for r, v in rows.items() if v.get("user") not in (None, "")}
        gone = [k for k in base if k not in now and k in at and mine.get(k) == base[k]]
        if not gone:
            return view
        for k in gone:
            self._set(data, rows, at[k], {h: None for h in data.headers})
        return self._view(data, rows)

    def _merge_sessions(self, data: SheetData) -> SheetData:
        base_s, now_s = self._scopes()
        start_text: dict = {}
        base = {k: commands._logged_signature(ev) for k, ev in base_s.sessions.items()}
        now = {k: commands._logged_signature(ev) for k, ev in now_s.sessions.items()}
        touched = self._changed["Sessions"]
        parsed, _problems = inputs.read_sessions(  # only the rows of sessions another desk changed
            [(r, v) for r, v in data.records() if str(v.get("session_id") or "").strip() in touched],
            now_s.settings.date_order == "dmy")
        mine = {}
        for _r, s in parsed:
            mine.setdefault(s.session_id, commands._session_signature(s, start_text))
        latest = self._latest((E.SessionRecorded, E.SessionChanged), lambda ev: ev.session_id)
        who = {k: desk_of(e.source) for k, e in latest.items()}

        def render(k: str) -> dict:
            ev = now_s.sessions[k]
            return {"session_id": k, "date": ev.effective_date, "start": ev.start, "minutes": ev.minutes,
                    "student_id": ev.student_id, "service": ev.service, "status": ev.status,
                    "booked_by": ev.booked_by, "credits": ev.quantity,
                    "paid_separately": "yes" if ev.paid_separately else "no",
                    "cancelled_at": dt.datetime.fromisoformat(ev.cancelled_at) if ev.cancelled_at else None,
                    "note": ev.note, "desk": "" if who.get(k) == self.desk else who.get(k), "location": ev.location}

        return self._merge_keyed(data, "session_id", mine, base, now, render, who, "session")

    def _merge_actions(self, data: SheetData) -> SheetData:
        rows = {r: dict(values) for r, values in data.records()}
        end = max(rows, default=1)
        seen: set[str] = set()
        for entry in self._tail:
            source = entry.source or ""
            plain = plain_source(source)
            if not plain.startswith("Actions!") or source in seen:
                continue
            seen.add(source)  # an action's first Log row stands for it (a transfer logs two)
            desk = desk_of(source)
            if desk == self.desk:
                # Ours, in the ledger, but this workbook was not written after it: mark it, never apply it again.
                try:
                    row_no = int(plain.split("!", 1)[1])
                except ValueError:
                    continue
                if row_no in rows and str(rows[row_no].get("status") or "").strip().lower() != "applied":
                    self._set(data, rows, row_no, {
                        "status": "applied", "log_seq": entry.seq,
                        "message": f"{post_cycle._describe([entry.event])} (the ledger holds it as Log seq "
                                   f"{entry.seq}; this workbook was not updated then)"})
                continue
            ev = entry.event
            end += 1
            self._set(data, rows, end, {
                "action": _ACTION_OF_KIND.get(ev.kind, ev.kind), "date": ev.effective_date,
                "student_id": ev.student_id, "package_id": ev.package_id, "quantity": ev.quantity,
                "amount": ev.amount, "reason_code": ev.reason_code,
                "to_student_id": getattr(ev, "to_student_id", None) or None, "days": getattr(ev, "days", None),
                "note": ev.note, "status": "applied", "log_seq": entry.seq, "desk": desk,
                "location": getattr(ev, "location", None),
                "message": f"posted at desk {desk}: {post_cycle._describe([ev])}"})
        return self._view(data, rows)

    # --------------------------------------------------------------------------------- writing
    def commit(self, change: Change) -> None:
        cells = {name: dict(updates) for name, updates in self._cells.items()}
        for name, updates in change.cells.items():
            cells.setdefault(name, {}).update(updates)  # the Post's own marks win
        sheets = dict(change.sheets)
        if self._alerts:
            # Above the post's own; a command that does not rewrite Alerts (remind) keeps the rows there.
            below = sheets["Alerts"] if "Alerts" in sheets else self._alerts_as_they_are()
            sheets["Alerts"] = list(self._alerts) + list(below)
        super().commit(replace(change, sheets=sheets, cells=cells))  # money format, page headers, relayout kept


    def _alerts_as_they_are(self) -> list[tuple]:
        width = len(schema.ALERTS.headers)
        return [tuple(values) + (None,) * (width - len(values)) for _row, values in self.book.read_sheet("Alerts").rows]


def _cells(sheet: str, values: dict) -> dict:
    """A master-data row as the Log keeps it (canonical texts) → cells: numbers as numbers."""
    out = {}
    for column in schema.BY_NAME[sheet].columns:
        v = values.get(column.name)
        if v not in (None, "") and column.type in (schema.QTY, schema.MONEY, schema.INT):
            number = Decimal(v)
            v = int(number) if number == number.to_integral_value() else number
        out[column.name] = v
    return out


def _shown(values: dict, headers) -> str:
    return ", ".join(f"{h}={v}" for h in headers if (v := values.get(h)) not in (None, "") and h != "desk")


def post_at_desk(store: DeskStore, *, attempts: int = 30, **kwargs):
    """Run the Post cycle for the desk's workbook against the ledger; again, on the new state, when another
    desk appended first. Returns (the store that posted, the PostResult)."""
    for attempt in range(attempts):
        try:
            result = post_cycle.post(store, **kwargs)
            result.rejected += store.conflicts
            store.attempts = attempt + 1
            return store, result
        except StaleLogError:
            if attempt == attempts - 1:
                raise
            store.close()
            time.sleep(random.uniform(0.005, 0.05) * (1 + attempt))  # let the other desk's commit land
            store = store.fresh()
        finally:
            store.log.unqueue()
    raise AssertionError("unreachable")
