"""Who a reminder goes to: the student's Students `email`, or, for a family's message (a shared pack's
reminder, a family's monthly statement), the email of the one member marked `family_contact` = yes.

The contact is looked for inside the message's own family only (the family of the Log, not a guess from
the sheet), so a message never goes to another family's address. No contact marked: it goes to the
buyer (the package's owner) and the Outbox row says so. Two marked, or a mark that is neither yes nor
blank: it goes to no one and the row names the cells, since picking one would be a guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable
from typing import Optional

YES = ("yes", "y", "true", "1")
NO = ("", "no", "n", "false", "0")


@dataclass(frozen=True)
class Address:
    to: Optional[str]
    problem: str = ""  # why there is no address: the row is failed with it
    note: str = ""  # what the row says although it goes (the buyer stands in for a contact)


class Addresses:
    """The Students sheet's emails and family contacts, read once per run."""

    def __init__(self, sheet, family_of: Callable[[str], Optional[str]]):
        self.sheet = sheet
        self.emails: dict[str, tuple[Optional[str], str]] = {}
        self.marked: dict[str, list[tuple[str, str]]] = {}  # family → [(student, cell)] marked yes
        self.unclear: dict[str, list[str]] = {}  # family → ["cell says 'x'"]
        has_contact = "family_contact" in sheet.headers
        for row, rec in sheet.records():
            sid = str(rec.get("student_id") or "").strip()
            if not sid:
                continue
            email = str(rec.get("email") or "").strip() or None
            self.emails[sid] = (email, sheet.where(row, "email") if "email" in sheet.headers else "")
            family = family_of(sid)
            if not has_contact or not family:
                continue  # a student without a family is nobody's family contact
            raw = str(rec.get("family_contact") or "").strip()
            cell = sheet.where(row, "family_contact")
            if raw.lower() in YES:
                self.marked.setdefault(family, []).append((sid, cell))
            elif raw.lower() not in NO:
                self.unclear.setdefault(family, []).append(f"{cell} says {raw!r}")

    def own(self, student_id: str, whose: str = "") -> Address:
        email, where = self.emails.get(student_id, (None, f"{self.sheet.book}!Students"))
        if email:
            return Address(email)
        return Address(None, problem=f"no address: type {student_id}'s email{whose} in {where}")

    def of(self, student_id: str, family_id: Optional[str]) -> Address:
        """The address of a message about `student_id`; `family_id` when the message is the family's."""
        if not family_id:
            return self.own(student_id)
        if family_id in self.unclear:
            return Address(None, problem=f"family contact of {family_id} unclear: "
                                         f"{', '.join(self.unclear[family_id])}; type yes or leave it blank")
        marked = self.marked.get(family_id, [])
        if len(marked) > 1:
            cells = ", ".join(f"{cell} ({sid})" for sid, cell in marked)
            return Address(None, problem=f"{len(marked)} family contacts marked for {family_id}: {cells}; "
                                         "leave yes on one of them")
        if marked:
            return self.own(marked[0][0], f" (the family contact of {family_id})")
        address = self.own(student_id)
        if not address.to:
            return address
        return Address(address.to, note=f"no family contact marked for {family_id}: it goes to the buyer, "
                                        f"{student_id}; type yes in one member's family_contact on Students")
