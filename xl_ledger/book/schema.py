"""The workbook contract, defined once.

The template builder, the file store, the live-Excel store and the Post cycle all read sheet and
column names from here. Sheet and column *names* are public: users type into them and migrations
target them. Add columns at the end of a sheet; never rename or drop one.

This module is pure data (no openpyxl, no xlwings).
"""

from __future__ import annotations

import re

from dataclasses import dataclass
from dataclasses import field

from xl_ledger.core import events as _events
from xl_ledger.core.kinds import Role
from xl_ledger.core.kinds import SessionStatus
from xl_ledger.xlsx.cells import col_letter  # noqa: F401  (re-exported: callers say schema.col_letter)

# Column types. They drive number formats, widths and input parsing.
TEXT = "text"
ID = "id"
DATE = "date"
DATETIME = "datetime"
INT = "int"
QTY = "qty"  # a credit quantity: hours, lessons or months (Decimal, 2 places shown)
MONEY = "money"
YESNO = "yesno"
CHOICE = "choice"  # one of a list (see LISTS)
JSON = "json"


@dataclass(frozen=True)
class Column:
    name: str
    type: str = TEXT
    required: bool = False
    default: object = None
    choices: str | None = None  # key into LISTS, or a defined name fed by another sheet
    width: float = 14
    help: str = ""


