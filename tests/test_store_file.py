"""FileStore beyond the contract: byte-level preservation, the lock, all-or-nothing on disk, the
appendable Log layout and its fallback, and independent readers of what it writes."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import fastexcel
import openpyxl
import pytest
import python_calamine
from test_store_support import build_workbook
from test_store_support import log_rows

from xl_ledger.book import schema
from xl_ledger.book import xlsx_log
from xl_ledger.book.filestore import FileStore
from xl_ledger.book.filestore import WriteLock
from xl_ledger.book.store import BrokenFileError
from xl_ledger.book.store import Change
from xl_ledger.book.store import LockedError
from xl_ledger.book.store import StaleLogError
from xl_ledger.core.chain import GENESIS
from xl_ledger.core.chain import verify


def raw_members(path: Path) -> dict[str, bytes]:
    """Each member's compressed bytes as stored: equal means copied byte for byte."""
    out = {}
    with zipfile.ZipFile(path) as z, open(path, "rb") as f:
        for info in z.infolist():
            f.seek(info.header_offset + 26)
            n, x = int.from_bytes(f.read(2), "little"), int.from_bytes(f.read(2), "little")
            f.seek(info.header_offset + 30 + n + x)
            out[info.filename] = f.read(info.compress_size)
    return out


def sheet_part(path: Path, sheet: str) -> str:
    store = FileStore(path)
    with store._open() as book:
        return book.sheets[sheet]


@pytest.fixture
def book(tmp_path) -> Path:
    return build_workbook(tmp_path / "studio.xlsx")


def test_untouched_parts_are_copied_byte_for_byte(book):
    before = raw_members(book)
    store = FileStore(book)
    rows = log_rows(20)
    store.commit(Change(0, GENESIS, tuple(rows), {"Alerts": [["low", "ST1", "PK1", "x", "msg"]]},
                       {"Actions": {(2, "status"): "applied"}}))
    after = raw_members(book)
    changed = {sheet_part(book, s) for s in ("Log", "Alerts", "Actions")}
    assert set(after) == set(before)  # no part added or dropped
    for name in before:
        if name not in changed:
            assert after[name] == before[name], name
    assert all(after[name] != before[name] for name in changed)
    with zipfile.ZipFile(book) as z:
        assert z.testzip() is None


def test_engine_sheet_keeps_everything_but_rows_and_dimension(book):
    part = sheet_part(book, "Packages")
    with zipfile.ZipFile(book) as z:
        old = z.read(part).decode()
    FileStore(book).commit(Change(0, GENESIS, sheets={"Packages": [["PK1", "ST1", "P10", "lessons", 10]] * 3}))
    with zipfile.ZipFile(book) as z:
        new = z.read(part).decode()
    strip = lambda xml: xml.split("<dimension")[0] + xml.split("</sheetData>")[1]  # noqa: E731
    assert strip(new) == strip(old)
    assert "<sheetProtection" in new and 'state="frozen"' in new and "<cols>" in new
    assert f'<dimension ref="A1:{schema.col_letter(len(schema.PACKAGES.columns))}4"/>' in new
    ws = openpyxl.load_workbook(book)["Packages"]
    assert ws.protection.sheet and ws.freeze_panes == "A2" and ws.max_row == 4


def test_dates_and_money_take_the_column_formats(book):
    FileStore(book).commit(Change(0, GENESIS, sheets={"Packages": [
        ["PK1", "ST1", "P10", "lessons", 10, 2, 0, 8, 80.5, dt.date(2026, 4, 14), "active"]]}))
    ws = openpyxl.load_workbook(book)["Packages"]
    assert ws["J2"].value == dt.datetime(2026, 4, 14) and ws["J2"].number_format == "yyyy-mm-dd"
    assert ws["I2"].number_format == "#,##0.00"
    # A date in a column without a date format gets a date style added, not a bare serial number.
    FileStore(book).commit(Change(0, GENESIS, sheets={"Alerts": [["expiry", "ST1", "PK1", dt.date(2026, 5, 1),
                                                                  dt.datetime(2026, 5, 1, 13, 30)]]}))
    assert FileStore(book).read_sheet("Alerts").rows[0][1][3:5] == (dt.date(2026, 5, 1), dt.datetime(2026, 5, 1, 13, 30))


