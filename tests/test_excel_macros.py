"""Ribbon macros and worksheet functions against xlwings' own in-memory book, built from the template.

Excel is played by test_excel_support.ExcelClient: it hands the macro a book (the RunPython caller),
then applies what the macro wrote, as Excel would. The same inputs also go through the FileStore, and
both must give the same Log and Balances.
"""

from __future__ import annotations

import datetime as dt
import shutil
from decimal import Decimal

import openpyxl
import pytest
from test_excel_support import ExcelClient
from test_store_support import TEMPLATE

import legacy_fixtures as lf
import xlwings

from xl_ledger import template
from xl_ledger.xlsx import vba_project as V
from xl_ledger.book.filestore import FileStore
from xl_ledger.book.livestore import LiveStore
from xl_ledger.core import queries
from xl_ledger.core.journal import Journal
from xl_ledger.core import chain
from xl_ledger.excel import cache
from xl_ledger.excel import config
from xl_ledger.excel import macros
from xl_ledger.excel import sources
from xl_ledger.excel import udfs
from xl_ledger.post import post

NOW = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.timezone.utc)
INPUTS = {
    "Products": [["P10", "Ten lessons", "lessons", 10, 300], ["H5", "Five hours", "hours", 5, 250]],
    "Students": [["ST1", "Ann", "F1"], ["ST2", "Ben", "F1"], ["ST3", "Cy"]],
    "Sessions": [["S1", dt.datetime(2026, 1, 5), "16:30", 60, "ST1", None, "attended"],
                 ["S2", dt.datetime(2026, 1, 12), "16:30", 60, "ST1", None, "attended"],
                 ["S3", dt.datetime(2026, 1, 13), "10:00", 90, "ST3", None, "attended"]],
    "Actions": [["sell", dt.datetime(2026, 1, 2), "ST1", None, "P10"],
                ["sell", dt.datetime(2026, 1, 3), "ST3", None, "H5"],
                ["refund", dt.datetime(2026, 1, 4), "ST9", "PK-nope", None, None, 10, "goodwill"]],
}


@pytest.fixture
def studio(tmp_path, monkeypatch):
    """A copy of the template with the inputs typed in (the same file for both stores)."""
    monkeypatch.setenv("XL_LEDGER_USER", "owner")
    monkeypatch.delenv("XL_LEDGER_KEY", raising=False)
    monkeypatch.setenv("XL_LEDGER_KEY_FILE", str(tmp_path / "no-key"))
    monkeypatch.setattr(macros, "_now", lambda: NOW)
    path = tmp_path / "studio.xlsm"
    shutil.copyfile(TEMPLATE, path)
    wb = openpyxl.load_workbook(path, keep_vba=True)
    for sheet, rows in INPUTS.items():
        for r, row in enumerate(rows, start=2):
            for c, value in enumerate(row, start=1):
                wb[sheet].cell(r, c, value)
    wb.save(path)
    cache.clear()
    return path


def posted(studio):
    client = ExcelClient.from_file(studio)
    result = macros.post(client.open())
    client.apply()
    return client, result


def test_post_through_the_live_store_equals_the_file_store(studio):
    client, result = posted(studio)
    file_store = FileStore(studio)
    expected = post(file_store, now=NOW, operator="owner")
    live = LiveStore(client.open())
    assert live.read_log() == FileStore(studio).read_log() and len(live.read_log()) == expected.new_rows
    for sheet in ("Balances", "Packages", "Alerts", "Allocations"):
        assert live.read_sheet(sheet).rows == FileStore(studio).read_sheet(sheet).rows, sheet
    assert live.read_sheet("Actions").rows == FileStore(studio).read_sheet("Actions").rows
    # The report: applied and rejected rows, in a message box.
    box = client.alerts[-1]
    assert box["title"] == "xl-ledger" and box["mode"] == "critical"  # a row was rejected
    assert "Actions!3: sale" in box["prompt"] and "studio.xlsm!Actions!" in box["prompt"]
    assert result.summary() in box["prompt"]


