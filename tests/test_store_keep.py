"""Rewriting an engine sheet while keeping the XML of rows that did not change (Change.keep), and the
stored deflate segments of blocks of rows that did not change, gives the very bytes a full rewrite
gives, and a hint that no longer matches the part is ignored."""

from __future__ import annotations

import datetime as dt
import shutil
from decimal import Decimal

from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from post_helpers import NOW
from post_helpers import studio
from post_helpers import type_rows

from xl_ledger import post
from xl_ledger.book import schema
from xl_ledger.book.filestore import FileStore
from xl_ledger.book.store import Change
from xl_ledger.template import template_path
from xl_ledger.xlsx.cells import StyleBook
from xl_ledger.xlsx.sheet import column_styles
from xl_ledger.xlsx.sheet import replace_body
from xl_ledger.xlsx.sheet import block_rows
from xl_ledger.xlsx.sheet import body_segments
from xl_ledger.xlsx.sheet import frame
from xl_ledger.xlsx.sheet import same_rows
from xl_ledger.xlsx.sheet import split_sheet
from xl_ledger.xlsx.archive import read_directory
from xl_ledger.xlsx.archive import read_member

WIDTH = len(schema.ALLOCATIONS.headers)
# Values that are equal but written differently sit side by side on purpose.
VALUES = [None, "", "S1", "a & <b>", " lead", 1, 2, Decimal("1"), Decimal("1.0"), Decimal("1.50"), Decimal("-0.25"),
          True, "1"]


def _parts():
    with open(template_path(), "rb") as f:
        archive = read_directory(f)
        sheet = read_member(f, archive.get("xl/worksheets/sheet%d.xml" % _index("Allocations")))
        styles = read_member(f, archive.get("xl/styles.xml"))
    return sheet, styles


def _index(name: str) -> int:
    from xl_ledger.book.filestore import _Book

    with open(template_path(), "rb") as f:
        return int(_Book(f, "template").sheets[name].rsplit("sheet", 1)[1].split(".")[0])


SHEET, STYLES = _parts()


def _joined(plan, old=()) -> bytes:
    """body_segments' plan as the part's bytes: an int k stands for segment k of the old part (`old`,
    each segment's bytes)."""
    return b"".join(old[k] if type(k) is int else b"".join(bytes(p) for p in k) for k in plan)


