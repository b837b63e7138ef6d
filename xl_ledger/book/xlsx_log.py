"""The Log sheet's appendable layout: append rows without recompressing the log.

The Log part is one deflate stream in three segments, each started by a fresh compressor and ended
by a sync flush (byte-aligned, no back-references across segments):

    [H1: xml up to <dimension>] [stored block: <dimension ref="A1:Q{n}"/> padded with spaces]
    [H2+BODY: rest of the head, <sheetData>, every row] [TAIL: </sheetData> ... </worksheet>, final]

To append, a commit copies the compressed bytes up to the end of BODY unchanged (patching only the
dimension's stored bytes, which sit at a known offset), compresses just the new rows as one more
segment, then a fresh TAIL. The new CRC comes from the parts' CRCs (crc32_combine), so the old rows
are never decompressed. The state needed for this (offsets, partial CRCs, last row, head of the
chain) travels in the zip archive comment. Any other program that saves the workbook (Excel,
LibreOffice, openpyxl) writes a new archive without that comment, or with a Log part whose CRC/size
no longer match it; then `load_state` returns None and the store rebuilds the layout once by
streaming the old Log part through (its bytes kept verbatim, shared strings and all).
"""

from __future__ import annotations

import json
import re
import struct
import zlib
from concurrent.futures import Executor
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import replace
from itertools import compress
from typing import BinaryIO
from typing import Iterable
from typing import Iterator

from xl_ledger.book.schema import col_letter
from xl_ledger.xlsx.cells import escape_text
from xl_ledger.xlsx.sheet import insert_dimension
from xl_ledger.xlsx.archive import Member
from xl_ledger.xlsx.archive import ZipWriter
from xl_ledger.xlsx.archive import copy_range
from xl_ledger.xlsx.archive import crc32_combine
from xl_ledger.xlsx.archive import data_offset
from xl_ledger.core.chain import LOG_COLUMNS
from xl_ledger.core.chain import HASH
from xl_ledger.core.chain import SEQ

MAGIC = b"xl-ledger-log/1 "
DIM_WIDTH = 40  # `<dimension ref="A1:Q1048576"/>` is 30 bytes; spaces pad the rest (XML whitespace)
LEVEL = 6
# The rebuild after another program saved the workbook deflates the whole Log part again: level 1 takes
# a third of level 6's time (0.27 s against 0.84 s for the 80 MB part of 100k rows) for a part 25% larger.
# That rebuild happens after every save in Excel; the appended rows keep LEVEL.
REBUILD_LEVEL = 1
LAST_COL = col_letter(len(LOG_COLUMNS))
_LETTERS = [col_letter(i + 1) for i in range(len(LOG_COLUMNS))]


@dataclass(frozen=True)
class LogState:
    member: str
    crc: int
    csize: int
    usize: int
    dim_at: int  # offset of the dimension bytes inside the member's compressed data
    h1_crc: int
    h1_len: int
    body_crc: int  # CRC of the uncompressed bytes after the dimension up to the end of the last row
    body_len: int
    body_end: int  # compressed offset where the TAIL segment starts
    last_row: int
    seq: int
    hash: str

    def comment(self) -> bytes:
        return MAGIC + json.dumps(asdict(self), separators=(",", ":")).encode()


def dimension_bytes(last_row: int) -> bytes:
    dim = f'<dimension ref="A1:{LAST_COL}{last_row}"/>'.encode()
    return dim + b" " * (DIM_WIDTH - len(dim))


def load_state(comment: bytes, f: BinaryIO, member: Member | None) -> tuple[LogState, bytes] | None:
    """The append state and the Log's TAIL, when the file still has exactly the layout we wrote."""
    if not comment.startswith(MAGIC) or member is None:
        return None
    try:
        state = LogState(**json.loads(comment[len(MAGIC):]))
    except (ValueError, TypeError):
        return None
    if (state.member, state.crc, state.csize, state.usize) != (member.name, member.crc, member.csize, member.usize):
        return None
    if member.method != 8 or not 0 < state.dim_at < state.body_end <= state.csize:
        return None
    start = data_offset(f, member)
    f.seek(start + state.dim_at)
    if f.read(DIM_WIDTH) != dimension_bytes(state.last_row):
        return None
    f.seek(start + state.body_end)
    try:
        tail = zlib.decompressobj(-15).decompress(f.read(state.csize - state.body_end))
    except zlib.error:
        return None
    crc = crc32_combine(zlib.crc32(dimension_bytes(state.last_row), state.h1_crc), state.body_crc, state.body_len)
    if (zlib.crc32(tail, crc) != state.crc or not tail.startswith(b"</sheetData>")
            or state.h1_len + DIM_WIDTH + state.body_len + len(tail) != state.usize):
        return None
    return state, tail


