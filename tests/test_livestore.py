"""The live-Excel store passes the Store contract on xlwings' own in-memory book, and writes in bulk."""

from __future__ import annotations

import pytest
from test_excel_support import ExcelClient
from test_store_contract import StoreContract
from test_store_support import build_workbook
from test_store_support import log_rows

from xl_ledger.book.livestore import HEAD_NAME
from xl_ledger.book.livestore import LOG_BLOCK
from xl_ledger.book.livestore import LiveStore
from xl_ledger.book.store import Change
from xl_ledger.book.store import StoreError
from xl_ledger.core.chain import GENESIS


def live_store(tmp_path, log=(), **kwargs) -> LiveStore:
    path = build_workbook(tmp_path / "studio.xlsx", list(log))
    client = ExcelClient.from_file(path, "studio.xlsm")
    store = LiveStore(client.open(), **kwargs)
    store.client = client
    return store


def reopen(store: LiveStore) -> LiveStore:
    """Excel applies what the store wrote; a new store reads the workbook afresh."""
    client = store.client
    client.apply(store.book)
    fresh = LiveStore(client.open())
    fresh.client = client
    return fresh


class TestLiveStore(StoreContract):
    def make_store(self, tmp_path, log=()):
        return live_store(tmp_path, log)

    def reopen(self, store):
        return reopen(store)


def test_each_sheet_is_read_once_and_written_in_bulk(tmp_path):
    store = live_store(tmp_path, log_rows(3))
    for _ in range(3):
        store.read_log(), store.head(), store.read_sheet("Actions"), store.read_sheet("Packages")
    rows = log_rows(2, 4, store.head()[1])
    store.commit(Change(3, store.head()[1], tuple(rows), sheets={"Packages": [["PK1", "ST1"]] * 4},
                        cells={"Actions": {(2, "status"): "applied", (3, "message"): "why", (2, "log_seq"): 4}}))
    actions = store.book.json()["actions"]
    writes = [a for a in actions if a["func"] == "setValues"]
    # One write for the Log rows, one for the Packages body, one rectangle for the Actions cells.
    assert [(a["sheet_position"], a["row_count"]) for a in writes] == [
        (store.book.sheets["Log"].index - 1, 2), (store.book.sheets["Packages"].index - 1, 4),
        (store.book.sheets["Actions"].index - 1, 2)]
    assert store.head() == (5, rows[-1][15])  # known without reading again
    fresh = reopen(store)
    assert fresh.read_log()[-2:] == rows
    assert fresh.client.data["names"][0]["name"] == HEAD_NAME
    assert fresh.client.data["names"][0]["refers_to"] == f'="5 {rows[-1][15]}"'


def test_long_posts_report_progress_in_blocks(tmp_path):
    messages = []
    store = live_store(tmp_path, progress=messages.append)
    rows = log_rows(LOG_BLOCK * 2 + 10)
    store.commit(Change(0, GENESIS, tuple(rows), sheets={"Alerts": []}))
    assert messages[:3] == [f"xl-ledger: writing Log rows 1-{LOG_BLOCK} of {len(rows)} (1/3)",
                            f"xl-ledger: writing Log rows {LOG_BLOCK + 1}-{2 * LOG_BLOCK} of {len(rows)} (2/3)",
                            f"xl-ledger: writing Log rows {2 * LOG_BLOCK + 1}-{len(rows)} of {len(rows)} (3/3)"]
    assert messages[-1] is False  # the status bar is handed back to Excel
    assert reopen(store).read_log() == rows


def test_a_refused_write_puts_back_what_was_written(tmp_path):
    store = live_store(tmp_path, log_rows(2))
    client = store.client
    before = {s: [list(r) for r in client.values(s)] for s in ("Log", "Packages", "Actions")}
    real_write = store._write

    def write(name, top_left, values):  # Excel refuses the third write (e.g. a password-protected sheet)
        write.calls += 1
        if write.calls == 3:
            raise RuntimeError("The cell or chart you're trying to change is on a protected sheet.")
        real_write(name, top_left, values)

    write.calls = 0
    store._write = write
    head = store.head()
    with pytest.raises(StoreError, match="Nothing was changed"):
        store.commit(Change(*head, tuple(log_rows(1, 3, head[1])), sheets={"Packages": [["PK1", "ST1"]]},
                            cells={"Actions": {(2, "status"): "applied"}}))
    client.apply(store.book)
    for sheet, values in before.items():
        got = [row[:len(values[0])] for row in client.values(sheet)]
        got = [r for r in got if any(v not in ("", None) for v in r)]
        assert got == [r for r in values if any(v not in ("", None) for v in r)], sheet
