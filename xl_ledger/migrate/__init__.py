"""Legacy spreadsheet import, phase 1: read a studio's old tracking file into neutral records.

    from xl_ledger.migrate import read_legacy
    result = read_legacy("tracking.xlsx")      # detects, saves tracking.xlsx.xl-ledger-mapping.json
    result.purchases, result.lessons, result.balance_lines, result.stated_balances, result.findings

Phase 2 imports those records into a studio workbook and reconciles them:

    from xl_ledger.migrate import import_legacy
    report = import_legacy("tracking.xlsx", "studio.xlsm", operator="maria", now=now)  # or dry_run=True
    report.lines()  # what the CLI prints; the Migration sheet and studio.migration.csv hold report.rows

Modules: sources (safe opening, hostile-file guards), layouts (detection), mapping (JSON),
extract (applying a mapping), names (spelling variants), values (tolerant cell readers), units (a
pack's unit and size from header, cell or name),
records (the output model), reader (the one call above), plan (records → migration events),
reconcile (the Migration report), importer (the one commit), command (`xl-ledger import`),
bench (read and import speed vs fastexcel).
"""

from xl_ledger.migrate.importer import ImportRefused
from xl_ledger.migrate.importer import ImportReport
from xl_ledger.migrate.importer import import_legacy
from xl_ledger.migrate.mapping import Mapping
from xl_ledger.migrate.mapping import SheetMapping
from xl_ledger.migrate.mapping import load_mapping
from xl_ledger.migrate.mapping import mapping_path_for
from xl_ledger.migrate.mapping import save_mapping
from xl_ledger.migrate.reader import read_legacy
from xl_ledger.migrate.records import Finding
from xl_ledger.migrate.records import LegacyBalanceLine
from xl_ledger.migrate.records import LegacyLesson
from xl_ledger.migrate.records import LegacyPurchase
from xl_ledger.migrate.records import LegacyStatedBalance
from xl_ledger.migrate.records import ReadResult
from xl_ledger.migrate.sources import LegacyFileError
from xl_ledger.migrate.sources import Limits
from xl_ledger.migrate.sources import open_legacy

__all__ = [
    "Finding", "ImportRefused", "ImportReport", "LegacyBalanceLine", "LegacyFileError", "LegacyLesson", "LegacyPurchase", "LegacyStatedBalance",
    "Limits", "Mapping", "ReadResult", "SheetMapping", "load_mapping", "mapping_path_for", "open_legacy",
    "import_legacy", "read_legacy", "save_mapping",
]
