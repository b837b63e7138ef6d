"""One studio's Log in PostgreSQL: its head, a streaming read and verify, and appends under the
(studio, seq) key.

The rows are exactly the workbook Log's (seq an int, every other column text), sealed by the same
chain.seal/Journal.append, so a Log copied in from a workbook keeps its chain, and the owner key's HMAC
verifies the same way here and in the workbook.

The password never comes from a workbook: libpq reads it from PGPASSWORD or ~/.pgpass, and a URL that
carries one is refused where it would be stored (see `public_url`).
"""

from __future__ import annotations

import contextlib
from typing import Iterator
from typing import Optional
from typing import Sequence

from xl_ledger.book.store import StaleLogError
from xl_ledger.book.store import StoreError
from xl_ledger.core import chain
from xl_ledger.core.chain import GENESIS
from xl_ledger.core.chain import LOG_COLUMNS
from xl_ledger.pg import schema

_COLUMNS = ", ".join(LOG_COLUMNS)
BATCH = 50_000  # rows per verified slice of a streaming read


class LedgerError(StoreError):
    """The ledger database cannot be reached or used; nothing was written."""


def _psycopg():
    try:
        import psycopg
    except ImportError:
        raise LedgerError("the PostgreSQL ledger needs psycopg: pip install 'xl-ledger[postgres]'") from None
    return psycopg


def public_url(url: str) -> str:
    """The URL without its password, for messages (never print or store a password)."""
    psycopg = _psycopg()
    try:
        parts = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError as e:
        raise LedgerError(f"{url!r} is not a PostgreSQL URL ({_first_line(e)}): write it as "
                          "postgresql://user@host:5432/database") from None
    host = parts.get("host", "localhost")
    port = parts.get("port", "5432")
    user = f"{parts['user']}@" if parts.get("user") else ""
    return f"postgresql://{user}{host}:{port}/{parts.get('dbname', '')}"


def has_password(url: str) -> bool:
    return "password" in _psycopg().conninfo.conninfo_to_dict(url)


