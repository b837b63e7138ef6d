Attribute VB_Name = "LedgerRibbon"
' Generated from xl_ledger/excel/ribbon.py: do not edit by hand.
' One callback per Ledger ribbon button. Each runs one Python function through xlwings' RunPython;
' the Python side finds this workbook with xw.Book.caller().
Option Explicit

' Post: Post new rows
Public Sub OnPost(control As IRibbonControl)
    RunPython "import xl_ledger.excel.macros as m; m.post()"
End Sub

' Sell/Top-up: Sell or top up a package
Public Sub OnSell(control As IRibbonControl)
    RunPython "import xl_ledger.excel.macros as m; m.sell()"
End Sub

' Refund: Refund a package
Public Sub OnRefund(control As IRibbonControl)
    RunPython "import xl_ledger.excel.macros as m; m.refund()"
End Sub

' Transfer: Transfer credit
Public Sub OnTransfer(control As IRibbonControl)
    RunPython "import xl_ledger.excel.macros as m; m.transfer()"
End Sub

' Freeze: Freeze a package
Public Sub OnFreeze(control As IRibbonControl)
    RunPython "import xl_ledger.excel.macros as m; m.freeze()"
End Sub

' Adjust: Correct a balance
Public Sub OnAdjust(control As IRibbonControl)
    RunPython "import xl_ledger.excel.macros as m; m.adjust()"
End Sub

' Verify: Verify the Log
Public Sub OnVerify(control As IRibbonControl)
    RunPython "import xl_ledger.excel.macros as m; m.verify()"
End Sub

' Alerts: Refresh alerts
Public Sub OnAlerts(control As IRibbonControl)
    RunPython "import xl_ledger.excel.macros as m; m.alerts()"
End Sub

' Statement: A family's statement
Public Sub OnStatement(control As IRibbonControl)
    RunPython "import xl_ledger.excel.macros as m; m.statement()"
End Sub

' Reminders: Queue reminder emails
Public Sub OnRemind(control As IRibbonControl)
    RunPython "import xl_ledger.excel.macros as m; m.remind()"
End Sub

' Close month: Close a month
Public Sub OnCloseMonth(control As IRibbonControl)
    RunPython "import xl_ledger.excel.macros as m; m.close_month()"
End Sub

' Export: Export the month's journal
Public Sub OnExport(control As IRibbonControl)
    RunPython "import xl_ledger.excel.macros as m; m.export()"
End Sub

' Tie-out: Tie out card payouts
Public Sub OnTieout(control As IRibbonControl)
    RunPython "import xl_ledger.excel.macros as m; m.tieout()"
End Sub

' Audit: The month's audit trail
Public Sub OnAudit(control As IRibbonControl)
    RunPython "import xl_ledger.excel.macros as m; m.audit()"
End Sub

' Import legacy: Import an old spreadsheet
Public Sub OnImportLegacy(control As IRibbonControl)
    RunPython "import xl_ledger.excel.macros as m; m.import_legacy()"
End Sub

' Help: How this workbook works
Public Sub OnHelp(control As IRibbonControl)
    RunPython "import xl_ledger.excel.macros as m; m.show_help()"
End Sub
