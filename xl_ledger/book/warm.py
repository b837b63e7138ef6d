"""FileStore's open Log: the same answers as store.OpenLog, with the checkpoint's fast paths behind them.

The checkpoint (book/checkpoint.py; DECISIONS.md 2026-11-21) saves re-reading what the last post knew:
- its verified Log rows are used only when the Log part is byte-for-byte the one they came from, or
  when the Log, read and verified in full (an edited Log still stops the post), ends in the checkpoint's
  head after as many rows (a re-save by Excel or LibreOffice: then no rows are built from the workbook);
- an engine sheet whose part is untouched since the engine wrote it and whose new body is the same is
  not rewritten (and, untouched, cannot hold typed-over cells); one that changed keeps the bytes of its
  unchanged rows (Change.keep);
- Sessions rows with the same raw cells as at the last post reuse their parse, and a Sessions part
  byte-for-byte as last read (every row clean) is not read at all; while nothing this post appended
  matters to it, the last post's Sessions answer is taken as it is (see `sessions`), also for a re-saved
  part whose every row reads as the last post read it (`_as_last_read`).
The checkpoint is MAC'd (owner key or a per-user secret), written only after the commit succeeded, and
ignored whenever anything about it does not check out. Nothing outside this module and checkpoint.py
knows it exists: the pipeline only sees the OpenLog methods.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Optional
from typing import Sequence

from xl_ledger.book import checkpoint
from xl_ledger.book.store import BrokenChainError
from xl_ledger.book.store import Change
from xl_ledger.book.store import OpenLog
from xl_ledger.book.store import SheetData
from xl_ledger.book.store import check_log_row
from xl_ledger.core import chain
from xl_ledger.core.errors import Problem
from xl_ledger.core.errors import Source
from xl_ledger.core.journal import rows_to_entries

# Events that change what diff_sessions compares a row with (the students, the logged sessions, the
# closed period). Settings and products do not.
_SESSION_INPUTS = {"student_set", "session_recorded", "session_changed", "period_close", "period_reopen"}

_DMY = "<date_order=dmy>"  # marks a Sessions parse cache made with text dates read day-first


class CheckpointedLog(OpenLog):
    """A FileStore's Log, verified: from the checkpoint when it is current, else read in full."""

    def __init__(self, store, key: Optional[bytes], cold: bool = False):
        self.store, self.name, self.key = store, store.name, key
        self.digests: dict[str, str] = store.part_digests()
        # cold (`recompute --cold`): the checkpoint is not believed at all; the commit replaces it.
        self.cp: Optional[checkpoint.Checkpoint] = None if cold else checkpoint.load(store.path, key)
        # The checkpoint describes this very Log: its digest covers every cell the rows are read from.
        self.current = self.cp is not None and self.cp.log == self.digests.get("Log")
        self._rows: Optional[list[tuple]] = None
        if self.current:
            self.head = (int(self.cp.head[0]), str(self.cp.head[1]))  # rows unpickled only if asked for
        else:
            # Excel or LibreOffice saved the file: other bytes, maybe the same Log. A verified chain that
            # ends in the checkpoint's head, with as many rows, is the checkpoint's Log (each hash covers
            # its row and the hash before it), so what the checkpoint says about the Log still holds, and
            # its rows are these rows: the store then builds none (entries() decodes the checkpoint's).
            cp = self.cp
            known = ((int(cp.head[0]), str(cp.head[1])), sum(cp.log_counts)) if cp is not None else None
            rows, broken = store.read_verified_log(key, known)
            if broken is not None:
                raise BrokenChainError(store.name, broken)
            self._rows = rows
            if rows is None:
                self.current, self.head = True, known[0]
            else:
                self.head = (rows[-1][chain.SEQ], rows[-1][chain.HASH]) if rows else (0, chain.GENESIS)
                self.current = cp is not None and tuple(cp.head) == self.head and sum(cp.log_counts) == len(rows)
        self._entries: Optional[list] = None
        # Once decoded: the rows as checkpoint pieces (with their row counts). The next checkpoint is
        # these pieces plus the new rows', so the rows themselves are dropped (a million of them is GBs).
        self.blobs: Optional[list[bytes]] = None
        self.counts: Optional[list[int]] = None
        self._previous: dict = {}  # sheet -> the checkpoint's body for it, unpickled
        # What the next checkpoint says of Sessions: (parse cache, Excel rows of a clean parse, outcome).
        # Unless this post reads Sessions, what the checkpoint says, while the sheet is still that one.
        cp = self.cp
        rows_of = cp.sessions_rows[1] if cp is not None and cp.sessions_rows \
            and cp.sessions_rows[0] == self.digests.get("Sessions") else None
        self._sessions_next = (cp.sessions if cp is not None else None, rows_of, None)

    # ------------------------------------------------------------------------------ the Log
    def entries(self) -> list:
        """Decoded once. From the checkpoint a piece at a time, so that its rows are never all held at
        once; rows read from the workbook are packed into pieces for the next checkpoint and let go."""
        if self._entries is not None:
            return self._entries
        out: list = []
        if self._rows is None:  # the checkpoint's rows: the Log part is the one they were read from
            for blob in self.cp.log_blobs:
                out += rows_to_entries(checkpoint.unpack(blob))
        else:
            out = rows_to_entries(self._rows)
        if self.current:  # the same rows: the next checkpoint keeps these pieces as they are
            self.blobs, self.counts = list(self.cp.log_blobs), list(self.cp.log_counts)
        else:
            self.blobs, self.counts = checkpoint.pack_rows(self._rows)
        self._rows = None
        self._entries = out
        return out

    def timezone(self) -> Optional[str]:
        return self.cp.timezone if self.current else None

    def untouched(self) -> frozenset[str]:
        if self.cp is None:
            return frozenset()
        return frozenset(name for name, (_fp, digest) in self.cp.sheets.items() if self.digests.get(name) == digest)

    def up_to_date(self, as_of: dt.date) -> bool:
        from xl_ledger.book import render

        return self.current and self.cp.recomputed == as_of and self.untouched() >= set(render.SHEETS)

    # ---------------------------------------------------------------------------- Sessions
    def sessions(self, day_first: bool, appended: Sequence[tuple], diff) -> tuple:
        cp = self.cp
        # The Sessions part (with every part its values are read through) is byte-for-byte the one read at
        # the last post, when every row parsed cleanly: its cached parse is the sheet's, so it is not read.
        same = bool(cp is not None and cp.sessions and cp.sessions_rows
                    and cp.sessions_rows[0] == self.digests.get("Sessions") and _dmy(cp.sessions[0]) == day_first)
        sheet = SheetData(self.name, "Sessions", _headers(cp.sessions[0]), ()) if same else None
        outcome = self._outcome_as_last_time(day_first, appended) if same else None
        more: list[Problem] = []
        if outcome is not None:
            pairs, problems, notices = [], [], outcome
            cache, rows = cp.sessions, cp.sessions_rows[1]
        else:
            cached = self._cached_sessions() if same else None
            if cached is not None:
                parsed, problems, cache, rows = cached, [], cp.sessions, cp.sessions_rows[1]
            else:
                sheet = self.read_sheet("Sessions")
                parsed, problems, cache, rows = _read_sessions(sheet, cp, day_first)
                if self._as_last_read(cache, rows):  # other bytes (saved by another program), the same cells
                    outcome = self._outcome_as_last_time(day_first, appended)
            if outcome is not None:
                pairs, notices = [], outcome
            else:
                pairs, more, notices = diff(parsed)
        # What the next post may take as this one's answer (see _outcome_as_last_time).
        clean = None if problems or more or rows is None else \
            (day_first, None, [(p.message, p.remedy) for p in notices if p.source.row is None])
        self._sessions_next = (cache, rows, clean)
        return SheetData(self.name, "Sessions", sheet.headers, ()), pairs, problems + more, notices

    def _outcome_as_last_time(self, day_first: bool, appended: Sequence[tuple]) -> Optional[list[Problem]]:
        """diff_sessions' answer without parsing or diffing a row, when it is known: the notices to show again.

        After a post whose Sessions diff rejected no row, every row matches the Log: it already did, or its
        event was appended. So while the Log is still exactly that post's (the checkpoint is current), the
        Sessions sheet is byte-for-byte the same, dates are read the same way and this post has appended
        nothing that diff_sessions compares with, the diff gives no event and no problem, and the same
        notices of deleted rows (a row's own notices come only with its events).

        The date does not matter, so the first post of a new day skips the diff too: diff_sessions reads
        `today` and the closed period only for a row that makes an event, and what it compares rows with
        (students, every logged session, the close) is in the catalog whatever its as-of date."""
        cp = self.cp
        if not self.current or cp.sessions_outcome is None:
            return None
        was_day_first, _was_as_of, notices = cp.sessions_outcome
        if was_day_first != day_first:
            return None
        if any(row[chain.COL["kind"]] in _SESSION_INPUTS for row in appended):
            return None
        return [Problem(Source("Sessions", None, None), message, remedy) for message, remedy in notices]

    def _as_last_read(self, cache, rows: Optional[list[int]]) -> bool:
        """The Sessions sheet just read holds what the last post read, cell for cell, though its part has other
        bytes (Excel or LibreOffice saved the file): _read_sessions found every row's raw values in the
        checkpoint's parse cache, each its own, in the cache's order (so it kept the cache's bytes), and they
        sit at the Excel rows the checkpoint lists. That is the sheet an unchanged part would give, so what
        the last post concluded from it may be taken as for an unchanged part (_outcome_as_last_time)."""
        cp = self.cp
        return bool(cp is not None and cp.sessions and cp.sessions_rows and rows is not None
                    and cache[1] is cp.sessions[1] and tuple(cache[0]) == tuple(cp.sessions[0])
                    and rows == list(cp.sessions_rows[1]))

    def _cached_sessions(self) -> Optional[list]:
        """The unchanged Sessions sheet's rows, parsed, from the checkpoint; None if they cannot be loaded."""
        cp = self.cp
        row_nos = cp.sessions_rows[1]
        try:
            cache = checkpoint.unpack_map(cp.sessions[1])
        except Exception:  # pickle raises many types on a blob it cannot read
            return None
        if not isinstance(cache, dict) or len(cache) != len(row_nos):
            return None
        return list(zip(row_nos, cache.values()))

    # ------------------------------------------------------------------------------ commit
    def commit(self, change: Change, *, dry_run: bool = False, recomputed: Optional[dt.date] = None,
               timezone: Optional[str] = None) -> Change:
        """Sheets already holding their new body are left out, the others carry a keep hint; then the
        commit, and (only once the workbook is safely written) the new checkpoint."""
        packed = self._pack(change.sheets)
        same = self.untouched()
        rewrite = {name: rows for name, rows in change.sheets.items()
                   if name in change.relayout
                   or not (name in same and name in packed and self.cp.sheets[name][0] == packed[name][1])}
        change = replace(change, sheets=rewrite, keep={} if dry_run else self._keep(rewrite, change.page_headers,
                                                                                   packed))
        if dry_run:
            return change
        store = self.store
        if change.log_rows or change.sheets or change.cells:
            store.commit(change)
            digests = store.committed
        else:
            digests = self.digests  # nothing to write: the file is as it was read
        if not digests or "Log" not in digests or self.blobs is None:
            return change  # the Log was not decoded: nothing to save it from
        new_rows = [check_log_row(r, store.name) for r in change.log_rows]
        # The rows as read, as checkpoint pieces, plus the new rows'.
        more, more_counts = checkpoint.pack_rows(new_rows)
        blobs, counts = checkpoint.compact(self.blobs + more, self.counts + more_counts)
        head = (new_rows[-1][chain.SEQ], new_rows[-1][chain.HASH]) if new_rows else tuple(self.head)
        sheets = {name: (fp, digests[name]) for name, (_blocks, fp, _same) in packed.items() if name in digests}
        # The parts' deflate segments: as this commit wrote them, or as the checkpoint has them for a part
        # it left as it was.
        written = getattr(store, "committed_segments", None) or {}
        segments = {name: (digests[name], *written[name]) for name in written if name in digests}
        for name, known in (self.cp.segments if self.cp is not None else {}).items():
            if name not in segments and digests.get(name) == known[0]:
                segments[name] = known
        bodies = {name: packed[name][0] for name in sheets}
        # The Sessions rows as read are still the sheet's only if its part (and what it is read through) is
        # the one read, before this commit, and still is after it.
        cache, rows, outcome = self._sessions_next
        still = rows is not None and digests.get("Sessions") is not None \
            and digests.get("Sessions") == self.digests.get("Sessions")
        if timezone is None and self.current:
            timezone = self.cp.timezone
        checkpoint.save(store.path, self.key, previous=self.cp, cp=checkpoint.Checkpoint(
            log=digests["Log"], head=head, log_blobs=blobs, log_counts=counts, sheets=sheets,
            body_block=checkpoint.BODY_BLOCK, bodies=bodies, segments=segments, recomputed=recomputed,
            timezone=timezone, sessions=cache,
            sessions_rows=(digests["Sessions"], rows) if still else None,
            sessions_outcome=outcome if still else None))
        return change

    def _previous_body(self, sheet: str) -> Optional[checkpoint.Body]:
        """The body the engine last wrote to `sheet` (each block unpickled once, when read), or None."""
        if self.cp is None:
            return None
        if sheet not in self._previous:
            self._previous[sheet] = self.cp.body(sheet)
        return self._previous[sheet]

    def _pack(self, body) -> dict[str, tuple[list[bytes], str, frozenset[int]]]:
        """Each sheet's body as checkpoint blocks with its fingerprint, and which blocks are the last body's.
        Blocks equal to the last body's are its bytes again, so an unchanged body keeps its fingerprint."""
        if not self.digests:
            return {}
        out = {}
        for name, rows in body.items():
            previous = self._previous_body(name)
            before = self.cp.bodies.get(name, ()) if previous is not None else ()
            try:
                blocks = checkpoint.pack_body(rows, previous, before)
            except Exception:  # a block of the last body that cannot be unpickled: that body is not used
                self._previous[name], before = None, ()
                blocks = checkpoint.pack_body(rows)
            # pack_body gives back the very bytes object of a block it found unchanged
            same = frozenset(k for k, (new, old) in enumerate(zip(blocks, before)) if new is old)
            out[name] = (blocks, checkpoint.body_fingerprint(blocks), same)
        return out

    def _keep(self, sheets, page_headers=(), packed=None) -> dict[str, tuple]:
        """Change.keep for the sheets to rewrite: the body each untouched part holds and the deflate
        segments it was written as, so that the store writes only the rows that differ from it and copies
        the segments of blocks that did not change (with the blocks _pack found unchanged, when they are
        cut as the segments are: not compared twice); and for a sheet whose page header alone changes, the
        segments (only the last, which holds the header, is written again)."""
        same = self.untouched()
        out = {}
        for name in sheets:
            body = self._previous_body(name) if name in same else None
            if body is None:
                continue
            if packed and name in packed:
                # The store reads only the blocks that changed, which _pack has unpickled already.
                unchanged = (checkpoint.BODY_BLOCK, packed[name][2])
            else:
                unchanged = None
                try:
                    body = list(body)  # the store compares every block: each one unpickled here
                except Exception:  # pickle raises many types on a blob it cannot read
                    continue
            out[name] = (self.digests[name], body, self._segments(name), unchanged)
        for name in page_headers:
            if name not in sheets and name in same and self._segments(name) is not None:
                out[name] = (self.digests[name], None, self._segments(name))
        return out

    def _segments(self, sheet: str) -> Optional[tuple[int, list]]:
        """(rows per segment, segments) of the part as it is, if the checkpoint has them for its digest."""
        known = self.cp.segments.get(sheet) if self.cp is not None else None
        if not known or known[0] != self.digests.get(sheet):
            return None
        return known[1], known[2]


