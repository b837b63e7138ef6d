"""Tampering with one Log row — edit, delete, insert, reorder — makes `xl-ledger verify` exit 1 and
name that row as `studio.xlsm!Log!A<row>`. The file is edited with openpyxl, as a user with Excel
would (not through our store), after a real post."""

from __future__ import annotations

import shutil

import openpyxl
import pytest
from post_helpers import NOW
from post_helpers import cli
from post_helpers import studio
from post_helpers import type_rows

from xl_ledger import post
from xl_ledger.book.filestore import FileStore


@pytest.fixture(scope="module")
def posted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tamper")
    path = studio(folder)
    type_rows(path, "Actions", {2: {"action": "sell", "student_id": "S1", "product_id": "P10"},
                                3: {"action": "sell", "student_id": "S3", "product_id": "H10"}})
    type_rows(path, "Sessions", {i + 2: {"session_id": f"L{i}", "date": f"2026-03-0{i + 1}", "student_id": "S1",
                                         "status": "attended"} for i in range(6)})
    post.post(FileStore(path), now=NOW, operator="owner")
    assert len(FileStore(path).read_log()) == 14  # Excel rows 2..15
    return path


def _edit(row: int):
    def do(ws):
        ws.cell(row, 11).value = "9999"  # amount
    return do


def _delete(row: int):
    return lambda ws: ws.delete_rows(row)


def _insert(row: int):
    def do(ws):  # a copy of an earlier sale, pasted in to "sell" a package twice
        copy = [c.value for c in ws[row - 8]]
        ws.insert_rows(row)
        for col, value in enumerate(copy, start=1):
            ws.cell(row, col).value = value
    return do


def _swap(row: int):
    def do(ws):
        a, b = [c.value for c in ws[row]], [c.value for c in ws[row + 1]]
        for col, (x, y) in enumerate(zip(a, b), start=1):
            ws.cell(row, col).value, ws.cell(row + 1, col).value = y, x
    return do


@pytest.mark.parametrize("how, row, column", [
    (_edit, 9, "hash"), (_delete, 7, "seq"), (_insert, 12, "seq"), (_swap, 5, "seq"), (_edit, 2, "hash"),
])
def test_verify_names_the_tampered_row(posted, tmp_path, how, row, column):
    path = tmp_path / "studio.xlsm"
    shutil.copyfile(posted, path)
    wb = openpyxl.load_workbook(path, keep_vba=True)
    how(row)(wb["Log"])
    wb.save(path)
    done = cli("verify", str(path))
    assert done.returncode == 1, done.stdout + done.stderr
    first = done.stderr.splitlines()[0]
    assert first == f"studio.xlsm!Log!A{row}", done.stderr
    assert f"column {column}" in done.stderr and "restore the file from a backup" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_untouched_file_verifies(posted):
    done = cli("verify", str(posted))
    assert done.returncode == 0, done.stderr


def test_a_broken_chain_stops_post_balance_and_import_with_one_message(posted, tmp_path):
    """Every command that opens the Log refuses a tampered one the same way: exit 1, the same words, and
    the workbook untouched (the message is the store's BrokenChainError)."""
    import legacy_fixtures as lf

    path = tmp_path / "studio.xlsm"
    shutil.copyfile(posted, path)
    wb = openpyxl.load_workbook(path, keep_vba=True)
    _edit(9)(wb["Log"])
    wb.save(path)
    before = path.read_bytes()
    legacy = lf.purchases_xlsx(tmp_path / "tracking.xlsx")
    messages = set()
    for args in (["post", str(path), "--as", "owner"], ["balance", str(path)],
                 ["import", str(legacy), "--into", str(path), "--as", "owner"]):
        done = cli(*args)
        assert done.returncode == 1, (args, done.stdout, done.stderr)
        line = next(t for t in done.stderr.splitlines() if "studio.xlsm!Log!A9 (seq 8)" in t)
        messages.add(line.split("studio.xlsm!Log!A9", 1)[1])
        assert "Traceback" not in done.stderr
    assert len(messages) == 1 and "Run `xl-ledger verify`" in messages.pop()
    assert path.read_bytes() == before
