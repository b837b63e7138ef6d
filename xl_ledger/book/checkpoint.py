"""A sidecar cache beside the workbook, so a post need not re-read and re-verify the whole Log.

`.<workbook name>.xl-ledger-checkpoint` holds what the last successful post/recompute knew:
  log      digest of the Log part as stored in the zip (FileStore.part_digests), and the Log rows it
           decodes to — already verified — with their head (seq, hash), pickled in pieces of LOG_CHUNK
           rows that are unpickled one at a time when needed (a post adds pieces for its own rows;
           `compact` merges the short ones)
  sheets   engine sheet -> (fingerprint of the body written, digest of the part as written)
  bodies   engine sheet -> the body written, pickled in blocks of BODY_BLOCK rows: a rewrite keeps the XML
           of rows that did not change, and the next save re-pickles only the blocks that did
  segments engine sheet -> (digest of the part as written, rows per segment, its deflate segments): the
           next commit copies the stored bytes of the segments whose rows did not change (xlsx/segments.py)
  recomputed  the as_of when the engine sheets are exactly `recompute`'s output for this Log, else None
  timezone the studio's time zone at the head (what `recompute` needs to know today's date)
  sessions (headers, {raw Sessions row values: parsed Session}) for rows that parsed cleanly, pickled
           separately so an unchanged Sessions sheet is saved again without re-pickling it
  sessions_rows  (digest of the Sessions part with the parts its values are read through, the Excel row
           of each cached parse in order) when every row parsed cleanly: while the digest holds, a post
           takes the parse as it is and does not read the sheet (diff_sessions still checks every row)

It is a cache, never an authority (see DECISIONS.md, 2026-11-21):
- It is only used when its HMAC checks out. The MAC key is the owner key when one is used, else a
  random secret in the user's own config folder (`~/.xl-ledger/checkpoint.secret`, mode 0600): someone
  who can write the workbook's folder but is not this user (or lacks the owner key) cannot make one.
  Without either, no checkpoint is read or written.
- The MAC is checked before anything is unpickled, and the unpickler only knows a handful of value
  classes (dates, Decimal, the parsed Session), so even a checkpoint that got past the MAC cannot run code.
- Every use is keyed by digests of the workbook's own bytes: the Log rows are reused only when the
  Log part is byte-for-byte the one they were decoded from (SHA-256 over the stored member); a sheet is
  skipped only when its part is byte-for-byte what the engine wrote. Anything else → the full path.
- It is written (atomically, temp + rename) only after the workbook commit succeeded; a stale, torn or
  foreign checkpoint is ignored, so deleting it is always safe.
- Its big pickled pieces live in files of their own beside it (`pieces_for`), named by their SHA-256 and
  checked against it when read; a post writes only the pieces that are new and removes those no longer
  named. A piece missing or altered makes the checkpoint unusable, like a wrong MAC.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import io
import os
import pickle
import shutil
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from pathlib import Path
from collections.abc import Sequence
from typing import Optional

from xl_ledger.xlsx.sheet import same_rows

MAGIC = b"xl-ledger-checkpoint/7\n"  # 7: big pieces in files of their own (pieces_for)
_ALLOWED = {("datetime", "date"), ("datetime", "time"), ("datetime", "datetime"), ("datetime", "timezone"),
            ("datetime", "timedelta"), ("decimal", "Decimal"), ("xl_ledger.core.inputs", "Session"),
            ("xl_ledger.core.inputs", "session_from_values"),
            # statuses and kinds in the engine sheets' bodies (xl_ledger/core/kinds.py): plain values
            ("xl_ledger.core.kinds", "PackageStatus"), ("xl_ledger.core.kinds", "SessionStatus"),
            ("xl_ledger.core.kinds", "AllocationState"), ("xl_ledger.core.kinds", "LotKind"),
            ("xl_ledger.core.kinds", "AlertKind")}


@dataclass
class Checkpoint:
    log: str  # FileStore.part_digests()["Log"]
    head: tuple[int, str]
    log_blobs: list[bytes]  # the Log rows in order, verified with the key this checkpoint is MACed with
    log_counts: list[int]  # the number of rows in each of log_blobs
    sheets: dict[str, tuple[str, str]] = field(default_factory=dict)  # sheet -> (body fingerprint, part digest)
    bodies: dict[str, list[bytes]] = field(default_factory=dict)  # sheet -> pack_body(body as written)
    body_block: int = 0  # the BODY_BLOCK the bodies were cut with (a block is reused only at the same size)
    # sheet -> (part digest, rows per segment, [(csize, usize, crc, crc shift)] per segment), for the part
    # with that digest only
    segments: dict[str, tuple[str, int, list[tuple[int, int, int, int]]]] = field(default_factory=dict)
    recomputed: Optional[dt.date] = None
    timezone: Optional[str] = None
    sessions: Optional[tuple[tuple[str, ...], list[bytes]]] = None  # headers, pack_map({raw row: Session})
    # When every Sessions row parsed cleanly and each had its own raw values: the digest of the Sessions
    # part (with the parts its values are read through) and the Excel row of each entry of `sessions`,
    # in order. While that digest holds, the sheet is the same, so its parse is the cached one as it is.
    sessions_rows: Optional[tuple[str, list[int]]] = None
    # While sessions_rows holds and the post that made it rejected no Sessions row: (day_first, as_of, its
    # notices of deleted rows as (message, remedy)). See post._sessions_outcome_as_last_time.
    sessions_outcome: Optional[tuple[bool, dt.date, list[tuple[str, str]]]] = None


    def body(self, sheet: str) -> Optional["Body"]:
        """The body the engine last wrote to `sheet`, unpickled as it is read; None if it cannot be."""
        blocks = self.bodies.get(sheet)
        if not isinstance(blocks, list) or not all(type(b) is bytes for b in blocks):
            return None
        try:
            return Body(blocks, self.body_block)
        except Exception:  # pickle raises many types on a blob it cannot read
            return None


class Body(Sequence):
    """An engine sheet's body as the checkpoint holds it (pickled blocks of `block` rows), unpickled a block
    at a time as its rows are asked for: a post that changed a few rows of a 400k-row Allocations unpickles
    a few blocks, not the sheet. A block that cannot be unpickled raises pickle.UnpicklingError (or
    whatever the unpickler raises) when it is first read."""

    def __init__(self, blocks: list[bytes], block: int):
        self.blocks, self.block = blocks, block
        self._rows: dict[int, list] = {}
        self._len = (len(blocks) - 1) * block + len(self.rows_of(len(blocks) - 1)) if blocks else 0

    def rows_of(self, k: int) -> list:
        rows = self._rows.get(k)
        if rows is None:
            rows = unpack(self.blocks[k])
            if not isinstance(rows, list) or (k < len(self.blocks) - 1 and len(rows) != self.block):
                raise pickle.UnpicklingError(f"body block {k} is not {self.block} rows")
            self._rows[k] = rows
        return rows

    def __len__(self) -> int:
        return self._len

    def __getitem__(self, i):
        if isinstance(i, slice):
            start, stop, step = i.indices(self._len)
            if step != 1:
                return [self[j] for j in range(start, stop, step)]
            out: list = []
            while start < stop:
                k, r = divmod(start, self.block)
                part = self.rows_of(k)[r:r + stop - start]
                if not part:
                    break
                out += part
                start += len(part)
            return out
        if i < 0:
            i += self._len
        if not 0 <= i < self._len:
            raise IndexError(i)
        k, r = divmod(i, self.block)
        return self.rows_of(k)[r]


LOG_CHUNK = 65_536  # rows per pickled piece of the Log: pickling a million rows at once briefly took 2x
MAX_LOG_BLOBS = 16  # past this many pieces smaller than LOG_CHUNK, the small ones are merged


def pack_rows(rows: Sequence[tuple]) -> tuple[list[bytes], list[int]]:
    """Log rows as pickled pieces of LOG_CHUNK rows, and the count in each."""
    pieces = [rows[i:i + LOG_CHUNK] for i in range(0, len(rows), LOG_CHUNK)]
    return [pack(list(p)) for p in pieces], [len(p) for p in pieces]


def compact(blobs: list[bytes], counts: list[int]) -> tuple[list[bytes], list[int]]:
    """Each post adds a small piece; once more than MAX_LOG_BLOBS pieces are short of LOG_CHUNK rows,
    everything from the first short piece on is packed again (those rows only, never the whole Log)."""
    short = [i for i, n in enumerate(counts) if n < LOG_CHUNK]
    if len(short) <= MAX_LOG_BLOBS:
        return blobs, counts
    first = short[0]
    more, more_counts = pack_rows(unpack_pieces(blobs[first:]))
    return blobs[:first] + more, counts[:first] + more_counts


def path_for(workbook: Path) -> Path:
    return workbook.with_name(f".{workbook.name}.xl-ledger-checkpoint")


def secret_dir() -> Path:
    return Path(os.environ.get("XL_LEDGER_HOME") or Path.home() / ".xl-ledger")


def _local_secret() -> Optional[bytes]:
    """This user's random checkpoint secret, created on first use; None when it cannot be kept safely."""
    path = secret_dir() / "checkpoint.secret"
    try:
        return _read_secret(path)
    except FileNotFoundError:
        pass
    except OSError:
        return None
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(os.urandom(32))
    except FileExistsError:
        pass  # another process made it meanwhile
    except OSError:
        return None
    try:
        return _read_secret(path)
    except OSError:
        return None


