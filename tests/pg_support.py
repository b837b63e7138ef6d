"""Helpers for the PostgreSQL tests: the server URL, a fresh studio per test.

The tests need a real PostgreSQL server: its URL comes from XL_LEDGER_TEST_PG. Without it they are
skipped with a message saying how to run them; with XL_LEDGER_REQUIRE_POSTGRES=1 (set by .ci/run) a
missing or unreachable server is a failure instead.
"""

from __future__ import annotations

import os
import uuid

import pytest

HOW = ("set XL_LEDGER_TEST_PG to a PostgreSQL URL to run them, e.g. "
       "XL_LEDGER_TEST_PG=postgresql://xl@127.0.0.1:5432/xl (README: 'A ledger in PostgreSQL'); "
       ".ci/run starts a server and requires them")


def _missing(why: str):
    if os.environ.get("XL_LEDGER_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"PostgreSQL tests are required (XL_LEDGER_REQUIRE_POSTGRES=1) but {why}")
    pytest.skip(f"PostgreSQL tests skipped: {why}; {HOW}")


def pg_url() -> str:
    url = os.environ.get("XL_LEDGER_TEST_PG")
    if not url:
        _missing("XL_LEDGER_TEST_PG is not set")
    try:
        import psycopg
    except ImportError:
        _missing("psycopg is not installed (pip install -e '.[test]')")
    try:
        psycopg.connect(url, connect_timeout=5).close()
    except psycopg.OperationalError as e:
        _missing(f"the server at XL_LEDGER_TEST_PG cannot be reached ({str(e).strip().splitlines()[0]})")
    return url


def new_studio(prefix: str = "t") -> str:
    """A studio id no other test uses (the Log is append-only: tests never clean up, they move over)."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def pg_super_url() -> str:
    """A superuser's URL to the same database (XL_LEDGER_TEST_PG_SUPER): for the tamper tests, which
    play someone who bypasses the triggers and the revoked rights."""
    pg_url()
    url = os.environ.get("XL_LEDGER_TEST_PG_SUPER")
    if not url:
        _missing("XL_LEDGER_TEST_PG_SUPER (a superuser URL to the same database) is not set")
    return url
