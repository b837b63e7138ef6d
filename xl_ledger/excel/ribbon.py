"""The Ledger ribbon tab, defined once.

Both `customUI.xml` (the tab) and `vba/LedgerRibbon.bas` (one VBA callback per button) are generated
from BUTTONS by `xl_ledger.excel.sources`; a test checks the committed files are current. Each
callback runs exactly one Python function of `xl_ledger.excel.macros` through xlwings' RunPython.
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.sax.saxutils import quoteattr

MACROS_MODULE = "xl_ledger.excel.macros"
VBA_MODULE = "LedgerRibbon"
CUSTOMUI_NS = "http://schemas.microsoft.com/office/2006/01/customui"


@dataclass(frozen=True)
class Button:
    id: str
    label: str
    image: str  # a built-in Office icon (imageMso)
    screentip: str
    supertip: str
    function: str  # function name in MACROS_MODULE
    group: str

    @property
    def sub(self) -> str:
        """The VBA callback's name: OnPost, OnImportLegacy, ..."""
        return "On" + "".join(part.capitalize() for part in self.id.split("_"))

    @property
    def on_action(self) -> str:
        return f"{VBA_MODULE}.{self.sub}"

    @property
    def python_command(self) -> str:
        return f"import {MACROS_MODULE} as m; m.{self.function}()"


GROUPS: tuple[tuple[str, str], ...] = (
    ("grpDaily", "Daily"),
    ("grpCheck", "Check"),
    ("grpMonthEnd", "Month-end"),
    ("grpSetup", "Setup"),
)

BUTTONS: tuple[Button, ...] = (
    Button("post", "Post", "AcceptInvitation", "Post new rows",
           "Checks every new or changed row in Sessions and Actions, writes the good ones to the Log "
           "and marks the rest rejected with a message. Nothing is written if anything fails.",
           "post", "grpDaily"),
    Button("sell", "Sell/Top-up", "DollarSign", "Sell or top up a package",
           "Adds a sell row to Actions for the selected student, ready to complete and post.",
           "sell", "grpDaily"),
    Button("refund", "Refund", "Undo", "Refund a package",
           "Adds a refund row to Actions with the amount due under your refund rules.",
           "refund", "grpDaily"),
    Button("transfer", "Transfer", "Forward", "Transfer credit",
           "Adds a transfer row to Actions: move credit to another student (a reason code is required).",
           "transfer", "grpDaily"),
    Button("freeze", "Freeze", "Lock", "Freeze a package",
           "Adds a freeze row to Actions: the package pauses and its expiry moves by the frozen days.",
           "freeze", "grpDaily"),
    Button("adjust", "Adjust", "PropertySheet", "Correct a balance",
           "Adds an adjust row to Actions. Corrections are new rows with a reason code, never edited numbers.",
           "adjust", "grpDaily"),
    Button("verify", "Verify", "ReviewAcceptChange", "Verify the Log",
           "Recomputes the hash chain of the Log and names the first row that no longer matches.",
           "verify", "grpCheck"),
    Button("alerts", "Alerts", "HighImportance", "Refresh alerts",
           "Lists low balances, packages expiring soon, owed sessions, rejected rows and hand-typed drift.",
           "alerts", "grpCheck"),
    Button("statement", "Statement", "FilePrintPreview", "A family's statement",
           "Fills the Statement sheet for the selected student's family: every movement of their credit, "
           "opening and closing balances, the studio's policy. Ready to print.",
           "statement", "grpCheck"),
    Button("remind", "Reminders", "FileSendAsAttachment", "Queue reminder emails",
           "Adds the reminders due today (low balance, expiring, owed) to the Outbox sheet for review; "
           "`xl-ledger remind --send` sends them.",
           "remind", "grpCheck"),
    Button("close_month", "Close month", "ReviewProtectWorkbook", "Close a month",
           "Closes the month of the selected Report row (else last month): rows dated in it are rejected from "
           "now on and its Report row stays as it is. Needs an admin or the owner.",
           "close_month", "grpMonthEnd"),
    Button("export", "Export", "ExportTextFile", "Export the month's journal",
           "Writes the month's balanced journal for QuickBooks Online, QuickBooks Desktop (IIF) and Xero "
           "beside the workbook, with the account names and codes of the Accounts sheet.",
           "export", "grpMonthEnd"),
    Button("tieout", "Tie-out", "Consolidate", "Tie out card payouts",
           "Matches Stripe's itemized payout report to the sales, top-ups and refunds, checks each payout "
           "against the bank's deposits, and fills the Tieout sheet.",
           "tieout", "grpMonthEnd"),
    Button("audit", "Audit", "FilePrint", "The month's audit trail",
           "Fills the Audit sheet for the month of the selected Report row (else last month): who changed "
           "what, when and why. Ready to print and keep with the close.",
           "audit", "grpMonthEnd"),
    Button("import_legacy", "Import legacy", "ImportExcel", "Import an old spreadsheet",
           "Reads a legacy tracking workbook, proposes the opening balances and explains every difference "
           "on the Migration sheet.",
           "import_legacy", "grpSetup"),
    Button("help", "Help", "Help", "How this workbook works",
           "Opens the Start sheet and the guide.",
           "show_help", "grpSetup"),
)


def customui_xml() -> str:
    """The ribbon part (customUI/customUI.xml, 2006/01 namespace)."""
    out = [
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>',
        "<!-- Generated from xl_ledger/excel/ribbon.py: do not edit by hand. -->",
        f'<customUI xmlns="{CUSTOMUI_NS}">',
        "  <ribbon>",
        "    <tabs>",
        '      <tab id="tabLedger" label="Ledger">',
    ]
    for group_id, group_label in GROUPS:
        out.append(f'        <group id="{group_id}" label="{group_label}">')
        for b in BUTTONS:
            if b.group != group_id:
                continue
            out.append(
                f'          <button id="btn_{b.id}" label={quoteattr(b.label)} size="large"'
                f' imageMso="{b.image}" screentip={quoteattr(b.screentip)}'
                f" supertip={quoteattr(b.supertip)} onAction=\"{b.on_action}\"/>"
            )
        out.append("        </group>")
    out += ["      </tab>", "    </tabs>", "  </ribbon>", "</customUI>", ""]
    return "\n".join(out)


def callbacks_bas() -> str:
    """The VBA callback module, as a VBE export file (CRLF line ends)."""
    lines = [
        f'Attribute VB_Name = "{VBA_MODULE}"',
        "' Generated from xl_ledger/excel/ribbon.py: do not edit by hand.",
        "' One callback per Ledger ribbon button. Each runs one Python function through xlwings' RunPython;",
        "' the Python side finds this workbook with xw.Book.caller().",
        "Option Explicit",
        "",
    ]
    for b in BUTTONS:
        lines += [
            f"' {b.label}: {b.screentip}",
            f"Public Sub {b.sub}(control As IRibbonControl)",
            f'    RunPython "{b.python_command}"',
            "End Sub",
            "",
        ]
    return "\r\n".join(lines)