def replace_body_keeping(written: bytes, after, styles, width, before, size) -> bytes:
    """What a commit with the keep hint but no segments writes: rows of `before` kept from `written`."""
    blocks = block_rows(written, -(-len(before) // size), size)
    return _joined(body_segments(frame(written), after, styles, width, before,
                                 lambda k: blocks[k - 1] if k <= len(blocks) else None, rows_per_segment=size))


def replace_body_reusing(written: bytes, after, styles, width, before, size, told: bool = False) -> bytes:
    """What a commit with the keep hint and the segments writes: blocks equal to `before`'s are the old
    segments (here uncompressed), changed blocks keep their unchanged rows' XML from the old segment.
    `told`: the unchanged blocks are given (as the checkpoint finds them), not compared again."""
    old = [_joined([seg]) for seg in body_segments(frame(written), before, styles, width, rows_per_segment=size)]
    same = {k for k, i in enumerate(range(0, len(after), size))
            if same_rows(before[i:i + size], after[i:i + size])} if told else None
    plan = body_segments(frame(old[0] + old[-1]), after, styles, width, before, lambda k: old[k], reuse=True,
                         rows_per_segment=size, same=same)
    return _joined(plan, old)
# Dates go where the template formats dates, as the engine writes them (a date elsewhere makes the
# store add a date style, which a test of row bytes does not need).
_DATE_COLUMNS = {c - 1 for c, style in column_styles(split_sheet(SHEET)[0]).items() if StyleBook(STYLES).is_date(style)}
ROWS = st.lists(st.tuples(*[st.sampled_from(VALUES + ([dt.date(2026, 3, 1), dt.date(2026, 3, 2)]
                                                      if c in _DATE_COLUMNS else [])) for c in range(WIDTH)]),
                max_size=12)


@settings(max_examples=150, deadline=None)
@given(ROWS, ROWS, st.data())
def test_keeping_rows_gives_the_bytes_of_a_full_rewrite(before, after, data):
    if before and data.draw(st.booleans()):  # most rows shared, as after a post
        after = before[:data.draw(st.integers(0, len(before)))] + after
    if before and data.draw(st.booleans()):  # a row changed in the middle of the shared ones
        i = data.draw(st.integers(0, len(before) - 1))
        after = after[:i] + [data.draw(ROWS.filter(bool))[0]] + after[i + 1:]
    block = data.draw(st.integers(1, 5))  # blocks kept whole, and blocks with a changed row
    written = replace_body(SHEET, before, StyleBook(STYLES), WIDTH)
    expected = replace_body(written, after, StyleBook(STYLES), WIDTH)
    assert _joined(body_segments(frame(written), after, StyleBook(STYLES), WIDTH, rows_per_segment=block)) == expected
    assert replace_body_keeping(written, after, StyleBook(STYLES), WIDTH, before, block) == expected
    assert replace_body_reusing(written, after, StyleBook(STYLES), WIDTH, before, block) == expected
    assert replace_body_reusing(written, after, StyleBook(STYLES), WIDTH, before, block, told=True) == expected


def _allocations(path):
    store = FileStore(path)
    with store._open() as book:
        return book.read(book.sheets["Allocations"])


def test_a_post_with_the_hint_writes_what_a_post_without_it_writes(tmp_path, monkeypatch):
    monkeypatch.setenv("XL_LEDGER_HOME", str(tmp_path / "home"))
    path = studio(tmp_path)
    type_rows(path, "Actions", {2: {"action": "sell", "student_id": "S1", "product_id": "P10"}})
    type_rows(path, "Sessions", {i + 2: {"session_id": f"L{i}", "date": f"2026-03-0{i + 1}", "student_id": "S1",
                                         "status": "attended"} for i in range(5)})
    post.post(FileStore(path), now=NOW, operator="owner")
    type_rows(path, "Sessions", {3: {"status": "no_show"}, 9: {"session_id": "L9", "date": "2026-03-09",
                                                               "student_id": "S1", "status": "attended"}})
    cold = tmp_path / "cold.xlsm"
    shutil.copyfile(path, cold)
    warm = post.post(FileStore(path), now=NOW, operator="owner")
    assert "Allocations" in warm.change.keep  # the hint was given...
    post.post(FileStore(cold), now=NOW, operator="owner")  # ...and this one had no checkpoint to give it
    assert _allocations(path) == _allocations(cold)


def test_a_stale_hint_is_ignored(tmp_path):
    path = studio(tmp_path)
    store = FileStore(path)
    row = ("PK-1", "S1", "L1", dt.date(2026, 3, 1), "attended", Decimal(1), "lessons", Decimal(30))[:WIDTH]
    row = row + (None,) * (WIDTH - len(row))
    store.commit(Change(*store.head(), sheets={"Allocations": [row]}))
    lie = [tuple("x" for _ in range(WIDTH))]
    # The hint claims the part holds other rows, but names a digest the part does not have.
    store.commit(Change(*store.head(), sheets={"Allocations": [row, row]}, keep={"Allocations": ("0" * 64, lie)}))
    assert [r[:2] for _n, r in FileStore(path).read_sheet("Allocations").rows] == [("PK-1", "S1")] * 2


def test_rows_with_no_cells_are_kept_or_rewritten_alike():
    """An all-empty row has no element in the part; the rows around it are still found and kept."""
    full = tuple(["S1"] + [None] * (WIDTH - 1))
    empty = (None,) * WIDTH
    before = [full, empty, full, empty, empty, full, full]
    for after in (list(before), before[:5] + [("S2",) + full[1:]] + before[6:], [empty] + before[1:],
                  before[:-1], before + [full, empty]):
        for block in (1, 2, 3, 4, 256):
            written = replace_body(SHEET, before, StyleBook(STYLES), WIDTH)
            expected = replace_body(written, after, StyleBook(STYLES), WIDTH)
            assert replace_body_keeping(written, after, StyleBook(STYLES), WIDTH, before, block) == expected
            assert replace_body_reusing(written, after, StyleBook(STYLES), WIDTH, before, block) == expected
    assert replace_body_reusing(written, after, StyleBook(STYLES), WIDTH, before, block, told=True) == expected
