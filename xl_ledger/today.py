"""The studio's date from the clock's instant: the one place a UTC `now` becomes a local day.

Not in the core (it reads the time-zone database) and not in post.py, so that `xl-ledger balance`
needs neither the Post pipeline nor the renderer to know what day it is.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo
from zoneinfo import ZoneInfoNotFoundError


def local_today(now: dt.datetime, timezone: str) -> dt.date:
    """`now` (aware) as a date in `timezone`; in UTC when the zone is unknown."""
    try:
        return now.astimezone(ZoneInfo(timezone)).date()
    except (ZoneInfoNotFoundError, ValueError):
        return now.astimezone(dt.timezone.utc).date()
