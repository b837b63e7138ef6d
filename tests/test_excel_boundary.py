"""Licence boundary and wiring: no PRO xlwings in the product, every ribbon button reaches Python."""

from __future__ import annotations

import ast
import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import xlwings_pins

from xl_ledger.excel import ribbon
from xl_ledger.excel import sources

REPO = Path(__file__).resolve().parents[1]


def test_nothing_under_xl_ledger_imports_xlwings_pro_or_server():
    bad = []
    for path in (REPO / "xl_ledger").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            bad += [f"{path.relative_to(REPO)}: {n}" for n in names
                    if n.startswith(("xlwings.pro", "xlwings.server")) or n in ("xlwings.pro", "xlwings.server")]
        text = path.read_text("utf-8")
        bad += [f"{path.relative_to(REPO)}: {m}" for m in re.findall(r"import_module\([\"']xlwings\.(?:pro|server)", text)]
    assert not bad


def test_the_product_runs_with_no_licence_key():
    env = {k: v for k, v in os.environ.items() if k != "XLWINGS_LICENSE_KEY"}
    # `import xlwings` itself tries its pro package (and finds no key); ours must add nothing PRO to that.
    code = ("import sys, xlwings; pro = lambda: {m for m in sys.modules if m.startswith(('xlwings.pro', "
            "'xlwings.server'))}; before = pro(); "
            "import xl_ledger.excel.macros, xl_ledger.excel.udfs, xl_ledger.excel.cache, xl_ledger.book.livestore; "
            "assert xlwings.__pro__ is False, 'PRO active'; assert pro() == before, pro() - before; "
            "assert 'remote' not in [e.name for e in xlwings.engines]; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_every_ribbon_action_resolves_to_a_vba_sub_that_calls_an_existing_python_function():
    xml = sources.CUSTOMUI_PATH.read_text("utf-8")
    bas = (sources.VBA_DIR / "LedgerRibbon.bas").read_bytes().decode("cp1252")
    subs = dict(re.findall(r'Public Sub (\w+)\(control As IRibbonControl\)\r\n\s+RunPython "([^"]+)"', bas))
    actions = re.findall(r'onAction="([\w.]+)"', xml)
    assert len(actions) == len(ribbon.BUTTONS)
    for action in actions:
        module, sub = action.split(".")
        assert module == ribbon.VBA_MODULE and sub in subs, action
        match = re.fullmatch(r"import ([\w.]+) as m; m\.(\w+)\(\)", subs[sub])
        assert match, subs[sub]
        fn = getattr(importlib.import_module(match.group(1)), match.group(2), None)
        assert callable(fn), f"{action} -> {subs[sub]}: no such function"


def test_the_udf_wrappers_in_the_template_equal_what_xlwings_generates():
    from oletools.olevba import VBA_Parser

    parser = VBA_Parser(str(REPO / "workbook_template.xlsm"))
    modules = {name.rsplit(".", 1)[0]: code for _f, _s, name, code in parser.extract_macros()}
    generated = sources.udfs_bas()
    body = generated
    assert modules["xlwings_udfs"].replace("\r\n", "\n").strip() == body.replace("\r\n", "\n").strip()
    assert (sources.VBA_DIR / "xlwings_udfs.bas").read_bytes() == generated.encode("cp1252")


def test_the_product_never_reaches_xlwings_pro():
    """Only the BSD parts of xlwings in the product. The copy of xlwings.bas has its one PRO
    call (embedded code in *.py sheets) replaced by a message, no product source names xlwings.pro or
    xlwings.server, and the template has no *.py sheet."""
    import zipfile

    from xl_ledger.excel import sources

    product = REPO / "xl_ledger"
    offending = [str(f.relative_to(REPO)) for f in product.rglob("*") if f.suffix in (".py", ".bas", ".cls", ".xml")
                 and re.search(r"xlwings\.(pro|server)\b", f.read_text("cp1252" if f.suffix in (".bas", ".cls") else "utf-8"))]
    assert offending == []
    vba = (REPO / "xl_ledger" / "excel" / "vba" / "xlwings.bas").read_text("cp1252")
    assert "PRO feature that xl-ledger does not use" in vba and "xlwings.pro" not in vba
    assert b"xlwings.pro" in xlwings_pins.installed_xlwings_file("xlwings.bas").read_bytes()  # the patch did work
    with zipfile.ZipFile(REPO / "workbook_template.xlsm") as z:
        workbook = z.read("xl/workbook.xml").decode("utf-8")
    from oletools.olevba import VBA_Parser

    modules = [code for _f, _s, _name, code in VBA_Parser(str(REPO / "workbook_template.xlsm")).extract_macros()]
    assert len(modules) >= 5 and not [m for m in modules if "xlwings.pro" in m]  # as Excel will read them
    sheet_names = re.findall(r'<sheet [^>]*name="([^"]+)"', workbook)
    assert sheet_names and not [n for n in sheet_names if n.endswith(".py")]
