"""Folding only what a command needs.

Credit never flows between families except by a transfer, so the ledger splits into independent
*components* (families joined by transfers). A command about one student needs the fold of its
component only, plus the master data (settings, products, students) — which keeps a Post of 100
actions on a million-row log from folding the whole log 100 times.
"""

from __future__ import annotations

import datetime as dt
from typing import Iterable
from typing import Optional

from xl_ledger.core import events as E
from xl_ledger.core import staff as staff_rules
from xl_ledger.core.commands import IdPool
from xl_ledger.core.fold import closed_after
from xl_ledger.core.fold import fold
from xl_ledger.core.inputs import Settings
from xl_ledger.core.inputs import Student
from xl_ledger.core.state import State

MASTER = (E.SettingsSet, E.ProductSet, E.StudentSet, E.StaffSet, E.PeriodClose, E.ReasonSet, E.PeriodReopen)


class Scopes:
    def __init__(self, entries: Iterable[E.Entry] = ()):
        self.master: list[E.Entry] = []
        self.by_student: dict[str, list[E.Entry]] = {}
        self.parent: dict[str, str] = {}
        self.families: dict[str, Optional[str]] = {}
        self.sessions: dict[str, E.SessionRecorded] = {}
        self.students: dict[str, Student] = {}
        self.settings = Settings()
        self.staff = staff_rules.Known()  # the staff the Log knows, per desk
        self.closed: Optional[dt.date] = None
        self.reasons: dict[str, str] = dict(E.DEFAULT_REASONS)  # reason_code -> meaning, as the Log has them
        self.package_ids = IdPool()
        self.package_owner: dict[str, str] = {}
        self.buyers: set[str] = set()
        self._selling: Optional[State] = None
        self._selling_key: Optional[tuple] = None
        # A lesson row with its student (half of a Log) is filed under that student and is the session's
        # latest state: what `add` does with it, without the call and the checks for other kinds.
        by_student, sessions, lesson = self.by_student, self.sessions, E.SessionRecorded
        for entry in entries:
            ev = entry.event
            if type(ev) is lesson and ev.student_id:
                found = by_student.get(ev.student_id)
                if found is None:
                    found = by_student[ev.student_id] = []
                found.append(entry)
                sessions[ev.session_id] = ev
            else:
                self.add(entry)

    # union-find over "units": a family id, or a student without one
    def _unit(self, student_id: str) -> str:
        family = self.families.get(student_id)
        return f"F:{family}" if family else f"S:{student_id}"

    def _find(self, u: str) -> str:
        while self.parent.get(u, u) != u:
            u = self.parent[u] = self.parent.get(self.parent[u], self.parent[u])
        return u

    def _union(self, a: str, b: str) -> None:
        ra, rb = self._find(a), self._find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def add(self, entry: E.Entry) -> None:
        ev = entry.event
        cls = type(ev)
        if cls in MASTER:
            self.master.append(entry)
            if cls is E.StudentSet:
                student = Student.model_validate(ev.values)
                self.students[student.student_id] = student
                old = self.families.get(student.student_id)
                self.families[student.student_id] = student.family_id
                if old and old != student.family_id:
                    self._union(f"F:{old}", self._unit(student.student_id))  # history spans both families
                self._union(f"S:{student.student_id}", self._unit(student.student_id))
            elif cls is E.SettingsSet:
                self.settings = Settings.model_validate({**self.settings.model_dump(), **ev.values})
            elif cls is E.StaffSet:
                self.staff.add(entry)
            elif cls is E.PeriodClose or cls is E.PeriodReopen:
                self.closed = closed_after(self.closed, ev)
            elif cls is E.ReasonSet:
                E.apply_reason(self.reasons, ev)
            return
        owner = ev.student_id or self.package_owner.get(ev.package_id or "")
        if owner is None:
            self.master.append(entry)  # cannot be placed: keep it everywhere (correct, if slower)
            return
        self.by_student.setdefault(owner, []).append(entry)
        if ev.package_id and cls in (E.Sale, E.Comp):
            self.package_owner[ev.package_id] = owner
            self.package_ids.add(ev.package_id)
        if cls is E.Sale:
            self.buyers.add(owner)
        if cls is E.Transfer:
            self.package_owner[ev.to_package_id] = ev.to_student_id
            self.package_ids.add(ev.to_package_id)
            self._union(self._unit(owner), self._unit(ev.to_student_id))
        if cls in (E.SessionRecorded, E.SessionChanged):
            self.sessions[ev.session_id] = ev

    def component(self, student_id: str) -> str:
        return self._find(self._unit(student_id))

    def entries_for(self, student_ids: Iterable[str]) -> list[E.Entry]:
        roots = {self.component(s) for s in student_ids if s}
        picked = list(self.master)
        for sid, entries in self.by_student.items():
            if self.component(sid) in roots:
                picked.extend(entries)
        picked.sort(key=lambda e: e.seq)
        return picked

    def fold_for(self, student_ids: Iterable[str], as_of: dt.date) -> State:
        return fold(self.entries_for(student_ids), as_of)

    def for_selling(self, as_of: dt.date) -> State:
        """What `sell` and `comp` read (commands.CATALOG_ONLY): students, products, the closed period and
        who has bought. The same fields as fold_for gives, from master data alone, folded once per date
        and master-data length rather than once per Actions row. Read only."""
        key = (as_of, len(self.master))
        if self._selling_key != key:
            self._selling = fold(self.master, as_of)
            self._selling_key = key
        self._selling.buyers = self.buyers  # fold counts every sale, whatever its date: so does this set
        return self._selling

    def catalog(self, as_of: dt.date) -> State:
        """Master data and every session's latest state, without matching: what input diffs need."""
        state = fold(self.master, as_of)
        state.sessions = dict(self.sessions)
        state.buyers = set(self.buyers)
        return state
