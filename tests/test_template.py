"""workbook_template.xlsm: reproducible from source, and carrying the workbook contract (book/schema.py)."""

from __future__ import annotations

import io
import re
import warnings
import zipfile
from xml.etree import ElementTree as ET

import openpyxl
import pytest
import xlwings_pins
from oletools.olevba import VBA_Parser

from xl_ledger.book import schema as S
from xl_ledger import template
from xl_ledger.excel import ribbon
from xl_ledger.excel import sources

RELS_NS = "{http://schemas.openxmlformats.org/package/2006/relationships}"
UI_NS = "{http://schemas.microsoft.com/office/2006/01/customui}"


@pytest.fixture(scope="module")
def built() -> bytes:
    return template.build_template()


@pytest.fixture(scope="module")
def wb(built):
    return openpyxl.load_workbook(io.BytesIO(built), keep_vba=True)


@pytest.fixture(scope="module")
def parts(built) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(built)) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


# --- Reproducible from source ----------------------------------------------------------------------


def test_rebuild_gives_the_committed_bytes(built):
    committed = template.template_path().read_bytes()
    assert built == committed, "workbook_template.xlsm is stale: run python scripts/build_template.py"
    assert template.build_template() == built  # and the build itself is deterministic


def test_generated_sources_are_current():
    for path, text in sources.generated().items():
        encoding = "cp1252" if path.suffix in (".bas", ".cls") else "utf-8"
        assert path.read_bytes() == text.encode(encoding), f"{path.name} is stale: run scripts/build_template.py"


@pytest.mark.parametrize("name", sorted(xlwings_pins.XLWINGS_FILES))
def test_xlwings_runtime_equals_the_installed_package(name):
    """The standalone module must match the pinned xlwings (version drift = 'dll not found' for users),
    but for the one documented patch that keeps PRO out (xlwings_pins.XLWINGS_PATCHES)."""
    assert (sources.VBA_DIR / name).read_bytes() == xlwings_pins.xlwings_copy(name)


def test_pinned_xlwings_version_matches_the_vba_module():
    import xlwings

    pyproject = (template.REPO_ROOT / "pyproject.toml").read_text()
    pinned = re.search(r'"xlwings==([^"]+)"', pyproject).group(1)
    vba = (sources.VBA_DIR / "xlwings.bas").read_text(encoding="cp1252")
    assert pinned == xlwings.__version__
    assert f'XLWINGS_VERSION As String = "{pinned}"' in vba


def test_udf_wrappers_cover_every_udf():
    bas = (sources.VBA_DIR / "xlwings_udfs.bas").read_text(encoding="cp1252")
    names = re.findall(r"^Function (LEDGER_\w+)\(", bas, re.M)
    assert names == sorted(["LEDGER_BALANCE", "LEDGER_REMAINING", "LEDGER_NEXT_EXPIRY", "LEDGER_REFUND_QUOTE",
                            "LEDGER_LIABILITY", "LEDGER_VERIFY", "LEDGER_HISTORY"])  # fmt: skip
    assert "Function LEDGER_BALANCE(student_id, Optional unit, Optional as_of)" in bas
    assert 'XLPy.CallUDF("xl_ledger.excel.udfs", "LEDGER_BALANCE", Array(student_id, unit, as_of, Nothing)' in bas


def test_function_help_is_complete_and_fits_excel():
    """Every UDF has a description and help for each argument of its VBA wrapper, within Excel's limits."""
    bas = (sources.VBA_DIR / "xlwings_udfs.bas").read_text(encoding="cp1252")
    wrappers = {name: [a.replace("Optional ", "").strip() for a in args.split(",") if a.strip()]
                for name, args in re.findall(r"^Function (\w+)\(([^)]*)\)", bas, re.M)}
    helps = sources.function_help()
    assert sorted(f.name for f in helps) == sorted(wrappers)
    for f in helps:
        assert f.category == "xl-ledger", f.name
        assert 10 < len(f.description) <= 255 and "`" not in f.description, f.name
        assert [a for a, _doc in f.arguments] == wrappers[f.name], f.name
        for arg, doc in f.arguments:
            assert 10 < len(doc) <= 255 and not doc.startswith("Positional argument"), (f.name, arg)
            doc.encode("cp1252")


