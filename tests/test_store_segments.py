"""Engine sheets written as deflate segments (xl_ledger/xlsx/segments.py): a warm post copies the stored
bytes of the segments whose rows did not change and compresses only the others. The members it writes
are ordinary deflate streams that every reader inflates (Python's zipfile, calamine, fastexcel,
openpyxl, LibreOffice), and hold exactly what a post without the checkpoint writes."""

from __future__ import annotations

import datetime as dt
import io
import shutil
import zipfile

import fastexcel
import openpyxl
import pytest
import python_calamine
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from post_helpers import NOW
from post_helpers import studio
from post_helpers import type_rows

from xl_ledger import post
from xl_ledger.book import checkpoint
from xl_ledger.book.filestore import FileStore
from xl_ledger.xlsx import segments
from xl_ledger.xlsx import sheet as xlsx_sheet
from xl_ledger.xlsx.archive import Member
from xl_ledger.xlsx.archive import ZipFormatError
from xl_ledger.xlsx.archive import ZipWriter
from xl_ledger.xlsx.archive import read_directory
from xl_ledger.xlsx.archive import read_member

ENGINE = ("Packages", "Balances", "Allocations", "Alerts", "Report", "Dashboard")


@pytest.fixture(autouse=True)
def own_secret(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("XL_LEDGER_HOME", str(tmp_path_factory.mktemp("home")))


def _member(name: str) -> Member:
    return Member(name, 8, 0, 0, 0, 0, 0, 0, 0x21, 20, 20, 0, 0, b"", b"")


def _zip(items_of, old_zip: bytes | None = None, old_segments=()) -> tuple[bytes, list]:
    """A one-member archive written by segments.write; `items_of` gives the items (new pieces compressed
    here, or ints: segments of the member of `old_zip`)."""
    out = io.BytesIO()
    w = ZipWriter(out)
    src = io.BytesIO(old_zip) if old_zip is not None else None
    old = read_directory(src).members[0] if src is not None else None
    items = items_of
    last = len(items) - 1
    items = [k if type(k) is int else segments.compress([k], i == last) for i, k in enumerate(items)]
    written = segments.write(w, _member("xl/worksheets/sheet1.xml"), items, src, old, old_segments)
    w.close()
    return out.getvalue(), written


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=3000), min_size=1, max_size=8), st.data())
def test_kept_segments_and_new_ones_inflate_to_the_concatenation(pieces, data):
    first, old = _zip(pieces)
    with zipfile.ZipFile(io.BytesIO(first)) as z:  # an independent reader: inflate and CRC check
        assert z.read("xl/worksheets/sheet1.xml") == b"".join(pieces)
    assert segments.fits(read_directory(io.BytesIO(first)).members[0], old)
    # The next version: each segment but the last (which ends the stream) either kept or replaced, and
    # new segments inserted anywhere before the last.
    plan, expected = [], []
    for k, piece in enumerate(pieces[:-1]):
        if data.draw(st.booleans()):
            plan.append(k)
            expected.append(piece)
        else:
            new = data.draw(st.binary(max_size=2000))
            plan.append(new)
            expected.append(new)
        if data.draw(st.booleans()):
            new = data.draw(st.binary(max_size=500))
            plan.append(new)
            expected.append(new)
    tail = data.draw(st.binary(max_size=300))
    plan.append(tail)
    expected.append(tail)
    second, new_segments = _zip(plan, first, old)
    with zipfile.ZipFile(io.BytesIO(second)) as z:
        assert z.testzip() is None and z.read("xl/worksheets/sheet1.xml") == b"".join(expected)
    f = io.BytesIO(second)
    member = read_directory(f).members[0]
    assert read_member(f, member) == b"".join(expected) and segments.fits(member, new_segments)
    read = segments.reader(f, member, new_segments)
    for k, piece in enumerate(expected):
        assert read(k) == piece


def test_segments_that_do_not_describe_the_member_are_refused():
    data, segs = _zip([b"<row>a</row>" * 50, b"<row>b</row>" * 70, b"</sheetData>"])
    f = io.BytesIO(data)
    member = read_directory(f).members[0]
    assert segments.fits(member, segs)
    csize, usize, crc, shift = segs[1]
    assert not segments.fits(member, segs[:1] + [(csize, usize, crc ^ 1, shift)] + segs[2:])  # another CRC
    assert not segments.fits(member, segs[:2])  # sizes that do not add up
    lying = segs[:1] + [(csize, usize, crc ^ 1, shift)] + segs[2:]
    with pytest.raises(ZipFormatError):
        segments.reader(f, member, lying)(1)


