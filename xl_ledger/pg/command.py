"""The command line for a ledger in PostgreSQL: `--ledger/--studio/--desk` on the workbook commands,
and `xl-ledger ledger-init`.

A workbook points at its ledger with `--ledger URL`, or with the Settings keys `ledger` (the URL),
`ledger_studio` and `desk`. The password is never in the workbook: libpq takes it from PGPASSWORD or
~/.pgpass, and a Settings URL that carries one is refused.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Optional

from xl_ledger.book.filestore import FileStore
from xl_ledger.book.store import BrokenFileError
from xl_ledger.core import chain
from xl_ledger.pg.log import LedgerError
from xl_ledger.pg.log import PgLog
from xl_ledger.pg.log import has_password

# Every command that reads the Log (the ledger's, not the workbook's mirror, which is a desk behind).
LEDGER_COMMANDS = ("post", "recompute", "verify", "balance", "history", "statement", "export", "audit", "close",
                   "reopen", "tieout", "remind")


def add_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("shared ledger (PostgreSQL)")
    g.add_argument("--ledger", metavar="URL", help="the ledger database, e.g. postgresql://desk@host/studio "
                                                   "(default: Settings key `ledger`); password from PGPASSWORD "
                                                   "or ~/.pgpass")
    g.add_argument("--studio", metavar="ID", help="the studio's id in that database (default: Settings key "
                                                  "`ledger_studio`, else main)")
    g.add_argument("--desk", metavar="NAME", help="this workbook's desk name (default: Settings key `desk`, "
                                                  "else the file name)")


def register(sub) -> None:
    """Add --ledger to the workbook commands there are, and the ledger-init command."""
    for name in LEDGER_COMMANDS:
        if name in sub.choices:
            add_options(sub.choices[name])
    p = sub.add_parser("ledger-init", help="copy a workbook's verified Log into a ledger database",
                       description="Copy the verified Log of a workbook into a PostgreSQL ledger, with its chain "
                                   "intact; run again, it adds only rows the ledger lacks.")
    p.add_argument("--ledger", metavar="URL", required=True, help="postgresql://user@host:port/database")
    p.add_argument("--from", dest="path", metavar="PATH", required=True, help="the studio workbook")
    p.add_argument("--studio", metavar="ID", default=None, help="the studio's id in the database (default: main)")
    p.add_argument("--key-file", metavar="F", help="the owner's key: the chain is an HMAC")
    p.set_defaults(func=cmd_ledger_init)


def _settings(path: Path) -> dict[str, str]:
    try:
        data = FileStore(path).read_sheet("Settings")
    except BrokenFileError:
        return {}
    out = {}
    for _row, values in data.records():
        key = str(values.get("key") or "").strip().lower()
        if key in ("ledger", "ledger_studio", "desk") and values.get("value") not in (None, ""):
            out[key] = str(values["value"]).strip()
    return out


def ledger_of(path, args) -> Optional[tuple[str, str, Optional[str]]]:
    """(url, studio, desk) when the workbook posts to a ledger database, else None."""
    url = getattr(args, "ledger", None)
    settings = _settings(Path(path)) if Path(path).is_file() else {}
    if not url:
        url = settings.get("ledger")
        if url and has_password(url):
            raise LedgerError(f"{Path(path).name}!Settings: the `ledger` URL holds a password; a workbook is "
                              "copied and mailed, so it must not. Remove it from the URL and put it in "
                              "~/.pgpass (or PGPASSWORD) on each machine.")
    if not url:
        return None
    return url, getattr(args, "studio", None) or settings.get("ledger_studio") or "main", \
        getattr(args, "desk", None) or settings.get("desk")


def open_ledger_store(path, args, store):
    """The store a command works on: `store` (a FileStore) unless the workbook posts to a ledger."""
    found = ledger_of(path, args)
    if found is None:
        return store
    url, studio, desk = found
    from xl_ledger.pg.desk import DeskStore
    from xl_ledger.pg.desk import default_desk

    return DeskStore(path, PgLog(url, studio), desk or default_desk(path))


def cmd_ledger_init(args) -> int:
    from xl_ledger.cli import CliError
    from xl_ledger.cli import TAMPERED
    from xl_ledger.cli import open_store
    from xl_ledger.cli import read_key

    book = open_store(args.path)
    key = read_key(args.key_file)
    rows, broken = book.read_verified_log(key)
    if broken is not None:
        raise CliError(f"{book.name}!Log!A{broken.index + 2}",
                       f"seq {broken.seq}: {broken.explanation}; a Log that does not verify is not copied.",
                       "Restore the workbook from a backup (`xl-ledger verify` names the row), then run "
                       "ledger-init again.", code=TAMPERED)
    log = PgLog(args.ledger, args.studio or "main")
    try:
        log.create()
        count, head, broken_db, _ = log.verify(key)
        if broken_db is not None:
            raise CliError(f"{log.where} Log seq {broken_db.seq}", f"{broken_db.explanation}.",
                           "The ledger database does not verify: restore it from a backup.", code=TAMPERED)
        if count > len(rows) or (count and rows[count - 1][chain.HASH] != head[1]):
            raise CliError(log.where, f"already holds a Log of {count} rows that is not the start of "
                                      f"{book.name}'s ({len(rows)} rows).",
                           "Use another --studio id, or point the workbook at this ledger with "
                           "`xl-ledger post --ledger` instead (a new workbook joins by posting).")
        new = rows[count:]
        with log.appending(head, new):
            pass
    finally:
        log.close()
    done = f"copied {len(new)} Log rows" if new else "nothing to copy: the ledger already holds this Log"
    last = rows[-1][chain.HASH][:16] if rows else "-"
    print(f"{log.where}: {done} ({len(rows)} rows, last hash {last}…).")
    if new:
        print(f"Next: `xl-ledger post {args.path} --ledger URL`, or put the URL in Settings (key `ledger`).")
    return 0
