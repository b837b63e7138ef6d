"""Build `workbook_template.xlsm` from source: the schema, the VBA sources and the ribbon XML.

The build is a pure function of the repository: fixed document dates, zip entries in a fixed order
with fixed timestamps and stored (not deflated) so the bytes do not depend on the zlib in use.
`scripts/build_template.py` writes the committed file; a test rebuilds it and compares bytes.

Layout decisions (the sheets and columns themselves are book/schema.py):
- Input sheets are Excel tables (header + one empty row) with list validations fed by defined names:
  `list_<key>` point at the hidden Lists sheet, the id lists (`student_ids`, ...) are OFFSET ranges
  over the id column so they grow with the sheet whoever appends the rows.
- Every column of every sheet carries its number format as the column default style, so writers that
  reuse a column's style get dates, quantities and money right.
- Engine-owned sheets are protected without a password: it stops accidental typing, not a determined
  user (the hash chain catches those), and lets the engine unprotect without a secret.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from pathlib import Path

from xl_ledger.book import schema as S
from xl_ledger.xlsx import vba_project as V
from xl_ledger.excel import sources

REPO_ROOT = Path(__file__).resolve().parents[1]
TEMPLATE_NAME = "workbook_template.xlsm"
CUSTOMUI_PART = "customUI/customUI.xml"
CUSTOMUI_REL_TYPE = "http://schemas.microsoft.com/office/2006/relationships/ui/extensibility"
BUILD_DATE = dt.datetime(2026, 1, 1, 0, 0, 0)
MAX_ROW = 1_048_575  # last zero-based row index of a sheet

# Sheet order as a studio owner meets them: the daily sheets first, set-up and engine detail after.
SHEET_ORDER: tuple[str, ...] = (
    "Dashboard", "Sessions", "Actions", "Balances", "Packages", "Alerts",
    "Students", "Products", "Settings", "Staff", "Reasons", "Accounts",
    "Allocations", "Report", "Log", "Migration", "Templates", "Outbox", "Statement", "Audit",
    "Tieout",
)  # fmt: skip
assert sorted(SHEET_ORDER) == sorted(S.BY_NAME), "SHEET_ORDER must list every schema sheet once"

INPUT_TAB, ENGINE_TAB = "#70AD47", "#7F7F7F"

# One line per sheet for the Start sheet, where the schema has no help text.
BLURBS: dict[str, str] = {
    "Students": "Your clients. Siblings share a family_id; family_contact = yes on one of them gets the "
                "family's reminders and statements.",
    "Reasons": "Reason codes for refunds, transfers and corrections.",
    "Audit": "Who changed what and why in a month: xl-ledger audit writes it for printing.",
    "Tieout": "Card payouts tied to the ledger's sales and refunds and to the bank: xl-ledger tieout writes it.",
    "Accounts": "Account names (QuickBooks) and codes (Xero) for the month-end journal export.",
    "Balances": "What each student has left, per unit.",
    "Packages": "Every package sold and what is left on it.",
    "Alerts": "Low balances, packages about to expire, owed sessions, rejected rows.",
    "Allocations": "Which session drew on which package.",
    "Report": "Month-end roll-forward: sales, delivered, refunds, chargebacks, breakage, liability.",
    "Migration": "What the legacy import found, row by row.",
    "Outbox": "Reminder emails: queued, sent or failed, one row per change (xl-ledger remind).",
    "Statement": "A family's statement to print: select a student anywhere, then Ledger > Statement.",
}
SETTING_NAMES = ("low_balance_threshold", "expiry_warning_days")


def template_path() -> Path:
    """The committed template (repository root), for `xl-ledger init` to copy."""
    path = REPO_ROOT / TEMPLATE_NAME
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run scripts/build_template.py (or use build_template())")
    return path


def vba_modules(sheet_count: int) -> list[V.Module]:
    """ThisWorkbook (its Workbook_Open: vba/ThisWorkbook.cls), one document module per worksheet (code
    names Sheet1..n), then the sources."""
    this = V.stored_text(sources.THISWORKBOOK_PATH.read_text(encoding=V.ENCODING))
    modules = [V.Module("ThisWorkbook", V.DOCUMENT, this)]
    modules += [V.document_module(f"Sheet{i}", V.WORKSHEET_BASE) for i in range(1, sheet_count + 1)]
    modules += [V.module_from_file(sources.VBA_DIR / name) for name in sources.VBA_SOURCES]
    return modules


class _Formats:
    """XlsxWriter formats, created once per workbook (each becomes one cell style)."""

    def __init__(self, wb: "xlsxwriter.Workbook", currency: str):  # noqa: F821
        self.wb = wb
        self.by_type: dict[str, object] = {}
        for kind in (*S.NUMBER_FORMATS, S.MONEY):
            num = S.number_format(kind, S.money_format(currency))
            # Dates centred: right-aligned against a left-aligned id they read as one ("2026-09-04S-001").
            center = {"align": "center"} if kind in (S.DATE, S.DATETIME) else {}
            # Text one space in from the left: after a right-aligned number it read as one ("1.00lessons",
            # "$450.00 4 months").
            indent = {"indent": 1} if kind in (S.TEXT, S.ID) else {}
            self.by_type[kind] = wb.add_format({"num_format": num, **center, **indent})
        self.by_type[S.TEXT] = wb.add_format({"indent": 1})  # free text keeps General: no number format of its own
        self.text = wb.add_format({"num_format": "@", "indent": 1})  # the Log is text except seq
        base = {"bold": True, "font_color": "#FFFFFF", "valign": "vcenter", "border": 1, "border_color": "#FFFFFF"}
        self.header_engine = wb.add_format({**base, "bg_color": "#595959"})
        self.header_input = wb.add_format({**base, "bg_color": "#375623"})
        self.header_engine_col = wb.add_format({**base, "bg_color": "#808080", "italic": True})
        self.title = wb.add_format({"bold": True, "font_size": 18, "font_color": "#1F3864"})
        self.subtitle = wb.add_format({"italic": True, "font_color": "#595959"})
        self.line = wb.add_format({"font_size": 12, "text_wrap": True, "valign": "top"})
        self.link = wb.add_format({"font_color": "#0563C1", "underline": 1})
        self.note = wb.add_format({"font_color": "#595959", "text_wrap": True, "valign": "top"})
        self.bold = wb.add_format({"bold": True})
        self.cf_low = wb.add_format({"bg_color": "#FFEB9C", "font_color": "#9C5700"})
        self.cf_expired = wb.add_format({"bg_color": "#EDEDED", "font_color": "#808080"})
        self.cf_owed = wb.add_format({"bg_color": "#FFC7CE", "font_color": "#9C0006"})

    def column(self, sheet: S.Sheet, col: S.Column):
        if sheet.name == "Log" and col.name != "seq":
            return self.text
        return self.by_type.get(col.type)


PAGE_WIDTH = 185  # characters of column width that print readably across an A4 landscape page


def _print_setup(ws, sheet: S.Sheet) -> None:
    """Landscape, fit to the page width, header row repeated, a page header and page numbers: what a
    printed Balances list should look like. A sheet wider than a page at a readable size is split across
    pages side by side, each repeating the id column, instead of shrunk until nobody can read it."""
    ws.set_landscape()
    ws.set_paper(9)  # A4; Letter users get the same scaling
    ws.set_margins(left=0.4, right=0.4)  # 0.7" each side shrank a Dashboard or Balances page below 100 %
    printed = sum(column_width(c) for c in printed_columns(sheet) if c.name not in PRINT_HIDDEN)
    pages = sheet.extra.get("pages_wide") or max(1, -(-int(printed) // PAGE_WIDTH))
    ws.fit_to_pages(pages, 0)
    ws.repeat_rows(0)
    if pages > 1:
        ws.repeat_columns(0)
    # The print area starts below the header (which repeats on every page) and ends at the last printed
    # column: a sheet with no rows prints no page at all (LibreOffice leaves an empty page out, and the
    # repeated header alone does not count), rather than a page with a header and nothing under it; and
    # text overflowing the last column (the Log's JSON) does not make pages of its own.
    ws.print_area(1, 0, MAX_ROW, len(printed_columns(sheet)) - 1)
    # Engine sheets: the post writes the studio and the as-of date into the header; the Log and the input
    # sheets say when they were printed.
    dated = sheet.engine_owned and sheet.name not in ("Log", "Allocations", "Migration")
    ws.set_header("&C&A" if dated else "&C&A&RPrinted &D")
    ws.set_footer("&CPage &P of &N")


# Columns that are for the engine, not for a reader: hidden, so they neither show nor print.
PRINT_HIDDEN = {"check"}
# Trailing columns that show on screen but are not printed: the Log's `data` is the event as JSON (often
# hundreds of characters, for the engine and `xl-ledger audit`); on paper it ran across pages of its own.
NOT_PRINTED = {"Log": "data"}


def printed_columns(sheet: S.Sheet) -> list[S.Column]:
    """The columns a printed page shows, from the first: up to the last one that is neither hidden nor left
    off paper (those come last in every sheet, so the print area stays one block)."""
    columns = list(sheet.columns)
    while columns and (columns[-1].name in PRINT_HIDDEN or columns[-1].name == NOT_PRINTED.get(sheet.name)):
        columns.pop()
    return columns


def column_width(col: S.Column) -> float:
    """Wide enough for its content (the schema's width) and for its bold header, which would run into the
    next one ("effective_datestudent_id")."""
    return max(col.width, len(col.name) * 1.1 + 2)


def _set_columns(ws, sheet: S.Sheet, fmt: _Formats) -> None:
    _print_setup(ws, sheet)
    for i, col in enumerate(sheet.columns):
        hidden = {"hidden": True} if sheet.engine_owned and col.name in PRINT_HIDDEN else {}
        ws.set_column(i, i, column_width(col), fmt.column(sheet, col), hidden)


def _list_key(col: S.Column) -> str | None:
    return col.choices if col.choices in S.LISTS else None


def _validations(ws, sheet: S.Sheet) -> None:
    for i, col in enumerate(sheet.columns):
        if _list_key(col):
            ws.data_validation(1, i, MAX_ROW, i, {
                "validate": "list", "source": f"=list_{col.choices}",
                "error_title": col.name, "error_message": "Pick one of the values in the list.",
            })  # fmt: skip
        elif col.choices in S.DYNAMIC_LISTS:
            src_sheet, _ = S.DYNAMIC_LISTS[col.choices]
            # A warning, not a stop: the row may be typed before the student or product exists.
            ws.data_validation(1, i, MAX_ROW, i, {
                "validate": "list", "source": f"={col.choices}", "error_type": "warning",
                "error_title": col.name, "error_message": f"Not found in {src_sheet}. Add it there first.",
            })  # fmt: skip
        elif col.help and col.help != "engine":
            ws.data_validation(1, i, MAX_ROW, i, {
                "validate": "any", "input_title": col.name[:32], "input_message": col.help[:255],
            })  # fmt: skip


def _add_input_sheet(wb, sheet: S.Sheet, fmt: _Formats, rows: list[list[object]]) -> object:
    ws = wb.add_worksheet(sheet.name)
    ws.set_tab_color(INPUT_TAB)
    _set_columns(ws, sheet, fmt)
    engine_cols = {c.name for c in sheet.columns if c.help == "engine"}
    columns = []
    for col in sheet.columns:
        spec = {"header": col.name, "format": fmt.column(sheet, col)}
        spec["header_format"] = fmt.header_engine_col if col.name in engine_cols else fmt.header_input
        columns.append(spec)
    data = rows or [[None] * len(sheet.columns)]
    ws.add_table(0, 0, len(data), len(sheet.columns) - 1, {
        "name": sheet.table, "columns": columns, "data": data, "style": "Table Style Light 9",
    })  # fmt: skip
    ws.freeze_panes(1, 0)
    _validations(ws, sheet)
    return ws


def _add_engine_sheet(wb, sheet: S.Sheet, fmt: _Formats) -> object:
    ws = wb.add_worksheet(sheet.name)
    ws.set_tab_color(ENGINE_TAB)
    _set_columns(ws, sheet, fmt)
    for i, name in enumerate(sheet.headers):
        ws.write_string(0, i, name, fmt.header_engine)
    ws.freeze_panes(1, 0)
    # No password: this guards against typing by accident; tampering is the hash chain's job.
    ws.protect("", {"format_columns": True, "select_locked_cells": True, "select_unlocked_cells": True})
    return ws


REPORT_MONTHS = S.REPORT_CHART_MONTHS  # the chart shows the latest year: Report lists months newest first


def _report_chart(wb, ws) -> None:
    """The last twelve months: money in (sales), revenue earned (delivered), and the deferred-revenue
    balance. The engine rewrites only the Report sheet's cells, newest month first; the chart reads
    the top twelve rows by range (its month axis reversed, so time runs left to right)."""
    rep = S.BY_NAME["Report"]
    last = REPORT_MONTHS + 1

    def ref(column: str) -> str:
        i = rep.headers.index(column)
        return f"=Report!${S.col_letter(i + 1)}$2:${S.col_letter(i + 1)}${last}"

    months = ref("month")
    bars = wb.add_chart({"type": "column"})
    for column, colour in (("sales", "#4F7A28"), ("delivered", "#2F5597")):
        bars.add_series({"name": column, "categories": months, "values": ref(column),
                         "fill": {"color": colour}, "gap": 80})
    line = wb.add_chart({"type": "line"})
    line.add_series({"name": "liability at month end", "categories": months, "values": ref("liability_end"),
                     "line": {"color": "#C55A11", "width": 2.25}})
    bars.combine(line)
    bars.set_title({"name": "Sales, delivered value and liability, last 12 months"})
    bars.set_x_axis({"reverse": True})
    bars.set_legend({"position": "bottom"})
    bars.set_size({"width": 640, "height": 320})  # its own printed page, beside the month column
    ws.insert_chart(1, len(rep.headers) + 1, bars, {"x_offset": 10, "y_offset": 4})
    _print_chart(ws, 1, len(rep.headers) + 1, 640, 320)


DASHBOARD_SUMMARY = ("liability", "expiring", "low_balance", "owed", "churn_risk")  # rows 2-6 (core/dashboard.py)


def _dashboard_chart(wb, ws) -> None:
    """Money at risk today, one bar per summary line after the liability (which would dwarf them): a picture
    reads faster than four numbers. The engine writes the summary lines first, always in this order, so the
    chart reads rows 3-6 by position."""
    dash = S.BY_NAME["Dashboard"]
    last = len(DASHBOARD_SUMMARY) + 1

    def ref(column: str) -> str:
        i = dash.headers.index(column)
        return f"=Dashboard!${S.col_letter(i + 1)}$3:${S.col_letter(i + 1)}${last}"

    bars = wb.add_chart({"type": "bar"})
    bars.add_series({"name": "value", "categories": ref("section"), "values": ref("value"),
                     "fill": {"color": "#2F5597"}, "gap": 60, "data_labels": {"value": True}})
    bars.set_title({"name": "Money at risk today"})
    bars.set_y_axis({"reverse": True})
    bars.set_legend({"none": True})
    bars.set_size({"width": 360, "height": 220})
    ws.insert_chart(1, len(dash.headers) + 1, bars, {"x_offset": 10, "y_offset": 4})
    _print_chart(ws, 1, len(dash.headers) + 1, 360, 220)


def _print_chart(ws, row: int, col: int, width: int, height: int) -> None:
    """Print a chart that sits beside a table on a page of its own, after the table's pages: beside it, it
    made the page as wide as both and shrank the table until it was hard to read. The chart's cells are
    worked out from Excel's column width and row height (64 × 20 pixels), which the columns it sits on are
    given: LibreOffice's default column is wider, and stretched the chart across two pages."""
    from xlsxwriter.utility import xl_range_abs  # build time only, as in build_xlsx

    cols, rows = -(-(width + 10) // 64), -(-(height + 4) // 20)
    ws.set_column(col, col + cols, 8.43)
    ws.print_area_range += f",{ws.name}!{xl_range_abs(row, col, row + rows, col + cols)}"


def _conditional_formats(sheets: dict[str, object], fmt: _Formats) -> None:
    pk, bal, act = S.BY_NAME["Packages"], S.BY_NAME["Balances"], S.BY_NAME["Actions"]

    def rule(sheet: S.Sheet, formula: str, cf_format, stop: bool = False, column: str | None = None) -> None:
        first, last = 0, len(sheet.columns) - 1  # whole rows, unless one column is meant
        if column:
            first = last = sheet.headers.index(column)
        sheets[sheet.name].conditional_format(1, first, MAX_ROW, last, {
            "type": "formula", "criteria": formula, "format": cf_format, "stop_if_true": stop,
        })  # fmt: skip

    rem, status = f"${pk.letter('remaining')}2", f"${pk.letter('status')}2"
    rule(pk, f'={status}="expired"', fmt.cf_expired, stop=True)
    rule(pk, f"=AND(ISNUMBER({rem}),{rem}<0)", fmt.cf_owed)
    rule(pk, f'=AND(ISNUMBER({rem}),{rem}<=setting_low_balance_threshold,OR({status}="active",{status}="frozen"))',
         fmt.cf_low)  # fmt: skip

    owed, brem, nxt = (f"${bal.letter(c)}2" for c in ("owed_sessions", "can_use", "next_expiry"))
    rule(bal, f"=AND(ISNUMBER({owed}),{owed}>0)", fmt.cf_owed, stop=True)
    rule(bal, f"=AND(ISNUMBER({brem}),{brem}<=setting_low_balance_threshold)", fmt.cf_low)
    # Expiring soon marks only the date: the row colour is kept for the balance itself.
    rule(bal, f"=AND(ISNUMBER({nxt}),{nxt}-TODAY()<=setting_expiry_warning_days)", fmt.cf_low, column="next_expiry")

    rule(act, f'=${act.letter("status")}2="rejected"', fmt.cf_owed)


def _defined_names(wb) -> None:
    for j, key in enumerate(S.LISTS):
        values = [v for v in S.LISTS[key] if v]
        col = S.col_letter(j + 1)
        wb.define_name(f"list_{key}", f"=Lists!${col}$2:${col}${len(values) + 1}")
    for name, (sheet_name, column) in S.DYNAMIC_LISTS.items():
        c = S.BY_NAME[sheet_name].letter(column)
        ref = f"{sheet_name}!${c}"
        wb.define_name(name, f"=OFFSET({ref}$2,0,0,MAX(1,COUNTA({ref}:${c})-1),1)")
    for key in SETTING_NAMES:
        default = S.SETTINGS[key][0]
        found = f'INDEX(Settings!$B:$B,MATCH("{key}",Settings!$A:$A,0))'
        # A blank value takes the default, like everywhere else in the contract.
        wb.define_name(f"setting_{key}", f'=IFERROR(IF({found}="",{default},{found}*1),{default})')


# Engine sheets that Post leaves alone: their own command fills them (remind, statement, audit, tieout).
WRITTEN_BY_A_COMMAND = ("Outbox", "Statement", "Audit", "Tieout")


def _add_start(wb, fmt: _Formats) -> object:
    ws = wb.add_worksheet(S.START_SHEET)
    ws.set_column(0, 0, 4)
    ws.set_column(1, 1, 110)
    ws.set_column(2, 2, 40)
    ws.hide_gridlines(2)
    ws.set_landscape()
    ws.fit_to_pages(1, 0)
    ws.write_string(0, 1, "Prepaid lesson packages: how this workbook works", fmt.title)
    ws.write_string(1, 1, "Type in the green tabs. The grey tabs are recomputed from the Log and protected.",
                    fmt.subtitle)  # fmt: skip
    for i, line in enumerate(S.START_LINES):
        ws.set_row(3 + i, 32)
        ws.write_string(3 + i, 1, line, fmt.line)
    row = 4 + len(S.START_LINES)
    ws.write_string(row, 1, "Go to", fmt.bold)
    for i, name in enumerate(SHEET_ORDER):
        sheet = S.BY_NAME[name]
        what = sheet.help or BLURBS.get(name, "")
        if name in WRITTEN_BY_A_COMMAND:
            what += " Never type here."
        elif sheet.engine_owned and name != "Log":
            what += " Recomputed by Post; never type here."
        ws.write_url(row + 1 + i, 1, f"internal:'{name}'!A1", fmt.link, string=f"{name}: {what}")
    row += len(SHEET_ORDER) + 2
    ws.write_string(row, 1, "Terms", fmt.bold)
    for i, note in enumerate(S.START_NOTES):
        # As many 16-point lines as the note wraps to (about 90 characters of 12-point text a line in the
        # 110-wide column): at a fixed two lines, a three-line note printed over the next one.
        ws.set_row(row + 1 + i, 16 * max(2, -(-len(note) // 90)))
        ws.write_string(row + 1 + i, 1, note, fmt.line)
    return ws


def _add_lists(wb, fmt: _Formats) -> object:
    ws = wb.add_worksheet(S.LISTS_SHEET)
    for j, key in enumerate(S.LISTS):
        ws.set_column(j, j, max(12, len(key) + 2), fmt.text)
        ws.write_string(0, j, key, fmt.bold)
        for i, value in enumerate(v for v in S.LISTS[key] if v):
            ws.write_string(i + 1, j, value)
    ws.hide()
    ws.protect("")
    return ws


def _add_xlwings_conf(wb, fmt: _Formats) -> object:
    # xlwings' GetConfigFromSheet reads key/value pairs from A1 down to the first blank row. Only keys
    # with a value belong above that row: a blank value would override the user's ~/.xlwings config.
    ws = wb.add_worksheet(S.XLWINGS_CONF_SHEET)
    ws.set_column(0, 0, 28)
    ws.set_column(1, 1, 60)
    ws.write_string(0, 0, "UDF Modules")
    ws.write_string(0, 1, sources.UDF_MODULE)
    ws.write_string(2, 0, "Add INTERPRETER_WIN, INTERPRETER_MAC, CONDA PATH or CONDA ENV rows directly under "
                          "row 1 (no blank row in between) to point the workbook at a specific Python.",
                    fmt.note)  # fmt: skip
    ws.hide()
    return ws


def _input_rows(sheet: S.Sheet) -> list[list[object]]:
    if sheet is S.SETTINGS_SHEET:
        return [[key, default, meaning] for key, (default, _type, meaning) in S.SETTINGS.items()]
    if sheet is S.REASONS:
        return [list(r) for r in S.DEFAULT_REASONS]
    if sheet is S.TEMPLATES:
        return [list(r) for r in S.DEFAULT_TEMPLATES]
    if sheet is S.ACCOUNTS:
        return [list(r) for r in S.DEFAULT_ACCOUNTS]
    return []


def _settings_values(ws, fmt: _Formats, currency: str) -> None:
    """Each setting's value cell gets its own type's format (the column mixes text and numbers)."""
    for i, (key, (default, kind, _meaning)) in enumerate(S.SETTINGS.items(), start=1):
        num = S.money_format(currency) if kind == S.MONEY else S.NUMBER_FORMATS.get(kind, "General")
        if num == "@":
            num = "General"
        ws.write(i, 1, default, fmt.wb.add_format({"num_format": num, "align": "left"}))
    for i, (key, (_default, kind, _meaning)) in enumerate(S.SETTINGS.items(), start=1):
        list_key = "yesno" if kind == S.YESNO else key if kind == S.CHOICE and key in S.LISTS else None
        if list_key:
            ws.data_validation(i, 1, i, 1, {"validate": "list", "source": f"=list_{list_key}"})


def build_xlsx(vba_bin: bytes, currency: str, xlwings_vba: str | None = None) -> bytes:
    """The workbook as XlsxWriter writes it (before the ribbon part is added). `xlwings_vba`: the
    XLWINGS_VERSION of the embedded xlwings module, recorded in a defined name for the start-up check."""
    import xlsxwriter  # a build-time dependency (test extra): template_path() users do not need it

    out = io.BytesIO()
    wb = xlsxwriter.Workbook(out, {"in_memory": True})
    wb.set_properties({
        "title": "xl-ledger workbook", "subject": "Prepaid lesson packages", "author": "xl-ledger",
        "created": BUILD_DATE, "comments": "Built by scripts/build_template.py",
    })  # fmt: skip
    wb.set_vba_name("ThisWorkbook")
    fmt = _Formats(wb, currency)

    sheets: dict[str, object] = {S.START_SHEET: _add_start(wb, fmt)}
    for name in SHEET_ORDER:
        sheet = S.BY_NAME[name]
        if sheet.engine_owned:
            sheets[name] = _add_engine_sheet(wb, sheet, fmt)
        else:
            sheets[name] = _add_input_sheet(wb, sheet, fmt, _input_rows(sheet))
    _settings_values(sheets["Settings"], fmt, currency)
    sheets[S.LISTS_SHEET] = _add_lists(wb, fmt)
    sheets[S.XLWINGS_CONF_SHEET] = _add_xlwings_conf(wb, fmt)
    for i, ws in enumerate(sheets.values(), start=1):
        ws.set_vba_name(f"Sheet{i}")  # must match the document modules of the VBA project
    _conditional_formats(sheets, fmt)
    _report_chart(wb, sheets["Report"])
    _dashboard_chart(wb, sheets["Dashboard"])
    _defined_names(wb)
    if xlwings_vba is not None:
        from xl_ledger.excel import config  # imports xlwings: build time only

        wb.define_name(config.VBA_VERSION_NAME, config.version_name_formula(xlwings_vba))
    sheets[S.START_SHEET].activate()

    wb.add_vba_project(io.BytesIO(vba_bin), is_stream=True)
    wb.close()
    return out.getvalue()


def sheet_count() -> int:
    return 1 + len(SHEET_ORDER) + 2  # Start, the schema sheets, Lists, xlwings.conf


def _add_ribbon(xlsx: bytes, customui: bytes) -> bytes:
    """Add the customUI part and its 2006 relationship; re-zip deterministically."""
    src = zipfile.ZipFile(io.BytesIO(xlsx))
    parts = {name: src.read(name) for name in src.namelist()}
    rels = parts["_rels/.rels"].decode("utf-8")
    rel = f'<Relationship Id="rIdLedgerUI" Type="{CUSTOMUI_REL_TYPE}" Target="{CUSTOMUI_PART}"/>'
    assert "</Relationships>" in rels
    parts["_rels/.rels"] = rels.replace("</Relationships>", rel + "</Relationships>").encode("utf-8")
    parts[CUSTOMUI_PART] = customui

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        # [Content_Types].xml first (some readers sniff it), then a fixed order.
        for name in sorted(parts, key=lambda n: (n != "[Content_Types].xml", n)):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED  # independent of the zlib build
            info.external_attr = 0o644 << 16
            info.create_system = 0
            zf.writestr(info, parts[name])
    return out.getvalue()


def build_template(currency: str | None = None, vba: list[V.Module] | None = None) -> bytes:
    """The template's bytes. `vba` replaces the VBA modules after the document modules (tests use it
    to build a variant LibreOffice can run)."""
    currency = currency or str(S.SETTINGS["currency"][0])
    modules = vba_modules(sheet_count())
    if vba is not None:
        modules = [m for m in modules if m.kind == V.DOCUMENT] + vba
    xlwings_module = next((m for m in modules if m.name == "xlwings"), None)
    version = None
    if xlwings_module is not None:
        from xl_ledger.excel import config  # imports xlwings: build time only

        version = config.vba_module_version(xlwings_module.code)
    xlsx = build_xlsx(V.build_vba_project(modules), currency, version)
    return _add_ribbon(xlsx, sources.CUSTOMUI_PATH.read_bytes())

