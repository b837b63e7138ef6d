"""Seal an import's events onto the Log: the same rows and chain as `Journal.append`, built faster.

An import appends tens of thousands of SessionRecorded events that differ only in ids, dates and a
few repeated values. `Journal.append` builds every row through `events.to_cells` (a dict, a JSON
dump) and `chain.row_hash`; here a SessionRecorded row is built directly from its fields and the
texts that repeat (dates, quantities, the `data` JSON of each (status, minutes, …)) are converted
once, each by the core's own functions. Every other kind goes through `journal.entry_to_row`.

The result must be byte-identical to `Journal.append` (tests/test_migrate_import.py checks it);
if the core's row format changes, that test fails before a chain does.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from dataclasses import fields
from typing import Optional
from typing import Sequence

from xl_ledger.core import chain
from xl_ledger.core import events as E
from xl_ledger.core.journal import Journal
from xl_ledger.core.journal import entry_to_row
from xl_ledger.core.journal import utc_text
from xl_ledger.core.numbers import text as num_text

_SEP = "\x1f"
_SESSION_EXTRA = tuple(f.name for f in fields(E.SessionRecorded) if f.name not in E._COMMON)
_KNOWN_EXTRA = {"status", "minutes", "start", "service", "booked_by", "paid_separately", "cancelled_at"}


def append(journal: Journal, events: Sequence[E.Event], *, operator: str, recorded_at: dt.datetime,
           sources: Sequence[str], key: Optional[bytes] = None) -> list[tuple]:
    """Like `journal.append(events, operator=, recorded_at=, sources=, key=)`: the new Log rows, and
    the journal's entries extended by the sealed entries."""
    assert chain.LOG_COLUMNS[-1] == "data" and chain.HASH == len(chain.LOG_COLUMNS) - 2  # the layout below
    seq, prev = journal.head()
    when = utc_text(recorded_at)
    session_cls = E.SessionRecorded
    kind = session_cls.kind
    dates: dict[dt.date, str] = {}
    numbers: dict[object, str] = {}
    datas: dict[tuple, str] = {}
    extra_names = _SESSION_EXTRA
    known = set(extra_names) == _KNOWN_EXTRA
    sha256 = hashlib.sha256
    entry = E.Entry
    entries = journal.entries
    rows: list[tuple] = []
    head_text = _SEP + when + _SEP + operator + _SEP
    for i, event in enumerate(events):
        seq += 1
        source = (sources[i] if sources else "") or ""
        if type(event) is session_cls:
            d = event.effective_date
            date = dates.get(d)
            if date is None:
                date = dates[d] = d.isoformat()
            q = event.quantity
            if q is None:
                quantity = ""
            else:
                quantity = numbers.get(q)
                if quantity is None:
                    quantity = numbers[q] = num_text(q)
            if known:
                extras = (event.status, event.minutes, event.start, event.service, event.booked_by,
                          event.paid_separately, event.cancelled_at)
            else:  # pragma: no cover - the core added a field: the generic (slower) key
                extras = tuple([getattr(event, n) for n in extra_names])
            data = datas.get(extras)
            if data is None:
                data = datas[extras] = E.to_cells(event)["data"]
            row = [seq, when, operator, kind, date, event.student_id or "", event.package_id or "",
                   event.session_id or "", quantity, event.unit or "",
                   "" if event.amount is None else num_text(event.amount), event.reason_code or "",
                   event.note or "", source, prev, "", data]
            payload = (str(seq) + head_text + _SEP.join(row[3:15]) + _SEP + data).encode("utf-8")
            digest = sha256(payload).hexdigest() if key is None else hmac.new(key, payload, hashlib.sha256).hexdigest()
        else:
            row = list(entry_to_row(entry(seq, when, operator, source, event)))
            row[chain.PREV] = prev
            row[chain.HASH] = ""
            digest = chain.row_hash(row, key)
        row[chain.HASH] = digest
        rows.append(tuple(row))
        entries.append(entry(seq, when, operator, source, event, prev, digest))
        prev = digest
    return rows
