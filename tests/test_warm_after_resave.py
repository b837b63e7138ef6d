"""Adversarial checks of the fast paths a post takes after another program saved the workbook: the
checkpoint's Log taken for a re-saved Log that verifies and ends in its head (FileStore.read_verified_log),
the last post's Sessions answer taken for a re-saved sheet whose every row reads as last time
(book/warm.py _as_last_read), and engine parts written as deflate segments whose stored bytes are copied
(xlsx/segments.py, here 3 rows a segment so that a small studio crosses many). Random small edits are made
in openpyxl (cells of other types, rows moved, deleted, inserted, Students/Products/Settings changed in the
same save) between posts: each time the post with the checkpoint must end exactly where a post of the same
file without it ends (every sheet's values, the Log, what it said), and the workbook it writes must check
in zipfile and read alike in calamine and openpyxl. LibreOffice re-saves are a few fixed cases (slow)."""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
import zipfile
from pathlib import Path

import openpyxl
import pytest
from hypothesis import HealthCheck
from hypothesis import example
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from post_helpers import NOW
from post_helpers import studio
from post_helpers import type_rows

from xl_ledger import post
from xl_ledger.book import checkpoint
from xl_ledger.book import schema
from xl_ledger.book.filestore import FileStore
from xl_ledger.book.store import ENGINE_SHEET_NAMES
from xl_ledger.xlsx import segments

LESSONS = 8  # L0..L7 on Excel rows 2..9
SHEETS = tuple(sorted(ENGINE_SHEET_NAMES)) + ("Actions", "Sessions", "Students", "Products", "Settings")
HEADERS = schema.SESSIONS.headers

# What a person may leave in a Sessions cell in another program: the same value as another type (True for
# 1, 60.0 for 60, a datetime or a text date for a date, a number as text), and values that change the
# lesson or are wrong.
CELLS = {
    "status": ["attended", "no_show", "cancelled", "late_cancel", "scheduled", "Attended", "bogus", None],
    "date": [dt.date(2026, 3, 4), dt.datetime(2026, 3, 4), dt.datetime(2026, 3, 4, 10, 30), "2026-03-04",
             "04/03/2026", "3/4/2026", 46085, "someday"],
    "minutes": [60, 45, 60.0, "60", True, 0],
    "student_id": ["S1", "S2", "S3", "S9", " S1", 1],
    "credits": [1, True, 1.0, "1", 2, False],
    "paid_separately": ["yes", "no", True, 1, None],
    "start": ["16:30", dt.time(16, 30), 0.6875, None],
}
MASTER = {
    "Students": {"name": ["Ann Rossi", "Ann R."], "family_id": ["ROSSI", "DIAZ", None], "active": ["yes", "no"]},
    "Products": {"price": [300, 310, 300.0, "300"], "quantity": [10, 12, True]},
}


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XL_LEDGER_HOME", str(tmp_path_factory.mktemp("home")))
        yield


@pytest.fixture
def small_segments(monkeypatch):
    """Engine parts in segments of 3 rows and checkpoint bodies in blocks of 3: every sheet crosses many."""
    from xl_ledger.xlsx import sheet as xlsx_sheet

    monkeypatch.setattr(checkpoint, "BODY_BLOCK", 3)
    monkeypatch.setattr(xlsx_sheet, "SEGMENT_ROWS", 3)


@pytest.fixture
def taken(monkeypatch):
    """How often each fast path was taken: the checkpoint's Log for a re-saved one, the last Sessions answer
    for a re-saved sheet, a stored segment copied."""
    from xl_ledger.book import filestore
    from xl_ledger.book import warm

    counts = {"log": 0, "sessions": 0, "segments": 0}
    as_last_read, read_log, write = warm.CheckpointedLog._as_last_read, FileStore.read_verified_log, segments.write

    def spy_sessions(self, *a):
        same = as_last_read(self, *a)
        counts["sessions"] += same
        return same

    def spy_log(self, *a, **k):
        rows, broken = read_log(self, *a, **k)
        counts["log"] += rows is None
        return rows, broken

    def spy_write(w, like, items, *a, **k):
        counts["segments"] += sum(type(i) is int for i in items)
        return write(w, like, items, *a, **k)

    monkeypatch.setattr(warm.CheckpointedLog, "_as_last_read", spy_sessions)
    monkeypatch.setattr(FileStore, "read_verified_log", spy_log)
    monkeypatch.setattr(filestore.segments, "write", spy_write)
    return counts


