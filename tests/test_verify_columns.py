"""The store's one-read verify (FileStore.check_log / read_verified_log) checks the chain as Arrow columns.

It must agree with chain.verify over the rows on every file: intact, each column of a row edited (as a
user in Excel would), a row edited and re-hashed to hide it, and a Log sealed with an owner key read
with and without that key."""

from __future__ import annotations

import shutil

import openpyxl
import pytest
from post_helpers import NOW
from post_helpers import studio
from post_helpers import type_rows

from xl_ledger import post
from xl_ledger.book.filestore import FileStore
from xl_ledger.core import chain

KEY = b"owner key for the tests, 32 bytes!"


@pytest.fixture(scope="module")
def books(tmp_path_factory):
    out = {}
    for name, key in (("plain", None), ("keyed", KEY)):
        path = studio(tmp_path_factory.mktemp(name))
        type_rows(path, "Actions", {2: {"action": "sell", "student_id": "S1", "product_id": "P10"},
                                    3: {"action": "sell", "student_id": "S3", "product_id": "H10"}})
        type_rows(path, "Sessions", {i + 2: {"session_id": f"L{i}", "date": f"2026-03-0{i + 1}",
                                             "student_id": "S1", "status": "attended"} for i in range(4)})
        post.post(FileStore(path), now=NOW, operator="owner", key=key)
        out[name] = path
    return out


def _same_answer(path, key):
    store = FileStore(path)
    rows = store.read_log()
    expected = chain.verify(rows, key)
    count, head, broken = store.check_log(key)
    assert (count, broken) == (len(rows), expected)
    if expected is None:
        assert head == (rows[-1][chain.SEQ], rows[-1][chain.HASH])
    read, broken2 = store.read_verified_log(key)
    assert read == rows and broken2 == expected
    return expected


def test_an_intact_log_verifies_both_ways(books):
    assert _same_answer(books["plain"], None) is None
    assert _same_answer(books["keyed"], KEY) is None


def test_a_keyed_log_read_without_its_key_breaks_at_the_first_row(books):
    broken = _same_answer(books["keyed"], None)
    assert broken is not None and broken.index == 0 and broken.column == "hash"
    assert _same_answer(books["plain"], KEY).index == 0


@pytest.mark.parametrize("column", range(1, len(chain.LOG_COLUMNS) + 1))
def test_every_column_edited_is_found_at_its_row(books, tmp_path, column):
    path = tmp_path / "studio.xlsm"
    shutil.copyfile(books["plain"], path)
    wb = openpyxl.load_workbook(path, keep_vba=True)
    ws = wb["Log"]
    before = ws.cell(6, column).value
    ws.cell(6, column).value = 7 if column == 1 else f"{before or ''}x"
    wb.save(path)
    broken = _same_answer(path, None)
    assert broken is not None and broken.index == 4  # Excel row 6 is the 5th Log row


def test_a_row_edited_and_rehashed_breaks_at_the_next_row(books, tmp_path):
    path = tmp_path / "studio.xlsm"
    shutil.copyfile(books["plain"], path)
    wb = openpyxl.load_workbook(path, keep_vba=True)
    ws = wb["Log"]
    row = [c.value for c in ws[5]]
    row[chain.COL["amount"]] = "1"
    row[0] = int(row[0])
    row = [("" if v is None else v) for v in row]
    ws.cell(5, chain.HASH + 1).value = chain.row_hash(row)
    ws.cell(5, chain.COL["amount"] + 1).value = "1"
    wb.save(path)
    broken = _same_answer(path, None)
    assert broken is not None and broken.index == 4 and broken.column == "prev_hash"
