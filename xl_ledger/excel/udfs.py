"""Worksheet functions (xlwings UDFs, Windows Excel only).

The VBA wrappers in `vba/xlwings_udfs.bas` are generated ahead of time from these decorators by
`xl_ledger.excel.sources` (users never need "Import Functions" or VBA-project trust). Changing a
signature or decorator means regenerating: `python scripts/build_template.py`.

Every function takes a hidden `caller` argument: xlwings passes the calling cell (it is not shown in
Excel), which is how a function finds its workbook's Log. Keep the functions few and cheap: each call
is a round trip to Python (see the research notes on per-cell UDF cost).
"""

from __future__ import annotations

import datetime as dt

import xlwings as xw

_CATEGORY = "Ledger"


@xw.func(category=_CATEGORY)
@xw.arg("as_of", dates=dt.date)
def LEDGER_BALANCE(student_id, unit=None, as_of=None, caller=None):
    """Credits a student has left (in `unit`, or the student's only unit) as of a date (default today)."""
    raise NotImplementedError("issue 5")  # TODO(issue 5): body


@xw.func(category=_CATEGORY)
@xw.arg("as_of", dates=dt.date)
def LEDGER_REMAINING(package_id, as_of=None, caller=None):
    """Credits left on one package as of a date (default today)."""
    raise NotImplementedError("issue 5")  # TODO(issue 5): body


@xw.func(category=_CATEGORY)
def LEDGER_NEXT_EXPIRY(student_id, caller=None):
    """The date the student's next package with credit left expires (blank if none expires)."""
    raise NotImplementedError("issue 5")  # TODO(issue 5): body


@xw.func(category=_CATEGORY)
@xw.arg("as_of", dates=dt.date)
def LEDGER_REFUND_QUOTE(package_id, as_of=None, caller=None):
    """What a refund of the package would pay as of a date, under the refund rules and admin fee."""
    raise NotImplementedError("issue 5")  # TODO(issue 5): body


@xw.func(category=_CATEGORY)
@xw.arg("as_of", dates=dt.date)
def LEDGER_LIABILITY(as_of=None, caller=None):
    """Money held for credit not yet delivered (remaining x unit value over all packages)."""
    raise NotImplementedError("issue 5")  # TODO(issue 5): body


@xw.func(category=_CATEGORY)
def LEDGER_VERIFY(caller=None):
    """'OK' if the Log's hash chain verifies, else the first row that no longer matches."""
    raise NotImplementedError("issue 5")  # TODO(issue 5): body


@xw.func(category=_CATEGORY)
def LEDGER_HISTORY(student_id, caller=None):
    """The student's Log rows with a header row, as a dynamic array that spills down."""
    raise NotImplementedError("issue 5")  # TODO(issue 5): body
