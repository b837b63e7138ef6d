"""A zip member's deflate stream as independently compressed segments, so that writing a new version
of a big part recompresses only the segments whose bytes changed.

Each segment is the output of a fresh raw-deflate compressor ended with a full flush (byte-aligned, no
back-reference into an earlier segment); the last one ends with Z_FINISH. Their concatenation is one
valid deflate stream, which any zip reader inflates as it inflates any other. A writer that knows the
segments of the member it replaces (each one's compressed and uncompressed length and CRC-32) copies
the compressed bytes of the segments it keeps, compresses only the others, and works out the member's
CRC-32 from the segments' CRCs (archive.crc32_combine's arithmetic): the kept bytes are never inflated.

Who decides which segments are kept, and why they still hold the right bytes, is the caller's business
(the file store keys the segment list by a digest of the member as it wrote it).
"""

from __future__ import annotations

import zlib
from typing import BinaryIO
from typing import Callable
from typing import Iterable
from typing import Sequence

from xl_ledger.xlsx.archive import Member
from xl_ledger.xlsx.archive import ZipFormatError
from xl_ledger.xlsx.archive import ZipWriter
from xl_ledger.xlsx.archive import copy_range
from xl_ledger.xlsx.archive import crc32_extend
from xl_ledger.xlsx.archive import crc32_shift
from xl_ledger.xlsx.archive import data_offset

# (compressed length, uncompressed length, CRC-32, crc32_shift(uncompressed length)): plain ints, so a
# list of them pickles as plain data. The shift makes combining a kept segment's CRC one multiplication.
Segment = tuple[int, int, int, int]

LEVEL = 1  # big parts are rewritten on every post; level 6 took four times as long for a fifth less


def compress(pieces: Iterable, final: bool, level: int = LEVEL) -> tuple[bytes, Segment]:
    """One segment from the concatenation of `pieces` (bytes-like), and its description."""
    c = zlib.compressobj(level, zlib.DEFLATED, -15)
    crc = size = 0
    out = []
    for piece in pieces:
        crc = zlib.crc32(piece, crc)
        size += len(piece)
        out.append(c.compress(piece))
    out.append(c.flush(zlib.Z_FINISH if final else zlib.Z_FULL_FLUSH))
    data = b"".join(out)
    return data, (len(data), size, crc, crc32_shift(size))


def fits(member: Member, segments: Sequence[Segment]) -> bool:
    """Whether `segments` can describe `member`'s stored bytes: deflated, with the same total sizes and
    the CRC they combine to. (A cheap check of the caller's bookkeeping, not a proof of the bytes.)"""
    if member.method != 8 or not segments:
        return False
    if sum(s[0] for s in segments) != member.csize or sum(s[1] for s in segments) != member.usize:
        return False
    return combined_crc(segments) == member.crc


def combined_crc(segments: Iterable[Segment]) -> int:
    crc = 0
    for _csize, _usize, seg_crc, shift in segments:
        crc = crc32_extend(crc, seg_crc, shift)
    return crc


def reader(src: BinaryIO, member: Member, segments: Sequence[Segment]) -> Callable[[int], bytes]:
    """read(k): segment k of `member`, inflated (CRC checked). Where each segment starts is worked out once."""
    starts = [data_offset(src, member)]
    for s in segments:
        starts.append(starts[-1] + s[0])

    def read(index: int) -> bytes:
        csize, usize, crc, _shift = segments[index]
        src.seek(starts[index])
        raw = src.read(csize)
        try:
            data = zlib.decompressobj(-15).decompress(raw, usize + 1)
        except zlib.error:
            data = None
        if data is None or len(data) != usize or zlib.crc32(data) != crc:
            raise ZipFormatError(f"{member.name}: segment {index} does not hold the bytes recorded for it")
        return data

    return read


def write(w: ZipWriter, like: Member, items: Sequence, src: BinaryIO | None = None, old: Member | None = None,
          old_segments: Sequence[Segment] = ()) -> list[Segment]:
    """Write a new version of `like` from `items`, in order: each either (compressed bytes, Segment) as
    `compress` returns them, or an int k: segment k of `old` (in `src`), copied as it is stored. The last
    item must be a final segment. Returns the new member's segments."""
    segments: list[Segment] = [old_segments[k] if type(k) is int else k[1] for k in items]
    crc = combined_crc(segments)
    w.start(like, crc, sum(s[0] for s in segments), sum(s[1] for s in segments))
    if old is not None:
        base = data_offset(src, old)
        offsets = [0]
        for s in old_segments:
            offsets.append(offsets[-1] + s[0])
    run_start = run_end = None  # a run of consecutive old segments is copied as one range
    for item in items:
        if type(item) is int:
            if run_end == offsets[item]:
                run_end = offsets[item + 1]
                continue
            if run_start is not None:
                copy_range(src, w.f, base + run_start, run_end - run_start)
            run_start, run_end = offsets[item], offsets[item + 1]
            continue
        if run_start is not None:
            copy_range(src, w.f, base + run_start, run_end - run_start)
            run_start = run_end = None
        w.write_data(item[0])
    if run_start is not None:
        copy_range(src, w.f, base + run_start, run_end - run_start)
    return segments
