"""What the Excel adapters need from the machine: who is posting, the owner key, the xlwings check.

Nothing here derives a path from the workbook's `fullname` (OneDrive/SharePoint give URLs there):
the owner key comes from the environment or the user's home folder.
"""

from __future__ import annotations

import getpass
import os
import re
import sys
from pathlib import Path
from typing import Optional

import xlwings

from xl_ledger.excel import sources

KEY_ENV = "XL_LEDGER_KEY"  # the owner key itself (hex or text)
KEY_FILE_ENV = "XL_LEDGER_KEY_FILE"  # or a file holding it
DEFAULT_KEY_FILE = Path.home() / ".xl-ledger" / "owner.key"
USER_ENV = "XL_LEDGER_USER"
# The workbook-level defined name the template build sets to ="<XLWINGS_VERSION>" of the xlwings VBA
# module it embeds (derived from that module's own constant, so the two cannot disagree). A defined
# name, not a row of xlwings.conf: `xl-ledger init` rewrites the rows under row 1 there, users edit
# them, and xlwings reads every row above the first blank one as its own configuration.
VBA_VERSION_NAME = "xl_ledger_xlwings_vba"


def operator() -> str:
    """Who is posting: XL_LEDGER_USER, else the login name (matched against the Staff sheet)."""
    return os.environ.get(USER_ENV) or getpass.getuser()


def owner_key() -> Optional[bytes]:
    """The HMAC key kept outside the workbook, or None for a plain hash chain."""
    if os.environ.get(KEY_ENV):
        return os.environ[KEY_ENV].strip().encode("utf-8")
    path = Path(os.environ.get(KEY_FILE_ENV) or DEFAULT_KEY_FILE).expanduser()
    if path.is_file():
        return path.read_bytes().strip() or None
    return None


def shipped_vba_version() -> str:
    """XLWINGS_VERSION of the VBA module the template embeds (xl_ledger/excel/vba/xlwings.bas)."""
    return vba_module_version((sources.VBA_DIR / "xlwings.bas").read_text("cp1252"))


def vba_module_version(text: str) -> str:
    """The XLWINGS_VERSION constant of an xlwings VBA module's source."""
    found = re.search(r'XLWINGS_VERSION As String = "([^"]+)"', text)
    if not found:
        raise ValueError("not an xlwings VBA module: no XLWINGS_VERSION constant")
    return found.group(1)


def version_name_formula(version: str) -> str:
    """What the defined name refers to: a text constant."""
    return f'="{version}"'


def workbook_vba_version(book) -> Optional[str]:
    """The xlwings version the workbook's VBA module was built with (its defined name), or None."""
    try:
        if not book.names.contains(VBA_VERSION_NAME):
            return None
        refers_to = str(book.names[VBA_VERSION_NAME].refers_to or "")
    except Exception:
        return None
    found = re.fullmatch(r'\s*=?\s*"?\s*([^"]*?)\s*"?\s*', refers_to)
    return found.group(1) if found and found.group(1) else None


def _key(version: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"[.+-]", version))


def version_problem(vba_version: Optional[str], installed: str = xlwings.__version__) -> Optional[str]:
    """None when the workbook's VBA and the installed xlwings agree, else what is wrong and what to do."""
    python = sys.executable
    if vba_version is None:
        return (f"This workbook does not record which xlwings its VBA module was built with (the defined name "
                f"{VBA_VERSION_NAME} is missing), so xl-ledger cannot check it against the xlwings {installed} "
                f"of this Python ({python}).\n\nFix: press Alt+F11, open the module 'xlwings' and read the "
                f'line Public Const XLWINGS_VERSION As String = "X". If X is {installed}, add the name: '
                f'Formulas > Name Manager > New, name {VBA_VERSION_NAME}, refers to ="{installed}". '
                f"Otherwise proceed as for a version mismatch (docs/excel.md, 'Troubleshooting').")
    if vba_version == installed:
        return None
    where = (f"This workbook's xlwings VBA module is version {vba_version}, but the Python it started "
             f"({python}) has xlwings {installed}. They must be equal (on Windows the worksheet functions "
             f"also need xlwings64-{vba_version}.dll, which only xlwings {vba_version} installs).")
    newer_workbook = _key(vba_version) > _key(installed)
    if newer_workbook:
        fix = (f"Fix: update this Python to the xl-ledger that made the workbook, which pins xlwings "
               f"{vba_version}:\n    pip install --upgrade xl-ledger\nor only xlwings:\n"
               f"    pip install xlwings=={vba_version}")
    else:
        fix = (f"Fix, either:\n  - run this workbook with the xlwings it was built with: in {python} run\n"
               f"        pip install xlwings=={vba_version}\n"
               f"  - or keep xlwings {installed} and move your data to a workbook built with it: "
               f"`xl-ledger init NEW.xlsm` creates one (its VBA is xlwings {installed}'s).")
    return f"{where}\n\n{fix}\n\nSee docs/excel.md, 'Troubleshooting'."