@pytest.fixture(scope="module")
def posted(home, tmp_path_factory):
    """A studio posted twice (so its checkpoint holds a clean Sessions answer), with segments of 3 rows."""
    from xl_ledger.xlsx import sheet as xlsx_sheet

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(checkpoint, "BODY_BLOCK", 3)
        mp.setattr(xlsx_sheet, "SEGMENT_ROWS", 3)
        path = studio(tmp_path_factory.mktemp("base"))
        type_rows(path, "Actions", {2: {"action": "sell", "student_id": "S1", "product_id": "P10"},
                                    3: {"action": "sell", "student_id": "S3", "product_id": "H10"}})
        type_rows(path, "Sessions", {i + 2: {"session_id": f"L{i}", "date": f"2026-03-0{i + 1}", "minutes": 60,
                                             "credits": 1, "student_id": ("S1", "S3")[i % 2],
                                             "status": ("attended", "no_show", "scheduled")[i % 3]}
                                     for i in range(LESSONS)})
        post.post(FileStore(path), now=NOW, operator="owner")
        type_rows(path, "Actions", {4: {"action": "sell", "student_id": "S2", "product_id": "FAM"}})
        post.post(FileStore(path), now=NOW, operator="owner")
    return path


def _copy(path: Path, folder: Path, checkpointed: bool = True) -> Path:
    folder.mkdir(exist_ok=True)
    out = folder / path.name
    shutil.copyfile(path, out)
    if checkpointed:
        checkpoint.copy(path, out)
    else:
        checkpoint.discard(out)
    return out


def _resave(path: Path, edits=()) -> None:
    """Open the workbook in openpyxl, make `edits`, save it (every part gets other bytes)."""
    wb = openpyxl.load_workbook(path, keep_vba=True)
    ws = wb["Sessions"]
    width = len(HEADERS)
    rows = [[ws.cell(r, c).value for c in range(1, width + 1)] for r in range(2, LESSONS + 4)]
    for edit in edits:
        kind = edit[0]
        if kind == "cell":
            _, i, column, value = edit
            rows[i][HEADERS.index(column)] = value
        elif kind == "swap":
            rows[edit[1]], rows[edit[2]] = rows[edit[2]], rows[edit[1]]
        elif kind == "delete":  # the row deleted: those below move up
            del rows[edit[1]]
            rows.append([None] * width)
        elif kind == "insert":  # a lesson inserted above row i: those below move down
            new = dict(session_id=f"N{edit[1]}", date=dt.date(2026, 3, 5), minutes=60, student_id="S2",
                       status="attended")
            rows.insert(edit[1], [new.get(h) for h in HEADERS])
        elif kind == "clear":
            rows[edit[1]] = [None] * width
        elif kind in MASTER:
            _, r, column, value = edit
            sheet = wb[kind]
            sheet.cell(r + 2, schema.BY_NAME[kind].headers.index(column) + 1).value = value
        elif kind == "setting":
            sheet = wb["Settings"]
            for r in range(2, sheet.max_row + 1):
                if sheet.cell(r, 1).value == edit[1]:
                    sheet.cell(r, 2).value = edit[2]
        elif kind == "blank":  # an empty row inserted above row i
            rows.insert(edit[1], [None] * width)
        elif kind == "outside":  # a value typed right of the table, on a lesson's row
            ws.cell(edit[1] + 2, width + 2).value = edit[2]
    for r, values in enumerate(rows, start=2):
        for c, value in enumerate(values, start=1):
            ws.cell(r, c).value = value
    wb.save(path)


def _snapshot(path: Path):
    store = FileStore(path)
    return store.read_log(), {name: store.read_sheet(name).rows for name in SHEETS}


def _openpyxl_values(path: Path):
    wb = openpyxl.load_workbook(path, read_only=True, keep_vba=True)
    try:
        return {name: [tuple(r) for r in wb[name].iter_rows(values_only=True)] for name in SHEETS}
    finally:
        wb.close()


def _said(result):
    return (result.summary(), result.rejected, result.notices, result.applied, result.new_rows)


