"""What the Excel adapters need from the machine: who is posting, the owner key, the xlwings check.

Nothing here derives a path from the workbook's `fullname` (OneDrive/SharePoint give URLs there):
the owner key comes from the environment or the user's home folder.
"""

from __future__ import annotations

import getpass
import os
import re
from pathlib import Path
from typing import Optional

import xlwings

from xl_ledger.excel import sources

KEY_ENV = "XL_LEDGER_KEY"  # the owner key itself (hex or text)
KEY_FILE_ENV = "XL_LEDGER_KEY_FILE"  # or a file holding it
DEFAULT_KEY_FILE = Path.home() / ".xl-ledger" / "owner.key"
USER_ENV = "XL_LEDGER_USER"
VBA_VERSION_KEY = "XLWINGS_VBA_VERSION"  # row of the xlwings.conf sheet written by the template build


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
    text = (sources.VBA_DIR / "xlwings.bas").read_text("cp1252")
    return re.search(r'XLWINGS_VERSION As String = "([^"]+)"', text).group(1)


def workbook_vba_version(conf_rows) -> str:
    """The workbook's own record of its VBA module version (xlwings.conf), else the shipped one."""
    for row in conf_rows:
        if row and str(row[0] or "").strip().upper() == VBA_VERSION_KEY and len(row) > 1 and row[1]:
            return str(row[1]).strip()
    return shipped_vba_version()


def version_problem(vba_version: str, installed: str = xlwings.__version__) -> Optional[str]:
    """None when the workbook's VBA and the installed xlwings agree, else what to do."""
    if vba_version == installed:
        return None
    return (f"This workbook's xlwings VBA module is version {vba_version}, but the Python it started has "
            f"xlwings {installed}. They must be equal (on Windows the UDF server also needs the matching "
            f"xlwings64-{vba_version}.dll). Fix: in the Python this workbook uses, run\n"
            f"    pip install xlwings=={vba_version}\n"
            f"or reinstall xl-ledger (it pins the right version). See docs/excel.md, 'Troubleshooting'.")