@dataclass(frozen=True)
class Sheet:
    name: str
    columns: tuple[Column, ...]
    engine_owned: bool = False
    table: str | None = None  # Excel table name for input sheets
    help: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def headers(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no column {name!r}")

    def letter(self, name: str) -> str:
        return col_letter(self.headers.index(name) + 1)


# Fixed choice lists. Each becomes a defined name `list_<key>` on the hidden Lists sheet.
LISTS: dict[str, tuple[str, ...]] = {
    "yesno": ("yes", "no"),
    "unit": ("hours", "lessons", "months"),
    "validity_starts": ("purchase", "first_use"),
    "period": ("none", "week", "month"),
    "policy": ("deduct", "free"),
    "apply_at": ("booking", "service"),
    "status": tuple(s.value for s in SessionStatus),
    "booked_by": ("client", "staff"),
    "action": (
        "sell",
        "top_up",
        "refund",
        "chargeback",
        "transfer",
        "freeze",
        "unfreeze",
        "extend",
        "adjust",
        "comp",
        "deactivate",
        "reactivate",
    ),
    "role": tuple(r.value for r in Role),
    "breakage_method": ("remote", "proportional"),
    "week_start": ("monday", "sunday"),
    "date_order": ("mdy", "dmy"),
    "action_status": ("", "applied", "rejected"),
    "period_start": ("calendar", "purchase"),
    "smtp_security": ("starttls", "ssl", "none"),
    "reminder_rule": ("low_balance", "used_up", "expiring", "owed", "statement"),
}

# Dropdowns fed by other sheets' id columns: defined name -> (sheet, column).
DYNAMIC_LISTS: dict[str, tuple[str, str]] = {
    "student_ids": ("Students", "student_id"),
    "product_ids": ("Products", "product_id"),
    "reason_codes": ("Reasons", "reason_code"),
}

# Settings: key -> (default, type, meaning). Order is the order shown in the template.
SETTINGS: dict[str, tuple[object, str, str]] = {
    "studio_name": ("My Studio", TEXT, "Shown on reports"),
    "currency": ("USD", TEXT, "ISO currency code for prices and refunds"),
    "timezone": ("UTC", TEXT, "IANA time zone of the studio, e.g. Europe/Rome"),
    "late_cancel_hours": (12, INT, "A cancellation this many hours or fewer before the start is late"),
    "low_balance_threshold": (2, QTY, "Alert when a package has this much or less left"),
    "expiry_warning_days": (7, INT, "Alert this many days before a package expires"),
    "refund_admin_fee": (0, MONEY, "Deducted from refunds after the first lesson"),
    "reserve_staff_bookings": ("yes", YESNO, "Staff bookings hold credit before the lesson"),
    "breakage_method": ("remote", CHOICE, "remote or proportional breakage recognition"),
    "makeup_validity_days": (0, INT, "Days a make-up credit lasts (0 = no make-ups)"),
    "makeup_max_per_quarter": (2, INT, "Most make-up credits per student per quarter"),
    "week_start": ("monday", CHOICE, "First day of a week for weekly credits (monday or sunday)"),
    "date_order": ("mdy", CHOICE, "How dates typed as text read: mdy (3/14/2026) or dmy (14/3/2026)"),
    # Reminders by email (xl-ledger remind). The password is never kept here: it comes from the
    # environment variable XL_LEDGER_SMTP_PASSWORD or the OS keyring.
    "smtp_host": (None, TEXT, "Mail server for reminders, e.g. smtp.example.com (blank: reminders are not sent)"),
    "smtp_port": (587, INT, "Mail server port: 587 for starttls, 465 for ssl"),
    "smtp_security": ("starttls", CHOICE, "starttls, ssl or none (none only for a server on this computer)"),
    "smtp_from": (None, TEXT, "Sender address of reminders, e.g. Studio <desk@example.com>"),
    "smtp_user": (None, TEXT, "Mail server login; the password: XL_LEDGER_SMTP_PASSWORD or the OS keyring"),
    "monthly_statement": ("no", YESNO, "yes: each family is mailed last month's statement in the first days of a month"),
    "iif_trnstype": ("GENERAL JOURNAL", CHOICE, "QuickBooks Desktop IIF: GENERAL JOURNAL (2019 on) or JOURNAL"),
    "require_upfront": ("no", YESNO, "Client bookings need credit when made; without it they are blocked"),
    "churn_weeks": (4, INT, "Dashboard: a student with credit and no lesson for this many weeks is at risk"),
}

SETTINGS_SHEET = Sheet(
    "Settings",
    (
        Column("key", ID, required=True, width=26),
        Column("value", TEXT, width=22),
        Column("meaning", TEXT, width=64),
    ),
    table="tblSettings",
    help="One setting per row. Blank values take the default.",
)

PRODUCTS = Sheet(
    "Products",
    (
        Column("product_id", ID, required=True, width=12),
        Column("name", TEXT, required=True, width=26),
        Column("unit", CHOICE, required=True, choices="unit", width=10),
        Column("quantity", QTY, required=True, width=10),
        Column("price", MONEY, required=True, width=12),
        Column("validity", TEXT, width=12, help="e.g. 3 months, 6 weeks, 90 days; blank = never"),
        Column("validity_starts", CHOICE, default="purchase", choices="validity_starts", width=14),
        Column("service", TEXT, width=14, help="blank = any service"),
        Column("period", CHOICE, default="none", choices="period", width=9),
        Column("per_period", QTY, width=11),
        Column("shared", YESNO, default="no", choices="yesno", width=9),
        Column("late_cancel", CHOICE, default="deduct", choices="policy", width=12),
        Column("no_show", CHOICE, default="deduct", choices="policy", width=10),
        Column("negative_limit", QTY, default=0, width=14),
        Column("auto_renew", YESNO, default="no", choices="yesno", width=11),
        Column("apply_at", CHOICE, default="booking", choices="apply_at", width=10),
        Column("priority", INT, default=100, width=9),
        Column("intro_only", YESNO, default="no", choices="yesno", width=11),
        Column("rollover_days", INT, default=0, width=13),
        Column("rollover_cap", QTY, width=12),
        Column("active", YESNO, default="yes", choices="yesno", width=8),
        Column("period_start", CHOICE, default="calendar", choices="period_start", width=12,
               help="months of a monthly allowance or months pack: calendar (from the 1st) or purchase "
                    "(from the purchase day)"),
        Column("location", TEXT, width=12, help="blank = usable at every location; else the only location "
                                                "where its lessons can be taken"),
    ),
    table="tblProducts",
    help="The package catalogue.",
)

STUDENTS = Sheet(
    "Students",
    (
        Column("student_id", ID, required=True, width=12),
        Column("name", TEXT, required=True, width=24),
        Column("family_id", ID, width=12),
        Column("email", TEXT, width=28),
        Column("active", YESNO, default="yes", choices="yesno", width=8),
        Column("family_contact", YESNO, choices="yesno", width=14,
               help="yes on one member of a family: the family's reminders and statements go to this email"),
    ),
    table="tblStudents",
)

SESSIONS = Sheet(
    "Sessions",
    (
        Column("session_id", ID, required=True, width=12),
        Column("date", DATE, required=True, width=12),
        Column("start", TEXT, width=8, help="time of day, e.g. 16:30"),
        Column("minutes", INT, width=9),
        Column("student_id", ID, required=True, choices="student_ids", width=12),
        Column("service", TEXT, width=14),
        Column("status", CHOICE, required=True, choices="status", width=15),
        Column("booked_by", CHOICE, default="staff", choices="booked_by", width=10),
        Column("credits", QTY, default=1, width=9),
        Column("paid_separately", YESNO, default="no", choices="yesno", width=14),
        Column("cancelled_at", DATETIME, width=17),
        Column("note", TEXT, width=30),
        Column("desk", TEXT, width=12, help="engine: the desk that recorded the row (a shared ledger only)"),
        Column("location", TEXT, width=12, help="where the lesson is given (a studio with several locations)"),
    ),
    table="tblSessions",
    help="The schedule and the attendance register. Never delete a row to cancel: set status.",
    # Just wider than a page (196 of 185): split in two, its second half was pages of session ids and
    # mostly empty columns. One page wide at 94 % reads as well.
    extra={"pages_wide": 1},
)

ACTIONS = Sheet(
    "Actions",
    (
        Column("action", CHOICE, required=True, choices="action", width=12),
        Column("date", DATE, width=12),
        Column("student_id", ID, choices="student_ids", width=12),
        Column("package_id", ID, width=12),
        Column("product_id", ID, choices="product_ids", width=12),
        Column("quantity", QTY, width=10),
        Column("amount", MONEY, width=12),
        Column("reason_code", ID, choices="reason_codes", width=16),
        Column("to_student_id", ID, choices="student_ids", width=13),
        Column("days", INT, width=7),
        Column("note", TEXT, width=28),
        Column("status", CHOICE, choices="action_status", width=10, help="engine"),
        Column("message", TEXT, width=48, help="engine"),
        Column("log_seq", INT, width=9, help="engine"),
        Column("desk", TEXT, width=12, help="engine: the desk that recorded the row (a shared ledger only)"),
        Column("location", TEXT, width=12, help="where a sale or comp is made: the pack's home location"),
        Column("payment_ref", TEXT, width=26,
               help="the card processor's id of the payment or refund (Stripe ch_…, py_… or re_…): tieout matches by it"),
    ),
    table="tblActions",
    help="Everything else: sales, refunds, transfers, freezes, corrections. Post applies new rows.",
)

STAFF = Sheet(
    "Staff",
    (
        Column("user", ID, required=True, width=18),
        Column("role", CHOICE, required=True, choices="role", width=10),
    ),
    table="tblStaff",
    help="Who may post. No rows = single-owner mode.",
)

REASONS = Sheet(
    "Reasons",
    (
        Column("reason_code", ID, required=True, width=20),
        Column("meaning", TEXT, width=50),
    ),
    table="tblReasons",
)

# Reason codes shipped in the template: the Log's list before any reason_set row (core/events.py).
DEFAULT_REASONS = _events.DEFAULT_REASONS

# Reminder texts: a subject and a body per rule, with $placeholders (xl_ledger/reminders/templates.py).
TEMPLATES = Sheet(
    "Templates",
    (
        Column("rule", CHOICE, required=True, choices="reminder_rule", width=14),
        Column("subject", TEXT, required=True, width=40),
        Column("body", TEXT, required=True, width=90),
    ),
    table="tblTemplates",
    help="Reminder emails: one row per rule. $student $family $remaining $unit $expiry_date $studio $value.",
)

# Shipped in the template; a rule with no row here uses the same text.
DEFAULT_TEMPLATES: tuple[tuple[str, str, str], ...] = (
    ("low_balance", "$studio: $remaining $unit left for $student",
     "Hello,\n\n$student has $remaining $unit left on $product ($value). To keep lessons going without a gap, "
     "please renew before they run out.\n\nThank you,\n$studio"),
    ("used_up", "$studio: no $unit left for $student",
     "Hello,\n\n$student has used every one of the $unit on $product. The next lesson needs a new package."
     "\n\nThank you,\n$studio"),
    ("expiring", "$studio: $remaining $unit for $student expire on $expiry_date",
     "Hello,\n\n$remaining $unit on $product ($value) for $student expire on $expiry_date. Book your "
     "remaining lessons before then.\n\nThank you,\n$studio"),
    ("owed", "$studio: a lesson of $student is not covered",
     "Hello,\n\n$student's lesson on $session_date is not covered by a package ($remaining $unit owed). "
     "Please buy a package or pay for it at the desk.\n\nThank you,\n$studio"),
    ("statement", "$studio: statement for $family, $period",
     "Hello,\n\nHere is the statement for $family for $period: $closing left at the end of it. The full "
     "statement is attached.\n\nThank you,\n$studio"),
)

AUDIT = Sheet(
    "Audit",
    (
        Column("seq", INT, width=7),
        Column("recorded_at", TEXT, width=21),
        Column("operator", ID, width=12),
        Column("effective_date", DATE, width=12),
        Column("what", TEXT, width=28),
        Column("student_id", ID, width=11),
        Column("package_id", ID, width=11),
        Column("quantity", QTY, width=9),
        Column("amount", MONEY, width=11),
        Column("reason_code", ID, width=15),
        Column("reason", TEXT, width=34),
        Column("note", TEXT, width=30),
        Column("source", TEXT, width=26),
    ),
    engine_owned=True,
    extra={"pages_wide": 1},  # printed to keep with the close: a change's reason on the same page as its who and when
)

# The payout tie-out (xl-ledger tieout): one row per processor transaction, per payout, per ledger payment the
# processor does not have, and per bank deposit that is no payout of the file (accounting/tieout.py).
TIEOUT = Sheet(
    "Tieout",
    (
        Column("status", ID, width=15),
        Column("payout_id", ID, width=24),
        Column("date", DATE, width=11),
        Column("category", ID, width=11),
        Column("processor_id", ID, width=26, help="the balance transaction (txn_…), or the payout's bank row"),
        Column("gross", MONEY, width=11),
        Column("fee", MONEY, width=9),
        Column("net", MONEY, width=11),
        Column("log_seq", INT, width=8),
        Column("source", TEXT, width=24),
        Column("student_id", ID, width=11),
        Column("package_id", ID, width=11),
        Column("ledger_amount", MONEY, width=13),
        Column("bank_deposit", MONEY, width=13),
        Column("matched_by", TEXT, width=20),
        Column("message", TEXT, width=60),
    ),
    engine_owned=True,
    extra={"pages_wide": 1},  # a row's message on the same page as its amounts
)

ACCOUNTS = Sheet(
    "Accounts",
    (
        Column("account", ID, required=True, width=20, help="what the journal export books here"),
        Column("name", TEXT, width=26, help="the account's name in QuickBooks (Parent:Sub for a sub-account)"),
        Column("code", TEXT, width=10, help="the account's code in Xero"),
        Column("tax_rate", TEXT, width=16, help="Xero's tax rate name, e.g. Tax Exempt"),
    ),
    table="tblAccounts",
    help="The accounts the month-end journal exports use. Change the names and codes to your chart of accounts.",
)

# The accounts the journal exports book to, with names and codes a small studio can start from.
DEFAULT_ACCOUNTS: tuple[tuple[str, str, str, str], ...] = (
    ("clearing", "Stripe Clearing", "610", "Tax Exempt"),
    ("deferred_revenue", "Deferred Revenue", "820", "Tax Exempt"),
    ("class_revenue", "Class Revenue", "200", "Tax Exempt"),
    ("breakage_income", "Breakage Income", "260", "Tax Exempt"),
    ("refund_fees", "Refund Fee Income", "270", "Tax Exempt"),
    ("chargeback_losses", "Chargeback Losses", "480", "Tax Exempt"),
    ("credit_adjustments", "Credit Adjustments", "485", "Tax Exempt"),
)

LOG = Sheet(
    "Log",
    (
        Column("seq", INT, width=8),
        Column("recorded_at", TEXT, width=21),
        Column("operator", ID, width=12),
        Column("kind", ID, width=16),
        Column("effective_date", DATE, width=12),
        Column("student_id", ID, width=11),
        Column("package_id", ID, width=11),
        Column("session_id", ID, width=11),
        Column("quantity", TEXT, width=9),
        Column("unit", ID, width=8),
        Column("amount", TEXT, width=10),
        Column("reason_code", ID, width=14),
        Column("note", TEXT, width=24),
        Column("source", TEXT, width=18),
        Column("prev_hash", TEXT, width=18),
        Column("hash", TEXT, width=18),
        Column("data", JSON, width=40),
    ),
    engine_owned=True,
    help="The immutable journal. Never edit: post a correction instead.",
)

PACKAGES = Sheet(
    "Packages",
    (
        Column("package_id", ID, width=12),
        Column("owner", ID, width=11),
        Column("product_id", ID, width=12),
        Column("unit", ID, width=9),
        Column("total", QTY, width=9),
        Column("used", QTY, width=9),
        Column("reserved", QTY, width=10),
        Column("remaining", QTY, width=11),
        Column("value_remaining", MONEY, width=16,
               help="remaining plus reserved, in money: what the studio owes (the liability adds these up)"),
        Column("expires_on", DATE, width=12),
        Column("status", ID, width=11),
        Column("purchased_on", DATE, width=13),
        Column("price", MONEY, width=11),
        Column("refunded", MONEY, width=11),
        Column("expired", QTY, width=9),
        Column("frozen_until", DATE, width=13),
        Column("product_name", TEXT, width=26),
        Column("type", ID, width=10, help="one-time, or recurring (auto-renews)"),
        Column("start_date", DATE, width=12, help="first valid day: the purchase, or the first lesson"),
        Column("service", TEXT, width=14, help="blank = any service"),
        Column("check", TEXT, width=13, help="engine: fingerprint of this row as written; typed-over cells break it"),
    ),
    engine_owned=True,
)

BALANCES = Sheet(
    "Balances",
    (
        Column("student_id", ID, width=12),
        Column("name", TEXT, width=24),
        Column("family_id", ID, width=11),
        Column("unit", ID, width=9),
        Column("remaining", QTY, width=11),
        Column("owed_sessions", INT, width=14),
        Column("next_expiry", DATE, width=12),
        Column("value_remaining", MONEY, width=16,
               help="remaining plus what bookings hold, in money: what the studio owes (adds up to the liability)"),
        Column("can_use", QTY, width=9, help="remaining plus the family's shared pool"),
        Column("owed_value", MONEY, width=11, help="owed sessions at the unit value of the latest package"),
        Column("location", TEXT, width=12, help="a location's line: packs sold there (all = the whole chain)"),
        Column("check", TEXT, width=13, help="engine: fingerprint of this row as written; typed-over cells break it"),
    ),
    engine_owned=True,
)

ALLOCATIONS = Sheet(
    "Allocations",
    (
        Column("session_id", ID, width=12),
        Column("date", DATE, width=12),
        Column("student_id", ID, width=12),
        Column("status", ID, width=14),
        Column("package_id", ID, width=12),
        Column("lot", ID, width=14),
        Column("quantity", QTY, width=10),
        Column("unit", ID, width=9),
        Column("state", ID, width=10, help="used, reserved or owed"),
    ),
    engine_owned=True,
)

ALERTS = Sheet(
    "Alerts",
    (
        Column("kind", ID, width=14),
        Column("student_id", ID, width=12),
        Column("package_id", ID, width=12),
        Column("where", TEXT, width=26),
        Column("message", TEXT, width=110),
        Column("found", TEXT, width=14),
        Column("expected", TEXT, width=14),
    ),
    engine_owned=True,
    extra={"pages_wide": 1},  # a message split from its row on another page cannot be read
)

REPORT = Sheet(
    "Report",
    (
        Column("month", TEXT, width=10),
        Column("sales", MONEY, width=12),
        Column("delivered", MONEY, width=12),
        Column("refunds", MONEY, width=12),
        Column("chargebacks", MONEY, width=12),
        Column("breakage", MONEY, width=12),
        Column("liability_start", MONEY, width=15),
        Column("liability_end", MONEY, width=14),
        Column("adjustments", MONEY, width=12),
        Column("sales_count", INT, width=12),
        Column("sessions_delivered", INT, width=18),
        Column("refunds_paid", MONEY, width=13),
        Column("chargebacks_paid", MONEY, width=17),
        Column("comps", INT, width=8),
        Column("comps_list_value", MONEY, width=17),
        Column("expiring_next_month", MONEY, width=20),
        Column("expiring_2_3_months", MONEY, width=20),
        Column("expiring_later", MONEY, width=15),
        Column("no_expiry", MONEY, width=12),
        Column("sales_by_product", TEXT, width=100),
        Column("location", TEXT, width=12, help="blank or all: the whole chain; else the packs sold there"),
    ),
    engine_owned=True,
)

REPORT_CHART_MONTHS = 12  # the Report chart reads this many rows (the latest year, newest first)

# Reminders, one row per change of a message's state (append-only: a row is never rewritten). A message's
# state is its key's last row; the key (package + rule + threshold crossed) is what makes it sent once.
OUTBOX = Sheet(
    "Outbox",
    (
        Column("time", TEXT, width=20),
        Column("key", ID, width=34),
        Column("status", ID, width=9),
        Column("rule", ID, width=12),
        Column("to", TEXT, width=28),
        Column("subject", TEXT, width=40),
        Column("answer", TEXT, width=44),
        Column("student_id", ID, width=11),
        Column("package_id", ID, width=11),
        Column("body", TEXT, width=60),
    ),
    engine_owned=True,
)

# A printable statement for one family or student, filled by the ribbon's Statement button or
# `xl-ledger statement --sheet` (statements/sheet.py); Post leaves it as it is.
STATEMENT = Sheet(
    "Statement",
    (
        Column("date", TEXT, width=11),
        Column("what", TEXT, width=30),
        Column("who", TEXT, width=16),
        Column("change", QTY, width=8),
        Column("balance", QTY, width=8),
        Column("recorded_by", TEXT, width=12),
        Column("reason", TEXT, width=14),
        Column("source", TEXT, width=14),
        Column("note", TEXT, width=44),
    ),
    engine_owned=True,
)

DASHBOARD = Sheet(
    "Dashboard",
    (
        Column("section", ID, width=12),
        Column("item", TEXT, width=44),
        Column("value", MONEY, width=13),
        Column("quantity", QTY, width=10),
        Column("unit", ID, width=9),
        Column("student_id", ID, width=12),
        Column("name", TEXT, width=18),
        Column("date", DATE, width=12),
        Column("package_id", ID, width=12),
    ),
    engine_owned=True,
    help="The owner's day: liability, credit expiring in 30 days, low balances, owed lessons, churn risk.",
    extra={"pages_wide": 1},  # the chart beside the lines, on the same page
)

MIGRATION = Sheet(
    "Migration",
    (
        Column("student", TEXT, width=22),
        Column("package", TEXT, width=16),
        Column("legacy_remaining", QTY, width=16),
        Column("recomputed_remaining", QTY, width=20),
        Column("difference", QTY, width=11),
        Column("cells", TEXT, width=30),
        Column("finding", TEXT, width=60),
    ),
    engine_owned=True,
)

INPUT_SHEETS: tuple[Sheet, ...] = (SETTINGS_SHEET, PRODUCTS, STUDENTS, SESSIONS, ACTIONS, STAFF, REASONS,
                                   TEMPLATES, ACCOUNTS)
ENGINE_SHEETS: tuple[Sheet, ...] = (PACKAGES, BALANCES, ALLOCATIONS, ALERTS, REPORT, MIGRATION, LOG, OUTBOX,
                                    STATEMENT, AUDIT, TIEOUT, DASHBOARD)
ALL_SHEETS: tuple[Sheet, ...] = INPUT_SHEETS + ENGINE_SHEETS
BY_NAME: dict[str, Sheet] = {s.name: s for s in ALL_SHEETS}

# Number formats by column type, used as each column's default style in the template so that any
# writer reusing a column's `<col style=...>` gets the right format. MONEY depends on the currency.
NUMBER_FORMATS: dict[str, str] = {
    DATE: "yyyy-mm-dd",
    DATETIME: "yyyy-mm-dd hh:mm",
    INT: "0",
    QTY: "0.00",
    ID: "@",  # ids stay text: "007" and "7" are different students
}

# Currency code -> Excel money format. Unknown codes show the ISO code after the amount.
_CURRENCY_FORMATS: dict[str, str] = {
    "USD": '"$"#,##0.00',
    "CAD": '"$"#,##0.00',
    "AUD": '"$"#,##0.00',
    "NZD": '"$"#,##0.00',
    "EUR": '#,##0.00 "€"',
    "GBP": '"£"#,##0.00',
    "CHF": '"CHF "#,##0.00',
    "JPY": '"¥"#,##0',
}


def money_format(currency: str) -> str:
    """The number format for money columns in `currency` (an ISO 4217 code)."""
    code = (currency or "USD").strip().upper()
    return _CURRENCY_FORMATS.get(code, f'#,##0.00 "{code}"')


def number_format(kind: str, money: str) -> str | None:
    """The number format of a column of type `kind`, money in `money` (a money_format): the one home of
    column formats. The template's column styles, the FileStore's money rewrite and the LiveStore's
    formats in live Excel all come from here. None: text, no format of its own."""
    return (money or None) if kind == MONEY else NUMBER_FORMATS.get(kind)


def column_formats(sheet: Sheet, money: str) -> list[tuple[int, str]]:
    """(0-based column, number format) for the columns of `sheet` that have one. The Log is text but for
    `seq` (the hash chain covers its text), so it has only that one."""
    if sheet.name == "Log":
        return [(0, NUMBER_FORMATS[INT])]
    return [(i, code) for i, c in enumerate(sheet.columns) if (code := number_format(c.type, money))]


def is_money_format(code: str) -> bool:
    """Whether a number format is one money_format writes (for any currency)."""
    return code in _CURRENCY_FORMATS.values() or bool(re.fullmatch(r'#,##0\.00 "[A-Z]{3}"', code))


# Sheets that are not tables of rows.
START_SHEET = "Start"
LISTS_SHEET = "Lists"
XLWINGS_CONF_SHEET = "xlwings.conf"

# The Start sheet: the flow in five lines.
START_LINES: tuple[str, ...] = (
    "1. Describe your studio in Settings, your packages in Products, your people in Students (and Staff).",
    "2. Record lessons in Sessions: one row per lesson, then change its status; never delete a row.",
    "3. Sales, refunds, transfers, freezes and corrections go in Actions (the Ledger ribbon pre-fills them).",
    "4. Press Ledger > Post: every new row is checked, written to the Log, and marked applied or rejected.",
    "5. Read Packages, Balances and Alerts; they are recomputed from the Log, so never type in them.",
)

# Product terms the Start sheet explains below its list of sheets (what a column's choices mean).
START_NOTES: tuple[str, ...] = (
    "Products period_start: calendar (default) gives a monthly allowance or months pack calendar months, the "
    "first one from the 1st of the purchase month; purchase counts months from the purchase day (27 Nov to 26 "
    "Dec, ...). Each month's credit expires at the end of its own month.",
    "Weekly credits of a pack valid N weeks or days count seven-day weeks from the purchase day (or the first "
    "lesson, with validity_starts = first_use).",
)

# The Log's columns are owned by the hash chain (the core); the sheet must match them exactly.
from xl_ledger.core.chain import LOG_COLUMNS as _LOG_COLUMNS  # noqa: E402

assert LOG.headers == _LOG_COLUMNS, "schema.LOG and core.chain.LOG_COLUMNS disagree"