def test_refund_prefill_puts_the_engine_quote_in_the_row(studio):
    client, _ = posted(studio)
    store = LiveStore(client.open())
    packages = store.read_sheet("Packages")
    row, pkg = next((n, dict(zip(packages.headers, v))) for n, v in packages.rows if v[1] == "ST1")
    book = client.select("Packages", f"C{row}")  # the user is on ST1's package
    filled = macros.refund(book)
    client.apply(book)
    state = Journal.from_rows(store.read_log()).fold(filled["date"])
    quote = queries.refund_quote(state, pkg["package_id"])
    assert quote == Decimal("240.00")  # 8 of 10 unused at 30.00, no admin fee
    actions = LiveStore(client.open()).read_sheet("Actions")
    number, values = actions.rows[-1]
    record = dict(zip(actions.headers, values))
    assert number == 5
    assert record["action"] == "refund" and record["student_id"] == "ST1"
    assert record["package_id"] == pkg["package_id"] and record["amount"] == float(quote)
    assert record["quantity"] == 8 and record["date"] == filled["date"]
    assert (client.active_sheet, client.selection) == ("Actions", "H5")  # reason_code is next


def test_prefills_for_the_student_under_the_selection(studio):
    client, _ = posted(studio)
    students = LiveStore(client.open()).read_sheet("Students")
    row = next(n for n, v in students.rows if v[0] == "ST3")
    for fn, focus, expect in ((macros.sell, "G", {"product_id": "H5"}), (macros.transfer, "I", {"quantity": 3.5}),
                              (macros.freeze, "J", {}), (macros.adjust, "F", {})):
        book = client.select("Students", f"A{row}")
        fn(book)
        client.apply(book)
        actions = LiveStore(client.open()).read_sheet("Actions")
        number, values = actions.rows[-1]
        record = dict(zip(actions.headers, values))
        assert record["student_id"] == "ST3" and record["action"] == fn.__name__
        assert {k: record[k] for k in expect} == expect
        assert client.selection == f"{focus}{number}"


def test_post_applies_a_prefilled_row(studio):
    client, _ = posted(studio)
    store = LiveStore(client.open())
    packages = store.read_sheet("Packages")
    row = next(n for n, v in packages.rows if v[1] == "ST1")
    book = client.select("Packages", f"A{row}")
    macros.refund(book)
    client.apply(book)
    client.values("Actions")[4][7] = "goodwill"  # the user completes the reason code, then posts
    result = macros.post(client.open())
    client.apply()
    assert any("refund" in line and "240.00" in line for line in result.applied), result.applied


def test_verify_names_the_first_bad_row(studio):
    client, _ = posted(studio)
    macros.verify(client.open())
    client.apply()
    assert client.alerts[-1]["prompt"].startswith("The Log verifies: ")
    client.values("Log")[3][12] = "edited by hand"  # seq 3's note
    macros.verify(client.open())
    client.apply()
    assert client.alerts[-1]["mode"] == "critical"
    assert client.alerts[-1]["prompt"].startswith("studio.xlsm!Log!A4 (seq 3), column hash: ")
    assert udfs.LEDGER_VERIFY(caller=client.open().sheets["Balances"]["A1"]).startswith("Log!A4 (seq 3)")


def test_a_broken_chain_stops_the_post_with_a_message_and_writes_nothing(studio):
    client, _ = posted(studio)
    client.values("Log")[2][12] = "edited"
    before = [list(r) for r in client.values("Log")]
    book = client.open()
    assert macros.post(book) is None
    actions = client.apply(book)
    assert [a["func"] for a in actions] == ["alert"]
    assert "studio.xlsm!Log" in client.alerts[-1]["prompt"] and "(seq 2)" in client.alerts[-1]["prompt"]
    assert "Nothing was changed" in client.alerts[-1]["prompt"]
    assert client.values("Log") == before


def test_alerts_and_help_jump_to_their_sheets(studio):
    client, _ = posted(studio)
    client.values("Alerts")[1][:2] = ["typed", "junk"]
    book = client.open()
    macros.alerts(book)
    client.apply(book)
    assert (client.active_sheet, client.selection) == ("Alerts", "A1")
    assert all(v[:2] != ("typed", "junk") for _n, v in LiveStore(client.open()).read_sheet("Alerts").rows)
    book = client.open()
    macros.show_help(book)
    client.apply(book)
    assert client.active_sheet == "Start"


