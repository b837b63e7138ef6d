"""The Outbox sheet: one row per change of a message's state, never rewritten.

A message's state is its key's last row: queued → sending → sent | failed (→ sending again on the next
run) | unsure. `sending` is written (and saved) before the message goes to the server and `sent` after
the server accepted it; a run that dies in between leaves `sending`, and the next run marks it `unsure`
and does not send it again: a message is sent at most once. (`--retry KEY` queues it again after the
owner has checked it did not arrive.)

With a ledger in PostgreSQL, the desk that sends a message claims its key there first, so one desk sends
it; another desk's Outbox shows it `sent` (answer: by which desk) or `claimed` (being sent there).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from xl_ledger.book import schema


class Status(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    UNSURE = "unsure"
    CLAIMED = "claimed"  # another desk of the ledger sends it (pg/outbox.py): not sent from this workbook


COLUMNS = schema.OUTBOX.headers


@dataclass(frozen=True)
class Row:
    time: str
    key: str
    status: Status
    rule: str
    to: str
    subject: str
    answer: str
    student_id: str
    package_id: str
    body: str

    def cells(self) -> list[str]:
        return [str(getattr(self, c)) for c in COLUMNS]


def read(records) -> list[Row]:
    out = []
    for _row, rec in records:
        if not rec.get("key"):
            continue
        values = {c: "" if rec.get(c) is None else str(rec.get(c)) for c in COLUMNS}
        values["status"] = Status(values["status"]) if values["status"] in Status._value2member_map_ else \
            Status.FAILED
        out.append(Row(**values))
    return out


def latest(rows: list[Row]) -> dict[str, Row]:
    out: dict[str, Row] = {}
    for r in rows:
        out[r.key] = r
    return out