def _cache_key(headers: tuple, day_first: bool) -> tuple:
    return tuple(headers) + ((_DMY,) if day_first else ())


def _dmy(key: tuple) -> bool:
    return bool(key) and key[-1] == _DMY


def _headers(key: tuple) -> tuple:
    return tuple(key[:-1]) if _dmy(key) else tuple(key)


def _read_sessions(sheet: SheetData, cp: Optional[checkpoint.Checkpoint], day_first: bool = False):
    """inputs.read_sessions, except that a row whose raw values parsed cleanly at the last post reuses
    that parse (a row's parse depends on its own cells only). Duplicate ids and deleted rows are found
    later, by diff_sessions over every row, so they are caught as before. Returns (parsed, problems,
    the cache for the next checkpoint, the Excel rows of a clean parse or None)."""
    from xl_ledger.core import inputs

    headers = sheet.headers
    key = _cache_key(headers, day_first)
    blob = cp.sessions[1] if cp is not None and cp.sessions and tuple(cp.sessions[0]) == key else None
    try:
        cache = checkpoint.unpack_map(blob) if blob else {}
    except Exception:  # pickle raises many types on a blob it cannot read: parse every row instead
        cache, blob = {}, None
    width = len(headers)
    known, todo, keys = [], [], {}
    for row_no, values in sheet.rows:
        raw = tuple(values) + (None,) * (width - len(values))
        k = raw if bool not in map(type, raw) else ("bool",) + tuple(repr(v) if type(v) is bool else v for v in raw)
        # ^ True == 1 as a dict key, but not as a cell: a row holding a bool gets a key that says so
        keys[row_no] = k
        try:
            hit = cache.get(k)
        except TypeError:  # an unhashable value: parse it
            hit = None
        if hit is not None:
            known.append((row_no, hit))
        else:
            todo.append((row_no, raw))
    # Parsed a slice at a time (a row's parse depends on its own cells), so that a first post of a
    # big Sessions sheet does not hold a dict of every row besides the parsed rows.
    parsed, problems = [], []
    for i in range(0, len(todo), checkpoint.MAP_CHUNK):
        more, bad = inputs.read_sessions([(r, dict(zip(headers, raw))) for r, raw in todo[i:i + checkpoint.MAP_CHUNK]],
                                         day_first)
        parsed += more
        problems += bad
    del todo
    merged = sorted(known + parsed, key=lambda item: item[0])
    fresh = {keys[r]: s for r, s in merged}
    # Each cached parse's Excel row, in the cache's order: lets the next post skip reading an unchanged
    # sheet. Only when every row parsed and no two rows share their raw values.
    rows = [r for r, _s in merged] if not problems and len(fresh) == len(merged) else None
    if blob and not parsed and len(fresh) == len(cache):
        if rows is not None and list(cache) != list(fresh):
            rows = None  # the cache is in another order (rows moved): keep its bytes, but no row list
        return merged, problems, (key, blob), rows  # every row as last time: the same bytes will do
    return merged, problems, (key, checkpoint.pack_map(fresh)), rows
