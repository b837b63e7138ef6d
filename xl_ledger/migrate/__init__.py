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

# Each name is imported from its module on first use (PEP 562): the CLI registers `xl-ledger import` on
# every start, and a `balance` must not pay for loading the importer.
_HOMES = {
    "ImportRefused": "importer", "ImportReport": "importer", "import_legacy": "importer",
    "Mapping": "mapping", "SheetMapping": "mapping", "load_mapping": "mapping", "mapping_path_for": "mapping",
    "save_mapping": "mapping", "read_legacy": "reader", "Finding": "records", "LegacyBalanceLine": "records",
    "LegacyLesson": "records", "LegacyPurchase": "records", "LegacyStatedBalance": "records",
    "ReadResult": "records", "LegacyFileError": "sources", "Limits": "sources", "open_legacy": "sources",
}


def __getattr__(name: str):
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'xl_ledger.migrate' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"xl_ledger.migrate.{home}"), name)


__all__ = [
    "Finding", "ImportRefused", "ImportReport", "LegacyBalanceLine", "LegacyFileError", "LegacyLesson", "LegacyPurchase", "LegacyStatedBalance",
    "Limits", "Mapping", "ReadResult", "SheetMapping", "load_mapping", "mapping_path_for", "open_legacy",
    "import_legacy", "read_legacy", "save_mapping",
]