def _post_rounds(tmp_path, monkeypatch, rows_per_segment: int):
    """A studio posted three times with a little more input each time (and the next day), twice over: with
    the checkpoint (warm) and a copy that loses its checkpoint before every post (cold)."""
    monkeypatch.setattr(xlsx_sheet, "SEGMENT_ROWS", rows_per_segment)
    path = studio(tmp_path)
    type_rows(path, "Actions", {2: {"action": "sell", "student_id": "S1", "product_id": "P10"},
                                3: {"action": "sell", "student_id": "S3", "product_id": "H10"},
                                4: {"action": "sell", "student_id": "S2", "product_id": "FAM"}})
    type_rows(path, "Sessions", {i + 2: {"session_id": f"L{i}", "date": f"2026-03-0{i % 9 + 1}",
                                         "student_id": ("S1", "S2", "S3")[i % 3], "status": "attended"}
                                 for i in range(18)})
    cold = tmp_path / "cold" / "studio.xlsm"
    cold.parent.mkdir()
    shutil.copyfile(path, cold)
    copied = []
    write = segments.write

    def counting(w, like, items, *a, **k):
        copied.append(sum(type(i) is int for i in items))
        return write(w, like, items, *a, **k)

    monkeypatch.setattr(segments, "write", counting)
    for day in range(3):
        for p in (path, cold):
            if day:
                type_rows(p, "Sessions", {20 + day: {"session_id": f"N{day}", "date": "2026-03-09",
                                                     "student_id": "S3", "status": "attended"}})
            if p == cold:
                checkpoint.discard(p)
            post.post(FileStore(p), now=NOW, operator="owner", today=dt.date(2026, 3, 10 + day))
    return path, cold, copied


def _values(path):
    store = FileStore(path)
    return {name: store.read_sheet(name).rows for name in ENGINE}


def test_warm_posts_copy_unchanged_segments_and_write_what_cold_posts_write(tmp_path, monkeypatch):
    warm, cold, copied = _post_rounds(tmp_path, monkeypatch, 2)
    assert sum(copied) > 10  # segments of unchanged rows were copied, not compressed again
    assert _values(warm) == _values(cold)
    with zipfile.ZipFile(warm) as zw, zipfile.ZipFile(cold) as zc:
        assert zw.testzip() is None
        names = [n for n in zc.namelist() if n.startswith("xl/worksheets/")]
        assert {n: zw.read(n) for n in names} == {n: zc.read(n) for n in names}  # the same XML, byte for byte
    for reader in (_calamine, _fastexcel, _openpyxl):
        assert reader(warm) == reader(cold), reader.__name__


def _calamine(path):
    book = python_calamine.CalamineWorkbook.from_path(str(path))
    return {name: book.get_sheet_by_name(name).to_python() for name in ENGINE}


def _fastexcel(path):
    reader = fastexcel.read_excel(str(path))
    return {name: reader.load_sheet(name, header_row=None).to_arrow().to_pylist() for name in ENGINE}


def _openpyxl(path):
    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        return {name: [tuple(r) for r in wb[name].iter_rows(values_only=True)] for name in ENGINE}
    finally:
        wb.close()


def test_a_page_header_alone_rewrites_only_the_last_segment(tmp_path, monkeypatch):
    """The next day with nothing new: a sheet whose rows are the same gets its new as-of date in the page
    header, which sits in the part's last segment; every other segment is copied."""
    monkeypatch.setattr(xlsx_sheet, "SEGMENT_ROWS", 2)
    path = studio(tmp_path)
    type_rows(path, "Actions", {2: {"action": "sell", "student_id": "S1", "product_id": "P10"},
                                3: {"action": "sell", "student_id": "S3", "product_id": "H10"}})
    post.post(FileStore(path), now=NOW, operator="owner", today=dt.date(2026, 3, 10))
    before = _parts(path)
    result = post.post(FileStore(path), now=NOW, operator="owner", today=dt.date(2026, 3, 11))
    after = _parts(path)
    assert "Packages" not in result.change.sheets and "Packages" in result.change.keep  # same rows
    old, new = before["Packages"], after["Packages"]
    digest, _size, segs = checkpoint.load(path, None).segments["Packages"]
    assert digest == FileStore(path).part_digests()["Packages"] and len(segs) > 2
    kept = sum(s[0] for s in segs[:-1])
    assert new[:kept] == old[:kept] and new != old  # all but the last segment: the same stored bytes
    header = openpyxl.load_workbook(path)["Packages"].oddHeader.right.text
    assert header == "as of 2026-03-11"


def _parts(path) -> dict[str, bytes]:
    """Each engine sheet's member as stored (compressed)."""
    store = FileStore(path)
    out = {}
    with store._open() as book:
        for name in ENGINE:
            m = book.archive.get(book.sheets[name])
            book.f.seek(m.offset + 26)
            skip = int.from_bytes(book.f.read(2), "little") + int.from_bytes(book.f.read(2), "little")
            book.f.seek(m.offset + 30 + skip)
            out[name] = book.f.read(m.csize)
    return out


@pytest.mark.libreoffice
def test_libreoffice_reads_a_workbook_whose_segments_were_copied(tmp_path, monkeypatch):
    from libreoffice import convert

    warm, cold, copied = _post_rounds(tmp_path, monkeypatch, 2)
    assert sum(copied) > 10
    read = {}
    for p in (warm, cold):
        xlsx = convert(p, "xlsx", tmp_path / f"lo-{p.parent.name}")
        book = python_calamine.CalamineWorkbook.from_path(str(xlsx))
        read[p] = {name: book.get_sheet_by_name(name).to_python() for name in ENGINE}
    assert read[warm] == read[cold]
    assert len(read[warm]["Allocations"]) > 10  # rows enough for several segments