class PgLog:
    """A studio's Log in the database at `url`. One connection, opened on first use."""

    def __init__(self, url: str, studio: str = "main"):
        self.url = url
        self.studio = studio
        self.where = f"{public_url(url)} (studio {studio!r})"
        self._conn = None
        self._queued = False

    # ------------------------------------------------------------------------------ connection
    def connect(self):
        psycopg = _psycopg()
        if self._conn is None or self._conn.closed:
            try:
                self._conn = psycopg.connect(self.url, autocommit=True, connect_timeout=10,
                                             application_name="xl-ledger")
                schema.ensure(self._conn)
            except psycopg.OperationalError as e:
                self._conn = None
                raise LedgerError(f"cannot reach the ledger at {public_url(self.url)}: {_first_line(e)}. "
                                  "Check the server is running and the URL; the password comes from "
                                  "PGPASSWORD or ~/.pgpass. Nothing was written.") from None
            except RuntimeError as e:
                raise LedgerError(f"{self.where}: {e}") from None
        return self._conn

    def queue(self, seconds: float = 30) -> bool:
        """Wait for this studio's turn to post (a session advisory lock), so that desks posting at once
        take turns instead of redoing whole posts on StaleLogError. Only a courtesy: the (studio, seq) key
        still decides. After `seconds` without a turn, go ahead unqueued (False)."""
        psycopg = _psycopg()
        conn = self.connect()
        with self._errors("waiting for a turn"):
            conn.execute(f"SET lock_timeout = '{int(seconds * 1000)}ms'")
            try:
                conn.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", ("xl-ledger post " + self.studio,))
                self._queued = True
            except psycopg.errors.LockNotAvailable:
                self._queued = False
            finally:
                conn.execute("SET lock_timeout = 0")
        return self._queued

    def unqueue(self) -> None:
        """Give the turn to the next desk (also when the connection closes)."""
        if self._queued and self._conn is not None and not self._conn.closed:
            self._queued = False
            with self._errors("giving the turn back"):
                self._conn.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))",
                                   ("xl-ledger post " + self.studio,))

    def close(self) -> None:
        self._queued = False
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @contextlib.contextmanager
    def _errors(self, doing: str):
        psycopg = _psycopg()
        try:
            yield
        except psycopg.errors.UniqueViolation:
            raise StaleLogError(f"the ledger {self.where} changed while {doing}: another desk posted first. "
                                "Nothing was written; post again.") from None
        except psycopg.errors.SerializationFailure as e:
            raise StaleLogError(f"the ledger {self.where} changed while {doing} ({_first_line(e)}). "
                                "Nothing was written; post again.") from None
        except psycopg.OperationalError as e:
            self.close()
            raise LedgerError(f"lost the ledger at {public_url(self.url)} while {doing}: {_first_line(e)}. "
                              "Nothing was written; start the server and post again.") from None

    # --------------------------------------------------------------------------------- reading
    def exists(self) -> bool:
        conn = self.connect()
        with self._errors("reading"):
            return conn.execute("SELECT 1 FROM xl_ledger_studio WHERE studio = %s", (self.studio,)).fetchone() \
                is not None

    def create(self) -> None:
        conn = self.connect()
        with self._errors("creating the studio"):
            conn.execute("INSERT INTO xl_ledger_studio (studio) VALUES (%s) ON CONFLICT DO NOTHING", (self.studio,))

    def head(self) -> tuple[int, str]:
        conn = self.connect()
        with self._errors("reading the head"):
            row = conn.execute(f"SELECT seq, hash FROM {schema.LOG} WHERE studio = %s ORDER BY seq DESC LIMIT 1",
                               (self.studio,)).fetchone()
        return (int(row[0]), row[1]) if row else (0, GENESIS)

    def row(self, seq: int) -> Optional[tuple]:
        conn = self.connect()
        with self._errors("reading"):
            row = conn.execute(f"SELECT {_COLUMNS} FROM {schema.LOG} WHERE studio = %s AND seq = %s",
                               (self.studio, seq)).fetchone()
        return None if row is None else (int(row[0]), *row[1:])

    def stream(self, after: int = 0, upto: Optional[int] = None) -> Iterator[list[tuple]]:
        """The rows with after < seq (≤ upto), in seq order, a slice at a time: one COPY, so a million
        rows stream without the server or this process holding them twice."""
        conn = self.connect()
        bound = "" if upto is None else f" AND seq <= {int(upto)}"
        query = (f"COPY (SELECT {_COLUMNS} FROM {schema.LOG} WHERE studio = %s AND seq > %s{bound} "
                 "ORDER BY seq) TO STDOUT")
        with self._errors("reading the Log"):
            with conn.cursor() as cur, cur.copy(query, (self.studio, after)) as copy:
                copy.set_types(["int8"] + ["text"] * (len(LOG_COLUMNS) - 1))
                batch: list[tuple] = []
                for row in copy.rows():
                    batch.append(row)
                    if len(batch) >= BATCH:
                        yield batch
                        batch = []
                if batch:
                    yield batch

    def read(self, after: int = 0, upto: Optional[int] = None) -> list[tuple]:
        out: list[tuple] = []
        for batch in self.stream(after, upto):
            out += batch
        return out

    def verify(self, key: Optional[bytes] = None, keep: bool = False, upto: Optional[int] = None
               ) -> tuple[int, tuple[int, str], Optional[chain.Break], list[tuple]]:
        """Check the whole chain (up to seq `upto`) in one streaming read: (rows, head, first break or
        None, the rows if `keep`). A break's index is 0-based over the whole Log, like chain.verify's."""
        count, prev, kept = 0, GENESIS, []
        head = (0, GENESIS)
        for batch in self.stream(upto=upto):
            broken = chain.verify(batch, key, start_prev=prev, start_seq=count + 1)
            if broken is not None:
                return count + len(batch), head, _shift(broken, count), kept
            count += len(batch)
            prev = batch[-1][chain.HASH]
            head = (batch[-1][chain.SEQ], prev)
            if keep:
                kept += batch
        return count, head, None, kept

    # --------------------------------------------------------------------------------- writing
    @contextlib.contextmanager
    def appending(self, expected: tuple[int, str], rows: Sequence[tuple]):
        """A transaction that appends `rows` after `expected` (the head the caller computed from).

        The body of the `with` runs inside the transaction, after the rows are in and before COMMIT:
        what it raises rolls the append back. StaleLogError when another desk appended first."""
        conn = self.connect()
        with self._errors("appending"):
            with conn.transaction():
                conn.execute("INSERT INTO xl_ledger_studio (studio) VALUES (%s) ON CONFLICT DO NOTHING",
                             (self.studio,))
                now = conn.execute(f"SELECT seq, hash FROM {schema.LOG} WHERE studio = %s "
                                   "ORDER BY seq DESC LIMIT 1", (self.studio,)).fetchone()
                now = (int(now[0]), now[1]) if now else (0, GENESIS)
                if tuple(now) != tuple(expected):
                    raise StaleLogError(
                        f"the ledger {self.where} changed since it was read (it now ends at seq {now[0]}, "
                        f"expected {expected[0]}): another desk posted. Nothing was written; post again.")
                if rows:
                    self._insert(conn, rows)
                yield conn

    def _insert(self, conn, rows: Sequence[tuple]) -> None:
        with conn.cursor() as cur:
            with cur.copy(f"COPY {schema.LOG} (studio, {_COLUMNS}) FROM STDIN") as copy:
                studio = self.studio
                for row in rows:
                    copy.write_row((studio, *row))


def _shift(broken: chain.Break, offset: int) -> chain.Break:
    return chain.Break(broken.index + offset, broken.seq, broken.column, broken.found, broken.expected,
                       broken.explanation)


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
