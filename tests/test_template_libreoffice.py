"""LibreOffice, an independent client, opens the template, converts it, and runs the ribbon callbacks.

Skipped without soffice locally; .ci/run sets XL_LEDGER_REQUIRE_LIBREOFFICE=1 so they fail instead.
"""

from __future__ import annotations

import shutil
import subprocess

import openpyxl
import pytest
from libreoffice import convert
from libreoffice import run_uno

from xl_ledger.book import schema as S
from xl_ledger import template
from xl_ledger.xlsx import vba_project as V
from xl_ledger.excel import ribbon
from xl_ledger.excel import sources

pytestmark = pytest.mark.libreoffice

# The cell the stand-in RunPython writes its command into.
PROBE_SHEET, PROBE_CELL = S.START_SHEET, "Z1"

# LibreOffice Basic cannot compile xlwings.bas (Declare PtrSafe ... Lib "xlwings64-x.dll", Mac
# AppleScriptTask) and then silently runs nothing, so the callbacks are tested in a variant of the
# template without the xlwings runtime, where RunPython is this stand-in. The callback module itself
# is the committed one, byte for byte.
RUNPYTHON_STANDIN = V.Module(
    "RunPythonStandIn",
    V.STD,
    'Attribute VB_Name = "RunPythonStandIn"\r\n'
    "' Test stand-in for xlwings' RunPython: records the command instead of starting Python.\r\n"
    "Public Function RunPython(PythonCommand As String)\r\n"
    f'    ThisWorkbook.Worksheets("{PROBE_SHEET}").Range("{PROBE_CELL}").Value = PythonCommand\r\n'
    "End Function\r\n",
)


@pytest.fixture(scope="module")
def template_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("lo") / template.TEMPLATE_NAME
    path.write_bytes(template.build_template())
    return path


@pytest.fixture(scope="module")
def converted(template_file):
    outdir = template_file.parent / "out"
    return {"pdf": convert(template_file, "pdf", outdir), "xlsx": convert(template_file, "xlsx", outdir)}


def test_converts_to_pdf(converted):
    pdf = converted["pdf"].read_bytes()
    assert pdf.startswith(b"%PDF") and len(pdf) > 10_000
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", str(converted["pdf"]), "-"], capture_output=True, text=True,
                              check=True).stdout  # fmt: skip
        assert "how this workbook works" in text
        assert "low_balance_threshold" in text  # Settings has rows: printed
        # A sheet with no rows yet prints no page (its print area starts below the header): the empty
        # template's Sessions and Staff would otherwise be a header on an empty page.
        headers = {page.strip().split("\n")[0].split("Printed")[0].strip() for page in text.split("\f") if page.strip()}
        assert {"Settings", "Reasons"} <= headers and not {"Sessions", "Staff", "Migration", "Outbox"} & headers


def test_converts_to_xlsx_with_the_contract_intact(converted):
    wb = openpyxl.load_workbook(converted["xlsx"])
    for sheet in S.ALL_SHEETS:
        assert tuple(c.value for c in wb[sheet.name][1])[: len(sheet.columns)] == sheet.headers
    assert [row[0] for row in wb["Settings"].iter_rows(min_row=2, max_col=1, values_only=True)] == list(S.SETTINGS)
    for name in ["list_status", "student_ids", "setting_low_balance_threshold"]:
        assert name in wb.defined_names, name
    lists = {dv.formula1 for dv in wb["Sessions"].data_validations.dataValidation}
    assert {"list_status", "student_ids"} <= lists
    # No formula error anywhere LibreOffice evaluated something.
    for ws in wb.worksheets:
        for row in ws.iter_rows(values_only=True):
            assert not any(isinstance(v, str) and v.startswith(("#NAME", "#REF", "Err:")) for v in row), ws.title


def test_libreoffice_loads_every_vba_module(template_file):
    answer = run_uno(template_file, {"modules": True})
    modules = set(answer["modules"]["VBAProject"])
    assert {"xlwings", "Dictionary", "LedgerRibbon", "xlwings_udfs", "LedgerFunctions", "ThisWorkbook"} <= modules


def test_the_function_descriptions_run_without_error_where_excel_is_not(tmp_path):
    """LibreOffice has no Application.MacroOptions: the generated module must swallow that, not fail."""
    variant = tmp_path / "functions.xlsm"
    variant.write_bytes(template.build_template(
        vba=[V.module_from_file(sources.VBA_DIR / f"{sources.FUNCTIONS_MODULE}.bas"), RUNPYTHON_STANDIN]))
    answer = run_uno(variant, {"modules": True, "calls": [
        {"macro": f"{sources.FUNCTIONS_MODULE}.{sources.DESCRIBE_SUB}", "args": [], "read": [PROBE_SHEET, "A1"]}]})
    assert {"LedgerFunctions", "ThisWorkbook"} <= set(answer["modules"]["VBAProject"])
    (call,) = answer["calls"]
    assert (call["ok"], call["error"]) == (True, None), call


def test_ribbon_callbacks_run_and_pass_their_python_command(tmp_path):
    callbacks = V.module_from_file(sources.VBA_DIR / "LedgerRibbon.bas")
    variant = tmp_path / "callbacks.xlsm"
    variant.write_bytes(template.build_template(vba=[callbacks, RUNPYTHON_STANDIN]))
    calls = [{"macro": f"{ribbon.VBA_MODULE}.{b.sub}", "args": ["$document"], "read": [PROBE_SHEET, PROBE_CELL]}
             for b in ribbon.BUTTONS]  # fmt: skip
    # A control stand-in: a ribbon passes an IRibbonControl; any object satisfies the declaration here.
    answer = run_uno(variant, {"calls": calls})
    got = {c["macro"]: (c["ok"], c["error"], c["value"]) for c in answer["calls"]}
    for b in ribbon.BUTTONS:
        expected = f"import xl_ledger.excel.macros as m; m.{b.function}()"
        assert got[f"{ribbon.VBA_MODULE}.{b.sub}"] == (True, None, expected), b.sub