def variant(tmp_path, xlwings_version=None, name="old.xlsm"):
    """A workbook built like the template, with an xlwings VBA module claiming another version (or none)."""
    modules = [V.module_from_file(sources.VBA_DIR / n) for n in sources.VBA_SOURCES]
    if xlwings_version is None:
        modules = [m for m in modules if m.name != "xlwings"]
    else:
        installed = config.shipped_vba_version()
        modules = [V.Module(m.name, m.kind, m.code.replace(f'"{installed}"', f'"{xlwings_version}"')
                            .replace(f"-{installed}.dll", f"-{xlwings_version}.dll")) if m.name == "xlwings" else m
                   for m in modules]
    path = tmp_path / name
    path.write_bytes(template.build_template(vba=modules))
    return path


def test_the_workbook_records_the_version_of_its_own_vba_module(tmp_path):
    from oletools.olevba import VBA_Parser

    book = ExcelClient.from_file(TEMPLATE).open()
    assert config.workbook_vba_version(book) == xlwings.__version__ == config.shipped_vba_version()
    old = variant(tmp_path, "0.30.0")
    code = {n.rsplit(".", 1)[0]: c for _f, _s, n, c in VBA_Parser(str(old)).extract_macros()}
    assert 'XLWINGS_VERSION As String = "0.30.0"' in code["xlwings"]
    assert config.workbook_vba_version(ExcelClient.from_file(old).open()) == "0.30.0"


@pytest.mark.parametrize("version, fix", [
    ("0.30.0", "pip install xlwings==0.30.0"),  # an older workbook
    ("9.0.0", "pip install --upgrade xl-ledger"),  # a workbook newer than this Python
])
def test_a_version_mismatch_is_explained_and_nothing_runs(tmp_path, monkeypatch, version, fix):
    client = ExcelClient.from_file(variant(tmp_path, version))
    called = []
    monkeypatch.setattr(macros, "run_post", lambda *a, **k: called.append(1))
    book = client.open()
    assert macros.post(book) is None
    actions = client.apply(book)
    assert [a["func"] for a in actions] == ["alert"] and not called
    prompt = client.alerts[-1]["prompt"]
    assert client.alerts[-1]["mode"] == "critical"
    assert f"version {version}" in prompt and f"has xlwings {xlwings.__version__}" in prompt and fix in prompt
    if version == "0.30.0":
        assert "xl-ledger init NEW.xlsm" in prompt


def test_a_workbook_without_the_record_says_how_to_add_it(tmp_path):
    client = ExcelClient.from_file(variant(tmp_path, None))
    book = client.open()
    assert macros.verify(book) is None
    client.apply(book)
    prompt = client.alerts[-1]["prompt"]
    assert config.VBA_VERSION_NAME in prompt and f'="{xlwings.__version__}"' in prompt and "Alt+F11" in prompt


def test_import_legacy_into_the_open_workbook(tmp_path, monkeypatch):
    monkeypatch.setenv("XL_LEDGER_USER", "owner")
    monkeypatch.setenv("XL_LEDGER_KEY_FILE", str(tmp_path / "no-key"))
    monkeypatch.delenv("XL_LEDGER_KEY", raising=False)
    monkeypatch.setattr(macros, "_now", lambda: dt.datetime(2025, 4, 15, 10, 0, tzinfo=dt.timezone.utc))
    legacy = lf.purchases_xlsx(tmp_path / "tracking.xlsx")
    lf.answer(legacy, lf.PURCHASES_ANSWERS)
    monkeypatch.setattr(macros, "_choose_file", lambda book: str(legacy))
    path = tmp_path / "studio.xlsm"
    shutil.copyfile(TEMPLATE, path)
    client = ExcelClient.from_file(path)
    book = client.open()
    report = macros.import_legacy(book)
    client.apply(book)
    assert report is not None and report.log_rows > 0 and report.students > 0
    live = LiveStore(client.open())
    log = live.read_log()
    assert len(log) == report.log_rows and chain.verify(log, None) is None
    assert {r[chain.LOG_COLUMNS.index("reason_code")] for r in log} >= {"migration"}
    migration = live.read_sheet("Migration").rows
    assert len(migration) == len(report.rows) > 0
    assert (client.active_sheet, client.selection) == ("Migration", "A1")
    prompt = client.alerts[-1]["prompt"]
    assert prompt.startswith("tracking.xlsx → studio.xlsm: imported ") and "Mapping:" in prompt
    # A second import of the same file is refused with the importer's reason; nothing is written.
    book = client.open()
    assert macros.import_legacy(book) is None
    assert [a["func"] for a in client.apply(book)] == ["alert"]
    assert client.alerts[-1]["mode"] == "critical" and "nothing was imported" in client.alerts[-1]["prompt"]
    assert LiveStore(client.open()).read_log() == log


