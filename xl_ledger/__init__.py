"""xl-ledger: a tamper-evident ledger for prepaid lesson packages, kept in an Excel workbook."""

__version__ = "0.1.0"