def _warm_equals_cold(path: Path, folder: Path, now: dt.datetime, sale: dict | None = None, row: int = 9,
                     same_xml: bool = False) -> Path:
    """Post `path` with its checkpoint and a copy of it without one: the same answer, sheets and Log; with
    `same_xml` (every engine part last written by a post) the same engine-sheet XML, byte for byte."""
    cold = _copy(path, folder / "cold", checkpointed=False)
    for p in (path, cold):
        if sale:
            type_rows(p, "Actions", {row: sale})
    warm_result = post.post(FileStore(path), now=now, operator="owner")
    cold_result = post.post(FileStore(cold), now=now, operator="owner")
    assert _said(warm_result) == _said(cold_result)
    assert _snapshot(path) == _snapshot(cold)
    with zipfile.ZipFile(path) as z:
        assert z.testzip() is None  # every member's CRC checks, segments copied or not
    assert _openpyxl_values(path) == _openpyxl_values(cold)
    if same_xml:
        a, b = _engine_xml(path), _engine_xml(cold)
        for name in a:
            if a[name] != b[name]:
                import re as _re
                x = _re.sub(rb"(<row )", rb"\n\1", a[name]).decode().splitlines()
                y = _re.sub(rb"(<row )", rb"\n\1", b[name]).decode().splitlines()
                import difflib
                print(name, "\n".join(list(difflib.unified_diff(y, x, "cold", "warm", lineterm="", n=0))[:12]))
        assert _engine_xml(path) == _engine_xml(cold)
    return cold


def _engine_xml(path: Path) -> dict[str, bytes]:
    store = FileStore(path)
    with store._open() as book:
        parts = {name: book.sheets[name] for name in ENGINE_SHEET_NAMES}
    with zipfile.ZipFile(path) as z:
        return {name: z.read(part) for name, part in parts.items()}


CELL_EDIT = st.sampled_from(sorted(CELLS)).flatmap(
    lambda column: st.tuples(st.just("cell"), st.integers(0, LESSONS - 1), st.just(column),
                             st.sampled_from(CELLS[column])))
MASTER_EDIT = st.sampled_from(sorted(MASTER)).flatmap(
    lambda sheet: st.sampled_from(sorted(MASTER[sheet])).flatmap(
        lambda column: st.tuples(st.just(sheet), st.integers(0, 2), st.just(column),
                                 st.sampled_from(MASTER[sheet][column]))))
EDIT = st.one_of(
    CELL_EDIT,
    st.tuples(st.just("swap"), st.integers(0, LESSONS - 1), st.integers(0, LESSONS - 1)),
    st.tuples(st.just("delete"), st.integers(0, LESSONS - 1)),
    st.tuples(st.just("insert"), st.integers(0, LESSONS - 1)),
    st.tuples(st.just("clear"), st.integers(0, LESSONS - 1)),
    MASTER_EDIT,
    st.tuples(st.just("setting"), st.just("date_order"), st.sampled_from(["dmy", "mdy"])),
    st.tuples(st.just("setting"), st.just("currency"), st.sampled_from(["EUR", "USD", "GBP"])),
    st.tuples(st.just("blank"), st.integers(0, LESSONS - 1)),
    st.tuples(st.just("outside"), st.integers(0, LESSONS - 1), st.sampled_from(["x", 1, None])),
)
SALE = st.one_of(st.none(), st.fixed_dictionaries({
    "action": st.just("sell"), "student_id": st.sampled_from(["S1", "S2", "S3"]),
    "product_id": st.sampled_from(["P10", "H10"])}))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(edits=st.lists(EDIT, max_size=3), sale=SALE, days=st.sampled_from([0, 1, 40]))
@example(edits=[], sale=None, days=0)  # a plain re-save: every fast path taken
@example(edits=[("cell", 2, "credits", True)], sale=None, days=0)  # True where 1 was: a bool reads as text
@example(edits=[("cell", 3, "minutes", 60.0)], sale=None, days=0)  # the same number as a float
@example(edits=[("cell", 4, "date", dt.datetime(2026, 3, 5))], sale=None, days=1)  # a datetime for the date
@example(edits=[("cell", 4, "date", "2026-03-05")], sale=None, days=0)  # the date typed as text
@example(edits=[("swap", 1, 5)], sale=None, days=0)  # two rows moved
@example(edits=[("delete", 6)], sale=None, days=0)
@example(edits=[("insert", 3)], sale=None, days=0)
@example(edits=[("setting", "date_order", "dmy"), ("cell", 0, "date", "04/03/2026")], sale=None, days=0)
@example(edits=[("setting", "currency", "EUR")], sale={"action": "sell", "student_id": "S1", "product_id": "P10"},
         days=0)  # money cells kept in copied segments show the new currency as rewritten ones do
@example(edits=[("blank", 0)], sale=None, days=0)  # every lesson one row lower, the same cells
@example(edits=[("Students", 2, "active", "no")], sale=None, days=0)
@example(edits=[("Products", 0, "price", 310)], sale={"action": "sell", "student_id": "S1", "product_id": "P10"},
         days=0)
