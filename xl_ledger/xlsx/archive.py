"""A minimal zip reader/writer that copies members byte for byte.

Python's zipfile cannot copy a member without decompressing and recompressing it, and it never keeps
the archive comment. The file store needs both: every part it does not change (VBA project, ribbon,
styles, the users' own sheets, charts) is copied as its original compressed bytes, and the archive
comment carries the Log's append state (see xlsx_log.py). Zip64 archives (over 4 GB) are refused:
a workbook that large is far past what Excel opens anyway.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from dataclasses import replace
from typing import BinaryIO

_LOCAL = b"PK\x03\x04"
_CENTRAL = b"PK\x01\x02"
_EOCD = b"PK\x05\x06"
_DESCRIPTOR = b"PK\x07\x08"
_CENTRAL_FMT = "<4sHHHHHHIIIHHHHHII"  # 46 bytes
_LOCAL_FMT = "<4sHHHHHIIIHH"  # 30 bytes
_EOCD_FMT = "<4sHHHHIIH"  # 22 bytes


class ZipFormatError(Exception):
    """The bytes are not a zip archive this module can handle."""


@dataclass(frozen=True)
class Member:
    name: str
    method: int
    flags: int
    crc: int
    csize: int
    usize: int
    offset: int  # of the local header
    time: int
    date: int
    version_made: int
    version_needed: int
    internal_attr: int
    external_attr: int
    extra: bytes
    comment: bytes


@dataclass(frozen=True)
class Archive:
    members: tuple[Member, ...]
    comment: bytes
    cd_offset: int

    def get(self, name: str) -> Member | None:
        for m in self.members:
            if m.name == name:
                return m
        return None


def read_directory(f: BinaryIO) -> Archive:
    """Parse the end record and the central directory (no member data is read)."""
    f.seek(0, 2)
    size = f.tell()
    tail_len = min(size, 22 + 65535)
    f.seek(size - tail_len)
    tail = f.read(tail_len)
    at = tail.rfind(_EOCD)
    while at >= 0:
        # The comment length must reach exactly to the end of the file, else it was a false match.
        if at + 22 <= len(tail):
            fields = struct.unpack(_EOCD_FMT, tail[at:at + 22])
            if at + 22 + fields[7] == len(tail):
                break
        at = tail.rfind(_EOCD, 0, at)
    if at < 0:
        raise ZipFormatError("no zip end record")
    _, disk, cd_disk, n_disk, n_total, cd_size, cd_offset, comment_len = struct.unpack(_EOCD_FMT, tail[at:at + 22])
    if disk or cd_disk or n_disk != n_total or cd_offset == 0xFFFFFFFF or n_total == 0xFFFF:
        raise ZipFormatError("multi-disk or zip64 archive")
    comment = tail[at + 22:at + 22 + comment_len]
    f.seek(cd_offset)
    cd = f.read(cd_size)
    if len(cd) != cd_size:
        raise ZipFormatError("truncated central directory")
    members = []
    pos = 0
    for _ in range(n_total):
        if cd[pos:pos + 4] != _CENTRAL:
            raise ZipFormatError("bad central directory record")
        (_, made, needed, flags, method, time, date, crc, csize, usize, nlen, xlen, clen, _disk, iattr, eattr,
         offset) = struct.unpack(_CENTRAL_FMT, cd[pos:pos + 46])
        pos += 46
        raw_name = cd[pos:pos + nlen]
        name = raw_name.decode("utf-8" if flags & 0x800 else "cp437")
        extra = cd[pos + nlen:pos + nlen + xlen]
        comment_m = cd[pos + nlen + xlen:pos + nlen + xlen + clen]
        pos += nlen + xlen + clen
        if 0xFFFFFFFF in (csize, usize, offset):
            raise ZipFormatError("zip64 member")
        members.append(Member(name, method, flags, crc, csize, usize, offset, time, date, made, needed, iattr,
                              eattr, extra, comment_m))
    return Archive(tuple(members), comment, cd_offset)


def data_offset(f: BinaryIO, m: Member) -> int:
    """Where a member's compressed bytes start (after its local header)."""
    f.seek(m.offset)
    header = f.read(30)
    if len(header) != 30 or header[:4] != _LOCAL:
        raise ZipFormatError(f"bad local header for {m.name}")
    nlen, xlen = struct.unpack("<HH", header[26:30])
    return m.offset + 30 + nlen + xlen


def read_member(f: BinaryIO, m: Member) -> bytes:
    """A member's uncompressed bytes (CRC checked)."""
    f.seek(data_offset(f, m))
    raw = f.read(m.csize)
    if m.method == 0:
        data = raw
    elif m.method == 8:
        # Sized up front from the directory: a growing output buffer would briefly hold a big part twice.
        data = zlib.decompress(raw, -15, max(m.usize, 1))
    else:
        raise ZipFormatError(f"{m.name}: compression method {m.method} not supported")
    if zlib.crc32(data) != m.crc or len(data) != m.usize:
        raise ZipFormatError(f"{m.name}: CRC or size mismatch")
    return data


