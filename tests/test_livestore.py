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


def _writes(store, sheet: str) -> list[tuple[int, int]]:
    """(first row, row count) of each range write to `sheet` that the store has recorded."""
    index = store.book.sheets[sheet].index - 1
    return [(a["start_row"] + 1 if "start_row" in a else None, a["row_count"]) for a in store.book.json()["actions"]
            if a["func"] == "setValues" and a["sheet_position"] == index]


def test_only_the_rows_that_changed_are_written_and_the_sheet_reads_back_whole(tmp_path):
    """Each cell written goes through Excel: a post that changes a few Allocations rows of thousands
    writes those rows, and the sheet still reads back as the whole new body."""
    from decimal import Decimal

    first = [[f"PK{i}", "ST1", Decimal(10), Decimal("2.50")] for i in range(1, 201)]
    store = live_store(tmp_path)
    store.commit(Change(*store.head(), sheets={"Packages": first}))
    store = reopen(store)
    second = [list(r) for r in first]
    second[4][2] = Decimal(9)  # row 6
    second[5][3] = Decimal("2.5")  # row 7: the same number as before (2.50), not a change
    second[150][1] = "ST2"  # row 152
    second = second[:198]  # rows 200 and 201 cleared
    store.commit(Change(*store.head(), sheets={"Packages": second}))
    assert _writes(store, "Packages") == [(6, 1), (152, 1), (200, 2)]  # the two cleared rows last
    fresh = reopen(store)
    got = [list(v) for _r, v in fresh.read_sheet("Packages").rows]
    assert [r[:4] for r in got] == [[r[0], r[1], int(r[2]), float(r[3])] for r in second]

    # Changes all over the sheet: one write of the whole body rather than dozens of small ones.
    third = [[r[0], "ST3", r[2], r[3]] if i % 10 == 0 else r for i, r in enumerate(second)]  # 20 runs
    fresh.commit(Change(*fresh.head(), sheets={"Packages": third}))
    assert [w[1] for w in _writes(fresh, "Packages")] == [198]

def test_engine_sheets_and_money_columns_get_the_file_stores_number_formats(tmp_path):
    """The LiveStore sends the formats the FileStore's workbook has (schema.column_formats, one home): money
    in the studio's currency and dates as dates on the rewritten engine sheets, and the studio's money format
    on the input sheets' money columns it read. xlwings' in-memory book records each as an action."""
    import datetime as dt

    from xl_ledger.book import schema

    store = live_store(tmp_path)
    store.read_sheet("Actions")  # a post reads it: its money column (amount) follows the currency too
    pound = schema.money_format("GBP")
    body = [["PK1", "ST1", "P10", "lessons", 10, 1, 0, 9, 270, dt.date(2027, 1, 31), "active",
             dt.date(2026, 11, 1), 300, 0, 0, None, "Ten lessons", "one-time", dt.date(2026, 11, 1), None]] * 3
    store.commit(Change(*store.head(), sheets={"Packages": body}, money_format=pound))
    sent = [a for a in store.book.json()["actions"] if a["func"] == "setNumberFormat"]
    packages = store.book.sheets["Packages"].index - 1
    on_packages = {a["start_column"]: (a["args"][0], a["start_row"], a["row_count"]) for a in sent
                   if a["sheet_position"] == packages}
    headers = schema.PACKAGES.headers
    # Excel's rows are 0-based here: rows 2-4 of the sheet are start_row 1, three rows.
    assert on_packages[headers.index("value_remaining")] == ('"£"#,##0.00', 1, 3)
    assert on_packages[headers.index("price")][0] == '"£"#,##0.00'
    assert on_packages[headers.index("expires_on")][0] == "yyyy-mm-dd"
    assert on_packages[headers.index("remaining")][0] == "0.00"
    assert {c: f for c, (f, _r, _n) in on_packages.items()} == dict(schema.column_formats(schema.PACKAGES, pound))
    actions = store.book.sheets["Actions"].index - 1
    amount = schema.ACTIONS.headers.index("amount")
    assert [(a["start_column"], a["args"][0]) for a in sent if a["sheet_position"] == actions] == [(amount, pound)]
    # The template's column styles come from the same place: its Packages value_remaining is the USD format.
    assert schema.number_format(schema.MONEY, schema.money_format("USD")) == '"$"#,##0.00'
