"""SIGKILL `xl-ledger post` at random moments: the workbook is always the old one or the new one, it
verifies, every Actions row marked `applied` has its Log row, and no typed row is lost (the next post
applies whatever the killed one did not).

Between kills the test types new rows (a sale per round, lessons) into the file, as a user would.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import subprocess
import sys
import time
import zipfile

import python_calamine
from post_helpers import REPO
from post_helpers import cli
from post_helpers import records
from post_helpers import studio
from post_helpers import type_rows

from xl_ledger.book.filestore import FileStore
from xl_ledger.core.chain import verify


def _check(path, typed_actions: int) -> int:
    with zipfile.ZipFile(path) as z:
        assert z.testzip() is None
    python_calamine.CalamineWorkbook.from_path(str(path)).get_sheet_by_name("Packages").to_python()
    log = FileStore(path).read_log()
    assert verify(log) is None
    by_seq = {r[0]: r for r in log}
    actions = records(path, "Actions")
    assert len(actions) == typed_actions  # nothing typed was lost
    applied = 0
    for row, a in actions.items():
        if a["status"] == "applied":
            applied += 1
            assert by_seq[a["log_seq"]][13] == f"Actions!{row}", (row, a)
    # And the other way round: every Log row from Actions is marked applied in its row.
    for r in log:
        if r[13].startswith("Actions!"):
            assert actions[int(r[13].split("!")[1])]["status"] == "applied", r[13]
    return applied


def test_killing_post_never_breaks_the_file_or_loses_an_action(tmp_path):
    rng = random.Random(4)
    path = studio(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    typed = 0
    outcomes = {"finished": 0, "killed": 0, "mid_save": 0}
    round_ = -1
    # Ten rounds, and more (up to 24) until two kills have landed inside a save: on a loaded machine a
    # small save can finish in the few milliseconds between seeing its temp file and the kill.
    while round_ < 9 or (outcomes["mid_save"] < 2 and round_ < 23):
        round_ += 1
        day = dt.date(2026, 3, 1) + dt.timedelta(days=round_)
        type_rows(path, "Actions", {2 + typed: {"action": "sell", "date": day, "student_id": "S3",
                                                "product_id": "P10"}})
        typed += 1
        type_rows(path, "Sessions", {2 + round_: {"session_id": f"L{round_}", "date": day, "student_id": "S3",
                                                  "status": "attended"}})
        child = subprocess.Popen([sys.executable, "-m", "xl_ledger.cli", "post", str(path), "--today", "2026-03-20"],
                                 env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if round_ % 2:  # anywhere: start-up, reading, computing, writing, or after it finished
            time.sleep(rng.uniform(0.3, 2.0))
        else:  # inside the save: wait for the writer's temp file to appear, then a few ms more
            tmp = tmp_path / f".~xl-ledger.studio.xlsm.{child.pid}.tmp"
            deadline = time.monotonic() + 20
            while not tmp.exists() and child.poll() is None and time.monotonic() < deadline:
                time.sleep(0.0005)
            time.sleep(rng.uniform(0, 0.004))
        child.kill()
        _, err = child.communicate()
        outcomes["finished" if child.returncode in (0, 5) else "killed"] += 1
        outcomes["mid_save"] += any(p.name.endswith(".tmp") for p in tmp_path.iterdir())
        assert b"Traceback" not in err
        _check(path, typed)
    print(outcomes)
    assert outcomes["killed"] >= 2, outcomes
    assert outcomes["mid_save"] >= 2, f"only {outcomes['mid_save']} kills landed inside a save: not testing"
    # A final post applies everything the killed ones did not, and takes over any stale lock.
    done = cli("post", str(path), "--today", "2026-03-20")
    assert done.returncode == 0, done.stderr
    assert _check(path, typed) == typed
    assert sorted(p.name for p in tmp_path.iterdir()
                  if not p.name.endswith(("xl-ledger-checkpoint", "xl-ledger-pieces"))) == ["studio.xlsm"]
