Attribute VB_Name = "LedgerFunctions"
' Generated from the docstrings and @xw.arg docs of xl_ledger/excel/udfs.py: do not edit by hand.
' Gives each LEDGER_* worksheet function its description, argument help and category in Excel's
' Insert Function dialog (what xlwings' Import Functions would register). ThisWorkbook runs it when
' the workbook opens. Where it cannot run (LibreOffice, Excel without ArgumentDescriptions) it does
' nothing: every error is ignored. The workbook is not marked as changed by it.
Option Explicit

Public Sub DescribeLedgerFunctions()
    Dim wasSaved As Boolean
    On Error Resume Next
    wasSaved = ThisWorkbook.Saved
    Application.MacroOptions Macro:="'" & ThisWorkbook.Name & "'!LEDGER_BALANCE", _
        Description:="Credits a student has left (in the given unit, or their only unit) as of a date (default today).", _
        Category:="xl-ledger", _
        ArgumentDescriptions:=Array( _
            "The student's id, as on the Students sheet (a cell holding it, e.g. A2).", _
            "Optional: the unit to count (lessons, hours, ...). Leave it out when the student has one unit.", _
            "Optional: the date to answer for. Default: today in the studio's time zone.")
    Application.MacroOptions Macro:="'" & ThisWorkbook.Name & "'!LEDGER_HISTORY", _
        Description:="Every movement of the student's credit, with a header row; balance is the package's running balance. The same lines as the history command, as a dynamic array that spills down.", _
        Category:="xl-ledger", _
        ArgumentDescriptions:=Array( _
            "The student's id, as on the Students sheet (a cell holding it, e.g. A2).")
    Application.MacroOptions Macro:="'" & ThisWorkbook.Name & "'!LEDGER_LIABILITY", _
        Description:="Money held for credit not yet delivered: remaining credit times unit value, over all packages.", _
        Category:="xl-ledger", _
        ArgumentDescriptions:=Array( _
            "Optional: the date to answer for. Default: today in the studio's time zone.")
    Application.MacroOptions Macro:="'" & ThisWorkbook.Name & "'!LEDGER_NEXT_EXPIRY", _
        Description:="The date the student's next package with credit left expires (blank if none expires).", _
        Category:="xl-ledger", _
        ArgumentDescriptions:=Array( _
            "The student's id, as on the Students sheet (a cell holding it, e.g. A2).")
    Application.MacroOptions Macro:="'" & ThisWorkbook.Name & "'!LEDGER_REFUND_QUOTE", _
        Description:="What a refund of the package would pay as of a date, under the refund rules and admin fee.", _
        Category:="xl-ledger", _
        ArgumentDescriptions:=Array( _
            "The package id, as on the Packages sheet (e.g. PK-1).", _
            "Optional: the date to answer for. Default: today in the studio's time zone.")
    Application.MacroOptions Macro:="'" & ThisWorkbook.Name & "'!LEDGER_REMAINING", _
        Description:="Credits left on one package as of a date (default today).", _
        Category:="xl-ledger", _
        ArgumentDescriptions:=Array( _
            "The package id, as on the Packages sheet (e.g. PK-1).", _
            "Optional: the date to answer for. Default: today in the studio's time zone.")
    Application.MacroOptions Macro:="'" & ThisWorkbook.Name & "'!LEDGER_VERIFY", _
        Description:="'OK' if the Log's hash chain verifies, else the first row that no longer matches.", _
        Category:="xl-ledger"
    ThisWorkbook.Saved = wasSaved
End Sub
