"""The Log in memory: entries ⇄ sealed Log rows, appends that check the expected head.

A Journal is what the stores read and write; `append` turns events into Entries with the next seq,
the operator, the time it was recorded (passed in: the core never reads the clock) and the hash chain.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from typing import Iterable
from typing import Optional
from typing import Sequence

from xl_ledger.core import chain
from xl_ledger.core import events as E
from xl_ledger.core.fold import fold
from xl_ledger.core.state import State


def utc_text(moment: dt.datetime) -> str:
    """Whole-second UTC ISO text: every reader gives it back unchanged (see performance-floor notes)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return moment.replace(microsecond=0).isoformat() + "Z"


def entry_to_row(entry: E.Entry) -> tuple:
    cells = E.to_cells(entry.event)
    cells.update(seq=entry.seq, recorded_at=entry.recorded_at, operator=entry.operator, source=entry.source,
                 prev_hash=entry.prev_hash, hash=entry.hash)
    return tuple(cells[c] for c in chain.LOG_COLUMNS)


def row_to_entry(row: Sequence[object]) -> E.Entry:
    """A Log row as the store reads it (seq a number, every other cell text) → an Entry."""
    if type(row[4]) is not str or type(row[1]) is not str:
        row = [row[0]] + [chain.norm(v) for v in row[1:]]  # a reader gave dates, floats or None
    (seq, recorded_at, operator, kind, effective_date, student_id, package_id, session_id, quantity, unit, amount,
     reason_code, note, source, prev_hash, hash_, data) = row
    event = E.from_texts(kind, effective_date, student_id, package_id, session_id, quantity, unit, amount,
                         reason_code, note, data)
    return E.make_entry(int(seq), recorded_at, operator, source, event, prev_hash, hash_, ())


def rows_to_entries(rows: Iterable[Sequence[object]]) -> list[E.Entry]:
    """[row_to_entry(r) for r in rows], faster (events.entries_from_texts)."""
    return E.entries_from_texts(rows, row_to_entry)


class Journal:
    def __init__(self, entries: Iterable[E.Entry] = ()):
        self.entries: list[E.Entry] = list(entries)

    @classmethod
    def from_rows(cls, rows: Iterable[Sequence[object]]) -> "Journal":
        return cls(row_to_entry(r) for r in rows)

    def head(self) -> tuple[int, str]:
        if not self.entries:
            return 0, chain.GENESIS
        last = self.entries[-1]
        return last.seq, last.hash

    def append(self, events: Iterable[E.Event], *, operator: str, recorded_at: dt.datetime,
               sources: Optional[Sequence[str]] = None, key: Optional[bytes] = None) -> list[tuple]:
        """Seal events onto the end of the log; return the new Log rows."""
        seq, prev = self.head()
        when = utc_text(recorded_at)
        rows = []
        entries = self.entries
        make_hash = (lambda payload: hashlib.sha256(payload).hexdigest()) if key is None else \
            (lambda payload: hmac.new(key, payload, hashlib.sha256).hexdigest())
        sep = "\x1f"
        head = sep + when + sep + operator + sep
        for i, event in enumerate(events):
            seq += 1
            source = (sources[i] if sources else "") or ""
            texts = E.to_texts(event)  # kind, effective_date, ids, quantity, unit, amount, reason, note, data
            # The bytes chain.canonical() covers: every column but `hash`, in LOG_COLUMNS order.
            payload = (str(seq) + head + sep.join(texts[:10]) + sep + source + sep + prev + sep + texts[10])
            digest = make_hash(payload.encode("utf-8"))
            rows.append((seq, when, operator, *texts[:10], source, prev, digest, texts[10]))
            entries.append(E.Entry(seq, when, operator, source, event, prev, digest))
            prev = digest
        return rows

    def rows(self) -> list[tuple]:
        return [entry_to_row(e) for e in self.entries]

    def fold(self, as_of: dt.date) -> State:
        return fold(self.entries, as_of)