def test_a_post_after_edits_in_another_program_ends_where_a_post_without_the_checkpoint_ends(
        posted, small_segments, taken, edits, sale, days):
    for k in taken:
        taken[k] = 0
    folder = Path(tempfile.mkdtemp(prefix="warm-resave-"))
    try:
        path = _copy(posted, folder)
        now = NOW + dt.timedelta(days=days)
        _resave(path, edits)
        _warm_equals_cold(path, folder, now, sale)
        if not edits:  # nothing to tell it from the last post's workbook but the bytes: both taken
            assert taken["log"] and taken["sessions"] and not taken["segments"], taken  # segments: not after a save
        # Once more after another save with no edit: the checkpoint this post wrote after the fast paths.
        _resave(path)
        _warm_equals_cold(path, folder, now + dt.timedelta(days=1),
                          {"action": "sell", "student_id": "S3", "product_id": "P10"}, row=10)
        # And a plain warm post (no re-save): the segments written above are copied.
        _warm_equals_cold(path, folder, now + dt.timedelta(days=1),
                          {"action": "sell", "student_id": "S1", "product_id": "H10"}, row=11, same_xml=True)
        if not edits:  # (an edit may leave nothing for the sale to change but a sheet of one segment)
            assert taken["segments"], taken
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.libreoffice
def test_edits_saved_by_libreoffice_post_as_without_the_checkpoint_and_libreoffice_reads_the_copied_segments(
        posted, small_segments, taken, tmp_path):
    """Cells typed in another program (a lesson marked attended, a date typed as text, two lessons swapped),
    then the workbook saved by LibreOffice: the post with the checkpoint takes its Log and ends where a post
    without it ends, copying no segment of a part LibreOffice wrote. The next post copies stored segments,
    and LibreOffice reads that workbook as it reads the one a post without the checkpoint wrote."""
    from libreoffice import convert

    path = _copy(posted, tmp_path / "warm")
    _resave(path, [("cell", 2, "status", "attended"), ("cell", 5, "date", "2026-03-07"), ("swap", 1, 6)])
    shutil.copyfile(convert(path, "xlsm:Calc MS Excel 2007 VBA XML", tmp_path / "lo"), path)
    _warm_equals_cold(path, tmp_path, NOW, {"action": "sell", "student_id": "S2", "product_id": "P10"})
    assert taken["log"] and not taken["segments"], taken
    cold = _warm_equals_cold(path, tmp_path, NOW, {"action": "sell", "student_id": "S1", "product_id": "H10"},
                             row=10, same_xml=True)
    assert taken["segments"], taken
    read = {name: _openpyxl_values(convert(p, "xlsx", tmp_path / f"lo-{name}")) for name, p in (("warm", path),
                                                                                                 ("cold", cold))}
    assert read["warm"] == read["cold"]


def test_engine_date_columns_still_show_dates_after_openpyxl_numbered_the_number_formats_again(tmp_path):
    """openpyxl saves the cells' number formats under new ids (the template's yyyy-mm-dd 167 becomes 165)
    and keeps a conditional format's own <numFmt> (a money 165 among the <dxfs>). A date column is still a
    date column: its cells keep the column's style, and no post adds a style of its own (one per post made
    rows written now differ from equal rows kept since, and Excel caps a workbook's cell formats)."""
    from xl_ledger.xlsx.cells import StyleBook
    from xl_ledger.xlsx.sheet import column_styles
    from xl_ledger.xlsx.sheet import frame

    path = studio(tmp_path)
    openpyxl.load_workbook(path, keep_vba=True).save(path)
    with zipfile.ZipFile(path) as z:
        styles = z.read("xl/styles.xml")
        store = FileStore(path)
        with store._open() as book:
            parts = {name: book.sheets[name] for name in ENGINE_SHEET_NAMES if name != "Log"}  # Log: text cells
        heads = {name: frame(z.read(part))[0] for name, part in parts.items()}
    book = StyleBook(styles)
    dates = 0
    for name, head in heads.items():
        columns = column_styles(head)
        for c, column in enumerate(schema.BY_NAME[name].columns, start=1):
            if column.type == schema.DATE and c in columns:
                assert book.is_date(columns[c]), (name, column.name)
                assert book.date_style(columns[c], 14) == columns[c]
                dates += 1
    assert dates >= 3 and not book.changed
    # A column the owner formatted as text: its dates get a date style, the same one post after post.
    text = columns[1]
    assert not book.is_date(text)
    first = book.date_style(text, 14)
    again = StyleBook(book.to_bytes())
    assert again.date_style(text, 14) == first and not again.changed
