"""One outbox per ledger: which desk sends each reminder (`xl-ledger remind --send --ledger`).

Each workbook keeps its own Outbox sheet, so two desks of one ledger would each find the same reminder
due and each send it. Before a desk sends a message it claims the message's key in the database
(`xl_ledger_outbox`, created by the schema migration 3 in pg/schema.py, keyed by (studio, key)): the
INSERT of the first desk wins, and a desk that finds the key claimed by another does not send it; its
Outbox shows the other desk's state instead (sent there, or being sent there). The claiming desk records
what became of the message (sending, sent, failed, unsure) in its claim, so every desk can show it.

`--retry KEY` at a desk takes the claim over: the owner has checked that the message did not arrive
(an `unsure` row), and sends it from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable
from typing import Optional

from xl_ledger.pg.log import PgLog


@dataclass(frozen=True)
class Claim:
    """Another desk's hold on a reminder: its desk, what became of the message there, and when."""

    desk: str
    status: str
    answer: str
    at: str


class OutboxClaims:
    """The ledger's claims for one studio, seen from one desk."""

    def __init__(self, log: PgLog, desk: str):
        self.log, self.desk = log, desk

    def claim(self, key: str, at: str) -> Optional[Claim]:
        """Claim `key` for this desk. None: claimed now, this desk sends it. Else the claim already there,
        unchanged (another desk's, or this desk's own from an earlier run). One INSERT: of two desks at once,
        one wins. The claim says `claimed` until the Outbox's `sending` row is saved (Remind.save)."""
        conn = self.log.connect()
        with self.log._errors("claiming a reminder"):
            won = conn.execute("INSERT INTO xl_ledger_outbox (studio, key, desk, status, answer, at) "
                               "VALUES (%s, %s, %s, 'claimed', '', %s) ON CONFLICT (studio, key) DO NOTHING "
                               "RETURNING desk", (self.log.studio, key, self.desk, at)).fetchone()
            if won is not None:
                return None
            row = conn.execute("SELECT desk, status, answer, at FROM xl_ledger_outbox WHERE studio = %s AND key = %s",
                               (self.log.studio, key)).fetchone()
        return Claim(*row)

    def settle(self, key: str, status: str, answer: str, at: str) -> None:
        """What became of a message this desk holds (a claim of another desk is left alone)."""
        conn = self.log.connect()
        with self.log._errors("recording a reminder's state"):
            conn.execute("UPDATE xl_ledger_outbox SET status = %s, answer = %s, at = %s "
                         "WHERE studio = %s AND key = %s AND desk = %s",
                         (status, answer[:500], at, self.log.studio, key, self.desk))

    def take_over(self, key: str, at: str) -> None:
        """--retry KEY: this desk sends it from now on, whoever held it."""
        conn = self.log.connect()
        with self.log._errors("taking a reminder over"):
            conn.execute("INSERT INTO xl_ledger_outbox (studio, key, desk, status, answer, at) "
                         "VALUES (%s, %s, %s, 'queued', '', %s) ON CONFLICT (studio, key) DO UPDATE "
                         "SET desk = EXCLUDED.desk, status = 'queued', answer = '', at = EXCLUDED.at",
                         (self.log.studio, key, self.desk, at))

    def of(self, keys: Iterable[str]) -> dict[str, Claim]:
        """The claims of other desks on these keys."""
        keys = list(keys)
        if not keys:
            return {}
        conn = self.log.connect()
        with self.log._errors("reading the reminders' claims"):
            rows = conn.execute("SELECT key, desk, status, answer, at FROM xl_ledger_outbox "
                                "WHERE studio = %s AND key = ANY(%s) AND desk <> %s",
                                (self.log.studio, keys, self.desk)).fetchall()
        return {key: Claim(desk, status, answer, at) for key, desk, status, answer, at in rows}
