"""`verify --deep`: every engine sheet recomputed from the Log alone and compared with the workbook.

The checkpoint (book/checkpoint.py) lets a post skip re-reading the Log. Someone logged in as the same
OS user holds the checkpoint's secret and could make it say other numbers (Packages showing 100/90
where the Log says 10/0), and they would survive posts. The deep check reads and verifies every Log row
(no checkpoint), folds it as of the given date, renders the engine sheets, and names every cell whose
value differs from what the workbook shows. Alerts are not compared: they also hold the last post's
rejections and notices, which come from the input sheets, not the Log.
"""

from __future__ import annotations

import datetime as dt
from typing import Optional

from xl_ledger.book import render
from xl_ledger.book import schema
from xl_ledger.book.store import OpenLog
from xl_ledger.core.journal import Journal

COMPARED = ("Packages", "Balances", "Allocations", "Report")
MAX_SHOWN = 50


def differences(store, key: Optional[bytes], as_of: Optional[dt.date], now: dt.datetime
                ) -> tuple[dt.date, list[str]]:
    """(the date compared, 'studio.xlsm!Packages!F3 (total): shows 100, the Log says 10' for every
    differing cell, the first MAX_SHOWN), from a full read of the Log. `as_of` None: the studio's today."""
    from xl_ledger.core.scope import Scopes
    from xl_ledger.post import _same
    from xl_ledger.post import _show
    from xl_ledger.post import local_today

    log = OpenLog(store, store.read_log(), key)  # the plain open: verifies every row, no cache at all
    journal = Journal(log.entries())
    if as_of is None:
        as_of = local_today(now, Scopes(e for e in journal.entries if e.event.kind == "settings_set").settings.timezone)
    return as_of, _compare(store, render.all_sheets(journal.fold(as_of), entries=journal.entries), _same, _show)


def _compare(store, body, _same, _show) -> list[str]:
    out: list[str] = []
    for name in COMPARED:
        expected = body[name]
        headers = schema.BY_NAME[name].headers
        shown = {r: tuple(v) + (None,) * (len(headers) - len(v)) for r, v in store.read_sheet(name).rows}
        last = max([len(expected) + 1, *shown])
        for excel_row in range(2, last + 1):
            want = expected[excel_row - 2] if excel_row - 2 < len(expected) else (None,) * len(headers)
            have = shown.get(excel_row, (None,) * len(headers))
            for i, header in enumerate(headers):
                if not _same(have[i], want[i]):
                    out.append(f"{store.name}!{name}!{schema.col_letter(i + 1)}{excel_row} ({header}): shows "
                               f"{_show(have[i]) or '(empty)'}, the Log says {_show(want[i]) or '(empty)'}")
                    if len(out) >= MAX_SHOWN:
                        return out
    return out
