"""The store's fast paths give exactly what the plain ones gave.

`xlsx_log.rows_xml` (Log rows) and the new-rows path of `xlsx_sheet.edit_cells` (rows appended below an
input sheet, e.g. an import's Sessions) take shortcuts for speed; the references here are the
straightforward encoders they replaced, kept verbatim, and every awkward text must come out the same
bytes. `check_change` looks at a Change's cells by distinct column, row and type: it still refuses
every bad one.
"""

from __future__ import annotations

import datetime as dt
import random
import zlib
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import openpyxl
import pytest
import python_calamine
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from test_store_support import build_workbook
from test_store_support import log_rows

from xl_ledger.book import schema
from xl_ledger.book import xlsx_log
from xl_ledger.xlsx import sheet as xlsx_sheet
from xl_ledger.book.filestore import FileStore
from xl_ledger.book.schema import col_letter
from xl_ledger.book.store import BrokenFileError
from xl_ledger.book.store import Change
from xl_ledger.book.store import ChangeError
from xl_ledger.book.store import cell_value
from xl_ledger.book.store import check_change
from xl_ledger.xlsx.cells import StyleBook
from xl_ledger.xlsx.cells import escape_text
from xl_ledger.xlsx.sheet import edit_cells
from xl_ledger.core.chain import GENESIS
from xl_ledger.core.chain import LOG_COLUMNS
from xl_ledger.core.chain import verify
from xl_ledger.core.chain import SEQ

AWKWARD = ["", "plain", " lead", "trail ", "\tTab", "nl\n", "\n", " ", "a<b", "b>a", "AT&T", "&amp;", "cr\rhere",
           "\r", "ctrl\x01", "\x00nul", "x\x1fy", "\x0b", "\x0c", "\ufffe", "\uffff", "_x0041_ literal",
           "_x004g_", "_X0041_", "__x1234__", "ünïcödé ✓", "emoji 🎹", "\u2003em space\u2003", "\u00a0nbsp",
           "line\u2028sep", "{0}", "{", "}}", "%s", '"quoted"', "it's", "=SUM(A1)", "0012", "1e5",
           "x" * 300]


def reference_rows_xml(rows, first_row: int) -> bytes:
    """xlsx_log.rows_xml as it was before the fast path: one escape_text call per cell."""
    out = []
    letters = [col_letter(i + 1) for i in range(len(LOG_COLUMNS))]
    r = first_row
    for row in rows:
        cells = [f'<row r="{r}"><c r="A{r}"><v>{row[SEQ]}</v></c>']
        for i in range(1, len(LOG_COLUMNS)):
            v = row[i]
            if v:
                space = ' xml:space="preserve"' if v[0].isspace() or v[-1].isspace() else ""
                cells.append(f'<c r="{letters[i]}{r}" t="inlineStr"><is><t{space}>{escape_text(v)}</t></is></c>')
        cells.append("</row>")
        out.append("".join(cells))
        r += 1
    return "".join(out).encode("utf-8")


def log_row(seq: int, texts) -> tuple:
    return (seq, *texts)


def test_every_awkward_text_in_every_column_encodes_as_before():
    n = len(LOG_COLUMNS) - 1
    rows = []
    seq = 1
    for text in AWKWARD:
        for col in range(n):  # the awkward text alone in each column, the rest plain or empty
            texts = ["v" if (col + k) % 3 else "" for k in range(n)]
            texts[col] = text
            rows.append(log_row(seq, texts))
            seq += 1
    rows.append(log_row(seq, [""] * n))  # a row of nothing but its seq
    assert xlsx_log.rows_xml(rows, 2) == reference_rows_xml(rows, 2)
    # The plain rows really took the fast path and the awkward ones did not: both are covered.
    assert any(k[1:].count(True) < n for k in xlsx_log._TEMPLATES)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.one_of(st.sampled_from(AWKWARD), st.text(max_size=12)),
                         min_size=len(LOG_COLUMNS) - 1, max_size=len(LOG_COLUMNS) - 1),
                min_size=1, max_size=6),
       st.integers(1, 10**6))
