"""The package's layers, checked on the source text (AST), so a violation anywhere in a module fails,
not only on the paths a test happens to run.

- `xl_ledger.xlsx` is a format library: it imports nothing from the rest of `xl_ledger`.
- `xl_ledger.core` is the pure engine: no spreadsheet library, no file or OS access, no clock. The
  clock and the files are passed in by the layers above (post.py, the stores).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "xl_ledger"


def modules(sub: str) -> list[Path]:
    return sorted((PACKAGE / sub).rglob("*.py"))


def imported(tree: ast.AST, module_name: str) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in the tree, relative ones resolved."""
    package = module_name.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            found += [(node.lineno, f"{base}.{alias.name}" if alias.name != "*" else base) for alias in node.names]
    return found


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts[-1] = "__init__"  # keeps the package itself as the "module" so level-1 imports resolve inside it
    return ".".join(parts)


def test_the_layer_scans_see_every_module():
    assert len(modules("xlsx")) >= 5 and len(modules("core")) >= 10


@pytest.mark.parametrize("path", modules("xlsx"), ids=lambda p: p.name)
def test_xlsx_imports_nothing_from_the_rest_of_xl_ledger(path):
    name = module_name(path)
    bad = [(line, m) for line, m in imported(ast.parse(path.read_text(encoding="utf-8")), name)
           if m.split(".")[0] == "xl_ledger" and not m.startswith("xl_ledger.xlsx")]
    assert not bad, f"{path.name} imports from outside xl_ledger.xlsx: {bad}"


def test_xlsx_loads_alone():
    """And at run time: importing every xlsx module pulls in no other xl_ledger module."""
    code = ("import sys, pkgutil, importlib, xl_ledger.xlsx as x\n"
            "for m in pkgutil.iter_modules(x.__path__): importlib.import_module('xl_ledger.xlsx.' + m.name)\n"
            "print(','.join(m for m in sys.modules if m.startswith('xl_ledger.') and not m.startswith('xl_ledger.xlsx')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""


# What the core may not import: spreadsheet libraries, the format library and stores above it, and
# modules whose business is files, processes or the clock.
FORBIDDEN_MODULES = {
    "openpyxl", "xlwings", "fastexcel", "python_calamine", "xlsxwriter", "zipfile", "pathlib", "os",
    "shutil", "io", "tempfile", "glob", "time", "subprocess", "socket", "sqlite3", "psycopg",
}
FORBIDDEN_PACKAGES = ("xl_ledger.xlsx", "xl_ledger.book", "xl_ledger.excel", "xl_ledger.migrate",
                      "xl_ledger.post", "xl_ledger.cli")
# Calls that read the clock or touch a file, by the name called (`dt.date.today()`, `open(...)`);
# `time.time()` needs `import time`, refused above (a datetime's own `.time()` is no clock).
FORBIDDEN_CALLS = {"open", "today", "now", "utcnow", "monotonic", "perf_counter", "localtime",
                   "gmtime", "read_text", "read_bytes", "write_text", "write_bytes", "getenv", "input"}


def called_name(node: ast.Call) -> str | None:
    if isinstance(node.func, ast.Name):
        return node.func.id
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return None


@pytest.mark.parametrize("path", modules("core"), ids=lambda p: p.name)
def test_the_core_stays_pure(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    bad = [(line, m) for line, m in imported(tree, module_name(path))
           if m.split(".")[0] in FORBIDDEN_MODULES or m.startswith(FORBIDDEN_PACKAGES)]
    bad += [(node.lineno, f"{called_name(node)}()") for node in ast.walk(tree)
            if isinstance(node, ast.Call) and called_name(node) in FORBIDDEN_CALLS]
    assert not bad, f"{path.name} is no longer pure (line, what): {bad}"


def test_the_purity_scan_catches_what_it_should(tmp_path):
    """The scan itself can fail: a module that reads the clock and a file is caught."""
    source = "import datetime as dt\nfrom pathlib import Path\nx = dt.date.today()\ny = open('f')\n"
    tree = ast.parse(source)
    names = {m for _l, m in imported(tree, "xl_ledger.core.x")}
    assert "pathlib.Path" in names
    assert {called_name(n) for n in ast.walk(tree) if isinstance(n, ast.Call)} >= {"today", "open"}
