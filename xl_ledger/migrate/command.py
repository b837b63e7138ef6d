"""`xl-ledger import LEGACY --into STUDIO.xlsm [--mapping M.json] [--dry-run] [--day-first] [--as USER]`

The main CLI (xl_ledger/cli.py) calls `register(subparsers)` when this module exists; `run(args)`
returns the exit code: 0 imported (or dry run done), 2 the legacy file was refused (hostile, broken,
bad mapping), 1 the studio refused it (locked, already imported, chain broken, not allowed).
Every refusal is one plain message on stderr and leaves every file as it was.
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import sys
from pathlib import Path

from xl_ledger.book.store import StoreError
from xl_ledger.migrate.importer import ImportRefused
from xl_ledger.migrate.importer import import_legacy
from xl_ledger.migrate.sources import LegacyFileError


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "import", help="import a legacy tracking spreadsheet into a studio workbook",
        description="Import a legacy tracking file (.xlsx, .xls, .csv) as Log events with reason 'migration', and "
                    "write a reconciliation report (the Migration sheet and STUDIO.migration.csv) that puts the "
                    "legacy file's remaining balances beside the recomputed ones. The detected mapping is saved "
                    "beside the legacy file (LEGACY.xl-ledger-mapping.json) and reused on the next run.")
    p.add_argument("legacy", type=Path, help="the legacy tracking file")
    p.add_argument("--into", dest="studio", type=Path, required=True, help="the studio workbook (.xlsm)")
    p.add_argument("--mapping", type=Path, help="use this mapping JSON instead of the saved or detected one")
    p.add_argument("--dry-run", action="store_true",
                   help="show what would be imported and the reconciliation; write nothing (not even the mapping)")
    p.add_argument("--day-first", action="store_true", default=None,
                   help="read numeric dates as day/month/year when detecting the layout")
    p.add_argument("--as", dest="operator", help="who is importing (default: the login name)")
    p.add_argument("--key-file", type=Path, help="the owner's HMAC key file, if the Log is signed with one")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace, out=None, err=None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    operator = args.operator or getpass.getuser()
    try:
        key = args.key_file.read_bytes().strip() if getattr(args, "key_file", None) else None
        report = import_legacy(args.legacy, args.studio, operator=operator, now=dt.datetime.now(dt.timezone.utc),
                               mapping_path=args.mapping, day_first=args.day_first, dry_run=args.dry_run, key=key)
    except LegacyFileError as e:
        print(f"xl-ledger import: {e} Nothing was imported; {args.studio.name} is unchanged.", file=err)
        return 2
    except (ImportRefused, StoreError) as e:
        print(f"xl-ledger import: {e}", file=err)
        return 1
    except OSError as e:
        print(f"xl-ledger import: {e.filename or ''}: {e.strerror}. Nothing was imported.", file=err)
        return 1
    for line in report.lines():
        print(line, file=out)
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m xl_ledger.migrate.command import ...` works without the main CLI."""
    parser = argparse.ArgumentParser(prog="xl-ledger")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
