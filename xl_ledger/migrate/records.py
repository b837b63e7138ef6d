"""What a legacy spreadsheet says, before the engine is asked what it means.

These records are neutral: they repeat the legacy file's claims (a purchase of 10 lessons, a lesson
on 5 March, a stated balance of 3) with the cell each claim came from, and never resolve anything.
Phase 2 turns them into ledger events and compares the engine's answers with the stated ones, so
every record keeps enough cell references for a reconciliation report to point at the sheet.

Quantities and money are Decimal. A `Cell` is the text "legacy.xlsx!Sheet1!C7" (file name, sheet,
A1 reference) so reports can print it as is.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from dataclasses import field
from decimal import Decimal
from typing import Literal
from typing import Mapping as TMapping
from typing import NamedTuple

Cell = str
Unit = Literal["hours", "lessons"]
Mark = Literal["attended", "no_show", "late_cancel", "cancelled"]
LineKind = Literal["purchase", "lesson", "adjustment"]


@dataclass(frozen=True, slots=True)
class LegacyPurchase:
    """One package purchase row (layout 'purchases'). Fields the sheet left blank are None."""

    student: str
    package_label: str | None
    purchased_on: dt.date | None
    quantity: Decimal | None
    unit: Unit | None
    price: Decimal | None
    paid: Decimal | None
    expires_on: dt.date | None
    stated_used: Decimal | None
    stated_remaining: Decimal | None
    cells: TMapping[str, Cell] = field(default_factory=dict)  # field name -> cell it was read from
    row_cell: Cell = ""  # the row's student cell: where a report points for the whole row
    currency: str | None = None  # the currency its price or paid cell names ("GBP" for "£550"), None if none
    last_date: dt.date | None = None  # the latest date the row shows (a "last lesson" column)
    note: str | None = None  # the row's note cell ("owes 1h!!", "family pack")
    shared_hint: str | None = None  # the words that say the pack is for the family ("family pack", "siblings")
    date_cell: Cell | None = None  # where its purchase date is (or would be, when blank); None: the sheet has no such column


class LegacyLesson(NamedTuple):
    """One lesson (or missed lesson) the legacy file records.

    Hours units carry `minutes`; lesson units carry `credits`. Both are None when the sheet only
    says *that* something happened (an `NS` mark in a grid): phase 2 applies the usual length or one
    credit, and the no-show / late-cancel policy, because the sheet does not say.

    A NamedTuple, not a dataclass: a lesson log has tens of thousands of these (about 5x cheaper to build).
    """

    student: str
    date: dt.date
    minutes: Decimal | None
    credits: Decimal | None
    unit: Unit | None
    mark: Mark
    cell: Cell
    note: str | None = None


@dataclass(frozen=True, slots=True)
class LegacyBalanceLine:
    """One row of a per-student running balance (layout 'running_balance'): + bought, − used."""

    student: str
    date: dt.date | None
    delta: Decimal
    stated_balance: Decimal | None
    kind: LineKind
    note: str | None
    cells: TMapping[str, Cell] = field(default_factory=dict)
    unit: Unit | None = None
    dated_by: str | None = None  # a line with no date of its own above the sheet's first date: where its date came from


@dataclass(frozen=True, slots=True)
class LegacyStatedBalance:
    """A balance the legacy file states for a student (last running balance, a 'Left' column)."""

    student: str
    unit: Unit | None
    stated_remaining: Decimal
    cell: Cell


@dataclass(frozen=True, slots=True)
class Finding:
    """Something the owner must look at. `kind` is a stable code; `message` is for people.

    Kinds: name_variant, unreadable_cell, skipped_total, skipped_row, remaining_mismatch,
    balance_mismatch, duplicate_row, ambiguous_dates, ignored_sheet, mapping_stale, corrected, unit_read
    (amounts headed in another unit than the pack's, read in the pack's because the row's numbers agree), and the
    HELD kinds below.
    """

    kind: str
    message: str
    cells: tuple[Cell, ...] = ()

    @property
    def held(self) -> bool:
        return self.kind in HELD


# Findings about facts the importer cannot know (which unit, which year, which currency, which of two
# cells that disagree, which day an undated purchase was bought): the row is not imported, and neither
# is the file, until the mapping's corrections or the legacy file say what it means. `--dry-run` lists
# them all.
HELD = frozenset({"unit_unclear", "contradiction", "yearless_date", "foreign_currency", "remaining_mismatch", "undated",
                  "pack_repeated"})


@dataclass(frozen=True, slots=True)
class StudentSeen:
    """One spelling of a student's name exactly as typed (whitespace tidied), and where it occurs.

    Spellings are never merged by the reader: "Ana Lopez" and "Ana López" are two entries plus a
    name_variant finding, unless the mapping's `aliases` (edited by a person) says they are one.
    """

    name: str
    match_key: str  # accent/case/order-folded key shared by variant spellings
    cells: tuple[Cell, ...]


@dataclass(frozen=True)
class ReadResult:
    mapping: "object"  # xl_ledger.migrate.mapping.Mapping (kept loose to avoid an import cycle)
    purchases: tuple[LegacyPurchase, ...]
    lessons: tuple[LegacyLesson, ...]
    balance_lines: tuple[LegacyBalanceLine, ...]
    stated_balances: tuple[LegacyStatedBalance, ...]
    findings: tuple[Finding, ...]
    students: TMapping[str, StudentSeen]  # exact spelling -> where it was seen
    families: TMapping[str, tuple[str, Cell]] = field(default_factory=dict)  # spelling -> (parent/family text, cell)
    last_date: dt.date | None = None  # the latest date the file shows (its records and a grid's date headers)

    def held(self) -> list[Finding]:
        return [f for f in self.findings if f.held]

    def findings_of(self, kind: str) -> list[Finding]:
        return [f for f in self.findings if f.kind == kind]