def test_random_rows_encode_as_before(texts, first_row):
    rows = [log_row(first_row + i, t) for i, t in enumerate(texts)]
    assert xlsx_log.rows_xml(rows, first_row + 1) == reference_rows_xml(rows, first_row + 1)


def test_unusual_seq_values_encode_as_before():
    rows = [log_row(seq, ["a"] * (len(LOG_COLUMNS) - 1)) for seq in (0, -3, 10**12)]
    assert xlsx_log.rows_xml(rows, 5) == reference_rows_xml(rows, 5)


# ------------------------------------------------------------------- new rows below an input sheet
def reference_edit_cells(xml: bytes, updates, styles: StyleBook) -> bytes:
    """xlsx_sheet.edit_cells as it was before new rows got their own encoder: _edit_row for every row."""
    head, rows, tail = xlsx_sheet.split_sheet(xml)
    col_style = xlsx_sheet.column_styles(head)
    by_row: dict[int, dict[int, object]] = {}
    for (r, c), v in updates.items():
        by_row.setdefault(r, {})[c] = v
    spans = {}
    order = []
    for m in xlsx_sheet._ROW.finditer(rows):
        r = int(m.group(1))
        if m.group(2):
            spans[r] = (m.start(), m.end(), m.group()[:-2] + b">", b"")
        else:
            end = rows.find(b"</row>", m.end())
            spans[r] = (m.start(), end + 6, m.group(), rows[m.end():end])
        order.append(r)
    out = []
    pos = 0
    new_rows = [r for r in sorted(by_row) if r not in spans]
    for r in order:
        start, end, tag, inner = spans[r]
        while new_rows and new_rows[0] < r:
            nr = new_rows.pop(0)
            out.append(rows[pos:start])
            pos = start
            out.append(xlsx_sheet._edit_row(f'<row r="{nr}">'.encode(), b"", nr, by_row[nr], col_style, styles))
        if r in by_row:
            out.append(rows[pos:start])
            out.append(xlsx_sheet._edit_row(tag, inner, r, by_row[r], col_style, styles))
            pos = end
    out.append(rows[pos:])
    for nr in new_rows:
        out.append(xlsx_sheet._edit_row(f'<row r="{nr}">'.encode(), b"", nr, by_row[nr], col_style, styles))
    head = xlsx_sheet._grow_dimension(head, max(by_row), max(c for cols in by_row.values() for c in cols))
    return head + b"".join(out) + tail


class Text(str):
    """A str subclass: must not take the exact-type shortcuts."""


VALUES = [*AWKWARD, None, 0, 1, -7, 2**60, 1.5, -0.0, 0.1, 1e20, Decimal("1"), Decimal("1.0"), Decimal("-0.00"),
          Decimal("123.4500"), True, False, dt.date(2026, 1, 5), dt.date(1900, 3, 1), dt.datetime(2026, 1, 5),
          dt.datetime(2026, 1, 5, 16, 30), dt.datetime(2026, 1, 5, 16, 30, 0, 123456),
          dt.datetime(2026, 1, 5, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=2))), Text("sub"), Text(" sub")]


def _parts(path, sheet: str) -> tuple[bytes, bytes | None]:
    store = FileStore(path)
    with store._open() as book:
        return book.read(book.sheets[sheet]), book.read(book.styles_path) if book.styles_path else None


def _both(xml: bytes, styles_xml: bytes | None, updates) -> None:
    ours, theirs = StyleBook(styles_xml), StyleBook(styles_xml)
    assert edit_cells(xml, updates, ours) == reference_edit_cells(xml, updates, theirs)
    assert ours.changed == theirs.changed
    if ours.changed:  # dates in a column without a date format add the same styles, in the same order
        assert ours.to_bytes() == theirs.to_bytes()


@pytest.mark.parametrize("sheet", ["Sessions", "Students", "Actions", "MyNotes"])
def test_rows_added_below_a_sheet_encode_as_before(tmp_path, sheet):
    path = build_workbook(tmp_path / "studio.xlsx")
    xml, styles_xml = _parts(path, sheet)
    rnd = random.Random(sheet)
    updates = {}
    for r in list(range(2, 9)) + list(range(20, 400)):  # edits in and between existing rows, then new ones
        for c in rnd.sample(range(1, 13), rnd.randint(1, 6)):
            updates[(r, c)] = rnd.choice(VALUES)
    _both(xml, styles_xml, updates)
    _both(xml, styles_xml, {(r, c): v for (r, c), v in updates.items() if r >= 20})  # new rows only


