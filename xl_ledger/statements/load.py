"""Reading a workbook's verified Log for one student or family, and the dates a command is asked about."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Optional

from xl_ledger.core import events as E
from xl_ledger.core import movements
from xl_ledger.core.inputs import Settings
from xl_ledger.core.scope import Scopes


@dataclass
class Ledger:
    """A workbook's Log, verified, split into components (families joined by transfers)."""
    name: str
    scopes: Scopes
    settings: Settings
    today: dt.date

    def entries_for(self, student_ids) -> list[E.Entry]:
        return self.scopes.entries_for(student_ids)

    def members(self, family_id: str) -> list[str]:
        return sorted(sid for sid, s in self.scopes.students.items() if s.family_id == family_id)


def read_ledger(args) -> Ledger:
    """The Log of the workbook at args.path, its chain checked (exit 1 if it does not verify)."""
    from xl_ledger import cli
    from xl_ledger import post

    from xl_ledger.book import anchors

    store = cli.open_store(args.path, args)  # the shared ledger's Log with --ledger (pg/)
    key = cli.read_key(getattr(args, "key_file", None))
    log = store.open_log(key)
    anchors.check_open(log, key)  # a Log cut short would give a statement without a word (exit 1)
    scopes = Scopes(log.entries())
    now, today = cli.clock(args)
    today = today or post.local_today(now, scopes.settings.timezone)
    return Ledger(store.name, scopes, scopes.settings, today)


def ledger_from_store(store, now, key=None) -> Ledger:
    """The same, for a store already open (the ribbon's LiveStore)."""
    from xl_ledger import post

    scopes = Scopes(store.open_log(key).entries())
    return Ledger(store.name, scopes, scopes.settings, post.local_today(now, scopes.settings.timezone))


def period(args, ledger: Ledger) -> tuple[Optional[dt.date], dt.date]:
    """(--from, --to): --to defaults to today; --from to the first entry (None)."""
    from xl_ledger.cli import CliError
    from xl_ledger.cli import parse_day

    end = parse_day(args.to, "--to") if getattr(args, "to", None) else ledger.today
    start = parse_day(getattr(args, "from_"), "--from") if getattr(args, "from_", None) else None
    if start is not None and start > end:
        raise CliError(f"--from {start}", f"is after --to {end}.", "Give a --from on or before --to.")
    return start, end


def student(ledger: Ledger, student_id: str) -> str:
    from xl_ledger.cli import CliError

    if student_id not in ledger.scopes.students:
        raise CliError(f"{ledger.name}!Students", f"has no student {student_id!r}.",
                       "Use a student_id from the Students sheet (and post after adding one).", student_id)
    return student_id


def family(ledger: Ledger, family_id: str) -> list[str]:
    from xl_ledger.cli import CliError

    members = ledger.members(family_id)
    if not members:
        raise CliError(f"{ledger.name}!Students", f"has no student in family {family_id!r}.",
                       "Use a family_id from the Students sheet's family_id column.", family_id)
    return members


def movements_for(ledger: Ledger, students: list[str], start, end, family: bool) -> movements.Statement:
    return movements.statement(ledger.entries_for(students), students, start, end, family=family)
