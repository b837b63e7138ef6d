"""`xl-ledger import LEGACY --into STUDIO.xlsm [--mapping M.json] [--dry-run] [--day-first] [--as USER]`

The main CLI (xl_ledger/cli.py) calls `register(subparsers)` when this module exists; `run(args)`
returns the exit code, with the main CLI's meanings: 0 imported (or dry run done); 1 the studio's
Log chain is broken; 2 usage (a bad --mapping, a missing file); 3 the studio is locked or changed
meanwhile; 4 a file is broken or hostile (the legacy file refused, the studio damaged); 5 the
studio already holds an import of this file, or rows are held (no year, no unit, another currency,
cells that disagree: nothing imported until the mapping or the file answers them); 6 the operator may not import (staff).
Every refusal is one plain message on stderr and leaves every file as it was.
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import sys
from pathlib import Path

from xl_ledger.output import shown
from xl_ledger.paths import not_a_file


# The same codes as xl_ledger/cli.py (not imported from there: cli.py imports this module).
OK, TAMPERED, USAGE, LOCKED, BROKEN, REJECTED, NOT_ALLOWED = range(7)
_REFUSED = {"already_imported": REJECTED, "not_allowed": NOT_ALLOWED, "held": REJECTED}


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
    # Imported here, not at the top: the main CLI registers this command on every start.
    from xl_ledger.book.anchors import ShortLogError
    from xl_ledger.book.store import BrokenChainError
    from xl_ledger.book.store import LockedError
    from xl_ledger.book.store import StaleLogError
    from xl_ledger.book.store import StoreError
    from xl_ledger.migrate.importer import ImportRefused
    from xl_ledger.migrate.importer import import_legacy
    from xl_ledger.migrate.sources import LegacyFileError
    from xl_ledger.post import NotAllowed
    from xl_ledger.progress import shown as progress_shown

    out = out or sys.stdout
    err = err or sys.stderr
    operator = args.operator or getpass.getuser()
    if args.studio.exists() and (why := not_a_file(args.studio)):
        print(shown(f"xl-ledger import: {args.studio} {why} Give the path of the studio's .xlsm file. "
                    "Nothing was imported."), file=err)
        return BROKEN
    try:
        key = args.key_file.read_bytes().rstrip(b"\r\n") if getattr(args, "key_file", None) else None
        with progress_shown() as progress:
            report = import_legacy(args.legacy, args.studio, operator=operator, now=dt.datetime.now(dt.timezone.utc),
                                   mapping_path=args.mapping, day_first=args.day_first, dry_run=args.dry_run, key=key,
                                   progress=progress)
    except LegacyFileError as e:
        print(shown(f"xl-ledger import: {e} Nothing was imported; {args.studio.name} is unchanged.", keep_newlines=True), file=err)
        is_mapping = args.mapping is not None and Path(e.path) == Path(args.mapping)
        return USAGE if is_mapping or "does not exist" in e.message else BROKEN
    except ImportRefused as e:
        print(shown(f"xl-ledger import: {e}", keep_newlines=True), file=err)
        return _REFUSED[e.reason]
    except NotAllowed as e:  # not on the Staff sheet: Post's own message
        print(shown(f"xl-ledger import: {e} Nothing was imported.", keep_newlines=True), file=err)
        return NOT_ALLOWED
    except (BrokenChainError, ShortLogError) as e:
        print(f"xl-ledger import: {e}", file=err)
        return TAMPERED
    except (LockedError, StaleLogError) as e:
        print(shown(f"xl-ledger import: {e}", keep_newlines=True), file=err)
        return LOCKED
    except StoreError as e:
        print(shown(f"xl-ledger import: {e}", keep_newlines=True), file=err)
        return BROKEN
    except OSError as e:
        print(shown(f"xl-ledger import: {e.filename or ''}: {e.strerror}. Nothing was imported.", keep_newlines=True), file=err)
        return USAGE
    for line in report.lines():
        print(shown(line), file=out)  # names from the legacy file: control characters escaped
    return OK


def main(argv: list[str] | None = None) -> int:
    """`python -m xl_ledger.migrate.command import ...` works without the main CLI."""
    parser = argparse.ArgumentParser(prog="xl-ledger")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