def rows_xml(rows: Iterable[tuple], first_row: int) -> bytes:
    """New Log rows: seq as a number, every other non-empty value as an inline string.

    Most rows need no escaping and no xml:space, and a few substring tests over the row's texts joined
    tell (C speed; a regex or a per-cell look cost more than the encoding itself). Such a row is one
    str.format of a template chosen by which of its columns are empty (every Log row of a kind leaves
    the same ones empty); any other row goes cell by cell. Both give the same bytes
    (tests/test_store_fast_paths.py pins them to the plain per-cell encoder).
    """
    out = []
    templates = _TEMPLATES
    r = first_row
    for row in rows:
        try:
            joined = "<".join(row[1:])
        except TypeError:
            joined = ""  # not all text: the per-cell path says what it says
        if _plain(joined) and row[SEQ]:
            mask = tuple(map(bool, row))
            template = templates.get(mask)
            if template is None:
                template = templates[mask] = _template(mask)
            out.append(template.format(r, *compress(row, mask)))
        else:
            out.append(_row_xml(row, r))
        r += 1
    return "".join(out).encode("utf-8")


def _plain(joined: str) -> bool:
    """The row's texts, joined by "<", hold nothing escape_text would change and no value starts or ends
    with whitespace. isprintable() is False for every character escape_text rewrites except &, <, > and
    a literal _xHHHH_ (tested apart; a "<" inside a value shows as one separator too many), and the only
    printable whitespace is the space, so one test per space position covers xml:space."""
    return (joined.count("<") == _N_TEXT - 1 and joined.isprintable() and "&" not in joined
            and ">" not in joined and "_x" not in joined and "< " not in joined and " <" not in joined
            and joined[:1] != " " and joined[-1:] != " ")


_N_TEXT = len(LOG_COLUMNS) - 1
_TEMPLATES: dict[tuple[bool, ...], str] = {}


def _template(mask: tuple[bool, ...]) -> str:
    parts = ['<row r="{0}"><c r="A{0}"><v>{1}</v></c>']
    k = 2
    for i in range(1, len(LOG_COLUMNS)):
        if mask[i]:
            parts.append(f'<c r="{_LETTERS[i]}{{0}}" t="inlineStr"><is><t>{{{k}}}</t></is></c>')
            k += 1
    parts.append("</row>")
    return "".join(parts)


def _row_xml(row: tuple, r: int) -> str:
    cells = [f'<row r="{r}"><c r="A{r}"><v>{row[SEQ]}</v></c>']
    for i in range(1, len(LOG_COLUMNS)):
        v = row[i]
        if v:
            space = ' xml:space="preserve"' if v[0].isspace() or v[-1].isspace() else ""
            cells.append(f'<c r="{_LETTERS[i]}{r}" t="inlineStr"><is><t{space}>{escape_text(v)}</t></is></c>')
    cells.append("</row>")
    return "".join(cells)


CHUNK = 4096  # Log rows per piece of XML (about 4 MB) handed to the compressing thread


@dataclass
class Encoded:
    """New Log rows as XML on their way to one deflate segment (a fresh compressor, sync-flushed, so it
    splices after any byte-aligned segment). `parts`: compressed bytes, or futures of them."""

    first_row: int
    count: int
    crc: int  # of the XML alone
    length: int
    parts: list

    def segment(self) -> bytes:
        return b"".join(p if isinstance(p, bytes) else p.result() for p in self.parts)

    def fits(self, first_row: int, rows: list[tuple]) -> bool:
        return self.first_row == first_row and self.count == len(rows)


def encode(rows: list[tuple], first_row: int, pool: Executor | None = None) -> Encoded:
    """Encode `rows` (Excel rows `first_row` on) a piece at a time; with `pool` (one worker, so the
    pieces reach the compressor in order) each piece is compressed while the next is encoded — and, in
    a commit, while the engine sheets are rendered (zlib releases the GIL)."""
    if pool is None and len(rows) > CHUNK:
        with ThreadPoolExecutor(max_workers=1) as own:
            done = encode(rows, first_row, own)
            done.parts = [done.segment()]
            return done
    c = zlib.compressobj(LEVEL, zlib.DEFLATED, -15)
    run = pool.submit if pool is not None else (lambda f, *a: f(*a))
    crc = length = 0
    parts = []
    for i in range(0, len(rows), CHUNK):
        xml = rows_xml(rows[i:i + CHUNK], first_row + i)
        crc = zlib.crc32(xml, crc)
        length += len(xml)
        parts.append(run(c.compress, xml))
    parts.append(run(c.flush, zlib.Z_SYNC_FLUSH))
    return Encoded(first_row, len(rows), crc, length, parts)