def test_function_descriptions_module_registers_each_function():
    bas = (sources.VBA_DIR / f"{sources.FUNCTIONS_MODULE}.bas").read_text(encoding="cp1252")
    body = bas.split(f"Public Sub {sources.DESCRIBE_SUB}()")[1]
    assert body.index("On Error Resume Next") < body.index("Application.MacroOptions")  # never an error box
    assert "ThisWorkbook.Saved = wasSaved" in body  # opening the workbook does not make it "changed"
    for f in sources.function_help():
        call = body.split(f"'!{f.name}\"")[1].split("Application.MacroOptions")[0]
        assert f'Description:="{f.description}"' in call and 'Category:="xl-ledger"' in call
        for _arg, doc in f.arguments:
            assert f'"{doc}"' in call
    this = sources.THISWORKBOOK_PATH.read_bytes().decode("cp1252")
    assert re.search(r"Private Sub Workbook_Open\(\)\r\n    On Error Resume Next\r\n    "
                     + sources.DESCRIBE_SUB + r"\r\nEnd Sub", this)


def test_the_template_records_its_xlwings_vba_version(parts):
    from xl_ledger.excel import config

    workbook = parts["xl/workbook.xml"].decode()
    assert f'<definedName name="{config.VBA_VERSION_NAME}">"{config.shipped_vba_version()}"</definedName>' in workbook


# --- VBA inside the workbook -----------------------------------------------------------------------


def test_olevba_reads_the_template_modules_with_the_repository_text(built):
    parser = VBA_Parser(str(template.TEMPLATE_NAME), data=built)
    got = {name.rsplit(".", 1)[0]: code for _, _, name, code in parser.extract_macros()}
    docs = {"ThisWorkbook"} | {f"Sheet{i}" for i in range(1, template.sheet_count() + 1)}
    assert set(got) == docs | {p.rsplit(".", 1)[0] for p in sources.VBA_SOURCES}
    this = sources.THISWORKBOOK_PATH.read_bytes().decode("cp1252").partition("END\r\n")[2]
    assert got["ThisWorkbook"] == this and "Private Sub Workbook_Open()" in this
    for name in sources.VBA_SOURCES:
        text = (sources.VBA_DIR / name).read_bytes().decode("cp1252")
        if name.endswith(".cls"):
            text = text.partition("END\r\n")[2]
        assert got[name.rsplit(".", 1)[0]] == text


def test_code_names_match_document_modules(parts):
    workbook = parts["xl/workbook.xml"].decode()
    assert 'codeName="ThisWorkbook"' in workbook
    code_names = sorted(re.search(r'codeName="([^"]+)"', parts[n].decode()).group(1)
                        for n in parts if re.fullmatch(r"xl/worksheets/sheet\d+\.xml", n))  # fmt: skip
    assert code_names == sorted(f"Sheet{i}" for i in range(1, template.sheet_count() + 1))


# --- Ribbon ----------------------------------------------------------------------------------------


def test_ribbon_part_and_relationship(parts):
    root = ET.fromstring(parts[template.CUSTOMUI_PART])  # well-formed
    assert root.tag == f"{UI_NS}customUI"
    rels = ET.fromstring(parts["_rels/.rels"])
    ui_rels = [r for r in rels if r.get("Type") == template.CUSTOMUI_REL_TYPE]
    assert [r.get("Target") for r in ui_rels] == [template.CUSTOMUI_PART]
    assert "2007/relationships/ui" not in parts["_rels/.rels"].decode()  # openpyxl would drop that one
    assert parts[template.CUSTOMUI_PART] == sources.CUSTOMUI_PATH.read_bytes()


def test_ribbon_buttons(parts):
    root = ET.fromstring(parts[template.CUSTOMUI_PART])
    tabs = root.findall(f".//{UI_NS}tab")
    assert [t.get("label") for t in tabs] == ["Ledger"]
    buttons = root.findall(f".//{UI_NS}button")
    assert [b.get("label") for b in buttons] == ["Post", "Sell/Top-up", "Refund", "Transfer", "Freeze", "Adjust",
                                                 "Verify", "Alerts", "Statement", "Reminders", "Close month",
                                                 "Export", "Tie-out", "Audit", "Import legacy", "Help"]  # fmt: skip
    for b in buttons:
        assert b.get("imageMso") and b.get("screentip") and b.get("supertip"), b.get("id")
    assert len({b.get("id") for b in buttons}) == len(buttons)


