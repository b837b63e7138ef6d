"""The text sources of the workbook's VBA project and ribbon, and how the generated ones are made.

Committed under `xl_ledger/excel/`:
- `vba/xlwings.bas`, `vba/Dictionary.cls`: copied from the pinned xlwings package (the standalone
  RunPython runtime), verbatim but for XLWINGS_PATCHES (no PRO import); `xlwings_copy()` is what they
  must be.
- `vba/LedgerRibbon.bas`, `customUI.xml`: generated from `ribbon.BUTTONS`.
- `vba/xlwings_udfs.bas`: generated from `udfs.py` by xlwings' own wrapper generator.
- `vba/LedgerFunctions.bas`: generated from the same metadata (docstrings, `@xw.arg` docs, category):
  the Application.MacroOptions calls that describe the functions in Insert Function.
- `vba/ThisWorkbook.cls`: generated; the workbook's document module, whose Workbook_Open runs them.
`generated()` returns what the generated files must contain now; `write_generated()` updates them.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import sys
import types
from dataclasses import dataclass
from pathlib import Path

from xl_ledger.excel import ribbon

HERE = Path(__file__).resolve().parent
VBA_DIR = HERE / "vba"
CUSTOMUI_PATH = HERE / "customUI.xml"
UDF_MODULE = "xl_ledger.excel.udfs"

# Files copied from the xlwings package: repository name -> path inside the package.
XLWINGS_FILES = {"xlwings.bas": "xlwings.bas", "Dictionary.cls": "addin/Dictionary.cls"}
# The one change made to the copy of xlwings.bas: its embedded-code branch (for *.py sheets, an xlwings
# PRO feature) imports xlwings.pro. The product uses only the BSD parts (DESIGN §5), so that branch
# says so and stops instead. (old, new) in the file's own CRLF text; tests check the copy is exactly
# the installed file with this one replacement.
XLWINGS_PATCHES = {"xlwings.bas": (
    b"            PythonCommand = \"import xlwings.pro;xlwings.pro.runpython_embedded_code('\" & "
    b"SourcePythonCommand & \"')\"\r\n",
    b"            MsgBox \"Embedded code (*.py sheets) is an xlwings PRO feature that xl-ledger does not use.\"\r\n"
    b"            Exit Function\r\n",
)}


def xlwings_copy(name: str) -> bytes:
    """What the repository's copy of an xlwings file must be: the installed one, patched as above."""
    data = installed_xlwings_file(name).read_bytes()
    if name in XLWINGS_PATCHES:
        old, new = XLWINGS_PATCHES[name]
        assert data.count(old) == 1, f"the pinned xlwings changed {name}: review XLWINGS_PATCHES"
        data = data.replace(old, new)
    return data

FUNCTIONS_MODULE = "LedgerFunctions"
DESCRIBE_SUB = "DescribeLedgerFunctions"
# The code of the ThisWorkbook document module (its Workbook_Open), a VBE export file.
THISWORKBOOK_PATH = VBA_DIR / "ThisWorkbook.cls"

# VBA modules of the template after the document modules, in project order.
VBA_SOURCES = ("xlwings.bas", "Dictionary.cls", "LedgerRibbon.bas", "xlwings_udfs.bas", f"{FUNCTIONS_MODULE}.bas")


def installed_xlwings_file(name: str) -> Path:
    import xlwings

    return Path(xlwings.__file__).resolve().parent / XLWINGS_FILES[name]


