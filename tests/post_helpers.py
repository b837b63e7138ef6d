"""Helpers for the Post and CLI tests: a studio workbook copied from the real template, rows typed into
its input sheets through the FileStore (as a user's edits would arrive), and the CLI as a subprocess."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from pathlib import Path

from xl_ledger.book import schema
from xl_ledger.book.filestore import FileStore
from xl_ledger.book.store import Change

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = REPO / "workbook_template.xlsm"
NOW = dt.datetime(2026, 3, 10, 18, 0, tzinfo=dt.timezone.utc)

PRODUCTS = [
    {"product_id": "P10", "name": "Ten lessons", "unit": "lessons", "quantity": 10, "price": 300},
    {"product_id": "H10", "name": "Ten hours", "unit": "hours", "quantity": 10, "price": 500, "validity": "3 months"},
    {"product_id": "FAM", "name": "Family pack", "unit": "lessons", "quantity": 20, "price": 560, "shared": "yes"},
]
STUDENTS = [
    {"student_id": "S1", "name": "Ann Rossi", "family_id": "ROSSI"},
    {"student_id": "S2", "name": "Bea Rossi", "family_id": "ROSSI"},
    {"student_id": "S3", "name": "Carl Diaz"},
]


def fresh(folder: Path, name: str = "studio.xlsm") -> Path:
    path = folder / name
    shutil.copyfile(TEMPLATE, path)
    return path


def type_rows(path: Path, sheet: str, rows: dict[int, dict]) -> None:
    """Type rows into an input sheet: {excel_row: {column: value}}; None clears a cell."""
    headers = schema.BY_NAME[sheet].headers
    store = FileStore(path)
    cells = {(r, c): v for r, row in rows.items() for c, v in row.items() if c in headers}
    store.commit(Change(*store.head(), cells={sheet: cells}))


def studio(folder: Path, name: str = "studio.xlsm") -> Path:
    """A workbook with the catalogue and three students typed in (not posted)."""
    path = fresh(folder, name)
    type_rows(path, "Products", {i + 2: p for i, p in enumerate(PRODUCTS)})
    type_rows(path, "Students", {i + 2: s for i, s in enumerate(STUDENTS)})
    return path


def records(path: Path, sheet: str) -> dict[int, dict]:
    return dict(FileStore(path).read_sheet(sheet).records())


def cli(*args: str, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """`xl-ledger ARGS` in a fresh interpreter (the installed entry point's module)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "xl_ledger.cli", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout, env=env)