def test_import_legacy_refuses_a_hostile_file_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("XL_LEDGER_USER", "owner")
    monkeypatch.setattr(macros, "_choose_file", lambda book: str(lf.garbage_xlsx(tmp_path / "junk.xlsx")))
    client = ExcelClient.from_file(TEMPLATE, "studio.xlsm")
    book = client.open()
    assert macros.import_legacy(book) is None
    assert [a["func"] for a in client.apply(book)] == ["alert"]
    assert client.alerts[-1]["prompt"].startswith("junk.xlsx: ") and "Nothing was imported" in client.alerts[-1]["prompt"]


def test_import_legacy_without_a_file_dialog_gives_the_command(studio):
    client = ExcelClient.from_file(studio)
    book = client.open()
    assert macros.import_legacy(book) is None
    client.apply(book)
    assert "xl-ledger import LEGACY.xlsx --into studio.xlsm" in client.alerts[-1]["prompt"]
    assert "migrate" not in client.alerts[-1]["prompt"]


def test_the_udf_cache_decodes_the_log_like_the_store(studio):
    client, _ = posted(studio)
    book = client.open()
    assert cache.read_entries(book) == Journal.from_rows(LiveStore(book).read_log()).entries
    # What Excel's COM engine hands back instead: None for empty cells, numbers as floats.
    data = client.data
    log = next(s for s in data["sheets"] if s["name"] == "Log")
    for row in log["values"][1:]:
        row[0] = float(row[0])
        row[:] = [None if v == "" else v for v in row]
        q = chain.LOG_COLUMNS.index("quantity")
        if isinstance(row[q], str):
            row[q] = float(row[q])
    book = client.open()
    assert cache.read_entries(book) == Journal.from_rows(LiveStore(book).read_log()).entries


# ------------------------------------------------------------------------------------------ UDFs
def test_udfs_answer_from_one_read_of_the_log(studio):
    client, _ = posted(studio)
    book = client.open()
    caller = book.sheets["Balances"]["D2"]
    cache.clear()
    cache.stats.update(reads=0, hits=0)
    state = Journal.from_rows(LiveStore(book).read_log()).fold(dt.date(2026, 3, 1))
    pkg = next(p for p in state.packages.values() if p.owner == "ST1")
    on = dt.date(2026, 3, 1)
    assert udfs.LEDGER_BALANCE("ST1", None, on, caller=caller) == 8.0
    assert udfs.LEDGER_BALANCE("ST2", "lessons", on, caller=caller) == 0.0
    assert udfs.LEDGER_BALANCE("ST3", "hours", on, caller=caller) == 3.5
    assert udfs.LEDGER_REMAINING(pkg.package_id, on, caller=caller) == 8.0
    assert udfs.LEDGER_REFUND_QUOTE(pkg.package_id, on, caller=caller) == 240.0
    assert udfs.LEDGER_LIABILITY(on, caller=caller) == float(queries.liability(state))
    assert udfs.LEDGER_NEXT_EXPIRY("ST1", caller=caller) is None
    history = udfs.LEDGER_HISTORY("ST1", caller=caller)
    assert history[0] == udfs.HISTORY_HEADER and history[-1][-1] == 8.0 and len(history) == 4
    with pytest.raises(ValueError, match="no student 'ST7'"):
        udfs.LEDGER_BALANCE("ST7", caller=caller)
    assert cache.stats["reads"] == 1 and cache.stats["hits"] >= 8
    # A post changes the Log: the next call reads it again, once.
    book = client.select("Students", "A2")
    macros.sell(book)
    client.apply(book)
    client.values("Actions")[-1][6] = 300
    macros.post(client.open())
    client.apply()
    caller = client.open().sheets["Balances"]["D2"]
    assert udfs.LEDGER_BALANCE("ST1", None, on, caller=caller) == 8.0  # sold today, after 1 March
    assert udfs.LEDGER_BALANCE("ST1", caller=caller) == 18.0
    assert cache.stats["reads"] == 2