def _read_secret(path: Path) -> Optional[bytes]:
    st = path.stat()
    if os.name == "posix" and (st.st_mode & 0o077 or st.st_uid != os.getuid()):
        return None  # readable or owned by someone else: it proves nothing
    data = path.read_bytes()
    return data if len(data) >= 32 else None


def _mac_key(key: Optional[bytes]) -> Optional[bytes]:
    base = key if key is not None else _local_secret()
    return None if base is None else hmac.new(base, b"xl-ledger checkpoint mac", hashlib.sha256).digest()


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a checkpoint")
        return super().find_class(module, name)


def load(workbook: Path, key: Optional[bytes], pieces: bool = True) -> Optional[Checkpoint]:
    """The checkpoint beside `workbook` if it is genuine (MAC) and readable; else None. `pieces=False`:
    without reading its pieces (log_blobs, bodies and sessions then hold references, not bytes): for what
    the checkpoint file itself says, such as the head (anchors.py)."""
    mac_key = _mac_key(key)
    if mac_key is None:
        return None
    try:
        data = path_for(workbook).read_bytes()
    except OSError:
        return None
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + 32:
        return None
    # The payload is read in place (a view, and a BytesIO sharing the bytes): at a million Log rows it
    # is hundreds of MB, and a copy of it would be the post's peak of memory.
    start = len(MAGIC) + 32
    mac = data[len(MAGIC):start]
    if not hmac.compare_digest(mac, hmac.new(mac_key, memoryview(data)[start:], hashlib.sha256).digest()):
        return None
    try:
        stream = io.BytesIO(data)
        stream.seek(start)
        fields = _Unpickler(stream).load()
        del data, stream
        cp = Checkpoint(**fields)
        if len(cp.log_blobs) != len(cp.log_counts):
            return None
        if cp.body_block != BODY_BLOCK:
            cp.bodies = {}  # cut another way: pack_body must not take them for this cut's blocks
        if pieces:
            names: dict[int, str] = {}
            _each_piece(cp, lambda piece: _fetch(workbook, piece, names))
            cp.blob_names = names
    except Exception:  # a checkpoint from another version, or a piece missing or not as named: ignore it
        return None
    return cp


