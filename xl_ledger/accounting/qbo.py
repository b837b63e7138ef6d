"""QuickBooks Online: Import journal entries (CSV).

Columns Journal No., Journal Date, Account Name, Debits, Credits, Description, Name; dates MM/DD/YYYY;
rows with the same Journal No. are one entry and must balance; account names, not numbers; a debit
line leaves Credits blank and the other way round. Comma-separated, CRLF, no byte-order mark (the
importer would read it into the first header). Text cells are escaped (xl_ledger/csvsafe.py).
"""

from __future__ import annotations

import csv
import io

from xl_ledger import csvsafe
from xl_ledger.accounting.journal import Journal
from xl_ledger.accounting.journal import amount
from xl_ledger.accounting.journal import one_line

HEADERS = ("Journal No.", "Journal Date", "Account Name", "Debits", "Credits", "Description", "Name")
EXTENSION = "csv"


def write(journals: list[Journal], **_settings) -> list[bytes]:
    out = io.StringIO(newline="")
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(HEADERS)
    for j in journals:
        for line in j.lines:
            w.writerow((csvsafe.escape(j.number), j.date.strftime("%m/%d/%Y"),
                        csvsafe.escape(one_line(line.account.name)),
                        amount(line.debit) if line.debit else "", amount(line.credit) if line.credit else "",
                        csvsafe.escape(one_line(f"{line.description}; {j.memo}")), ""))
    return [out.getvalue().encode("utf-8")]