def test_every_on_action_names_a_sub_in_the_vba(built, parts):
    parser = VBA_Parser(template.TEMPLATE_NAME, data=built)
    subs = set()
    for _, _, name, code in parser.extract_macros():
        module = name.rsplit(".", 1)[0]
        for sub, args in re.findall(r"^\s*(?:Public\s+)?Sub\s+(\w+)\s*\(([^)]*)\)", code, re.M | re.I):
            subs.add((f"{module}.{sub}", args.strip()))
    root = ET.fromstring(parts[template.CUSTOMUI_PART])
    for button in root.iter(f"{UI_NS}button"):
        # A ribbon onAction callback takes exactly the IRibbonControl.
        assert (button.get("onAction"), "control As IRibbonControl") in subs, button.get("onAction")


def test_each_callback_runs_its_own_python_function():
    bas = (sources.VBA_DIR / "LedgerRibbon.bas").read_bytes().decode("cp1252")
    bodies = dict(re.findall(r"Sub (\w+)\(control As IRibbonControl\)\r\n(.*?)End Sub", bas, re.S))
    expected = {"post", "sell", "refund", "transfer", "freeze", "adjust", "verify", "alerts", "statement", "remind",
                "close_month", "export", "tieout", "audit", "import_legacy", "show_help"}  # fmt: skip
    assert {b.function for b in ribbon.BUTTONS} == expected
    for b in ribbon.BUTTONS:
        assert bodies[b.sub].strip() == f'RunPython "import xl_ledger.excel.macros as m; m.{b.function}()"'


# --- The sheets ------------------------------------------------------------------------------------


def test_every_schema_sheet_with_its_headers(wb):
    assert wb.sheetnames[0] == S.START_SHEET
    assert set(wb.sheetnames) == {*S.BY_NAME, S.START_SHEET, S.LISTS_SHEET, S.XLWINGS_CONF_SHEET}
    for sheet in S.ALL_SHEETS:
        row1 = [c.value for c in wb[sheet.name][1]]
        assert tuple(row1[: len(sheet.headers)]) == sheet.headers, sheet.name
        assert wb[sheet.name].freeze_panes == "A2", sheet.name


def test_start_sheet_tells_the_flow(wb):
    texts = [c.value for row in wb[S.START_SHEET].iter_rows() for c in row if isinstance(c.value, str)]
    assert all(line in texts for line in S.START_LINES)


def test_input_sheets_are_tables(wb):
    for sheet in S.INPUT_SHEETS:
        ws = wb[sheet.name]
        assert list(ws.tables) == [sheet.table]
        table = ws.tables[sheet.table]
        assert table.ref.startswith(f"A1:{S.col_letter(len(sheet.columns))}")
        assert [c.name for c in table.tableColumns] == list(sheet.headers)
        assert ws.protection.sheet is False


def test_settings_and_reasons_are_prefilled(wb):
    rows = list(wb["Settings"].iter_rows(min_row=2, values_only=True))
    assert [(k, v) for k, v, _ in rows] == [(k, d) for k, (d, _, _) in S.SETTINGS.items()]
    reasons = list(wb["Reasons"].iter_rows(min_row=2, values_only=True))
    assert reasons == [tuple(r) for r in S.DEFAULT_REASONS]


def test_engine_sheets_are_protected(wb):
    for sheet in S.ENGINE_SHEETS:
        ws = wb[sheet.name]
        assert ws.protection.sheet is True, sheet.name
        assert not ws.protection.password, "protection is deliberately password-free"
    assert wb[S.LISTS_SHEET].sheet_state == "hidden"


def test_dropdowns_come_from_defined_names(wb):
    names = wb.defined_names
    for key, values in S.LISTS.items():
        ref = names[f"list_{key}"].attr_text
        sheet, cells = ref.split("!")
        assert sheet == S.LISTS_SHEET
        got = [c.value for row in wb[sheet][cells.replace("$", "")] for c in row]
        assert got == [v for v in values if v]
    for name, (sheet_name, column) in S.DYNAMIC_LISTS.items():
        assert f"{sheet_name}!${S.BY_NAME[sheet_name].letter(column)}$2" in names[name].attr_text

    for sheet in S.INPUT_SHEETS:
        ws = wb[sheet.name]
        lists = {str(dv.sqref).split(":")[0]: dv.formula1 for dv in ws.data_validations.dataValidation
                 if dv.type == "list"}  # fmt: skip
        for col in sheet.columns:
            cell = f"{sheet.letter(col.name)}2"
            if col.choices in S.LISTS:
                assert lists.get(cell) == f"list_{col.choices}", (sheet.name, col.name)
            elif col.choices in S.DYNAMIC_LISTS:
                assert lists.get(cell) == col.choices, (sheet.name, col.name)


