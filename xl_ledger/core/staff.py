"""Who may post, and the trail a change of role leaves.

Roles guard against mistakes, not people: `--as USER` is who a command says it is (no password), and
anyone who can edit the workbook can edit the Staff sheet. What the ledger can promise is that a role
change is never silent: every change to the Staff sheet becomes a `staff_set` Log row (whose role, from
what, to what; the row's operator and recorded_at say who and when), appended by the post that sees it,
before that post's actions are checked. A staff member who promotes herself, posts an owner-only
transfer and demotes herself leaves both changes in the Log and in the month's audit export.

An empty Staff sheet means single-owner mode (anyone may post) only while the Log has never known any
staff: once it has, an emptied sheet is refused, since it would quietly give every name the owner's role.
"""

from __future__ import annotations

import datetime as dt
from typing import Iterable
from typing import Optional

from xl_ledger.core import events as E
from xl_ledger.core.kinds import Role

GONE = ""  # a user's role once their row is removed from the Staff sheet


def desk_of(source: Optional[str]) -> str:
    """The desk a Log row came from (`Staff@frontdesk`: pg/desk.py), '' for a workbook's own."""
    return source.rpartition("@")[2] if source and "@" in source else ""


class Known:
    """The staff the Log knows (user, lower case -> role; removed users left out): one list for the
    studio, whichever desk logged a change. The desks of a shared ledger each merge their Staff sheet with
    it before a post reads it (pg/desk.py), so a role given at one desk is in force at every desk after its
    next post, a change is logged once (by the desk where it was typed), and a new desk, whose sheet the
    merge fills, cannot post as a name the studio does not list. `of(desk)` is that list for any desk."""

    def __init__(self, entries: Iterable[E.Entry] = ()):
        self.staff: dict[str, str] = {}
        for entry in entries:
            if type(entry.event) is E.StaffSet:
                self.add(entry)

    def add(self, entry: E.Entry) -> None:
        apply(self.staff, entry.event)

    def of(self, desk: str = "") -> dict[str, str]:
        return self.staff


def logged(entries: Iterable[E.Entry], desk: str = "") -> dict[str, str]:
    """The staff the Log's staff_set rows leave (the studio's list: see Known)."""
    return Known(entries).of(desk)


def apply(staff: dict[str, str], ev: E.StaffSet) -> None:
    user, role = ev.values.get("user", ""), ev.values.get("role", GONE)
    if role:
        staff[user] = role
    else:
        staff.pop(user, None)


def changes(sheet: dict[str, str], known: dict[str, str], today: dt.date) -> list[E.StaffSet]:
    """One staff_set per user whose role on the sheet differs from the Log's (added, changed, removed)."""
    out = []
    for user in sorted(set(sheet) | set(known)):
        role, was = sheet.get(user, GONE), known.get(user, GONE)
        if role != was:
            out.append(E.StaffSet(effective_date=today, values={"user": user, "role": role, "was": was}))
    return out


def describe(ev: E.StaffSet) -> str:
    """'role of bea: staff → owner', as `post` prints it and the audit export lists it ('none': not on the
    sheet, or on it without a valid role)."""
    v = ev.values
    return f"role of {v.get('user')}: {v.get('was') or 'none'} → {v.get('role') or 'none'}"


class StaffRefused(Exception):
    """The Staff sheet cannot say who may run the command. `where`, `what`, `todo` as in every message."""

    def __init__(self, where: str, what: str, todo: str):
        super().__init__(f"{where} {what} {todo}")
        self.where, self.what, self.todo = where, what, todo


def role_of(operator: str, sheet: dict[str, str], has_rows: bool, known: dict[str, str], book: str
            ) -> Optional[str]:
    """The operator's role: the Staff sheet's (None when not on it). With no rows on the sheet, the owner
    (single-owner mode) only if the Log has never listed staff (or every listed person was removed one by
    one); otherwise StaffRefused.

    `has_rows`: the sheet has a non-blank row, even one that did not parse (a row with a mistyped role is
    still somebody's row: it must not turn the workbook into single-owner mode)."""
    if has_rows:
        return sheet.get(operator.lower())
    if not known:
        return Role.OWNER.value
    people = sorted(known.items())
    names = ", ".join(f"{u} ({r})" for u, r in people[:5]) + (", …" if len(people) > 5 else "")
    raise StaffRefused(
        f"{book}!Staff",
        f"is empty, but the Log lists {len(people)} {'person' if len(people) == 1 else 'people'} on it: {names}. "
        "An empty Staff sheet would let any name run the ledger as the owner, so nothing was written.",
        "Put the rows back (each role change is a staff_set row in the Log and in `xl-ledger audit`); to run the "
        "ledger alone from now on, leave one row: your user name with the role owner.")
