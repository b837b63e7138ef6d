"""A minimal writer for Compound File Binary files ([MS-CFB], version 3).

`vbaProject.bin` is a compound file: a little FAT file system in one file. Python has readers
(olefile) but no maintained writer, so this module writes one: 512-byte sectors, a mini stream for
streams under 4096 bytes, no DIFAT sectors (enough for files up to ~7 MB), and all timestamps zero so
the output is a pure function of the input.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from dataclasses import field

SECTOR = 512
MINI_SECTOR = 64
MINI_CUTOFF = 4096
FREESECT = 0xFFFFFFFF
ENDOFCHAIN = 0xFFFFFFFE
FATSECT = 0xFFFFFFFD
NOSTREAM = 0xFFFFFFFF
_STORAGE, _STREAM, _ROOT = 1, 2, 5
_RED, _BLACK = 0, 1
_HEADER_DIFAT = 109


@dataclass
class Storage:
    """A folder of a compound file. Values are `bytes` (streams) or nested `Storage`s."""

    entries: dict[str, "bytes | Storage"] = field(default_factory=dict)


@dataclass
class _Entry:
    name: str
    kind: int
    data: bytes = b""
    children: list["_Entry"] = field(default_factory=list)
    left: int = NOSTREAM
    right: int = NOSTREAM
    child: int = NOSTREAM
    color: int = _BLACK
    start: int = ENDOFCHAIN
    size: int = 0


def _sort_key(name: str) -> tuple[int, str]:
    # [MS-CFB] 2.6.4: siblings are ordered by name length first, then by upper-cased name.
    return (len(name), name.upper())


def _flatten(root: Storage) -> list[_Entry]:
    """Depth-first list of entries; index in the list is the directory stream id."""
    out: list[_Entry] = []

    def visit(name: str, node: bytes | Storage, kind: int) -> _Entry:
        entry = _Entry(name, kind)
        out.append(entry)
        if isinstance(node, Storage):
            for child_name in sorted(node.entries, key=_sort_key):
                if len(child_name) > 31:
                    raise ValueError(f"compound file names are at most 31 characters: {child_name!r}")
                child = node.entries[child_name]
                entry.children.append(visit(child_name, child, _STORAGE if isinstance(child, Storage) else _STREAM))
        else:
            entry.data = node
            entry.size = len(node)
        return entry

    visit("Root Entry", root, _ROOT)
    return out


def _link_tree(entries: list[_Entry]) -> None:
    """Give each storage's children a balanced binary tree that is also a valid red-black tree.

    A tree built by always taking the middle element is full on every level but the deepest, so
    colouring exactly the deepest level red (when it is not full) keeps every black height equal.
    """
    index = {id(e): i for i, e in enumerate(entries)}
    for parent in entries:
        kids = parent.children
        if not kids:
            continue
        depth_full = (len(kids) + 1).bit_length() - 1  # levels that are completely filled
        perfect = (1 << depth_full) - 1 == len(kids)

        def build(lo: int, hi: int, depth: int) -> int:
            if lo > hi:
                return NOSTREAM
            mid = (lo + hi) // 2
            node = kids[mid]
            node.color = _RED if (not perfect and depth == depth_full) else _BLACK
            node.left = build(lo, mid - 1, depth + 1)
            node.right = build(mid + 1, hi, depth + 1)
            return index[id(node)]

        parent.child = build(0, len(kids) - 1, 0)


def _pad(data: bytes, size: int) -> bytes:
    return data + b"\0" * (-len(data) % size)


def write_compound_file(root: Storage) -> bytes:
    entries = _flatten(root)
    _link_tree(entries)

    # Small streams live in the mini stream (64-byte sectors), big ones in regular sectors.
    mini_stream = bytearray()
    minifat: list[int] = []
    for e in entries:
        if e.kind == _STREAM and 0 < e.size < MINI_CUTOFF:
            first = len(minifat)
            count = -(-e.size // MINI_SECTOR)
            minifat.extend(range(first + 1, first + count))
            minifat.append(ENDOFCHAIN)
            e.start = first
            mini_stream += _pad(e.data, MINI_SECTOR)

    # Regular-sector regions in file order: big streams, mini stream, mini FAT, directory, FAT.
    regions: list[tuple[_Entry | str, bytes]] = []
    for e in entries:
        if e.kind == _STREAM and e.size >= MINI_CUTOFF:
            regions.append((e, e.data))
    regions.append(("ministream", bytes(mini_stream)))
    minifat_bytes = b"".join(struct.pack("<I", v) for v in minifat)
    regions.append(("minifat", minifat_bytes))

    fat: list[int] = []
    starts: dict[str, int] = {}
    for owner, data in regions:
        count = -(-len(data) // SECTOR)
        if count == 0:
            start = ENDOFCHAIN
        else:
            start = len(fat)
            fat.extend(range(start + 1, start + count))
            fat.append(ENDOFCHAIN)
        if isinstance(owner, _Entry):
            owner.start = start
        else:
            starts[owner] = start

    root_entry = entries[0]
    root_entry.start = starts["ministream"]
    root_entry.size = len(mini_stream)

    dir_bytes = b"".join(_dir_entry(e) for e in entries)
    dir_bytes = dir_bytes + _empty_dir_entry() * (-len(entries) % (SECTOR // 128))
    dir_count = len(dir_bytes) // SECTOR
    dir_start = len(fat)
    fat.extend(range(dir_start + 1, dir_start + dir_count))
    fat.append(ENDOFCHAIN)

    # The FAT must also describe its own sectors; grow it until it fits.
    fat_count = 1
    while fat_count * (SECTOR // 4) < len(fat) + fat_count:
        fat_count += 1
    if fat_count > _HEADER_DIFAT:
        raise ValueError("compound file too large for a header-only DIFAT")
    fat_start = len(fat)
    fat.extend([FATSECT] * fat_count)
    fat.extend([FREESECT] * (fat_count * (SECTOR // 4) - len(fat)))

    header = _header(
        fat_sectors=list(range(fat_start, fat_start + fat_count)),
        dir_start=dir_start,
        minifat_start=starts["minifat"],
        minifat_count=-(-len(minifat_bytes) // SECTOR),
    )
    body = b"".join(_pad(data, SECTOR) for _, data in regions)
    body += dir_bytes
    body += b"".join(struct.pack("<I", v) for v in fat)
    return header + body


def _header(fat_sectors: list[int], dir_start: int, minifat_start: int, minifat_count: int) -> bytes:
    difat = fat_sectors + [FREESECT] * (_HEADER_DIFAT - len(fat_sectors))
    head = struct.pack(
        "<8s16sHHHHH6sIIIIIIIII",
        bytes.fromhex("D0CF11E0A1B11AE1"),
        b"\0" * 16,
        0x003E,  # minor version
        0x0003,  # major version 3: 512-byte sectors
        0xFFFE,  # little-endian byte order mark
        9,  # sector shift: 2**9 = 512
        6,  # mini sector shift: 2**6 = 64
        b"\0" * 6,
        0,  # directory sectors: must be 0 in version 3
        len(fat_sectors),
        dir_start,
        0,  # transaction signature
        MINI_CUTOFF,
        minifat_start if minifat_count else ENDOFCHAIN,
        minifat_count,
        ENDOFCHAIN,  # first DIFAT sector: none
        0,
    )
    head += b"".join(struct.pack("<I", v) for v in difat)
    assert len(head) == SECTOR
    return head


def _dir_entry(e: _Entry) -> bytes:
    name = e.name.encode("utf-16-le") + b"\0\0"
    return struct.pack(
        "<64sHBBIII16sIQQIQ",
        name,
        len(name),
        e.kind,
        e.color,
        e.left,
        e.right,
        e.child,
        b"\0" * 16,  # CLSID
        0,  # state bits
        0,  # creation time: zero keeps the bytes reproducible
        0,  # modified time
        _start(e),
        e.size,
    )


def _start(e: _Entry) -> int:
    if e.kind == _STORAGE:
        return 0  # [MS-CFB] 2.6.3: storages have no data; the field must be zero
    return e.start if e.size else ENDOFCHAIN


def _empty_dir_entry() -> bytes:
    return struct.pack("<64sHBBIII16sIQQIQ", b"", 0, 0, 0, NOSTREAM, NOSTREAM, NOSTREAM, b"\0" * 16, 0, 0, 0, 0, 0)
