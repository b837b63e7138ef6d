"""Faults: the ledger's server stopped in the middle of a post writes nothing half-way — the database
holds none of the post's rows, the workbook is byte-for-byte as it was — and the next post completes."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from pg_support import PrivateServer
from pg_support import new_studio
from post_helpers import REPO
from post_helpers import records
from post_helpers import studio
from post_helpers import type_rows

from xl_ledger.book.filestore import FileStore
from xl_ledger.core.chain import verify
from xl_ledger.pg.log import PgLog

psycopg = pytest.importorskip("psycopg")


@pytest.fixture
def server():
    import shutil
    import tempfile
    folder = tempfile.mkdtemp(prefix="xl-ledger-pg-")  # not under pytest's folder: the postgres user must reach it
    try:
        server = PrivateServer(folder)
        yield server
        server.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_server_stopped_in_the_middle_of_a_post_leaves_nothing_half_written(server, tmp_path):
    ledger = new_studio()
    path = studio(tmp_path)
    post = [sys.executable, "-m", "xl_ledger.cli", "post", str(path), "--ledger", server.url, "--studio", ledger,
            "--today", "2026-03-10"]
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}
    assert subprocess.run(post, capture_output=True, text=True, env=env, timeout=120).returncode == 0
    before_rows = PgLog(server.url, ledger).read()
    # Make the next insert into the Log wait inside its transaction, so the server can be stopped there:
    # the rows are in, the COMMIT has not happened.
    with psycopg.connect(server.url, autocommit=True) as conn:
        conn.execute("CREATE TABLE slow_down (on_ boolean)")
        conn.execute("INSERT INTO slow_down VALUES (true)")
        conn.execute("CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                     "IF EXISTS (SELECT 1 FROM slow_down) THEN PERFORM pg_sleep(30); END IF; RETURN NULL; END $$")
        conn.execute("CREATE TRIGGER slow AFTER INSERT ON xl_ledger_log FOR EACH STATEMENT EXECUTE FUNCTION slow()")
    type_rows(path, "Actions", {2: {"action": "sell", "date": "2026-03-01", "student_id": "S1", "product_id": "P10"}})
    workbook = path.read_bytes()
    running = subprocess.Popen(post, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    with psycopg.connect(server.url, autocommit=True) as conn:  # wait until the post sits in its insert
        for _ in range(300):
            if conn.execute("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY xl_ledger_log%'"
                            ).fetchone()[0]:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the post never reached its insert")
    server.stop("immediate")
    out, err = running.communicate(timeout=120)
    assert running.returncode == 4, (out, err)
    assert "Nothing was written" in err and "start the server and post again" in err
    assert path.read_bytes() == workbook  # the workbook untouched
    server.start()
    assert PgLog(server.url, ledger).read() == before_rows  # the database holds none of it
    with psycopg.connect(server.url, autocommit=True) as conn:
        conn.execute("DELETE FROM slow_down")
    again = subprocess.run(post, capture_output=True, text=True, env=env, timeout=120)
    assert again.returncode == 0, again.stderr
    assert records(path, "Actions")[2]["status"] == "applied"
    log = PgLog(server.url, ledger).read()
    assert verify(log) is None and [r[3] for r in log].count("sale") == 1
    assert FileStore(path).read_log() == log