def test_column_number_formats(parts, wb):
    """Every typed column carries its format as the column default (<col style=...>)."""
    money = S.money_format("USD")
    expected = {**S.NUMBER_FORMATS, S.MONEY: money}
    for sheet in S.ALL_SHEETS:
        ws = wb[sheet.name]
        for i, col in enumerate(sheet.columns, start=1):
            # XlsxWriter merges neighbouring identical columns into one <col min max>.
            (dim,) = [d for d in ws.column_dimensions.values() if d.min <= i <= d.max]
            want = "@" if sheet.name == "Log" and col.name != "seq" else expected.get(col.type, "General")
            got = wb._cell_styles[dim.style_id].numFmtId if dim.style_id else 0
            fmt = wb._number_formats[got - 164] if got >= 164 else openpyxl.styles.numbers.BUILTIN_FORMATS[got]
            assert fmt == want, (sheet.name, col.name, fmt)
            # The schema's width, or wider for a long header (template.column_width).
            assert dim.width == pytest.approx(template.column_width(col), abs=1), (sheet.name, col.name)


def test_conditional_formatting(wb):
    def rules(name):
        return [r.formula[0] for cf in wb[name].conditional_formatting for r in cf.rules]

    assert any('="expired"' in f for f in rules("Packages"))
    assert any("setting_low_balance_threshold" in f for f in rules("Packages"))
    assert any("setting_low_balance_threshold" in f for f in rules("Balances"))
    assert any(f"${S.BY_NAME['Balances'].letter('owed_sessions')}2>0" in f for f in rules("Balances"))
    assert any('="rejected"' in f for f in rules("Actions"))
    assert "low_balance_threshold" in wb.defined_names["setting_low_balance_threshold"].attr_text


def test_xlwings_conf_sheet(wb):
    ws = wb[S.XLWINGS_CONF_SHEET]
    assert (ws["A1"].value, ws["B1"].value) == ("UDF Modules", "xl_ledger.excel.udfs")
    assert ws["A2"].value is None  # xlwings reads key/value rows down to the first blank one


# --- openpyxl round trip (the file store's writer path) --------------------------------------------


def test_openpyxl_keeps_vba_ribbon_tables_and_validations(built, parts, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. "Data Validation extension is not supported and will be removed"
        wb = openpyxl.load_workbook(io.BytesIO(built), keep_vba=True)
    wb["Students"].append(["S1", "Ann", None, None, "yes"])  # an edit, as the file store would make
    out = tmp_path / "saved.xlsm"
    wb.save(out)

    with zipfile.ZipFile(out) as zf:
        after = {n: zf.read(n) for n in zf.namelist()}
    assert after["xl/vbaProject.bin"] == parts["xl/vbaProject.bin"]
    assert after[template.CUSTOMUI_PART] == parts[template.CUSTOMUI_PART]
    rels = ET.fromstring(after["_rels/.rels"])
    assert [r.get("Target") for r in rels if r.get("Type") == template.CUSTOMUI_REL_TYPE] == [template.CUSTOMUI_PART]
    assert "macroEnabled" in after["[Content_Types].xml"].decode()

    again = openpyxl.load_workbook(out, keep_vba=True)
    for sheet in S.INPUT_SHEETS:
        assert list(again[sheet.name].tables) == [sheet.table]
        before = {(dv.formula1, str(dv.sqref)) for dv in wb[sheet.name].data_validations.dataValidation}
        kept = {(dv.formula1, str(dv.sqref)) for dv in again[sheet.name].data_validations.dataValidation}
        assert kept == before, sheet.name
        assert kept or sheet.name == "Reasons", f"{sheet.name} lost its validations"
    for sheet in S.ENGINE_SHEETS:
        assert again[sheet.name].protection.sheet
    assert set(again.defined_names) == set(wb.defined_names)
    parser = VBA_Parser(str(out))
    assert {n.rsplit(".", 1)[0] for _, _, n, _ in parser.extract_macros()} >= {"xlwings", "LedgerRibbon"}
