"""Xero: Manual journals import (the downloaded CSV template).

Columns Narration, Date, Description, AccountCode, TaxRate, Amount, TrackingName1, TrackingOption1,
TrackingName2, TrackingOption2; rows with the same Narration and Date are one journal; dates dd/mm/yyyy;
positive amounts are debits, negative credits; the account's code, not its name; at most 300 lines a
file, so journals are split across files whole (a journal split in two would be two unbalanced ones).
Text cells are escaped (xl_ledger/csvsafe.py); amounts are numbers, a credit's minus sign included.
"""

from __future__ import annotations

import csv
import io

from xl_ledger import csvsafe
from xl_ledger.accounting.journal import Journal
from xl_ledger.accounting.journal import Unbalanced
from xl_ledger.accounting.journal import amount
from xl_ledger.accounting.journal import one_line

HEADERS = ("Narration", "Date", "Description", "AccountCode", "TaxRate", "Amount", "TrackingName1",
           "TrackingOption1", "TrackingName2", "TrackingOption2")
EXTENSION = "csv"
MAX_LINES = 300


def write(journals: list[Journal], *, max_lines: int = MAX_LINES, **_settings) -> list[bytes]:
    files: list[list[tuple]] = [[]]
    for j in journals:
        if len(j.lines) > max_lines:
            raise Unbalanced(f"the {j.number} journal has {len(j.lines)} lines; Xero takes at most {max_lines} a file")
        rows = [(csvsafe.escape(one_line(j.memo)), j.date.strftime("%d/%m/%Y"), csvsafe.escape(one_line(x.description)),
                 csvsafe.escape(x.account.code), csvsafe.escape(x.account.tax_rate), amount(x.debit - x.credit),
                 "", "", "", "") for x in j.lines]
        if len(files[-1]) + len(rows) > max_lines:
            files.append([])
        files[-1].extend(rows)
    out = []
    for rows in files:
        buf = io.StringIO(newline="")
        w = csv.writer(buf, lineterminator="\r\n")
        w.writerow(HEADERS)
        w.writerows(rows)
        out.append(buf.getvalue().encode("utf-8"))
    return out