def save(workbook: Path, key: Optional[bytes], cp: Checkpoint, previous: Optional[Checkpoint] = None) -> None:
    """Write the checkpoint atomically. Best effort: a cache that cannot be written is no error.

    Its big pieces (Log pieces, body blocks, the Sessions cache) go to files of their own named by their
    SHA-256 (pieces_for), written only when new; the checkpoint file names them. `previous`: the
    checkpoint this one was made from, whose pieces (the very bytes objects) need no hashing again."""
    mac_key = _mac_key(key)
    if mac_key is None:
        return
    known = getattr(previous, "blob_names", {}) if previous is not None else {}
    folder = pieces_for(workbook)
    named: dict[str, bytes] = {}
    try:
        cp = replace(cp, **_each_piece(cp, lambda piece: _stash(folder, piece, known, named), rebuild=True))
    except OSError:
        return
    target = path_for(workbook)
    # Named like the store's own temp files, so the next commit (under the lock) removes one left by a
    # killed process.
    tmp = workbook.with_name(f".~xl-ledger.{workbook.name}.{os.getpid()}.checkpoint.tmp")
    try:
        with open(tmp, "wb") as f:
            # Pickled straight into the file (its blobs are written as they are) with the MAC taken on
            # the way, then the MAC put in its place: at a million Log rows the payload is hundreds of
            # MB, and pickling it to bytes first made the post's peak of memory.
            f.write(MAGIC + bytes(32))
            signed = _Signing(f, hmac.new(mac_key, digestmod=hashlib.sha256))
            pickle.Pickler(signed, protocol=5).dump(cp.__dict__)
            f.seek(len(MAGIC))
            f.write(signed.mac.digest())
        os.replace(tmp, target)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        return
    # Pieces no checkpoint names any more (a block that changed, Log pieces merged): removed, and the folder
    # with them when none is named (a small workbook's checkpoint has no piece big enough). A reader that
    # still holds the previous checkpoint file and misses one of them only finds it unusable (cold path).
    if not named:
        shutil.rmtree(folder, ignore_errors=True)
        return
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        for entry in entries:
            if entry.name not in named:
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)


