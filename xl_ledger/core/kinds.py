"""The closed sets of words the ledger uses, each one StrEnum: package statuses, session statuses,
allocation states, lot kinds, alert kinds, staff roles and Log event kinds.

A member is its text (`PackageStatus.EXPIRED == "expired"`, same hash), so the words written to the Log
and the sheets are unchanged and existing Logs still verify; in code, a misspelt member is an error
instead of a comparison that is silently never true. The frozensets below name the groups the rules ask
about, each in one place.
"""

from __future__ import annotations

from enum import StrEnum


class PackageStatus(StrEnum):
    ACTIVE = "active"
    FROZEN = "frozen"
    INACTIVE = "inactive"  # deactivated by the studio
    EXPIRED = "expired"
    USED_UP = "used_up"
    REFUNDED = "refunded"


class SessionStatus(StrEnum):
    PENDING = "pending"
    WAITLISTED = "waitlisted"
    SCHEDULED = "scheduled"
    ATTENDED = "attended"
    LATE_CANCEL = "late_cancel"
    NO_SHOW = "no_show"
    CANCELLED = "cancelled"
    STUDIO_CANCELLED = "studio_cancelled"


class AllocationState(StrEnum):
    USED = "used"
    RESERVED = "reserved"
    COVERED = "covered"  # a months package covers the session
    FREE = "free"  # a late cancel or no-show the product does not charge
    OWED = "owed"
    NEGATIVE = "negative"  # drawn below zero, within negative_limit
    AWAITING_SERVICE = "awaiting_service"  # credit applies at the service, which has not happened yet


class LotKind(StrEnum):
    MAIN = "main"
    PERIOD = "period"
    TOP_UP = "top_up"
    ADJUST = "adjust"
    COMP = "comp"
    MAKEUP = "makeup"
    TRANSFER_IN = "transfer_in"
    ROLLOVER_IN = "rollover_in"


class AlertKind(StrEnum):
    """The Alerts sheet's kind column, in the order the sheet lists them (post.py adds the first three)."""

    REJECTED = "rejected"  # an input row the post refused, in its own row too
    DRIFT = "drift"  # a cell typed over in an engine sheet
    NOTICE = "notice"
    OWED = "owed"
    EXPIRING = "expiring"
    LOW_BALANCE = "low_balance"


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    STAFF = "staff"


class EventKind(StrEnum):
    """The Log's `kind` column. Each event class in events.py takes its `kind` text from here."""

    SETTINGS_SET = "settings_set"
    PRODUCT_SET = "product_set"
    STUDENT_SET = "student_set"
    STAFF_SET = "staff_set"
    SALE = "sale"
    TOP_UP = "top_up"
    SESSION_RECORDED = "session_recorded"
    SESSION_CHANGED = "session_changed"
    REFUND = "refund"
    CHARGEBACK = "chargeback"
    TRANSFER = "transfer"
    FREEZE = "freeze"
    UNFREEZE = "unfreeze"
    EXTEND = "extend"
    ADJUST = "adjust"
    COMP = "comp"
    DEACTIVATE = "deactivate"
    REACTIVATE = "reactivate"
    PERIOD_CLOSE = "period_close"
    REASON_SET = "reason_set"
    PERIOD_REOPEN = "period_reopen"


# The groups the rules ask about.
CLOSED = frozenset({PackageStatus.INACTIVE, PackageStatus.EXPIRED, PackageStatus.REFUNDED})  # no credit to use
LIVE = frozenset({PackageStatus.ACTIVE, PackageStatus.FROZEN})  # may still be drawn on or warned about
CONSUMING = frozenset({SessionStatus.ATTENDED, SessionStatus.LATE_CANCEL, SessionStatus.NO_SHOW})
CARRIED = frozenset({LotKind.ROLLOVER_IN, LotKind.MAKEUP})  # drawn first
RECEIVED = frozenset({LotKind.TRANSFER_IN, LotKind.ROLLOVER_IN})  # credit that came from another package
