"""One front desk for the concurrency test (run as its own process): type a row, post, N times.

python pg_desk_worker.py WORKBOOK URL STUDIO DESK_NUMBER POSTS QUEUE (1: wait for a turn; 0: optimistic only)
Each post types one sale (a rotating student of two families shared by every desk) and, every third
post, one attended lesson; it prints one JSON line per post: the rows it typed and its latency.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from post_helpers import NOW  # noqa: E402

from xl_ledger.book.filestore import FileStore  # noqa: E402
from xl_ledger.book.store import Change  # noqa: E402

from xl_ledger.pg.desk import DeskStore  # noqa: E402
from xl_ledger.pg.desk import post_at_desk  # noqa: E402
from xl_ledger.pg.log import PgLog  # noqa: E402

STUDENTS = ["S1", "S2", "S3", "S4", "S5", "S6"]


def main() -> None:
    path, url, studio, desk, posts = Path(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    queue = sys.argv[6] == "1"
    name = path.stem
    for i in range(posts):
        student = STUDENTS[(desk + i) % len(STUDENTS)]
        book = FileStore(path)
        action_row = max([r for r, _v in book.read_sheet("Actions").rows] + [1]) + 1
        cells = {"Actions": {(action_row, "action"): "sell", (action_row, "date"): dt.date(2026, 3, 1),
                             (action_row, "student_id"): student, (action_row, "product_id"): "P10",
                             (action_row, "note"): f"{name} #{i}"}}
        lesson = None
        if i % 3 == 0:
            session_row = max([r for r, _v in book.read_sheet("Sessions").rows] + [1]) + 1
            lesson = f"{name}-{i}"
            cells["Sessions"] = {(session_row, "session_id"): lesson, (session_row, "date"): dt.date(2026, 3, 2),
                                 (session_row, "student_id"): student, (session_row, "status"): "attended"}
        book.commit(Change(*book.head(), cells=cells))  # typed at the desk, as Excel would save it
        started = time.perf_counter()
        store, result = post_at_desk(DeskStore(path, PgLog(url, studio), name, queue), now=NOW, operator="owner")
        took = time.perf_counter() - started
        print(json.dumps({"desk": name, "row": action_row, "student": student, "lesson": lesson,
                          "applied": len(result.applied), "rejected": result.rejected, "seconds": took,
                          "attempts": store.attempts}), flush=True)


if __name__ == "__main__":
    main()
