"""QuickBooks Desktop: IIF general journal (File > Utilities > Import > IIF Files).

Tab-separated, CRLF line ends. Three header rows (!TRNS, !SPL, !ENDTRNS), then per journal one TRNS
line, SPL lines and ENDTRNS; AMOUNT is positive for a debit and negative for a credit, and a block
sums to 0. TRNSTYPE is the Settings `iif_trnstype`: GENERAL JOURNAL for QuickBooks 2019 and later,
JOURNAL before. Dates MM/DD/YYYY. Text cells are escaped (xl_ledger/csvsafe.py) and never hold a tab.
"""

from __future__ import annotations

from xl_ledger import csvsafe
from xl_ledger.accounting.journal import Journal
from xl_ledger.accounting.journal import amount
from xl_ledger.accounting.journal import one_line

FIELDS = ("TRNSID", "TRNSTYPE", "DATE", "ACCNT", "NAME", "AMOUNT", "DOCNUM", "MEMO")
EXTENSION = "iif"
TRNSTYPES = {"general_journal": "GENERAL JOURNAL", "journal": "JOURNAL"}


def write(journals: list[Journal], *, iif_trnstype: str = "general_journal", **_settings) -> list[bytes]:
    kind = TRNSTYPES[iif_trnstype]
    rows = [("!TRNS",) + FIELDS, ("!SPL", "SPLID") + FIELDS[1:], ("!ENDTRNS",)]
    for j in journals:
        for i, line in enumerate(j.lines):
            value = line.debit - line.credit
            rows.append(("TRNS" if i == 0 else "SPL", "", kind, j.date.strftime("%m/%d/%Y"),
                         csvsafe.escape(one_line(line.account.name)), "", amount(value), csvsafe.escape(j.number),
                         csvsafe.escape(one_line(f"{line.description}; {j.memo}"))))
        rows.append(("ENDTRNS",))
    return ["".join("\t".join(r) + "\r\n" for r in rows).encode("utf-8")]
