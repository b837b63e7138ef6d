"""Header rows read through a shared-string table (what a workbook saved by LibreOffice or Excel has):
only as many items are read as the header rows need, and each header reads as calamine reads it."""

from __future__ import annotations

from post_helpers import NOW
from post_helpers import studio
from post_helpers import type_rows

from xl_ledger import post
from xl_ledger.book.filestore import FileStore
from xl_ledger.book.store import ENGINE_SHEET_NAMES
from xl_ledger.xlsx.sheet import iter_shared_items
from xl_ledger.xlsx.sheet import shared_strings
from xl_ledger.xlsx.sheet import si_text

SST = (b'<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="9">'
       b'<si><t>plain</t></si><si/><si><t xml:space="preserve"> spaced </t></si>'
       b'<si><r><rPr><b/></rPr><t>rich</t></r><r><t xml:space="preserve"> runs</t></r></si>'
       b'<si><t>kanji</t><rPh sb="0" eb="1"><t>phonetic</t></rPh></si><si><t>a &amp; b &lt;c&gt;</t></si>'
       b'<si><t/></si><si><t>\xc3\xa9t\xc3\xa9</t></si><si><t>last</t></si></sst>')


def test_the_items_streamed_in_any_cut_are_the_tables_texts():
    texts = shared_strings(SST)
    assert texts == ["plain", "", " spaced ", "rich runs", "kanji", "a & b <c>", "", "été", "last"]
    for size in range(1, 40):
        chunks = (SST[i:i + size] for i in range(0, len(SST), size))
        assert [si_text(item) for item in iter_shared_items(chunks)] == texts, size


def _sheet_order(store):
    with store._open() as book:
        return list(book.sheets)


def test_header_rows_after_a_libreoffice_save_read_as_calamine_reads_them_and_the_table_only_so_far(tmp_path):
    from libreoffice import convert

    path = studio(tmp_path)
    type_rows(path, "Actions", {2: {"action": "sell", "student_id": "S1", "product_id": "P10"}})
    type_rows(path, "Sessions", {i + 2: {"session_id": f"L{i}", "date": f"2026-03-0{i + 1}", "student_id": "S1",
                                         "status": "attended"} for i in range(6)})
    post.post(FileStore(path), now=NOW, operator="owner")
    saved = convert(path, "xlsm:Calc MS Excel 2007 VBA XML", tmp_path / "lo")
    store = FileStore(saved)
    with store._open() as book:
        table = book.read(book.read_targets[2])
    items = len(shared_strings(table))
    names = _sheet_order(store)
    # Engine sheets first, last sheet first: each header row is read from the items read so far, or
    # reads further into the table.
    order = [n for n in reversed(names) if n in ENGINE_SHEET_NAMES] + [n for n in names if n not in ENGINE_SHEET_NAMES]
    headers = {name: store.sheet_headers(name) for name in order}
    assert headers["Packages"][:2] == ("package_id", "owner")
    for name in names:
        assert headers[name] == FileStore(saved).read_sheet(name).headers, name
    # Only the workbook's first sheets' headers: the table is read no further than they need.
    few = FileStore(saved)
    few.sheet_headers("Packages")
    assert 0 < len(few._memo["shared strings"]) < items
