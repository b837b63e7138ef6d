"""What the fold produces: packages, lots, allocations, balances and alerts, as of one date.

Lots and packages are built and drawn down inside fold.py (they are mutable only there); callers get a
`State` and treat it as read-only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from dataclasses import field
from decimal import Decimal
from typing import NamedTuple
from typing import Optional

from xl_ledger.core.inputs import Product
from xl_ledger.core.kinds import AlertKind
from xl_ledger.core.kinds import AllocationState
from xl_ledger.core.kinds import RECEIVED
from xl_ledger.core.kinds import LotKind
from xl_ledger.core.kinds import PackageStatus
from xl_ledger.core.inputs import Settings
from xl_ledger.core.inputs import Student
from xl_ledger.core.numbers import ZERO


@dataclass(eq=False, slots=True)
class Lot:
    """Credits with one validity window. `start=None` means it also pays for earlier unpaid sessions."""

    lot_id: str
    package_id: str
    quantity: Decimal
    kind: LotKind
    start: Optional[dt.date] = None
    end: Optional[dt.date] = None  # own end (period lots, transfer/rollover lots); None: follows the package
    own_end: bool = False
    left: Decimal = ZERO
    week: Optional[dt.date] = None  # weekly lots: the week's first day (for the shared boundary week)
    key: tuple = ()  # its place in the draw order, set by the sweep
    granted: Optional[dt.date] = None  # top-ups and added credit: the day it was added (pinned draws dated earlier skip it)
    arrived: dt.date = dt.date.min  # the day the credit was there to use (arrived_on), set by the sweep


@dataclass(eq=False, slots=True)
class Package:
    package_id: str
    owner: str
    product: Product
    purchased_on: dt.date
    price: Decimal = ZERO  # money paid in (sale + top-ups)
    paid_quantity: Decimal = ZERO  # credits bought with that money (unit value = price / paid_quantity)
    lots: list = field(default_factory=list)
    comp: bool = False
    base_end: Optional[dt.date] = None  # expiry before freezes and extensions (purchase-based)
    first_use: Optional[dt.date] = None
    weeks_from_first_use: bool = False  # an N-week pack whose weekly lots are dated at the first lesson
    freezes: list = field(default_factory=list)  # [start, end] inclusive, mutable end for unfreeze
    extra_days: int = 0
    active: bool = True
    extends: list = field(default_factory=list)  # (effective date, days) of each extension
    switches: list = field(default_factory=list)  # (effective date, active) of each (de)activation
    # As the books were closed (fold, when a period is closed): the expiry and the active flag from the
    # freezes, extensions and (de)activations effective by the close. A session of a closed month draws
    # by these, so a freeze, extension or deactivation after the close does not re-match it (matching.py).
    closed_end: Optional[dt.date] = None
    closed_active: bool = True
    overdrawn: Decimal = ZERO
    location: Optional[str] = None  # where it was sold (Actions location): its home, where its liability sits
    # figures, filled at the end of the fold
    granted: Decimal = ZERO
    used: Decimal = ZERO
    reserved: Decimal = ZERO
    remaining: Decimal = ZERO
    expired: Decimal = ZERO
    expiries: list = field(default_factory=list)  # (lot's last valid day, quantity expired), one per lot
    refunded: Decimal = ZERO
    refunded_money: Decimal = ZERO
    transferred_out: Decimal = ZERO
    transferred_in: Decimal = ZERO
    adjusted_out: Decimal = ZERO
    draws: list = field(default_factory=list)  # (date, kind, quantity, money) of pinned draws: refunds, transfers...
    begun: list = field(default_factory=list)  # (first day, quantity) of each months lot delivered as its month began
    value_remaining: Decimal = ZERO  # unredeemed × unit value, 0 while deactivated: the package's liability
    expires_on: Optional[dt.date] = None
    status: PackageStatus = PackageStatus.ACTIVE
    redeemed: bool = False

    @property
    def unit(self) -> str:
        return self.product.unit

    @property
    def unit_value(self) -> Decimal:
        return self.price / self.paid_quantity if self.paid_quantity else ZERO

    @property
    def unredeemed(self) -> Decimal:
        """Credit not yet delivered: what is left plus what bookings hold, net of any overdraw (0.5 overdrawn
        with 0.5 booked holds nothing). A booking's credit is still owed to the client, so it is part of
        `value_remaining` and of the liability (DECISIONS: "Liability is Σ value_remaining")."""
        left = self.remaining + self.reserved
        return left if left > 0 else ZERO

    def frozen_on(self, d: dt.date) -> bool:
        for start, end in self.freezes:
            if start <= d <= end:
                return True
        return False

    def expiry(self) -> Optional[dt.date]:
        """Last valid day for plain lots, after freezes and extensions; None = never or not started."""
        if self.base_end is None:
            return None
        frozen_days = sum((end - start).days + 1 for start, end in self.freezes)
        return self.base_end + dt.timedelta(days=frozen_days + self.extra_days)

    def expiry_through(self, day: dt.date) -> Optional[dt.date]:
        """expiry() counting only the freezes that began and the extensions effective by `day`."""
        if self.base_end is None:
            return None
        frozen_days = sum((end - start).days + 1 for start, end in self.freezes if start <= day)
        return self.base_end + dt.timedelta(days=frozen_days + sum(n for d, n in self.extends if d <= day))


def last_valid_day(pkg: Package, lot: Lot) -> Optional[dt.date]:
    """A lot's last valid day: its own end (period, make-up, transfer and rollover lots), else its
    package's expiry; None when it does not expire. The one home of this rule (the sweep, the draw order,
    pinned draws, settling and a package's last day all ask here)."""
    return lot.end if lot.own_end else pkg.expires_on


def arrived_on(pkg: Package, lot: Lot) -> dt.date:
    """The day a lot's credit was there to use: a top-up or added credit when added, credit received by a
    transfer or rollover when it came, anything else when its package was bought. A session draws first
    on credit that had arrived by its date; credit that came later pays only what nothing older could
    (an owed lesson), so a purchase never takes a lesson an older pack had paid (matching.py)."""
    if lot.granted is not None:
        return lot.granted
    if lot.kind in RECEIVED and lot.start is not None:
        return lot.start
    return pkg.purchased_on


class Allocation(NamedTuple):
    """What one session drew from one lot. A NamedTuple: a busy studio makes a million of these."""

    session_id: str
    date: dt.date
    student_id: str
    status: str
    package_id: Optional[str]
    lot_id: Optional[str]
    quantity: Decimal
    unit: Optional[str]
    state: AllocationState


@dataclass(frozen=True, slots=True)
class Alert:
    kind: AlertKind
    student_id: Optional[str]
    package_id: Optional[str]
    where: str
    message: str


@dataclass
class State:
    as_of: dt.date
    settings: Settings
    products: dict[str, Product]
    students: dict[str, Student]
    packages: dict[str, Package]
    allocations: list[Allocation]
    alerts: list[Alert]
    sessions: dict  # session_id -> the latest session event
    notices: list[Alert] = field(default_factory=list)
    last_seq: int = 0
    closed_through: Optional[dt.date] = None
    buyers: set = field(default_factory=set)  # students who have bought (intro_only)

    def family_of(self, student_id: str) -> Optional[str]:
        s = self.students.get(student_id)
        return s.family_id if s else None

    def usable_packages(self, student_id: str) -> list[Package]:
        """Packages a student can draw from: their own and their family's shared ones (balances.py)."""
        from xl_ledger.core import balances  # it reads State: imported here, not at the top

        return balances.index(self).usable_packages(student_id)
