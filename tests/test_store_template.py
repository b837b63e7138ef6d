"""Ten commits to the real template keep everything the store does not own: every VBA module (read
back by oletools' own decoder), the ribbon part and its relationship, tables, validations, sheet
protection, and LibreOffice still opens the result and prints it to PDF."""

from __future__ import annotations

import datetime as dt
import zipfile
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
import python_calamine
from oletools.olevba import VBA_Parser
from test_store_support import TEMPLATE
from test_store_support import log_rows

from xl_ledger.book import schema
from xl_ledger.book.filestore import FileStore
from xl_ledger.book.store import Change
from xl_ledger.core.chain import verify

pytestmark = pytest.mark.skipif(not TEMPLATE.exists(), reason="workbook_template.xlsm not built yet")

CUSTOM_UI = "customUI/customUI.xml"


def vba_modules(path: Path) -> dict[str, str]:
    parser = VBA_Parser(str(path))
    try:
        return {name: code for _f, _s, name, code in parser.extract_macros()}
    finally:
        parser.close()


def contract(path: Path) -> dict:
    """What a user or Excel relies on, as openpyxl (an independent reader) sees it."""
    wb = openpyxl.load_workbook(path, keep_vba=True)
    out = {}
    for ws in wb.worksheets:
        out[ws.title] = {
            "tables": dict(ws.tables.items()),  # name -> ref
            "validations": sorted((str(v.sqref), v.type, v.formula1) for v in ws.data_validations.dataValidation),
            "protected": ws.protection.sheet,
            "freeze": ws.freeze_panes,
            "conditional": sorted(str(r.sqref) for r in ws.conditional_formatting),
            "widths": {k: d.width for k, d in ws.column_dimensions.items()},
        }
    out["defined_names"] = sorted(wb.defined_names)
    return out


@pytest.fixture(scope="module")
def committed(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("tpl") / "studio.xlsm"
    path.write_bytes(TEMPLATE.read_bytes())
    store = FileStore(path)
    for i in range(10):
        seq, last = store.head()
        rows = log_rows(7, seq + 1, last)
        packages = [[f"PK{k}", "ST1", "P10", "lessons", Decimal("10"), k, 0, Decimal(10 - k),
                     Decimal("12.50") * (10 - k), dt.date(2026, 4, 1 + k), "active", dt.date(2026, 1, 2)]
                    for k in range(i + 1)]
        store.commit(Change(seq, last, tuple(rows),
                            {"Packages": packages, "Alerts": [["low_balance", "ST1", f"PK{i}", "Packages!H2",
                                                               f"commit {i}"]]},
                            {"Actions": {(2, "status"): "applied", (2, "message"): f"commit {i}",
                                         (2, "log_seq"): seq + 7}}))
    return path


def test_vba_modules_read_back_identical(committed):
    before = vba_modules(TEMPLATE)
    assert len(before) >= 5 and any(name.endswith(".bas") for name in before)
    assert vba_modules(committed) == before


def test_ribbon_part_and_relationship_kept(committed):
    with zipfile.ZipFile(TEMPLATE) as old, zipfile.ZipFile(committed) as new:
        assert new.read(CUSTOM_UI) == old.read(CUSTOM_UI)
        rels = new.read("_rels/.rels").decode()
        assert 'Target="customUI/customUI.xml"' in rels and "/2006/relationships/ui/extensibility" in rels
        assert new.read("_rels/.rels") == old.read("_rels/.rels")
        assert new.read("[Content_Types].xml") == old.read("[Content_Types].xml")
        assert new.read("xl/vbaProject.bin") == old.read("xl/vbaProject.bin")
        assert new.namelist() == old.namelist()
        assert new.testzip() is None


def test_tables_validations_protection_kept(committed):
    before, after = contract(TEMPLATE), contract(committed)
    assert after == before
    for sheet in schema.ENGINE_SHEETS:
        assert after[sheet.name]["protected"], sheet.name
    assert after["Sessions"]["tables"] == before["Sessions"]["tables"] != {}
    assert after["Sessions"]["validations"] != []


def test_the_written_data_is_there(committed):
    store = FileStore(committed)
    log = store.read_log()
    assert len(log) == 70 and verify(log) is None
    assert store.read_sheet("Packages").rows[-1][1][:3] == ("PK9", "ST1", "P10")
    assert store.read_sheet("Packages").rows[-1][1][9] == dt.date(2026, 4, 10)
    assert store.read_sheet("Actions").rows[0][1][11:] == ("applied", "commit 9", 70)
    wb = openpyxl.load_workbook(committed)
    assert wb["Packages"]["J11"].is_date and wb["Packages"]["J11"].value == dt.datetime(2026, 4, 10)
    sheet = python_calamine.CalamineWorkbook.from_path(str(committed)).get_sheet_by_name("Log").to_python()
    assert len(sheet) == 71


@pytest.mark.libreoffice
def test_libreoffice_opens_and_prints_it(committed, tmp_path):
    from libreoffice import convert

    pdf = convert(committed, "pdf", tmp_path / "pdf")
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 5000
    xlsx = convert(committed, "xlsx", tmp_path / "xlsx")
    ws = openpyxl.load_workbook(xlsx)["Log"]
    assert ws.max_row == 71 and ws["A71"].value == 70