def iter_member(f: BinaryIO, m: Member, chunk: int = 1 << 20):
    """Stream a member's uncompressed bytes without holding it all in memory."""
    start = data_offset(f, m)
    left = m.csize
    inflater = zlib.decompressobj(-15) if m.method == 8 else None
    crc = 0
    total = 0
    f.seek(start)
    while left:
        raw = f.read(min(chunk, left))
        if not raw:
            raise ZipFormatError(f"{m.name}: truncated")
        left -= len(raw)
        out = inflater.decompress(raw) if inflater else raw
        crc = zlib.crc32(out, crc)
        total += len(out)
        yield out
    if inflater:
        out = inflater.flush()
        crc = zlib.crc32(out, crc)
        total += len(out)
        if out:
            yield out
    if crc != m.crc or total != m.usize:
        raise ZipFormatError(f"{m.name}: CRC or size mismatch")


class ZipWriter:
    """Writes an archive member by member; `close()` writes the central directory and end record."""

    def __init__(self, f: BinaryIO):
        self.f = f
        self.records: list[Member] = []

    def tell(self) -> int:
        return self.f.tell()

    def copy(self, src: BinaryIO, m: Member) -> Member:
        """Copy a member exactly: local header, compressed data and any data descriptor."""
        start = data_offset(src, m)
        end = start + m.csize
        if m.flags & 0x8:  # a data descriptor follows: 12 bytes, or 16 with its optional signature
            src.seek(end)
            end += 16 if src.read(4) == _DESCRIPTOR else 12
        new = replace(m, offset=self.f.tell())
        _copy_range(src, self.f, m.offset, end - m.offset)
        self.records.append(new)
        return new

    def start(self, like: Member, crc: int, csize: int, usize: int, method: int = 8) -> Member:
        """Write a local header for a new version of `like` whose data the caller writes next."""
        name = like.name.encode("utf-8")
        flags = (like.flags & 0x800) | (0x800 if not like.name.isascii() else 0)
        m = replace(like, method=method, flags=flags, crc=crc, csize=csize, usize=usize, offset=self.f.tell(),
                    extra=b"", comment=b"", version_needed=20)
        self.f.write(struct.pack(_LOCAL_FMT, _LOCAL, 20, flags, method, like.time, like.date, crc, csize, usize,
                                 len(name), 0) + name)
        self.records.append(m)
        return m

    def write_data(self, data: bytes) -> None:
        self.f.write(data)

    def close(self, comment: bytes = b"") -> None:
        if len(self.records) >= 0xFFFF or self.f.tell() >= 0xFFFFFFFF:
            raise ZipFormatError("archive would need zip64")
        cd_offset = self.f.tell()
        parts = []
        for m in self.records:
            name = m.name.encode("utf-8" if m.flags & 0x800 else "cp437")
            parts.append(struct.pack(_CENTRAL_FMT, _CENTRAL, m.version_made, m.version_needed, m.flags, m.method,
                                     m.time, m.date, m.crc, m.csize, m.usize, len(name), len(m.extra),
                                     len(m.comment), 0, m.internal_attr, m.external_attr, m.offset))
            parts.append(name + m.extra + m.comment)
        cd = b"".join(parts)
        self.f.write(cd)
        self.f.write(struct.pack(_EOCD_FMT, _EOCD, 0, 0, len(self.records), len(self.records), len(cd), cd_offset,
                                 len(comment)) + comment)


def _copy_range(src: BinaryIO, dst: BinaryIO, offset: int, length: int, chunk: int = 1 << 20) -> None:
    src.seek(offset)
    while length:
        data = src.read(min(chunk, length))
        if not data:
            raise ZipFormatError("source archive truncated")
        dst.write(data)
        length -= len(data)


def copy_range(src: BinaryIO, dst: BinaryIO, offset: int, length: int) -> None:
    _copy_range(src, dst, offset, length)


# -- CRC-32 of a concatenation from the CRCs of its parts (zlib's crc32_combine, which Python lacks).
# As zlib 1.2.12 does it: multiply crc1 by x^(8·len2) modulo the CRC polynomial, with x^(2^k) tabled.
# (The older matrix-squaring method cost 3 ms a call in Python; a post makes several.)
_POLY = 0xEDB88320


def _multmodp(a: int, b: int) -> int:
    """a·b modulo the polynomial, bit-reflected as CRC-32 keeps it (a != 0)."""
    m = 1 << 31
    p = 0
    while True:
        if a & m:
            p ^= b
            if not a & (m - 1):
                return p
        m >>= 1
        b = (b >> 1) ^ _POLY if b & 1 else b >> 1


def _x2n_table() -> list[int]:
    table = [1 << 30]  # x^1
    for _ in range(31):
        table.append(_multmodp(table[-1], table[-1]))
    return table


_X2N = _x2n_table()


def crc32_combine(crc1: int, crc2: int, len2: int) -> int:
    """crc32(a + b) from crc32(a), crc32(b) and len(b)."""
    if len2 <= 0:
        return crc1
    return crc32_extend(crc1, crc2, crc32_shift(len2))


def crc32_shift(length: int) -> int:
    """x^(8·length) modulo the polynomial: what crc32_extend multiplies the first CRC by. Worked out
    once per length, it makes each later combination one multiplication (segments.py keeps it)."""
    p = 1 << 31  # x^0
    n, k = length, 3  # x^(8·length): bytes to bits
    while n:
        if n & 1:
            p = _multmodp(_X2N[k & 31], p)
        n >>= 1
        k += 1
    return p


def crc32_extend(crc1: int, crc2: int, shift2: int) -> int:
    """crc32(a + b) from crc32(a), crc32(b) and crc32_shift(len(b))."""
    return (_multmodp(shift2, crc1) if crc1 else 0) ^ crc2