def test_an_import_into_the_template_encodes_as_before():
    from xl_ledger.template import template_path

    xml, styles_xml = _parts(template_path(), "Sessions")
    updates = {}
    for i in range(3000):  # the shape of an import's Sessions rows, from row 2 (the table's blank row) on
        r = 2 + i
        updates[(r, 1)] = f"LEG-L{i:06d}"
        updates[(r, 2)] = dt.date(2020, 1, 1) + dt.timedelta(days=i // 25)
        updates[(r, 4)] = Decimal(30 + 15 * (i % 4))
        updates[(r, 5)] = f"LEG-S{i % 40:03d}"
        updates[(r, 7)] = "no_show" if i % 50 == 0 else "attended"
        if i % 7 == 0:
            updates[(r, 12)] = AWKWARD[i % len(AWKWARD)]
    _both(xml, styles_xml, updates)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.tuples(st.integers(2, 40), st.integers(1, 14)),
                       st.one_of(st.sampled_from(VALUES), st.text(max_size=8), st.integers(), st.floats(allow_nan=False,
                                 allow_infinity=False), st.decimals(allow_nan=False, allow_infinity=False, places=3),
                                 st.dates(min_value=dt.date(1900, 3, 1))),
                       min_size=1, max_size=60))
def test_random_edits_encode_as_before(updates):
    xml, styles_xml = _SESSIONS
    _both(xml, styles_xml, updates)


def _template_sessions():
    from xl_ledger.template import template_path

    return _parts(template_path(), "Sessions")


_SESSIONS = _template_sessions()


# ------------------------------------------------------------------------------------ check_change
def _check(change: Change):
    return check_change(change, (0, GENESIS), "studio.xlsm", lambda name: schema.BY_NAME[name].headers)


@pytest.mark.parametrize("cells, error, message", [
    ({(2, "status"): "ok", (3, "colour"): "red"}, BrokenFileError, "no column 'colour'"),
    ({(2, "status"): "ok", (1, "status"): "x"}, ChangeError, "cannot update row 1"),
    ({(2, "status"): "ok", ("7", "status"): "x"}, ChangeError, "cannot update row '7'"),
    ({(2, "status"): "ok", (3.0, "status"): "x"}, ChangeError, "cannot update row 3.0"),
    ({(2, "status"): "ok", (3, "message"): object()}, ChangeError, "cannot write a object"),
    ({(2, "status"): "ok", (3, "message"): [1]}, ChangeError, "cannot write a list"),
    ({(2, "status"): "ok", (3, "message"): b"bytes"}, ChangeError, "cannot write a bytes"),
])
def test_every_bad_cell_is_still_refused(cells, error, message):
    with pytest.raises(error, match=message):
        _check(Change(0, GENESIS, cells={"Actions": cells}))


def test_good_cells_of_every_kind_pass():
    cells = {(i + 2, "message"): v for i, v in enumerate(VALUES)}
    assert _check(Change(0, GENESIS, cells={"Actions": cells})) == ()


def test_log_rows_are_checked_as_before():
    rows = log_rows(3)
    assert _check(Change(0, GENESIS, tuple(rows))) == tuple(rows)
    as_lists = [list(r) for r in rows]
    assert _check(Change(0, GENESIS, tuple(as_lists))) == tuple(rows)
    with_none = list(rows[0])
    with_none[6] = None  # an empty value given as None is stored as ''
    assert _check(Change(0, GENESIS, (tuple(with_none),)))[0][6] == ""
    subclass = tuple(Text(v) if isinstance(v, str) else v for v in rows[0])
    assert _check(Change(0, GENESIS, (subclass,))) == (rows[0],)
    for i, bad in ((8, Decimal("1.5")), (8, 15), (0, "1"), (0, True), (0, 1.0)):
        row = list(rows[0])
        row[i] = bad
        with pytest.raises(ChangeError, match="must be"):
            _check(Change(0, GENESIS, (tuple(row),)))
    with pytest.raises(ChangeError, match="needs 17 values"):
        _check(Change(0, GENESIS, (rows[0][:-1],)))


