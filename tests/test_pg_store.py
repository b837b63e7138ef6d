"""The PostgreSQL store: the store contract, and what only a database Log has (append-only rights and
triggers, the chain guard, the schema version, the mirror as an anchor)."""

from __future__ import annotations

import pytest
from pg_support import HOW
from pg_support import new_studio
from pg_support import pg_super_url
from pg_support import pg_url
from test_store_contract import StoreContract
from test_store_support import build_workbook
from test_store_support import log_rows

from xl_ledger.book.anchors import ShortLogError
from xl_ledger.book.store import Change
from xl_ledger.book.store import StaleLogError
from xl_ledger.pg import schema
from xl_ledger.pg.log import PgLog
from xl_ledger.pg.store import MirrorMismatch
from xl_ledger.pg.store import PgStore

psycopg = pytest.importorskip("psycopg", reason=f"psycopg is not installed; {HOW}")


@pytest.fixture(scope="module")
def url():
    return pg_url()


def seeded(url: str, log_rows) -> PgLog:
    log = PgLog(url, new_studio())
    log.create()
    with log.appending(log.head(), list(log_rows)):
        pass
    return log


class TestPgStore(StoreContract):
    @pytest.fixture(autouse=True)
    def _url(self, url):
        self.url = url

    def make_store(self, tmp_path, log=()):
        path = build_workbook(tmp_path / "studio.xlsx", list(log))
        return PgStore(path, seeded(self.url, log))

    def reopen(self, store):
        store.close()
        return PgStore(store.path, PgLog(self.url, store.log.studio))


# ------------------------------------------------------------------------- beyond the contract


def test_schema_is_versioned_and_created_once(url):
    with psycopg.connect(url, autocommit=True) as conn:
        assert schema.ensure(conn) == schema.LATEST  # already there: nothing applied
        assert conn.execute("SELECT max(version) FROM xl_ledger_schema").fetchone()[0] == schema.LATEST


@pytest.mark.parametrize("sql", ["UPDATE xl_ledger_log SET note = 'x' WHERE studio = %s",
                                 "DELETE FROM xl_ledger_log WHERE studio = %s",
                                 "TRUNCATE xl_ledger_log"])
def test_the_owner_cannot_change_or_remove_rows(url, sql):
    log = seeded(url, log_rows(3))
    with psycopg.connect(url, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(sql, (log.studio,) if "%s" in sql else None)
    assert log.read() == log_rows(3)


@pytest.mark.parametrize("sql", ["UPDATE xl_ledger_log SET note = 'x' WHERE studio = %s",
                                 "DELETE FROM xl_ledger_log WHERE studio = %s",
                                 "TRUNCATE xl_ledger_log"])
def test_the_triggers_refuse_even_a_superuser(url, sql):
    log = seeded(url, log_rows(3))
    with psycopg.connect(pg_super_url(), autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
            conn.execute(sql, (log.studio,) if "%s" in sql else None)
    assert log.read() == log_rows(3)


def test_the_chain_guard_refuses_a_fork_or_a_gap(url):
    rows = log_rows(3)
    log = seeded(url, rows)
    fork = log_rows(1, 4, "e" * 64)  # seq 4 whose prev_hash is not row 3's hash
    gap = log_rows(1, 5, rows[-1][15])
    with psycopg.connect(url, autocommit=True) as conn:
        for bad in (fork, gap):
            with pytest.raises(psycopg.errors.SerializationFailure):
                with conn.cursor().copy("COPY xl_ledger_log FROM STDIN") as copy:
                    copy.write_row((log.studio, *bad[0]))
    assert log.read() == rows


def test_the_chain_guard_checks_every_row_of_one_copy(url):
    """The guard runs once per statement (schema migration 2): a bad row in the middle of one COPY, or a
    repeated seq, refuses the whole statement; a good COPY of many rows goes in."""
    rows = log_rows(3)
    log = seeded(url, rows)
    good = log_rows(3, 4, rows[-1][15])
    middle = list(good)
    middle[1] = log_rows(1, 5, "f" * 64)[0]  # seq 5 that does not follow seq 4
    twice = [good[0], good[0]]
    with psycopg.connect(url, autocommit=True) as conn:
        for bad in (middle, twice):
            with pytest.raises((psycopg.errors.SerializationFailure, psycopg.errors.UniqueViolation)):
                with conn.transaction(), conn.cursor().copy("COPY xl_ledger_log FROM STDIN") as copy:
                    for row in bad:
                        copy.write_row((log.studio, *row))
    assert log.read() == rows
    with log.appending((3, rows[-1][15]), good):
        pass
    assert log.read() == rows + good


def test_two_desks_appending_the_same_seq_one_wins(url):
    rows = log_rows(2)
    log = seeded(url, rows)
    other = PgLog(url, log.studio)
    mine, theirs = log_rows(1, 3, rows[-1][15]), log_rows(1, 3, rows[-1][15], key=b"k")
    with other.appending(log.head(), theirs):
        pass
    with pytest.raises(StaleLogError, match="another desk posted"):
        with log.appending((2, rows[-1][15]), mine):
            pass
    assert log.read() == rows + theirs


def test_superuser_edit_bypassing_the_triggers_is_named_by_verify(url):
    rows = log_rows(40)
    log = seeded(url, rows)
    with psycopg.connect(pg_super_url(), autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")  # triggers off: only a superuser can
        conn.execute("UPDATE xl_ledger_log SET quantity = '99' WHERE studio = %s AND seq = 17", (log.studio,))
    count, _head, broken, _ = log.verify()
    assert count == 40 and broken is not None
    assert (broken.index, broken.seq, broken.column) == (16, 17, "hash")
    assert "changed after it was written" in broken.explanation


def test_a_truncated_ledger_is_named_by_the_workbook_anchor(url, tmp_path):
    rows = log_rows(10)
    store = PgStore(build_workbook(tmp_path / "studio.xlsx", rows), seeded(url, rows))
    store.check_anchor()
    with psycopg.connect(pg_super_url(), autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute("DELETE FROM xl_ledger_log WHERE studio = %s AND seq > 7", (store.log.studio,))
    assert store.log.verify()[2] is None  # the chain that is left holds: only the anchor can tell
    with pytest.raises(ShortLogError, match=r"ends at seq 7, but studio.xlsx!Log \(this workbook's copy of the "
                       r"ledger, written by its last post\) records that it reached seq 10 .*: Log rows seq 8–10 are "
                       r"missing \(cut off the end\)"):
        store.check_anchor()
    with pytest.raises(MirrorMismatch, match="lost rows"):
        store.commit(Change(7, rows[6][15], tuple(log_rows(1, 8, rows[6][15]))))
    assert len(store.log.read()) == 7


def test_a_workbook_of_another_ledger_is_refused(url, tmp_path):
    mine, theirs = log_rows(3), log_rows(5, key=b"other")
    store = PgStore(build_workbook(tmp_path / "studio.xlsx", theirs), seeded(url, mine))
    with pytest.raises(MirrorMismatch, match="another ledger"):
        store.commit(Change(3, mine[-1][15], tuple(log_rows(1, 4, mine[-1][15]))))
    assert store.log.read() == mine