@contextlib.contextmanager
def _udfs_as_on_windows(workbook_name: str = "workbook_template.xlsm"):
    """`xlwings.udfs` and our `udfs.py` loaded the way Windows would load them; yields both.

    `xlwings.udfs` imports pywin32 at the top, which does not exist on Linux; the three modules it
    touches are stubbed only while it is imported. The real `xlfunc`/`xlarg`/`xlret` decorators (what
    `xw.func` etc. are on Windows) are swapped in while `udfs.py` is executed, so the metadata
    (`__xlfunc__`: arguments, docs, category) is exactly what Windows would record.
    """
    import xlwings

    stubs = {name: types.ModuleType(name) for name in ("pythoncom", "pywintypes", "win32com", "win32com.client")}
    stubs["pythoncom"].CoInitialize = lambda: None  # type: ignore[attr-defined]
    stubs["win32com.client"].Dispatch = None  # type: ignore[attr-defined]
    stubs["win32com"].client = stubs["win32com.client"]  # type: ignore[attr-defined]
    saved_modules = {name: sys.modules.get(name) for name in (*stubs, "xlwings.udfs")}
    saved_api = {name: getattr(xlwings, name, None) for name in ("func", "arg", "ret", "udfs")}
    try:
        sys.modules.update(stubs)
        sys.modules.pop("xlwings.udfs", None)
        import xlwings.udfs as xludfs

        xlwings.func, xlwings.arg, xlwings.ret = xludfs.xlfunc, xludfs.xlarg, xludfs.xlret
        spec = importlib.util.spec_from_file_location("_xl_ledger_udfs_for_vba", HERE / "udfs.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)  # type: ignore[union-attr]
        yield xludfs, module
    finally:
        for name, value in saved_api.items():
            if value is None:
                xlwings.__dict__.pop(name, None)
            else:
                setattr(xlwings, name, value)
        for name, mod in saved_modules.items():
            if mod is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = mod


def udfs_bas(workbook_name: str = "workbook_template.xlsm") -> str:
    """The `xlwings_udfs` module exactly as xlwings' "Import Functions" would write it on Windows."""
    with _udfs_as_on_windows() as (xludfs, module):
        buf = io.StringIO()
        # The same three header lines as xlwings.udfs.import_udfs writes.
        buf.write('Attribute VB_Name = "xlwings_udfs"\n')
        buf.write("'Autogenerated code by xlwings - changes will be lost with next import!\n")
        buf.write("#Const App = \"Microsoft Excel\" 'Adjust when using outside of Excel\n")
        xludfs.generate_vba_wrapper(UDF_MODULE, module, buf, types.SimpleNamespace(Name=workbook_name))
    return buf.getvalue().replace("\n", "\r\n")


@dataclass(frozen=True)
class FunctionHelp:
    """What Excel's Insert Function dialog shows for one worksheet function."""

    name: str
    description: str
    category: str
    arguments: tuple[tuple[str, str], ...]  # (name, help) in the order of the VBA wrapper's arguments


def function_help() -> list[FunctionHelp]:
    """Per UDF, from the metadata xlwings records on Windows: the docstring, each `@xw.arg(doc=...)`,
    the category. The hidden `caller` argument (not part of the wrapper's signature) is left out."""
    found = []
    with _udfs_as_on_windows() as (_xludfs, module):
        for name in sorted(vars(module)):
            meta = getattr(getattr(module, name), "__xlfunc__", None)
            if meta is None or meta["sub"]:
                continue
            args = tuple((a["name"], " ".join(a["doc"].split())) for a in meta["args"]
                         if not a["vba"] and a["name"] != "caller")
            found.append(FunctionHelp(meta["name"], " ".join(meta["ret"]["doc"].split()), meta["category"], args))
    return found


def _vba_string(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def functions_bas() -> str:
    """The `LedgerFunctions` module: one Application.MacroOptions call per worksheet function."""
    lines = [
        f'Attribute VB_Name = "{FUNCTIONS_MODULE}"',
        "' Generated from the docstrings and @xw.arg docs of xl_ledger/excel/udfs.py: do not edit by hand.",
        "' Gives each LEDGER_* worksheet function its description, argument help and category in Excel's",
        "' Insert Function dialog (what xlwings' Import Functions would register). ThisWorkbook runs it when",
        "' the workbook opens. Where it cannot run (LibreOffice, Excel without ArgumentDescriptions) it does",
        "' nothing: every error is ignored. The workbook is not marked as changed by it.",
        "Option Explicit",
        "",
        f"Public Sub {DESCRIBE_SUB}()",
        "    Dim wasSaved As Boolean",
        "    On Error Resume Next",
        "    wasSaved = ThisWorkbook.Saved",
    ]
    for f in function_help():
        lines.append(f"    Application.MacroOptions Macro:=\"'\" & ThisWorkbook.Name & \"'!{f.name}\", _")
        lines.append(f"        Description:={_vba_string(f.description[:255])}, _")
        if f.arguments:
            lines.append(f"        Category:={_vba_string(f.category)}, _")
            lines.append("        ArgumentDescriptions:=Array( _")
            for i, (_name, doc) in enumerate(f.arguments):
                end = ", _" if i < len(f.arguments) - 1 else ")"
                lines.append(f"            {_vba_string(doc[:255])}{end}")
        else:
            lines.append(f"        Category:={_vba_string(f.category)}")
    lines += [
        "    ThisWorkbook.Saved = wasSaved",
        "End Sub",
        "",
    ]
    return "\r\n".join(lines)


def thisworkbook_cls() -> str:
    """The ThisWorkbook document module as the VBE exports it: Workbook_Open describes the functions."""
    from xl_ledger.book import vba_project as V

    header = "VERSION 1.0 CLASS\r\nBEGIN\r\n  MultiUse = -1  'True\r\nEND\r\n"
    code = [
        "' Generated by xl_ledger/excel/sources.py: do not edit by hand.",
        "Option Explicit",
        "",
        "Private Sub Workbook_Open()",
        "    On Error Resume Next",
        f"    {DESCRIBE_SUB}",
        "End Sub",
        "",
    ]
    return header + V.document_module("ThisWorkbook", V.WORKBOOK_BASE).code + "\r\n".join(code)


def generated() -> dict[Path, str]:
    """Generated source files and the text they must hold."""
    return {
        VBA_DIR / "LedgerRibbon.bas": ribbon.callbacks_bas(),
        VBA_DIR / "xlwings_udfs.bas": udfs_bas(),
        VBA_DIR / f"{FUNCTIONS_MODULE}.bas": functions_bas(),
        THISWORKBOOK_PATH: thisworkbook_cls(),
        CUSTOMUI_PATH: ribbon.customui_xml(),
    }


def write_generated() -> list[Path]:
    """Rewrite generated files whose content changed; return those paths."""
    changed = []
    for path, text in generated().items():
        data = text.encode("cp1252" if path.suffix in (".bas", ".cls") else "utf-8")
        if not path.exists() or path.read_bytes() != data:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            changed.append(path)
    return changed
