"""Worksheet functions (xlwings UDFs, Windows Excel only).

The VBA wrappers in `vba/xlwings_udfs.bas` are generated ahead of time from these decorators by
`xl_ledger.excel.sources` (users never need "Import Functions" or VBA-project trust). Changing a
signature or decorator means regenerating: `python scripts/build_template.py`.

Each function's docstring (one short paragraph) and its `@xw.arg(..., doc=...)` texts are what Excel's
Insert Function dialog shows: `vba/LedgerFunctions.bas` (generated from them, the same metadata xlwings'
"Import Functions" would pass to Application.MacroOptions) registers them, under the category
"xl-ledger", when the workbook opens. Excel limits each text to 255 characters.

Every function takes a hidden `caller` argument: xlwings passes the calling cell (it is not shown in
Excel), which is how a function finds its workbook's Log. Keep the functions few and cheap: each call
is a round trip to Python (see the research notes on per-cell UDF cost).
"""

from __future__ import annotations

import datetime as dt

import xlwings as xw

from xl_ledger.core import chain
from xl_ledger.core import queries
from xl_ledger.excel import cache
from xl_ledger.excel import config

_CATEGORY = "xl-ledger"
HISTORY_HEADER = ["date", "what", "package_id", "session_id", "by_student", "change", "unit", "balance"]


def _book(caller):
    return caller.sheet.book if caller is not None else xw.Book.caller()


def _id(value) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = "" if value is None else str(value).strip()
    if not text:
        raise ValueError("give an id (a cell with the student or package id)")
    return text


def _date(value):
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value).strip()[:10])


def _student(state, student_id):
    sid = _id(student_id)
    if sid not in state.students:
        raise ValueError(f"no student {sid!r} in the Log: add them on Students and post")
    return sid


def _package(state, package_id):
    pid = _id(package_id)
    if pid not in state.packages:
        raise ValueError(f"no package {pid!r} in the Log (package ids are on the Packages sheet)")
    return pid


def _state(caller, as_of=None):
    return cache.ledger(_book(caller)).state(_date(as_of))



@xw.func(category=_CATEGORY)
@xw.arg("student_id", doc="The student's id, as on the Students sheet (a cell holding it, e.g. A2).")
@xw.arg("unit", doc="Optional: the unit to count (lessons, hours, ...). Leave it out when the student has one unit.")
@xw.arg("as_of", dates=dt.date, doc="Optional: the date to answer for. Default: today in the studio's time zone.")
def LEDGER_BALANCE(student_id, unit=None, as_of=None, caller=None):
    """Credits a student has left (in the given unit, or their only unit) as of a date (default today)."""
    state = _state(caller, as_of)
    return float(queries.balance(state, _student(state, student_id), str(unit).strip() if unit else None))


@xw.func(category=_CATEGORY)
@xw.arg("package_id", doc="The package id, as on the Packages sheet (e.g. PK-1).")
@xw.arg("as_of", dates=dt.date, doc="Optional: the date to answer for. Default: today in the studio's time zone.")
def LEDGER_REMAINING(package_id, as_of=None, caller=None):
    """Credits left on one package as of a date (default today)."""
    state = _state(caller, as_of)
    return float(queries.remaining(state, _package(state, package_id)))


@xw.func(category=_CATEGORY)
@xw.arg("student_id", doc="The student's id, as on the Students sheet (a cell holding it, e.g. A2).")
def LEDGER_NEXT_EXPIRY(student_id, caller=None):
    """The date the student's next package with credit left expires (blank if none expires)."""
    state = _state(caller)
    return queries.next_expiry(state, _student(state, student_id))


@xw.func(category=_CATEGORY)
@xw.arg("package_id", doc="The package id, as on the Packages sheet (e.g. PK-1).")
@xw.arg("as_of", dates=dt.date, doc="Optional: the date to answer for. Default: today in the studio's time zone.")
def LEDGER_REFUND_QUOTE(package_id, as_of=None, caller=None):
    """What a refund of the package would pay as of a date, under the refund rules and admin fee."""
    state = _state(caller, as_of)
    return float(queries.refund_quote(state, _package(state, package_id)))


@xw.func(category=_CATEGORY)
@xw.arg("as_of", dates=dt.date, doc="Optional: the date to answer for. Default: today in the studio's time zone.")
def LEDGER_LIABILITY(as_of=None, caller=None):
    """Money held for credit not yet delivered: remaining credit times unit value, over all packages."""
    return float(queries.liability(_state(caller, as_of)))


@xw.func(category=_CATEGORY)
def LEDGER_VERIFY(caller=None):
    """'OK' if the Log's hash chain verifies, else the first row that no longer matches."""
    rows = cache.LiveStore(_book(caller)).read_log()  # always read: tampering may keep the head
    broken = chain.verify(rows, config.owner_key())
    if broken is None:
        return f"OK: {len(rows)} Log rows verify"
    return f"Log!A{broken.index + 2} (seq {broken.seq}): {broken.explanation}"


@xw.func(category=_CATEGORY)
@xw.arg("student_id", doc="The student's id, as on the Students sheet (a cell holding it, e.g. A2).")
def LEDGER_HISTORY(student_id, caller=None):
    """Every movement of the student's credit, with a header row; balance is the package's running balance.

    The same lines as the history command, as a dynamic array that spills down.
    """
    from xl_ledger.core import movements
    from xl_ledger.core.scope import Scopes

    ledger = cache.ledger(_book(caller))
    state = ledger.state()
    sid = _student(state, student_id)
    stmt = movements.statement(Scopes(ledger.entries).entries_for([sid]), [sid], None, state.as_of)
    return [HISTORY_HEADER] + [[m.date, str(m.kind), m.package_id, m.session_id or "", m.student_id or "",
                                float(m.change), m.unit, float(m.balance)] for m in stmt.lines]
