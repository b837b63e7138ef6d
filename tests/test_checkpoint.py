"""The checkpoint beside the workbook (xl_ledger/book/checkpoint.py) is a cache, never an authority:
with or without it a post gives the same Log and sheets; a stale, tampered, forged or foreign one is
ignored; a Log edited in place is still caught."""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil

import openpyxl
import pytest
from post_helpers import NOW
from post_helpers import studio
from post_helpers import type_rows

from xl_ledger import post
from xl_ledger.book import checkpoint
from xl_ledger.book import schema
from xl_ledger.book.filestore import FileStore

SHEETS = ("Packages", "Balances", "Allocations", "Alerts", "Report", "Actions")


@pytest.fixture(autouse=True)
def own_secret(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("XL_LEDGER_HOME", str(tmp_path_factory.mktemp("home")))


def _posted(folder, key=None):
    path = studio(folder)
    type_rows(path, "Actions", {2: {"action": "sell", "student_id": "S1", "product_id": "P10"},
                                3: {"action": "sell", "student_id": "S3", "product_id": "H10"}})
    type_rows(path, "Sessions", {i + 2: {"session_id": f"L{i}", "date": f"2026-03-0{i + 1}", "student_id": "S1",
                                         "status": "attended"} for i in range(6)})
    post.post(FileStore(path), now=NOW, operator="owner", key=key)
    return path


def _more_input(path):
    """A second round: a new sale, an edited lesson, a duplicate id and a new lesson."""
    type_rows(path, "Actions", {4: {"action": "sell", "student_id": "S2", "product_id": "FAM"}})
    type_rows(path, "Sessions", {3: {"status": "no_show"}, 8: {"session_id": "L9", "date": "2026-03-09",
                                                               "student_id": "S3", "status": "attended"},
                                 9: {"session_id": "L2", "date": "2026-03-09", "student_id": "S3",
                                     "status": "attended"}})


def _snapshot(path):
    store = FileStore(path)
    return store.read_log(), {name: store.read_sheet(name).rows for name in SHEETS}


def test_the_same_result_with_and_without_a_checkpoint(tmp_path):
    path = _posted(tmp_path)
    assert checkpoint.path_for(path).exists()
    _more_input(path)
    cold = tmp_path / "cold" / "studio.xlsm"
    cold.parent.mkdir()
    shutil.copyfile(path, cold)
    warm_result = post.post(FileStore(path), now=NOW, operator="owner")
    cold_result = post.post(FileStore(cold), now=NOW, operator="owner")
    assert warm_result.summary() == cold_result.summary() and warm_result.rejected == cold_result.rejected
    assert any("already used" in r for r in warm_result.rejected)
    assert _snapshot(path) == _snapshot(cold)
    # And a third round on both (the warm one now reuses the Sessions parse and skips unchanged sheets).
    for p in (path, cold):
        type_rows(p, "Actions", {5: {"action": "sell", "student_id": "S3", "product_id": "P10"}})
        post.post(FileStore(p), now=NOW, operator="owner")
        post.recompute(FileStore(p), now=NOW)
    assert _snapshot(path) == _snapshot(cold)


def test_recompute_with_nothing_new_writes_nothing(tmp_path):
    path = _posted(tmp_path)
    post.recompute(FileStore(path), now=NOW)
    before = path.read_bytes()
    result = post.recompute(FileStore(path), now=NOW)
    assert not result.change.sheets and path.read_bytes() == before
    assert result.up_to_date == NOW.date() and result.state is None  # not even decoded
    # Typing over one engine cell is enough for a full recompute (which puts the cell back).
    packages_row = FileStore(path).read_sheet(schema.PACKAGES.name).rows[0][0]
    wb = openpyxl.load_workbook(path, keep_vba=True)
    wb[schema.PACKAGES.name].cell(packages_row, 8).value = 99
    wb.save(path)
    result = post.recompute(FileStore(path), now=NOW)
    assert result.up_to_date is None and result.state.packages and result.drift
    # Its Alerts now list the typed-over cell, which a recompute would not: one more full run clears it.
    result = post.recompute(FileStore(path), now=NOW)
    assert result.up_to_date is None and not result.drift
    assert post.recompute(FileStore(path), now=NOW).up_to_date == NOW.date()


def _tamper_log(path, row=3):
    wb = openpyxl.load_workbook(path, keep_vba=True)
    wb["Log"].cell(row, 11).value = "9999"  # amount, same row count
    wb.save(path)


@pytest.mark.parametrize("run", [
    lambda p: post.post(FileStore(p), now=NOW, operator="owner"),
    lambda p: post.recompute(FileStore(p), now=NOW),
])
def test_a_log_edited_in_place_is_caught_despite_the_checkpoint(tmp_path, run):
    path = _posted(tmp_path)
    _tamper_log(path)
    before = path.read_bytes(), checkpoint.path_for(path).read_bytes()
    with pytest.raises(post.ChainBroken):
        run(path)
    assert (path.read_bytes(), checkpoint.path_for(path).read_bytes()) == before  # nothing written


def test_a_forged_checkpoint_cannot_vouch_for_a_tampered_log(tmp_path, monkeypatch):
    path = _posted(tmp_path)
    genuine = checkpoint.load(path, None)
    _tamper_log(path)
    # The forger records the tampered Log's digest with the genuine rows, but lacks this user's secret.
    forged = dataclasses.replace(genuine, log=FileStore(path).part_digests()["Log"])
    monkeypatch.setenv("XL_LEDGER_HOME", str(tmp_path / "forger"))
    checkpoint.save(path, None, forged)
    monkeypatch.undo()
    with pytest.raises(post.ChainBroken):
        post.post(FileStore(path), now=NOW, operator="owner")


def test_a_tampered_checkpoint_file_is_ignored(tmp_path):
    path = _posted(tmp_path)
    data = bytearray(checkpoint.path_for(path).read_bytes())
    data[-10] ^= 1
    checkpoint.path_for(path).write_bytes(bytes(data))
    assert checkpoint.load(path, None) is None
    _tamper_log(path)
    with pytest.raises(post.ChainBroken):
        post.post(FileStore(path), now=NOW, operator="owner")


def test_a_checkpoint_is_bound_to_the_owner_key(tmp_path):
    key = b"k" * 32
    path = _posted(tmp_path, key=key)
    assert checkpoint.load(path, key) is not None
    assert checkpoint.load(path, None) is None and checkpoint.load(path, b"x" * 32) is None
    with pytest.raises(post.ChainBroken):  # the rows are sealed with the key: no key, no shortcut
        post.post(FileStore(path), now=NOW, operator="owner")


def test_a_stale_checkpoint_is_ignored(tmp_path):
    path = _posted(tmp_path)
    old = checkpoint.path_for(path).read_bytes()
    _more_input(path)
    post.post(FileStore(path), now=NOW, operator="owner")
    checkpoint.path_for(path).write_bytes(old)  # the checkpoint of the first post, genuine but stale
    cold = tmp_path / "cold" / "studio.xlsm"
    cold.parent.mkdir()
    shutil.copyfile(path, cold)
    type_rows(path, "Actions", {5: {"action": "sell", "student_id": "S3", "product_id": "P10"}})
    type_rows(cold, "Actions", {5: {"action": "sell", "student_id": "S3", "product_id": "P10"}})
    post.post(FileStore(path), now=NOW, operator="owner")
    post.post(FileStore(cold), now=NOW, operator="owner")
    assert _snapshot(path) == _snapshot(cold)


def test_a_planted_pickle_cannot_run_code(tmp_path):
    import pickle

    class Boom:
        def __reduce__(self):
            return (print, ("pwned",))

    assert checkpoint.unpack(pickle.dumps({"a": 1})) == {"a": 1}
    with pytest.raises(pickle.UnpicklingError):
        checkpoint.unpack(pickle.dumps(Boom()))


def test_typed_over_engine_cells_are_still_found(tmp_path):
    path = _posted(tmp_path)
    wb = openpyxl.load_workbook(path, keep_vba=True)
    wb["Packages"].cell(2, 8).value = 99  # remaining
    wb.save(path)
    result = post.post(FileStore(path), now=NOW, operator="owner")
    assert result.drift and "Packages!H2" in result.drift[0]
    assert FileStore(path).read_sheet(schema.PACKAGES.name).rows[0][1][7] != 99


def test_an_unchanged_sessions_sheet_is_not_read_again_and_an_edit_is_still_seen(tmp_path, monkeypatch):
    path = _posted(tmp_path)
    cold = tmp_path / "cold" / "studio.xlsm"
    cold.parent.mkdir()
    shutil.copyfile(path, cold)
    read = []
    real = FileStore.read_sheet
    monkeypatch.setattr(FileStore, "read_sheet", lambda self, name: read.append((self.path, name)) or real(self, name))
    for p in (path, cold):
        type_rows(p, "Actions", {4: {"action": "sell", "student_id": "S2", "product_id": "FAM"}})
    read.clear()
    post.post(FileStore(path), now=NOW, operator="owner")
    assert (path, "Sessions") not in read  # the checkpoint's parse of the very same part was used
    post.post(FileStore(cold), now=NOW, operator="owner")
    assert _snapshot(path) == _snapshot(cold)
    # An edited Sessions row (and a duplicate id) changes the part: read and parsed again, as without one.
    for p in (path, cold):
        _more_input(p)
    checkpoint.discard(cold)
    read.clear()
    warm_result = post.post(FileStore(path), now=NOW, operator="owner")
    cold_result = post.post(FileStore(cold), now=NOW, operator="owner")
    assert (path, "Sessions") in read
    assert warm_result.summary() == cold_result.summary() and warm_result.rejected == cold_result.rejected
    assert any("already used" in r for r in warm_result.rejected)
    assert _snapshot(path) == _snapshot(cold)
    # A duplicate id is diff_sessions' finding, over every row: with the parse reused it is still rejected.
    read.clear()
    again = [post.post(FileStore(p), now=NOW, operator="owner") for p in (path, cold)]
    assert (path, "Sessions") not in read
    assert again[0].rejected == again[1].rejected and any("already used" in r for r in again[0].rejected)
    # A row that does not parse is not cached: after a post that rejected one, the sheet is read again.
    for p in (path, cold):
        type_rows(p, "Sessions", {10: {"session_id": "L10", "date": "not a date", "student_id": "S3",
                                       "status": "attended"}})
    for _round in range(2):
        read.clear()
        results = [post.post(FileStore(p), now=NOW, operator="owner") for p in (path, cold)]
        assert (path, "Sessions") in read
        assert results[0].rejected == results[1].rejected and any("Sessions!" in r and "10" in r
                                                                  for r in results[0].rejected)
    assert _snapshot(path) == _snapshot(cold)


def test_an_unchanged_sessions_sheet_is_not_diffed_again_yet_deleted_rows_are_still_reported(tmp_path, monkeypatch):
    """Mon: six lessons posted. Tue: the row of L3 is deleted by mistake; the post says so. Wed and Thu:
    nothing changes on Sessions; the post still says so, without parsing or diffing 6 rows again. Fri: a
    new student is typed, and the Sessions diff runs again in full."""
    path = _posted(tmp_path)
    type_rows(path, "Sessions", {5: {c: None for c in schema.SESSIONS.headers}})
    cold = tmp_path / "cold" / "studio.xlsm"
    cold.parent.mkdir()
    shutil.copyfile(path, cold)
    tuesday = [post.post(FileStore(p), now=NOW, operator="owner") for p in (path, cold)]
    deleted = [n for n in tuesday[0].notices if "session L3" in n and "was deleted" in n]
    assert deleted and tuesday[0].notices == tuesday[1].notices
    from xl_ledger.core import commands

    calls = []
    real = commands.diff_sessions
    monkeypatch.setattr(commands, "diff_sessions", lambda *a, **k: calls.append(1) or real(*a, **k))
    for day, row in ((1, 4), (2, 5)):  # Wednesday's and Thursday's sale, each posted on its own day
        type_rows(path, "Actions", {row: {"action": "sell", "student_id": "S3", "product_id": "P10"}})
        calls.clear()
        result = post.post(FileStore(path), now=NOW + dt.timedelta(days=day), operator="owner")
        assert not calls and result.notices == deleted and result.applied
    checkpoint.discard(cold)
    for day, row in ((1, 4), (2, 5)):  # the same days without the checkpoint: the full diff agrees
        type_rows(cold, "Actions", {row: {"action": "sell", "student_id": "S3", "product_id": "P10"}})
        checkpoint.discard(cold)
        assert post.post(FileStore(cold), now=NOW + dt.timedelta(days=day), operator="owner").notices == deleted
    assert _snapshot(path) == _snapshot(cold)
    type_rows(path, "Students", {5: {"student_id": "S4", "name": "Dora Ek"}})
    result = post.post(FileStore(path), now=NOW + dt.timedelta(days=3), operator="owner")
    assert calls and result.notices == deleted


def test_log_pieces_stay_few_and_keep_every_row_in_order():
    """A post adds a short piece for its rows; past MAX_LOG_BLOBS short pieces they are merged, and the
    full pieces before them are kept as the same bytes."""
    rows = [(i, f"r{i}") for i in range(1, 2 * checkpoint.LOG_CHUNK + 11)]
    blobs, counts = checkpoint.pack_rows(rows)
    assert counts == [checkpoint.LOG_CHUNK, checkpoint.LOG_CHUNK, 10]
    full = list(blobs[:2])
    for post_no in range(40):
        new = [(len(rows) + k + 1, f"p{post_no}") for k in range(post_no % 3 + 1)]
        rows += new
        more, more_counts = checkpoint.pack_rows(new)
        blobs, counts = checkpoint.compact(blobs + more, counts + more_counts)
        assert sum(1 for n in counts if n < checkpoint.LOG_CHUNK) <= checkpoint.MAX_LOG_BLOBS
        assert blobs[:2] == full and blobs[0] is full[0]
    back = [r for blob in blobs for r in checkpoint.unpack(blob)]
    assert back == rows and counts == [len(checkpoint.unpack(b)) for b in blobs]


def test_bodies_cut_in_other_blocks_are_not_reused(tmp_path, monkeypatch):
    """pack_body reuses a block's bytes by its place; bodies cut at another BODY_BLOCK are dropped on load."""
    monkeypatch.setenv("XL_LEDGER_HOME", str(tmp_path / "home"))
    book = tmp_path / "studio.xlsm"
    body = [(f"S{i}", i) for i in range(5)]
    for block, kept in ((checkpoint.BODY_BLOCK, True), (checkpoint.BODY_BLOCK + 1, False)):
        checkpoint.save(book, None, checkpoint.Checkpoint(log="x", head=(0, "g"), log_blobs=[], log_counts=[],
                                                          bodies={"Balances": checkpoint.pack_body(body)},
                                                          body_block=block))
        cp = checkpoint.load(book, None)
        assert cp is not None and (cp.body("Balances") is not None and list(cp.body("Balances")) == body) is kept


def test_a_body_is_unpickled_only_where_its_blocks_changed(monkeypatch):
    """pack_body takes a block that pickles to its old bytes as unchanged without unpickling the old
    one; the checkpoint's Body reads any row or slice across blocks as the list it was."""
    monkeypatch.setattr(checkpoint, "BODY_BLOCK", 4)
    body = [(f"S{i}", i, None) for i in range(18)]
    blocks = checkpoint.pack_body(body)
    old = checkpoint.Body(blocks, 4)
    assert len(old) == 18 and list(old) == body and old[-1] == body[-1] and old[3:13] == body[3:13]
    assert old[:] == body and old[17:40] == body[17:] and old[::5] == body[::5]
    lazy = checkpoint.Body(blocks, 4)
    assert set(lazy._rows) == {4}  # only the last block, for the length
    changed = body[:9] + [("S9", 9.0, None)] + body[10:]  # 9.0 == 9: same value, another type
    new = checkpoint.pack_body(changed, lazy, blocks)
    assert set(lazy._rows) == {2, 4}  # the block whose bytes differ, looked at row by row
    assert [n is o for n, o in zip(new, blocks)] == [True, True, False, True, True]
    assert list(checkpoint.Body(new, 4)) == changed


@pytest.mark.parametrize("body_block", [3, 4], ids=["blocks-are-segments", "blocks-across-segments"])
def test_twenty_warm_posts_end_where_cold_posts_end(tmp_path, monkeypatch, body_block):
    """Day after day with the checkpoint — Log pieces added and merged, body blocks kept or re-pickled,
    unchanged row blocks copied as stored deflate segments — gives the same Log and sheets as posting
    without it. Pieces and blocks are made tiny here so that a small studio crosses every boundary; the
    checkpoint's body blocks either are the segments (the blocks it found unchanged are not compared
    again) or are cut otherwise (the store compares)."""
    from xl_ledger.xlsx import sheet as xlsx_sheet

    monkeypatch.setattr(checkpoint, "LOG_CHUNK", 16)
    monkeypatch.setattr(checkpoint, "MAX_LOG_BLOBS", 3)
    monkeypatch.setattr(checkpoint, "BODY_BLOCK", body_block)
    monkeypatch.setattr(xlsx_sheet, "SEGMENT_ROWS", 3)
    from xl_ledger.book import filestore

    kept, reused = [], []
    segmenting = filestore.body_segments

    def body_segments(framed, body, styles, width, previous=None, old_rows=None, **k):
        plan = segmenting(framed, body, styles, width, previous, old_rows, **k)
        if previous is not None:
            kept.append(body)
            reused.append(sum(type(item) is int for item in plan))
        return plan

    monkeypatch.setattr(filestore, "body_segments", body_segments)
    path = _posted(tmp_path)
    cold = tmp_path / "cold" / "studio.xlsm"
    cold.parent.mkdir()
    shutil.copyfile(path, cold)
    for day in range(20):
        action = {"action": "sell", "student_id": ("S1", "S2", "S3")[day % 3], "product_id": ("P10", "H10")[day % 2]} \
            if day % 4 else {"action": "freeze", "student_id": "S1", "package_id": "PK-0001", "days": 2,
                             "date": f"2026-04-{day + 1:02d}"}
        lesson = {"session_id": f"D{day}", "date": f"2026-04-{day + 1:02d}", "student_id": ("S1", "S3")[day % 2],
                  "status": ("attended", "no_show", "scheduled")[day % 3], "minutes": 60}
        for p in (path, cold):
            type_rows(p, "Actions", {4 + day: action})
            type_rows(p, "Sessions", {8 + day: lesson})
            checkpoint.discard(cold)
            post.post(FileStore(p), now=NOW, operator="owner")
        if day % 5 == 4:
            assert _snapshot(path) == _snapshot(cold), day
    assert len(kept) >= 20 and max(map(len, kept)) > 3 * 4  # warm rewrites, over more than a few blocks
    assert sum(reused) > 20  # ...which copied the stored segments of unchanged blocks
    cp = checkpoint.load(path, None)
    assert cp is not None and sum(1 for n in cp.log_counts if n < 16) <= 3 and len(cp.log_blobs) > 3
    assert cp.head == FileStore(path).head()


def _resave_openpyxl(path, folder):
    wb = openpyxl.load_workbook(path, keep_vba=True)
    wb.save(path)


def _resave_libreoffice(path, folder):
    from libreoffice import convert

    shutil.copyfile(convert(path, "xlsm:Calc MS Excel 2007 VBA XML", folder / "lo"), path)


@pytest.mark.parametrize("resave", [_resave_openpyxl, _resave_libreoffice], ids=["openpyxl", "libreoffice"])
def test_a_workbook_saved_by_another_program_stays_warm_and_posts_as_without_a_checkpoint(tmp_path, resave):
    """The owner saves the workbook in a spreadsheet program between two posts: every part has other
    bytes, the Log the same values. The checkpoint still describes that Log (its verified chain ends in
    the checkpoint's head), and the post ends exactly where a post without the checkpoint ends; so does
    the next one, after the program has saved again."""
    path = _posted(tmp_path)
    _more_input(path)
    cold = tmp_path / "cold" / "studio.xlsm"
    cold.parent.mkdir()
    for round_ in range(2):
        resave(path, tmp_path)
        shutil.copyfile(path, cold)
        checkpoint.discard(cold)
        log = FileStore(path).open_log()
        assert log.current and checkpoint.load(path, None).log != log.digests["Log"]  # by content, not bytes
        warm_result = post.post(FileStore(path), now=NOW, operator="owner")
        cold_result = post.post(FileStore(cold), now=NOW, operator="owner")
        assert warm_result.summary() == cold_result.summary() and warm_result.rejected == cold_result.rejected
        assert warm_result.notices == cold_result.notices and warm_result.applied == cold_result.applied
        assert _snapshot(path) == _snapshot(cold)
        for p in (path, cold):
            type_rows(p, "Actions", {5 + round_: {"action": "sell", "student_id": "S3", "product_id": "P10"}})


def test_a_resaved_log_that_differs_from_the_checkpoint_is_read_as_it_is(tmp_path):
    """A Log saved elsewhere that is not the checkpoint's (another row appended by a second copy of the
    workbook) is not taken for it: the post reads and verifies the rows it has."""
    path = _posted(tmp_path)
    other = tmp_path / "other" / "studio.xlsm"
    other.parent.mkdir()
    shutil.copyfile(path, other)
    type_rows(other, "Actions", {4: {"action": "sell", "student_id": "S2", "product_id": "FAM"}})
    post.post(FileStore(other), now=NOW, operator="owner")  # its own checkpoint, beside it
    _resave_openpyxl(other, tmp_path)
    shutil.copyfile(other, path)  # the longer Log, re-saved, where the checkpoint knows the shorter one
    log = FileStore(path).open_log()
    assert not log.current and log.head == FileStore(other).head()
    assert len(log.entries()) == len(FileStore(other).read_log())


def test_a_resaved_log_is_taken_from_the_checkpoint_only_when_it_ends_in_the_checkpoints_head(tmp_path, monkeypatch):
    """After a re-save the store reads and verifies the Log, then builds no rows when its chain ends in the
    checkpoint's head after as many rows: it is the checkpoint's Log, decoded from there. A Log of as many
    rows that ends elsewhere (a second copy of the workbook posted another sale) is decoded as read."""
    from xl_ledger.book import filestore

    built = []
    real = filestore._table_rows
    monkeypatch.setattr(filestore, "_table_rows", lambda table: built.append(1) or real(table))
    path = _posted(tmp_path)
    other = tmp_path / "other" / "studio.xlsm"
    other.parent.mkdir()
    shutil.copyfile(path, other)
    checkpoint.copy(path, other)
    type_rows(path, "Actions", {4: {"action": "sell", "student_id": "S1", "product_id": "P10"}})
    type_rows(other, "Actions", {4: {"action": "sell", "student_id": "S3", "product_id": "P10"}})
    for p in (path, other):
        post.post(FileStore(p), now=NOW, operator="owner")
        _resave_openpyxl(p, tmp_path)
    assert len(FileStore(path).read_log()) == len(FileStore(other).read_log())
    built.clear()
    log = FileStore(path).open_log()
    assert log.current and not built
    assert log.entries() == FileStore(path).open_cold_log().entries()
    # The other copy's Log, beside this copy's checkpoint: as many rows, another head.
    shutil.copyfile(other, path)
    built.clear()
    log = FileStore(path).open_log()
    assert not log.current and built and log.head == FileStore(other).head()
    assert log.entries() == FileStore(other).open_cold_log().entries()
    assert [e.event.student_id for e in log.entries()][-1] == "S3"


def test_a_resaved_sessions_sheet_with_the_same_cells_is_not_diffed_and_an_edit_made_there_is(tmp_path,
                                                                                             monkeypatch):
    """Saved by another program, the Sessions part has other bytes. When every row reads as the last post
    read it, at the same Excel row, the last post's answer stands (no diff); a lesson edited in that
    program before saving is diffed, and the post ends where a post without the checkpoint ends."""
    from xl_ledger.core import commands

    calls = []
    real = commands.diff_sessions
    monkeypatch.setattr(commands, "diff_sessions", lambda *a, **k: calls.append(1) or real(*a, **k))
    path = _posted(tmp_path)
    type_rows(path, "Sessions", {5: {c: None for c in schema.SESSIONS.headers}})  # a deleted row: a notice
    post.post(FileStore(path), now=NOW, operator="owner")
    cold = tmp_path / "cold" / "studio.xlsm"
    cold.parent.mkdir()
    lesson = {"session_id": "L9", "date": dt.date(2026, 3, 9), "student_id": "S3", "status": "attended"}
    for round_, edit in enumerate((None, lesson)):
        wb = openpyxl.load_workbook(path, keep_vba=True)
        for column, value in (edit or {}).items():  # the owner types a lesson in the spreadsheet program
            wb["Sessions"].cell(9, schema.SESSIONS.headers.index(column) + 1).value = value
        wb.save(path)
        shutil.copyfile(path, cold)
        for p in (path, cold):
            type_rows(p, "Actions", {4 + round_: {"action": "sell", "student_id": "S3", "product_id": "P10"}})
        calls.clear()
        warm_result = post.post(FileStore(path), now=NOW, operator="owner")
        assert bool(calls) == bool(edit)
        cold_result = post.post(FileStore(cold), now=NOW, operator="owner")
        assert warm_result.summary() == cold_result.summary() and warm_result.notices == cold_result.notices
        assert any("was deleted" in n for n in warm_result.notices)
        assert warm_result.new_rows == (2 if edit else 1)  # the sale, and the new lesson
        assert _snapshot(path) == _snapshot(cold)


def test_a_post_writes_only_the_checkpoint_pieces_that_are_new(tmp_path, monkeypatch):
    """The checkpoint's big pieces are files named by their SHA-256: a post adds the new ones, leaves the
    others as they are, removes those it no longer names, and the checkpoint file itself stays small."""
    monkeypatch.setattr(checkpoint, "PIECE", 64)  # a small studio's pieces are files too
    monkeypatch.setattr(checkpoint, "BODY_BLOCK", 2)
    path = _posted(tmp_path)
    folder = checkpoint.pieces_for(path)
    before = {p.name: p.stat().st_ino for p in folder.iterdir()}
    assert len(before) > 10 and checkpoint.path_for(path).stat().st_size < sum(p.stat().st_size for p in folder.iterdir())
    type_rows(path, "Actions", {4: {"action": "sell", "student_id": "S3", "product_id": "P10"}})
    post.post(FileStore(path), now=NOW, operator="owner")
    after = {p.name: p.stat().st_ino for p in folder.iterdir()}
    kept = {name for name in before if after.get(name) == before[name]}
    assert len(kept) > len(after) / 2 and set(after) - kept  # most pieces untouched, some new
    cp = checkpoint.load(path, None)
    assert cp is not None and cp.log_blobs and all(type(b) is bytes for b in cp.log_blobs)
    named = set()
    checkpoint._each_piece(checkpoint.load(path, None), lambda piece: named.add(checkpoint.hashlib.sha256(piece).hexdigest()))
    assert set(after) <= named  # nothing left that the checkpoint does not name


@pytest.mark.parametrize("damage", ["altered", "missing"])
def test_a_checkpoint_piece_altered_or_missing_makes_it_unusable(tmp_path, monkeypatch, damage):
    monkeypatch.setattr(checkpoint, "PIECE", 64)
    path = _posted(tmp_path)
    piece = max(checkpoint.pieces_for(path).iterdir(), key=lambda p: p.stat().st_size)
    if damage == "missing":
        piece.unlink()
    else:
        data = bytearray(piece.read_bytes())
        data[len(data) // 2] ^= 1
        piece.write_bytes(bytes(data))
    assert checkpoint.load(path, None) is None
    _more_input(path)
    cold = tmp_path / "cold" / "studio.xlsm"
    cold.parent.mkdir()
    shutil.copyfile(path, cold)
    post.post(FileStore(path), now=NOW, operator="owner")
    post.post(FileStore(cold), now=NOW, operator="owner")
    assert _snapshot(path) == _snapshot(cold) and checkpoint.load(path, None) is not None