def test_failed_commits_leave_the_file_byte_identical(book):
    store = FileStore(book)
    store.commit(Change(0, GENESIS, tuple(log_rows(5))))
    before = book.read_bytes()
    with pytest.raises(StaleLogError):
        store.commit(Change(4, "x" * 64, tuple(log_rows(1, 5, "x" * 64))))
    with pytest.raises(BrokenFileError):
        store.commit(Change(*store.head(), cells={"Actions": {(2, "nonsense"): 1}}))
    holder = WriteLock(book).__enter__()
    try:
        with pytest.raises(LockedError):
            store.commit(Change(*store.head(), tuple(log_rows(1, 6, store.head()[1]))))
    finally:
        holder.__exit__(None, None, None)
    assert book.read_bytes() == before
    assert sorted(p.name for p in book.parent.iterdir()) == ["studio.xlsx"]  # no temp or lock files left


_HOLDER = """
import sys, time
from pathlib import Path
from xl_ledger.book.filestore import WriteLock
WriteLock(Path(sys.argv[1])).__enter__()
print("locked", flush=True)
time.sleep(60)
"""


def test_second_writer_is_refused_until_the_first_dies(book):
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(book)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        store = FileStore(book)
        with pytest.raises(LockedError) as refused:
            store.commit(Change(0, GENESIS, tuple(log_rows(1))))
        message = str(refused.value)
        assert "studio.xlsx is being written by" in message and f"process {holder.pid}" in message
        assert "wait" in message
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        store.commit(Change(0, GENESIS, tuple(log_rows(1))))  # the dead writer's lock is taken over
        assert store.head()[0] == 1
    finally:
        holder.kill()
        holder.wait()


def test_open_in_excel_is_refused(book):
    owner = book.with_name("~$" + book.name)
    owner.write_bytes(bytes([5]) + b"maria" + b"\x00" * 50)
    with pytest.raises(LockedError, match="open in Excel by maria"):
        FileStore(book).commit(Change(0, GENESIS, tuple(log_rows(1))))
    owner.unlink()
    FileStore(book).commit(Change(0, GENESIS, tuple(log_rows(1))))


def test_append_path_is_used_and_readers_agree(book):
    store = FileStore(book)
    rows = log_rows(50)
    store.commit(Change(0, GENESIS, tuple(rows)))
    for _ in range(3):
        seq, last = store.head()
        more = log_rows(10, seq + 1, last)
        store.commit(Change(seq, last, tuple(more)))
        rows += more
    with open(book, "rb") as f:
        assert zipfile.ZipFile(book).comment.startswith(xlsx_log.MAGIC)
    # Independent readers see the same rows (openpyxl does not decode _xHHHH_ in inline strings, so
    # those two awkward notes are compared only through the Rust readers).
    calamine_rows = python_calamine.CalamineWorkbook.from_path(str(book)).get_sheet_by_name("Log").to_python()
    assert [(int(r[0]),) + tuple(r[1:]) for r in calamine_rows[1:]] == rows
    wb = openpyxl.load_workbook(book, read_only=True)
    ws = wb["Log"]
    assert ws.max_row == 81 and ws.max_column == 17  # the dimension is right
    plain = [tuple("" if v is None else v for v in r) for r in ws.iter_rows(min_row=2, values_only=True)]
    assert len(plain) == 80
    assert [r for r in plain if "_x" not in r[12]] == [r for r in rows if "_x" not in r[12] and "\x01" not in r[12]]
    wb.close()
    assert fastexcel.read_excel(str(book)).load_sheet("Log").height == 80
    assert verify(store.read_log()) is None


