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


class PrivateServer:
    """A throwaway PostgreSQL cluster of this test's own (initdb into a temp folder, a free port), for the
    fault tests that stop and start the server. Run as the postgres user when the tests run as root (the
    server refuses root). Skipped (or failed, when required) without the PostgreSQL binaries."""

    def __init__(self, folder):
        import glob
        import shutil
        import socket

        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb")) or \
            ([shutil.which("initdb")] if shutil.which("initdb") else [])
        if not found:
            _missing("the PostgreSQL server binaries (initdb, pg_ctl) are not installed")
        self.bin = os.path.dirname(found[-1])
        self.folder = folder
        self.data = os.path.join(folder, "data")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if os.geteuid() == 0:
            import pwd
            uid = pwd.getpwnam("postgres").pw_uid
            os.chown(folder, uid, -1)
        self._run("initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "-E", "UTF8")
        self.start()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        import subprocess
        done = subprocess.run([*self.prefix, os.path.join(self.bin, tool), *args], capture_output=True, text=True,
                              cwd="/", timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed: {done.stdout[-2000:]}{done.stderr[-2000:]}")

    def start(self) -> None:
        self._run("pg_ctl", "-D", self.data, "-l", os.path.join(self.folder, "server.log"), "-w", "-o",
                  f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", self.data, "-m", mode, "-w", "stop")

    def close(self) -> None:
        try:
            self.stop("immediate")
        except RuntimeError:
            pass  # already stopped