PIECE = 16_384  # bytes: a pickled piece at least this long is a file of its own (smaller ones stay inline)
_REF = "xl-ledger-piece"  # (_REF, sha256 hex) stands for a piece kept in its own file


def pieces_for(workbook: Path) -> Path:
    """The folder beside the workbook holding the checkpoint's big pieces, one file per piece, named by
    its SHA-256: a post writes only the pieces that are new (at a million Log rows, a few MB instead of the
    200 MB checkpoint), and the checkpoint file (MACed) names them, so each is checked by its hash."""
    return workbook.with_name(f".{workbook.name}.xl-ledger-pieces")


def _each_piece(cp: Checkpoint, f, rebuild: bool = False) -> dict:
    """f(piece) for every pickled piece of `cp` (Log pieces, body blocks, Sessions cache pieces), in
    place; with `rebuild`, the fields with f's results instead, for dataclasses.replace (cp untouched)."""
    log_blobs = [f(b) for b in cp.log_blobs]
    bodies = {name: [f(b) for b in blocks] for name, blocks in cp.bodies.items()}
    sessions = (cp.sessions[0], [f(b) for b in cp.sessions[1]]) if cp.sessions else cp.sessions
    fields = {"log_blobs": log_blobs, "bodies": bodies, "sessions": sessions}
    if not rebuild:
        for name, value in fields.items():
            setattr(cp, name, value)
    return fields


def _stash(folder: Path, piece, known: dict[int, str], named: dict[str, bytes]):
    """A big piece written to its file (unless it is there already), and its reference."""
    if type(piece) is not bytes or len(piece) < PIECE:
        return piece
    name = known.get(id(piece)) or hashlib.sha256(piece).hexdigest()
    if name not in named:
        named[name] = piece
        target = folder / name
        if not target.exists():
            folder.mkdir(exist_ok=True)
            tmp = folder / f"{name}.{os.getpid()}.tmp"
            try:
                tmp.write_bytes(piece)
                os.replace(tmp, target)
            except OSError:
                with contextlib.suppress(OSError):
                    tmp.unlink()
                raise
    return (_REF, name)


def _fetch(workbook: Path, piece, names: dict[int, str]):
    """A reference's piece, read from its file and checked against its name (its SHA-256)."""
    if type(piece) is not tuple:
        return piece
    tag, name = piece
    if tag != _REF or len(name) != 64:
        raise pickle.UnpicklingError("not a piece reference")
    data = (pieces_for(workbook) / name).read_bytes()
    if hashlib.sha256(data).hexdigest() != name:
        raise pickle.UnpicklingError(f"piece {name} does not hold what the checkpoint names")
    names[id(data)] = name
    return data


