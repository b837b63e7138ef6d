"""Killing the writer mid-save leaves the old file or the new one — never a broken one — and never
loses a commit that returned.

A real subprocess commits batches in a loop and prints each seq once `commit` has returned; we
SIGKILL it after a random delay, then check the file with readers that share no code with the
store (Python's zipfile CRC check, python-calamine) and the hash chain. The next writer must take
over the dead one's lock and clean up its temp file.
"""

from __future__ import annotations

import random
import subprocess
import sys
import time
import zipfile

from test_store_support import build_workbook
from test_store_support import log_rows

import python_calamine

from xl_ledger.core.chain import verify

BATCH = 25

_WRITER = f"""
import sys, datetime as dt
sys.path.insert(0, {str(__import__('pathlib').Path(__file__).parent)!r})
from test_store_support import log_rows
from xl_ledger.book.filestore import FileStore
from xl_ledger.book.store import Change
store = FileStore(sys.argv[1])
packages = [[f"PK{{i}}", "ST1", "P10", "lessons", 10, 2, 0, 8, 80.5, dt.date(2026, 4, 1), "active"] for i in range(300)]
while True:
    seq, last = store.head()
    rows = log_rows({BATCH}, seq + 1, last)
    store.commit(Change(seq, last, tuple(rows), {{"Packages": packages}}, {{"Actions": {{(2, "log_seq"): seq + {BATCH}}}}}))
    print(rows[-1][0], flush=True)
"""


def _read_log_independently(path):
    with zipfile.ZipFile(path) as z:
        assert z.testzip() is None  # every member's CRC checks out
    sheet = python_calamine.CalamineWorkbook.from_path(str(path)).get_sheet_by_name("Log").to_python()
    return [(int(r[0]),) + tuple(r[1:]) for r in sheet[1:]]


def test_sigkill_at_random_points_never_breaks_or_loses(tmp_path):
    rng = random.Random(20261121)
    path = build_workbook(tmp_path / "studio.xlsx", log_rows(200))  # first save rebuilds the layout
    applied = 200
    kills = mid_save = 0
    # At least 14 kills, and more (up to 40) until two have landed inside a save: on a loaded machine
    # the writer may spend more of its time starting up than saving.
    while kills < 14 or (mid_save < 2 and kills < 40):
        child = subprocess.Popen([sys.executable, "-c", _WRITER, str(path)], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        first = child.stdout.readline()  # started and committed once: now kill it at a random point
        assert first, f"the writer did not commit at all: {child.communicate()[1][-2000:]}"
        time.sleep(rng.uniform(0.0, 0.3))
        child.kill()
        out, _ = child.communicate()
        out = first + out
        kills += 1
        mid_save += any(p.name.endswith(".tmp") for p in tmp_path.iterdir())  # killed while writing
        printed = [int(line) for line in out.split()]
        if printed:
            applied = printed[-1]
        rows = _read_log_independently(path)
        assert verify(rows) is None
        # Every commit that returned is there; at most the one in flight when killed is extra.
        assert len(rows) in (applied, applied + BATCH), (len(rows), applied)
        applied = len(rows)
        assert rows == log_rows(len(rows))  # exactly the rows written, nothing torn
    assert kills >= 14 and applied > 200
    assert mid_save >= 2, f"only {mid_save} kills landed inside a save: the test is not testing"
    print(f"{kills} kills, {mid_save} inside a save, log at {applied} rows")
    leftovers = sorted(p.name for p in tmp_path.iterdir() if p.name != "studio.xlsx")
    assert all(name.startswith(".~") for name in leftovers)  # only a dead writer's lock/temp, if any
    # One more clean commit: takes over the lock, removes the temp files, leaves nothing behind.
    out = subprocess.run([sys.executable, "-c", _WRITER.replace("while True:", "for _ in range(1):"), str(path)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["studio.xlsx"]
    assert len(_read_log_independently(path)) == applied + BATCH