def test_resaved_by_another_program_falls_back_and_rebuilds(book):
    store = FileStore(book)
    rows = log_rows(30)
    store.commit(Change(0, GENESIS, tuple(rows)))
    wb = openpyxl.load_workbook(book)  # another program saves the workbook: layout and comment gone
    wb["MyNotes"]["A5"] = "edited by hand"
    wb.save(book)
    assert not zipfile.ZipFile(book).comment.startswith(xlsx_log.MAGIC)
    assert store.head() == (30, rows[-1][15])  # found by reading the log
    more = log_rows(5, 31, rows[-1][15])
    store.commit(Change(30, rows[-1][15], tuple(more)))
    assert zipfile.ZipFile(book).comment.startswith(xlsx_log.MAGIC)
    back = store.read_log()
    # openpyxl itself mangles CR, _xHHHH_ and control characters when it saves; the rest must survive.
    mangled = {r[0] for r in rows if any(c in r[12] for c in ("_x", "\x01", "\r"))}
    assert len(mangled) == 7
    assert [r for r in back if r[0] not in mangled] == [r for r in rows + more if r[0] not in mangled]
    assert back[-5:] == more and len(back) == 35
    assert python_calamine.CalamineWorkbook.from_path(str(book)).get_sheet_by_name("MyNotes").to_python()[4][0] \
        == "edited by hand"


def test_log_part_changed_under_the_comment_is_not_trusted(book, tmp_path):
    """A tool that rewrites the Log part but keeps the archive comment must not fool the fast path."""
    store = FileStore(book)
    rows = log_rows(10)
    store.commit(Change(0, GENESIS, tuple(rows)))
    log_part = sheet_part(book, "Log")
    copy = tmp_path / "copy.xlsx"
    with zipfile.ZipFile(book) as src, zipfile.ZipFile(copy, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == log_part:
                data = data.replace(b"<t>plain</t>", b"<t>PLAIN</t>")
            dst.writestr(info, data)
        dst.comment = src.comment
    os.replace(copy, book)
    assert store.head() == (10, rows[-1][15])  # from the rows themselves, not the stale comment
    assert verify(store.read_log()) is not None  # the edit is visible to verify
    more = log_rows(1, 11, rows[-1][15])
    store.commit(Change(10, rows[-1][15], tuple(more)))
    assert len(store.read_log()) == 11


def test_not_a_workbook_is_a_clear_error(tmp_path):
    bad = tmp_path / "studio.xlsx"
    bad.write_text("hello")
    store = FileStore(bad)
    for call in (store.head, store.read_log, lambda: store.read_sheet("Sessions"),
                 lambda: store.commit(Change(0, GENESIS))):
        with pytest.raises(BrokenFileError, match="studio.xlsx is not a readable Excel workbook"):
            call()
    with pytest.raises(BrokenFileError, match="does not exist"):
        FileStore(tmp_path / "missing.xlsx").head()


def test_cells_below_a_table_extend_it(book):
    FileStore(book).commit(Change(0, GENESIS, cells={"Actions": {(5, "status"): "rejected",
                                                                 (5, "message"): "row typed below the table"}}))
    ws = openpyxl.load_workbook(book)["Actions"]
    last = schema.col_letter(len(schema.ACTIONS.headers))
    assert dict(ws.tables.items()) == {"tblActions": f"A1:{last}5"}
    assert ws.tables["tblActions"].autoFilter.ref == f"A1:{last}5"
    assert (ws["L5"].value, ws["M5"].value, ws["A2"].value) == ("rejected", "row typed below the table", "sell")
    assert dict(openpyxl.load_workbook(book)["Sessions"].tables.items()) == \
        {"tblSessions": f"A1:{schema.col_letter(len(schema.SESSIONS.headers))}3"}  # untouched


def test_commit_without_log_rows_keeps_the_append_layout(book):
    store = FileStore(book)
    rows = log_rows(10)
    store.commit(Change(0, GENESIS, tuple(rows)))
    log_bytes = raw_members(book)[sheet_part(book, "Log")]
    store.commit(Change(10, rows[-1][15], sheets={"Packages": [["PK1"] * 5] * 40}))  # Log part moves, unchanged
    assert raw_members(book)[sheet_part(book, "Log")] == log_bytes
    with store._open() as opened:
        assert store._log_state(opened) is not None  # the fast path still recognises it
    more = log_rows(3, 11, rows[-1][15])
    store.commit(Change(10, rows[-1][15], tuple(more)))
    assert store.read_log() == rows + more