def scan_last_row(chunks: Iterator[bytes]) -> int:
    """The last row number of a worksheet part, streamed (what rebuild finds as it copies it)."""
    split = _Splitter(chunks)
    for _piece in split.rows():
        pass
    return split.last_row


def _segment(*chunks: bytes, final: bool = False) -> bytes:
    c = zlib.compressobj(LEVEL, zlib.DEFLATED, -15)
    data = b"".join(c.compress(x) for x in chunks)
    return data + c.flush(zlib.Z_FINISH if final else zlib.Z_SYNC_FLUSH)


def _stored(data: bytes) -> bytes:
    """A non-final stored deflate block: its payload sits verbatim in the compressed stream."""
    return b"\x00" + struct.pack("<HH", len(data), len(data) ^ 0xFFFF) + data


def append(w: ZipWriter, src: BinaryIO, member: Member, state: LogState, tail: bytes, rows: list[tuple],
           encoded: Encoded | None = None) -> LogState:
    """Write the Log member extended by `rows` (fast path: old rows copied compressed). `encoded`: the
    rows already under way (`encode`), when they start right after the state's last row."""
    if encoded is None or not encoded.fits(state.last_row + 1, rows):
        encoded = encode(rows, state.last_row + 1)
    last_row = state.last_row + len(rows)
    dim = dimension_bytes(last_row)
    seg = encoded.segment()
    body_crc = crc32_combine(state.body_crc, encoded.crc, encoded.length)
    tail_seg = _segment(tail, final=True)
    csize = state.body_end + len(seg) + len(tail_seg)
    body_len = state.body_len + encoded.length
    crc = zlib.crc32(tail, crc32_combine(zlib.crc32(dim, state.h1_crc), body_crc, body_len))
    usize = state.h1_len + DIM_WIDTH + body_len + len(tail)
    w.start(member, crc, csize, usize)
    start = data_offset(src, member)
    copy_range(src, w.f, start, state.dim_at)
    w.write_data(dim)
    copy_range(src, w.f, start + state.dim_at + DIM_WIDTH, state.body_end - state.dim_at - DIM_WIDTH)
    w.write_data(seg)
    w.write_data(tail_seg)
    last = rows[-1] if rows else None
    return replace(state, crc=crc, csize=csize, usize=usize, body_crc=body_crc, body_len=body_len,
                   body_end=state.body_end + len(seg), last_row=last_row,
                   seq=last[SEQ] if last else state.seq, hash=last[HASH] if last else state.hash)


class _Splitter:
    """Splits a streamed worksheet into head (through `<sheetData>`), row bytes and tail."""

    def __init__(self, chunks: Iterator[bytes]):
        self.chunks = chunks
        self.head = b""
        self.tail = b""
        self.last_row = 1

    def rows(self) -> Iterator[bytes]:
        buf = b""
        for chunk in self.chunks:
            buf += chunk
            m = re.search(rb"<sheetData\b[^>]*?(/?)>", buf)
            if m:
                if m.group(1):
                    self.head = buf[:m.start()] + b"<sheetData>"
                    self.tail = b"</sheetData>" + buf[m.end():] + b"".join(self.chunks)
                    return
                self.head, buf = buf[:m.end()], buf[m.end():]
                break
            if len(buf) > 1 << 24:
                raise ValueError("no <sheetData> in the first 16 MB")
        else:
            raise ValueError("no <sheetData>")
        hold = 4096  # longer than any row start tag, so a tag is never split between two searches
        for chunk in self.chunks:
            buf += chunk
            end = buf.find(b"</sheetData>")
            if end >= 0:
                self._note_rows(buf[:end])
                yield buf[:end]
                self.tail = buf[end:] + b"".join(self.chunks)
                return
            self._note_rows(buf)
            if len(buf) > hold:
                yield buf[:-hold]
                buf = buf[-hold:]
        end = buf.find(b"</sheetData>")
        if end < 0:
            raise ValueError("no </sheetData>")
        self._note_rows(buf[:end])
        yield buf[:end]
        self.tail = buf[end:]

    def _note_rows(self, data: bytes) -> None:
        at = data.rfind(b"<row ")
        if at >= 0:
            m = re.match(rb'<row\b[^>]*?\br="(\d+)"', data[at:at + 4096])
            if m:
                self.last_row = max(self.last_row, int(m.group(1)))


