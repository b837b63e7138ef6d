"""SIGKILL `xl-ledger post` inside the checkpoint save (issue 12): the post after the kill equals a post
without a checkpoint.

The checkpoint is written after the workbook's commit succeeded, through a temp file and a rename. A kill
inside that write leaves the new workbook beside the old checkpoint (or none) and a torn temp file. The
next post must not be misled by either: its Log rows and every sheet must be exactly what a post of the
same workbook with no checkpoint at all writes, and the torn temp file must be gone afterwards.

The killed post is a real `xl-ledger post` in its own process. Its checkpoint save is paced (the same bytes,
written 256 at a time 1 ms apart, and 20 ms before the rename), so that a kill at a random moment after
the temp file appears lands inside the save: in the pickled stream, before the MAC is in place, or with
the temp file whole but not yet renamed.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import shutil
import subprocess
import sys
import time

from post_helpers import REPO
from post_helpers import studio
from post_helpers import type_rows

from xl_ledger import post
from xl_ledger.book import checkpoint
from xl_ledger.book import schema
from xl_ledger.book.filestore import FileStore
from xl_ledger.core import chain

# The CLI's post, with the checkpoint's writes paced. Nothing else differs from `xl-ledger post`.
PACED_POST = """
import os, sys, time
from xl_ledger.book import checkpoint
write = checkpoint._Signing.write
def paced(self, data):  # the same bytes, 256 at a time, 1 ms apart
    view = memoryview(data).cast("B")
    for at in range(0, len(view), 256):
        write(self, view[at:at + 256])
        self.f.flush()
        time.sleep(0.001)
    return len(view)
checkpoint._Signing.write = paced
replace = os.replace
def paced_replace(src, dst):  # a whole, MAC'd temp file waits 20 ms before its rename
    if str(src).endswith(".checkpoint.tmp"):
        time.sleep(0.02)
    return replace(src, dst)
checkpoint.os.replace = paced_replace
from xl_ledger import cli
sys.exit(cli.run(sys.argv[1:]))
"""

NOW = dt.datetime(2026, 3, 20, 18, 0, tzinfo=dt.timezone.utc)


def _snapshot(path) -> dict:
    """Every sheet's rows as a reader gives them back, and the Log's rows."""
    store = FileStore(path)
    sheets = {s: store.read_sheet(s).rows for s in schema.BY_NAME if s != "Log"}
    return {"log": store.read_log(), **{k: list(v) for k, v in sheets.items()}}


def _temp_files(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def _killed_inside_the_checkpoint_save(path, rng) -> int | None:
    """Run the paced post and kill it; the size of the torn temp file it left, or None (killed elsewhere)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen([sys.executable, "-c", PACED_POST, "post", str(path), "--today", "2026-03-20"],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    tmp = path.with_name(f".~xl-ledger.{path.name}.{child.pid}.checkpoint.tmp")
    deadline = time.monotonic() + 60
    while not tmp.exists() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.0005)
    time.sleep(rng.uniform(0, 0.06))
    child.kill()
    _, err = child.communicate()
    assert b"Traceback" not in err, err
    return tmp.stat().st_size if tmp.exists() else None


def test_a_post_after_a_kill_inside_the_checkpoint_save_equals_one_without_a_checkpoint(tmp_path):
    rng = random.Random(12)
    (tmp_path / "killed").mkdir()
    path = studio(tmp_path / "killed")
    twin_dir = tmp_path / "cold"
    twin_dir.mkdir()
    torn: list[int] = []
    for round_ in range(6):
        day = dt.date(2026, 3, 1) + dt.timedelta(days=round_)
        type_rows(path, "Actions", {2 + 2 * round_: {"action": "sell", "date": day, "student_id": "S3",
                                                     "product_id": "P10"}})
        type_rows(path, "Sessions", {2 + round_: {"session_id": f"L{round_}", "date": day, "student_id": "S3",
                                                  "status": "attended"}})
        size = _killed_inside_the_checkpoint_save(path, rng)
        if size is not None:
            torn.append(size)
        # The workbook is the killed post's own (its commit came first) and verifies.
        assert chain.verify(FileStore(path).read_log()) is None

        # The same next rows, posted on this workbook (its old checkpoint and torn temp file beside it)
        # and on a copy with no checkpoint: the same Log rows and sheets, to the cell.
        twin = shutil.copyfile(path, twin_dir / path.name)
        for book in (path, twin):
            type_rows(book, "Actions", {3 + 2 * round_: {"action": "sell", "date": day, "student_id": "S1",
                                                         "product_id": "H10"}})
        warm = post.post(FileStore(path), now=NOW + dt.timedelta(hours=round_), operator="owner",
                         today=dt.date(2026, 3, 20))
        checkpoint.discard(twin)
        cold = post.post(FileStore(twin), now=NOW + dt.timedelta(hours=round_), operator="owner",
                         today=dt.date(2026, 3, 20))
        assert (warm.summary(), warm.applied, warm.notices) == (cold.summary(), cold.applied, cold.notices)
        assert _snapshot(path) == _snapshot(twin)
        assert _temp_files(path.parent) == []  # the torn checkpoint was cleared by the next commit
        # and the checkpoint the next post wrote is current: it holds the Log's end
        cp = checkpoint.load(path, None)
        assert cp is not None and tuple(cp.head) == FileStore(path).head()
    print("torn checkpoint temp files (bytes):", torn)
    assert len(torn) >= 4, f"only {len(torn)} of 6 kills landed inside the checkpoint save: not testing"
    assert len(set(torn)) >= 2  # at different points of the save