def copy(workbook: Path, to: Path) -> None:
    """The checkpoint of `workbook` beside `to` (a copy of the workbook): its file and its pieces."""
    shutil.copyfile(path_for(workbook), path_for(to))
    if pieces_for(workbook).is_dir():  # none when no piece was big enough
        shutil.copytree(pieces_for(workbook), pieces_for(to), dirs_exist_ok=True)


class _Signing:
    """A write-only file that MACs what goes through it."""

    def __init__(self, f, mac):
        self.f = f
        self.mac = mac

    def write(self, data) -> int:
        self.mac.update(data)
        return self.f.write(data)


def pack(obj: object) -> bytes:
    """A part of the checkpoint pickled on its own, so an unchanged part is saved again as the same bytes
    (re-pickling 50k parsed Sessions rows would cost more than the post saves)."""
    return pickle.dumps(obj, protocol=5)


MAP_CHUNK = 50_000  # entries per pickled piece of a big mapping (the Sessions parse cache)


def pack_map(mapping: dict) -> list[bytes]:
    """A big dict pickled in pieces: one pickle of half a million parsed Sessions rows briefly took
    twice its size in memory."""
    items = list(mapping.items())
    return [pack(dict(items[i:i + MAP_CHUNK])) for i in range(0, len(items), MAP_CHUNK)]


def unpack_map(blobs: Sequence[bytes]) -> dict:
    out: dict = {}
    for blob in blobs:
        part = unpack(blob)
        if not isinstance(part, dict):
            raise pickle.UnpicklingError("not a piece of a mapping")
        out.update(part)
    return out


def unpack_pieces(blobs: Sequence[bytes]) -> list:
    """The lists pickled in `blobs`, one after the other (Log pieces, body blocks)."""
    out: list = []
    for blob in blobs:
        out += unpack(blob)
    return out


def unpack(blob: bytes) -> object:
    """Only ever called on a blob from a checkpoint whose MAC was checked."""
    return _Unpickler(io.BytesIO(blob)).load()


def discard(workbook: Path) -> None:
    with contextlib.suppress(OSError):
        path_for(workbook).unlink()
    shutil.rmtree(pieces_for(workbook), ignore_errors=True)


# Rows per pickled block of an engine sheet's body: xlsx.sheet.SEGMENT_ROWS, so that a block found unchanged
# here is a deflate segment the store copies without comparing its rows again (book/warm.py).
BODY_BLOCK = 512


def pack_body(rows: Sequence[tuple], previous: Optional[Sequence[tuple]] = None,
              previous_blocks: Sequence[bytes] = ()) -> list[bytes]:
    """The body as pickled blocks of BODY_BLOCK rows. A block whose rows are the same values of the same
    types as that block of `previous` (whose blocks are `previous_blocks`) is those bytes again, so an
    unchanged body keeps its fingerprint. A block that pickles to the very bytes it had is the same rows
    (a pickle spells out each value and type), so `previous` (a Body) is unpickled only for blocks whose
    bytes differ: after a post most of a big sheet is where it was and pickles as it did."""
    out = []
    for k, i in enumerate(range(0, len(rows), BODY_BLOCK)):
        block = rows[i:i + BODY_BLOCK]
        data = pack(block if type(block) is list else list(block))
        if previous is not None and k < len(previous_blocks) and (
                data == previous_blocks[k] or same_rows(previous[i:i + BODY_BLOCK], block)):
            out.append(previous_blocks[k])
        else:
            out.append(data)
    return out


def body_fingerprint(blocks: Sequence[bytes]) -> str:
    """A digest of a body by value, from its blocks: a pickle spells out each cell's type and value
    (a Decimal with its exponent), so different rows never give the same blocks. Equal rows may pickle
    differently (shared objects are memoised), which only costs a rewrite."""
    h = hashlib.sha256()
    for blob in blocks:
        h.update(hashlib.sha256(blob).digest())
    return "b1:" + h.hexdigest()


__all__ = ["Checkpoint", "body_fingerprint", "discard", "load", "pack_body", "pack_map", "path_for", "save",
           "unpack_map"]