# ------------------------------------------------------------------- the big paths, read back for real
@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """A workbook after two commits large enough for every fast path: the Log rebuilt with 2 pieces and a
    bit (encoded while a worker thread compresses), then appended to with more than a piece; Sessions
    rows added below the sheet's own in one block (and the table stretched over them)."""
    path = build_workbook(tmp_path_factory.mktemp("big") / "studio.xlsx")
    store = FileStore(path)
    first = log_rows(2 * xlsx_log.CHUNK + 5)
    sessions = {}
    notes = [t for t in AWKWARD if t not in ("\ufffe", "\uffff")]  # calamine reads those back as _xFFFE_
    for i in range(xlsx_log.CHUNK + 10):
        r = 4 + i  # below the two sessions build_workbook writes
        sessions.update({(r, "session_id"): f"N{i}", (r, "date"): dt.date(2026, 2, 1) + dt.timedelta(days=i % 300),
                         (r, "minutes"): Decimal(30 + 15 * (i % 4)), (r, "student_id"): f"ST{i % 40}",
                         (r, "status"): "attended", (r, "note"): notes[i % len(notes)] or None})
    store.commit(Change(0, GENESIS, tuple(first), cells={"Sessions": sessions}))
    seq, head = store.head()
    more = log_rows(xlsx_log.CHUNK + 3, seq + 1, head)
    store.commit(Change(seq, head, tuple(more)))
    return path, first + more, sessions


def test_big_commits_read_back_exactly(big):
    path, rows, sessions = big
    store = FileStore(path)
    back = store.read_log()
    assert back == rows and verify(back) is None
    calamine = python_calamine.CalamineWorkbook.from_path(str(path))
    log = calamine.get_sheet_by_name("Log").to_python()
    assert [(int(r[0]),) + tuple(r[1:]) for r in log[1:]] == rows
    read = dict(store.read_sheet("Sessions").records())
    headers = schema.BY_NAME["Sessions"].headers
    for (r, column), value in sessions.items():
        assert read[r][column] == cell_value(value), (r, column)
    assert max(read) == 3 + xlsx_log.CHUNK + 10
    ws = openpyxl.load_workbook(path, read_only=False)["Sessions"]
    assert ws.tables["tblSessions"].ref == f"A1:{col_letter(len(headers))}{max(read)}"


@pytest.mark.libreoffice
def test_libreoffice_reads_the_big_commits(big, tmp_path):
    from libreoffice import convert

    path, rows, sessions = big
    xlsx = convert(path, "xlsx", tmp_path / "lo")
    book = python_calamine.CalamineWorkbook.from_path(str(xlsx))
    log = book.get_sheet_by_name("Log").to_python()
    assert [(int(r[0]), r[15]) for r in log[1:]] == [(r[0], r[15]) for r in rows]  # every seq and hash
    ids = [r[0] for r in book.get_sheet_by_name("Sessions").to_python()[1:] if r[0]]
    assert ids == ["S1", "S2"] + [v for (_r, c), v in sessions.items() if c == "session_id"]


def test_log_rows_encoded_in_pieces_decompress_to_the_rows_xml():
    rows = log_rows(2 * xlsx_log.CHUNK + 7)
    whole = xlsx_log.rows_xml(rows, 5)
    with ThreadPoolExecutor(max_workers=1) as pool:
        shared = xlsx_log.encode(rows, 5, pool)  # as a commit does, on its own worker
        segment = shared.segment()
    for encoded, data in ((shared, segment), (xlsx_log.encode(rows, 5), None), (xlsx_log.encode(rows[:9], 5), None)):
        data = data or encoded.segment()
        xml = zlib.decompressobj(-15).decompress(data)
        assert xml == whole[:len(xml)] and len(xml) == encoded.length
        assert encoded.crc == zlib.crc32(xml) and encoded.first_row == 5
    assert shared.length == len(whole) and shared.fits(5, rows) and not shared.fits(6, rows)