def rebuild(w: ZipWriter, member: Member, old: Iterator[bytes], rows: list[tuple], head_seq: int,
            head_hash: str, encoded: Encoded | None = None) -> LogState:
    """Write the Log member in the appendable layout from its current bytes (streamed, kept verbatim)
    plus `rows`. Used the first time, and whenever another program has re-saved the workbook.
    `encoded`: the rows already under way, used when they start right after the part's last row."""
    split = _Splitter(old)
    m = w.start(member, 0, 0, 0)
    data_start = w.tell()
    inner = zlib.compressobj(REBUILD_LEVEL, zlib.DEFLATED, -15)
    body_crc = body_len = 0
    pieces = split.rows()
    first = next(pieces, b"")  # reading the first piece fills split.head
    head = split.head
    dim = re.search(rb"<dimension\b[^>]*/>", head)
    if dim:
        h1, h2 = head[:dim.start()], head[dim.end():]
    else:
        marked = insert_dimension(head, b"\x00DIM\x00")
        h1, h2 = marked.split(b"\x00DIM\x00")
    seg1 = _segment(h1)
    w.write_data(seg1)
    dim_at = len(seg1) + 5
    w.write_data(_stored(b" " * DIM_WIDTH))  # patched below, once the last row is known
    csize = dim_at + DIM_WIDTH
    for piece in (h2, first, *pieces):
        if piece:
            body_crc = zlib.crc32(piece, body_crc)
            body_len += len(piece)
            data = inner.compress(piece)
            w.write_data(data)
            csize += len(data)
    data = inner.flush(zlib.Z_SYNC_FLUSH)  # byte-aligned: the new rows' own segment follows
    if encoded is None or not encoded.fits(split.last_row + 1, rows):
        encoded = encode(rows, split.last_row + 1)
    data += encoded.segment()
    body_crc = crc32_combine(body_crc, encoded.crc, encoded.length)
    last_row = split.last_row + len(rows)
    body_len += encoded.length
    w.write_data(data)
    csize += len(data)
    body_end = csize
    tail_seg = _segment(split.tail, final=True)
    w.write_data(tail_seg)
    csize += len(tail_seg)
    dim_bytes = dimension_bytes(last_row)
    h1_crc = zlib.crc32(h1)
    crc = zlib.crc32(split.tail, crc32_combine(zlib.crc32(dim_bytes, h1_crc), body_crc, body_len))
    usize = len(h1) + DIM_WIDTH + body_len + len(split.tail)
    end = w.tell()
    w.f.seek(data_start + dim_at)
    w.f.write(dim_bytes)
    w.f.seek(m.offset + 14)
    w.f.write(struct.pack("<III", crc, csize, usize))
    w.f.seek(end)
    w.records[-1] = replace(m, crc=crc, csize=csize, usize=usize)
    last = rows[-1] if rows else None
    return LogState(member.name, crc, csize, usize, dim_at, h1_crc, len(h1), body_crc, body_len, body_end,
                    last_row, last[SEQ] if last else head_seq, last[HASH] if last else head_hash)


def header_only(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """A worksheet part streamed with every row but row 1 (its header) left out: what `rebuild` starts a
    Log from when the sheet is to hold other rows (a desk's mirror window, pg/store.py)."""
    split = _Splitter(chunks)
    kept, done = b"", False
    for piece in split.rows():
        if not done:
            kept += piece
            end = kept.find(b"</row>")
            if end >= 0 or len(kept) > 1 << 20:
                kept, done = kept[:end + len(b"</row>")] if end >= 0 else b"", True
    if not re.match(rb'\s*<row\b[^>]*?\br="1"', kept):
        kept = b""  # no header row where it belongs: rebuild keeps none, as for an empty sheet
    yield split.head
    yield kept
    yield split.tail


def check_window(rows, head: tuple[int, str], book: str) -> tuple:
    """Rows a Log sheet is to hold in place of its own (FileStore commit `restart`): a run of the chain, each
    row's prev_hash the hash above it, that holds the sheet's head row (the same hash) and goes past it."""
    from xl_ledger.book.store import ChangeError
    from xl_ledger.book.store import check_log_row
    from xl_ledger.core.chain import PREV

    out = tuple(check_log_row(r, f"{book}!Log window row {i + 1}") for i, r in enumerate(rows))
    if not out:
        raise ChangeError(f"{book}: a Log window needs rows")
    for above, row in zip(out, out[1:]):
        if row[SEQ] != above[SEQ] + 1 or row[PREV] != above[HASH]:
            raise ChangeError(f"{book}: Log window row seq {row[SEQ]} does not follow seq {above[SEQ]}")
    first, last = out[0][SEQ], out[-1][SEQ]
    # Where the run holds the sheet's last row, it must be that row (the same chain). A run that starts past
    # it (the sheet far behind: other desks posted much) is vouched for by the caller, which checked the
    # sheet's rows are the start of the ledger's.
    if last < head[0] or (first <= head[0] and out[head[0] - first][HASH] != head[1]):
        raise ChangeError(f"{book}: the Log window seq {first}-{last} is not the chain of the sheet's last row "
                          f"(seq {head[0]}) carried on")
    return out
