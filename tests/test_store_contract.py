"""The Store contract: every store implementation must pass these same tests.

To test a new store, subclass StoreContract and implement `make_store(tmp_path, log)`: a store over
a workbook holding the fixture input rows (test_store_support.SESSIONS / ACTIONS on Sessions and
Actions, Excel rows 2..) and `log` already in its Log. Override `reopen` when a store caches state,
so the assertions read what was really stored.

The interface under test (docs/engine.md, "The store"): read_log, read_sheet, head, commit, and
open_log(key) -> OpenLog (verified entries, head, read_sheet, commit; BrokenChainError when the chain
is broken). A store without caches inherits open_log from store.StoreBase.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from test_store_support import ACTIONS
from test_store_support import SESSIONS
from test_store_support import build_workbook
from test_store_support import log_rows

from xl_ledger.book.filestore import FileStore
from xl_ledger.book.store import BrokenFileError
from xl_ledger.book.store import Change
from xl_ledger.book.store import ChangeError
from xl_ledger.book.store import MemoryStore
from xl_ledger.book.store import StaleLogError
from xl_ledger.book.store import Store
from xl_ledger.book.store import StoreError
from xl_ledger.book.store import cell_value
from xl_ledger.book.store import BrokenChainError
from xl_ledger.core import events as E
from xl_ledger.core.chain import GENESIS
from xl_ledger.core.chain import verify
from xl_ledger.core.journal import Journal
from xl_ledger.core.journal import entry_to_row

PACKAGE_ROWS = [
    ["PK1", "ST1", "P10", "lessons", Decimal("10"), Decimal("2.5"), 0, 7.5, Decimal("80.50"), dt.date(2026, 4, 14),
     "active", dt.datetime(2026, 1, 2, 9, 30, 15), 120, None, "", None],
    ["PK2", "ST2", "P5", "hours", 5, 5, 0, 0, Decimal("0"), None, "used_up", dt.date(2025, 12, 1)],
    ["PK3", "ST3", "P5", "hours", -1.25, True, False, "0012", "a<b & c", "  spaced  ", "line\nbreak"],
]


def event_rows(n: int) -> list[tuple]:
    """n sealed Log rows of real events (students set), as the engine writes them."""
    events = [E.StudentSet(effective_date=dt.date(2026, 1, 1 + i), student_id=f"S-{i:03d}",
                           values={"name": f"Student {i}", "note": "a<b & c"}) for i in range(1, n + 1)]
    return Journal().append(events, operator="owner", recorded_at=dt.datetime(2026, 1, 1, 9, tzinfo=dt.timezone.utc),
                            sources=[f"Students!{i + 1}" for i in range(1, n + 1)])


class StoreContract:
    def make_store(self, tmp_path, log: list[tuple] = ()) -> Store:
        raise NotImplementedError

    def reopen(self, store: Store) -> Store:
        return store

    # ------------------------------------------------------------------------------------ the log
    def test_is_a_store(self, tmp_path):
        assert isinstance(self.make_store(tmp_path), Store)

    def test_empty_log_head_is_genesis(self, tmp_path):
        store = self.make_store(tmp_path)
        assert store.read_log() == []
        assert store.head() == (0, GENESIS)

    def test_appended_rows_read_back_exactly_and_verify(self, tmp_path):
        store = self.make_store(tmp_path)
        first = log_rows(7)
        store.commit(Change(0, GENESIS, tuple(first)))
        second = log_rows(12, 8, first[-1][15])  # every awkward text: CR, _xHHHH_, control chars, spaces
        store.commit(Change(7, first[-1][15], tuple(second)))
        store = self.reopen(store)
        back = store.read_log()
        assert back == first + second
        assert all(type(r[0]) is int and all(type(v) is str for v in r[1:]) for r in back)
        assert verify(back) is None
        assert store.head() == (19, second[-1][15])

    def test_existing_log_is_read(self, tmp_path):
        rows = log_rows(30)
        store = self.make_store(tmp_path, rows)
        assert store.read_log() == rows
        assert store.head() == (30, rows[-1][15])
        more = log_rows(2, 31, rows[-1][15])
        store.commit(Change(30, rows[-1][15], tuple(more)))
        assert self.reopen(store).read_log() == rows + more

    def test_stale_head_is_refused_and_nothing_written(self, tmp_path):
        rows = log_rows(3)
        store = self.make_store(tmp_path, rows)
        bad = [Change(2, rows[1][15], tuple(log_rows(1, 3, rows[1][15]))),  # someone posted seq 3 since
               Change(3, "f" * 64, tuple(log_rows(1, 4, "f" * 64)))]
        for change in bad:
            with pytest.raises(StaleLogError, match="changed since it was read"):
                store.commit(change)
        store = self.reopen(store)
        assert store.read_log() == rows
        assert store.read_sheet("Actions").records is not None
        assert [r[1][11:] for r in store.read_sheet("Actions").rows] == [(), ()]

    def test_rows_must_continue_the_sequence(self, tmp_path):
        store = self.make_store(tmp_path)
        with pytest.raises(ChangeError, match="continue at seq 1"):
            store.commit(Change(0, GENESIS, tuple(log_rows(2, 5))))
        with pytest.raises(ChangeError, match="must be text"):
            row = list(log_rows(1)[0])
            row[8] = Decimal("1.5")
            store.commit(Change(0, GENESIS, (tuple(row),)))
        assert self.reopen(store).read_log() == []

    # ---------------------------------------------------------------------------- engine sheets
    def test_engine_sheet_body_is_replaced(self, tmp_path):
        store = self.make_store(tmp_path)
        store.commit(Change(0, GENESIS, sheets={"Packages": PACKAGE_ROWS}))
        data = self.reopen(store).read_sheet("Packages")
        assert data.headers[:3] == ("package_id", "owner", "product_id")
        expected = []
        for i, row in enumerate(PACKAGE_ROWS, start=2):
            values = [cell_value(v) for v in row]
            while values and values[-1] is None:
                values.pop()
            expected.append((i, tuple(values)))
        assert list(data.rows) == expected
        # A shorter body leaves no old rows behind.
        store.commit(Change(0, GENESIS, sheets={"Packages": [["PK9", "ST9"]], "Alerts": []}))
        assert self.reopen(store).read_sheet("Packages").rows == ((2, ("PK9", "ST9")),)
        assert self.reopen(store).read_sheet("Alerts").rows == ()

    def test_only_engine_sheets_may_be_replaced(self, tmp_path):
        store = self.make_store(tmp_path)
        for sheet in ("Sessions", "Log", "MyNotes"):
            with pytest.raises(ChangeError, match="not an engine-owned sheet"):
                store.commit(Change(0, GENESIS, sheets={sheet: [["x"]]}))
        with pytest.raises(ChangeError, match="engine-owned"):
            store.commit(Change(0, GENESIS, cells={"Packages": {(2, "owner"): "x"}}))

    # ------------------------------------------------------------------------------ input cells
    def test_cell_updates_touch_only_those_cells(self, tmp_path):
        store = self.make_store(tmp_path)
        before = {s: store.read_sheet(s) for s in ("Sessions", "Actions", "Students")}
        rows = log_rows(1)
        store.commit(Change(0, GENESIS, tuple(rows), cells={"Actions": {
            (2, "status"): "applied", (2, "log_seq"): 1, (2, "message"): "",
            (3, "status"): "rejected", (3, "message"): "refund needs an admin & a reason <code>"}}))
        store = self.reopen(store)
        actions = store.read_sheet("Actions")
        assert actions.headers == before["Actions"].headers
        assert actions.rows[0] == (2, tuple(cell_value(v) for v in ACTIONS[0][:11]) + ("applied", None, 1))
        assert actions.rows[1] == (3, tuple(cell_value(v) for v in ACTIONS[1][:11])
                                   + ("rejected", "refund needs an admin & a reason <code>"))
        assert store.read_sheet("Sessions") == before["Sessions"]
        assert store.read_sheet("Students") == before["Students"]
        assert store.read_log() == rows

    def test_unknown_sheet_or_column_is_refused_and_nothing_written(self, tmp_path):
        store = self.make_store(tmp_path)
        with pytest.raises(BrokenFileError, match="no column 'colour'"):
            store.commit(Change(0, GENESIS, tuple(log_rows(1)), cells={"Actions": {(2, "colour"): "red"}}))
        with pytest.raises(StoreError, match="Nope"):
            store.commit(Change(0, GENESIS, tuple(log_rows(1)), cells={"Nope": {(2, "x"): 1}}))
        with pytest.raises(ChangeError, match="row 1"):
            store.commit(Change(0, GENESIS, tuple(log_rows(1)), cells={"Actions": {(1, "status"): "x"}}))
        with pytest.raises(ChangeError, match="cannot write"):
            store.commit(Change(0, GENESIS, tuple(log_rows(1)), sheets={"Alerts": [[object()]]}))
        assert self.reopen(store).read_log() == []
        assert self.reopen(store).head() == (0, GENESIS)

    def test_a_change_past_excels_row_limit_is_refused_and_nothing_written(self, tmp_path, monkeypatch):
        """Excel's 1,048,576 rows per sheet (book/limits.py, lowered here to 12): a sheet the Change would put
        past it is refused before anything is written, with the sheet, the count and what to do."""
        from xl_ledger.book import limits

        rows = log_rows(6)
        store = self.make_store(tmp_path, rows)
        before = {name: store.read_sheet(name) for name in ("Actions", "Allocations")}
        monkeypatch.setattr(limits, "ROWS", 12)
        more = tuple(log_rows(6, 7, rows[-1][15]))
        alloc = [["L1", dt.date(2026, 1, 5), "ST1", "attended", "PK1", "", 1, "lessons", "used"]]
        bad = [(Change(6, rows[-1][15], more[:3], sheets={"Allocations": alloc * 12}),
                r"!Allocations would hold 13 rows, past Excel's limit of 12 rows per sheet .* Nothing was written\. "
                r"Allocations is recomputed from the Log"),
               (Change(6, rows[-1][15], more[:3], cells={"Actions": {(13, "status"): "applied"}}),
                r"!Actions would hold 13 rows")]
        if getattr(store, "log_in_sheet", True):  # a ledger's mirror keeps its most recent rows instead
            bad.append((Change(6, rows[-1][15], more), r"!Log would hold 13 rows, past Excel's limit of 12 .*`xl-ledger "
                                                      r"ledger-init --ledger postgresql://USER@HOST/DB --from studio"))
        for change, message in bad:
            with pytest.raises(StoreError, match=message):
                store.commit(change)
        store = self.reopen(store)
        assert store.read_log() == rows and store.head() == (6, rows[-1][15])
        assert {name: store.read_sheet(name) for name in before} == before
        # At the limit exactly: written.
        store.commit(Change(6, rows[-1][15], more[:5], sheets={"Allocations": alloc * 11},
                            cells={"Actions": {(12, "status"): "applied"}}))
        store = self.reopen(store)
        assert store.read_log() == rows + list(more[:5])
        assert len(store.read_sheet("Allocations").rows) == 11

    # ---------------------------------------------------------------------------------- reading
    def test_read_sheet_gives_values_and_where(self, tmp_path):
        store = self.make_store(tmp_path)
        sessions = store.read_sheet("Sessions")
        assert sessions.headers[:4] == ("session_id", "date", "start", "minutes")
        number, first = sessions.rows[0]
        assert number == 2
        assert first[:4] == ("S1", dt.date(2026, 1, 5), "16:30", 60)
        assert sessions.rows[1][1][8] == 1.5
        assert sessions.where(3, "student_id") == f"{store.name}!Sessions!E3"
        records = dict(sessions.records())
        assert records[3]["status"] == "scheduled" and records[3]["note"] is None

    def test_missing_sheet_is_a_clear_error(self, tmp_path):
        store = self.make_store(tmp_path)
        with pytest.raises(BrokenFileError, match="no sheet 'Sesions'"):
            store.read_sheet("Sesions")

    # ------------------------------------------------------------------ open_log: how Post reads
    def test_open_log_gives_the_verified_entries_and_head(self, tmp_path):
        rows = event_rows(5)
        store = self.make_store(tmp_path, rows)
        log = store.open_log()
        assert log.head == (5, rows[-1][15]) == store.head()
        assert [entry_to_row(e) for e in log.entries()] == rows
        assert log.read_sheet("Actions") == store.read_sheet("Actions")

    def test_open_log_commit_writes_the_change_and_the_next_open_sees_it(self, tmp_path):
        rows = event_rows(5)
        store = self.make_store(tmp_path, rows[:3])
        log = store.open_log()
        written = log.commit(Change(3, rows[2][15], tuple(rows[3:]), sheets={"Alerts": [["notice", None, None, "x",
                                                                                     "a message", None, None]]}))
        assert written.log_rows == tuple(rows[3:])
        again = self.reopen(store).open_log()
        assert again.head == (5, rows[-1][15])
        assert [entry_to_row(e) for e in again.entries()] == rows
        assert self.reopen(store).read_sheet("Alerts").rows[0][1][4] == "a message"

    def test_open_log_dry_run_writes_nothing(self, tmp_path):
        rows = event_rows(4)
        store = self.make_store(tmp_path, rows[:2])
        store.open_log().commit(Change(2, rows[1][15], tuple(rows[2:])), dry_run=True)
        assert self.reopen(store).read_log() == rows[:2]

    def test_a_broken_chain_is_one_store_error_naming_the_cell(self, tmp_path):
        rows = event_rows(4)
        forged = list(rows)
        forged[2] = forged[2][:12] + ("changed after the fact",) + forged[2][13:]  # the note, hash left alone
        store = self.make_store(tmp_path, forged)
        with pytest.raises(BrokenChainError, match=r"studio\.xls[mx]!Log!A4 \(seq 3\): .*Nothing was written\. "
                                                   r"Run `xl-ledger verify`") as caught:
            store.open_log()
        assert isinstance(caught.value, StoreError) and caught.value.broken.seq == 3


# ---------------------------------------------------------------------------------- implementations
class TestMemoryStore(StoreContract):
    def make_store(self, tmp_path, log=()):
        return MemoryStore.from_rows("studio.xlsm", {"Sessions": SESSIONS, "Actions": ACTIONS,
                                                     "MyNotes": [("month", "lessons")]}, log)


class TestFileStore(StoreContract):
    def make_store(self, tmp_path, log=()):
        path = build_workbook(tmp_path / "studio.xlsx", list(log))
        return FileStore(path)

    def reopen(self, store):
        return FileStore(store.path)
