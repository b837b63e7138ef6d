"""A new studio workbook: the template copied to PATH, with this Python recorded for Excel.

xlwings' RunPython starts the interpreter named by the workbook's `xlwings.conf` sheet
(INTERPRETER_WIN on Windows, INTERPRETER_MAC on macOS) before its user/global config; recording the
interpreter that has xl-ledger installed is what makes the ribbon's buttons work on first open.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from xl_ledger.book import schema
from xl_ledger.book.filestore import FileStore
from xl_ledger.book.store import Change
from xl_ledger.book.store import StoreError
from xl_ledger.template import template_path

NOTE = ("Rows above the first blank row are read by xlwings. xl-ledger init recorded the Python that has "
        "xl-ledger installed; change it here if you move the workbook to another computer.")


class ExistsError(StoreError):
    """Refused: the target exists (a workbook is never overwritten)."""


def interpreter_keys(platform: str = sys.platform, executable: str = sys.executable) -> list[tuple[str, str]]:
    """The xlwings.conf rows for this computer. On Windows pythonw.exe (no console window) if present.

    Windows and macOS get their own key only, so that a workbook taken to the other system falls back to
    xlwings' defaults there instead of a path that cannot exist. Elsewhere (Linux: no desktop Excel, the
    workbook is prepared for someone else) both keys are written, as a visible starting point.
    """
    if platform.startswith("win"):
        pythonw = Path(executable).with_name("pythonw.exe")
        return [("INTERPRETER_WIN", str(pythonw if pythonw.exists() else executable))]
    if platform == "darwin":
        return [("INTERPRETER_MAC", executable)]
    return [("INTERPRETER_WIN", executable), ("INTERPRETER_MAC", executable)]


def create(target: Path, *, keys: list[tuple[str, str]] | None = None) -> Path:
    """Copy the template to `target` (never over an existing file) and record the interpreter."""
    target = Path(target)
    if target.suffix.lower() != ".xlsm":
        raise ExistsError(f"{target.name}: a studio workbook must end in .xlsm (it carries the Ledger "
                          f"macros; Excel refuses an .xlsm saved as .xlsx). Use e.g. {target.stem}.xlsm")
    if not target.parent.is_dir():
        raise ExistsError(f"{target.parent} is not a folder: create it first, or choose another path")
    tmp = target.with_name(f".~xl-ledger.{target.name}.new")
    shutil.copyfile(template_path(), tmp)
    try:
        store = FileStore(tmp)
        conf = store.read_sheet(schema.XLWINGS_CONF_SHEET)
        key_col, value_col = conf.headers[0], conf.headers[1]
        rows = keys if keys is not None else interpreter_keys()
        cells: dict[tuple[int, str], object] = {(3, key_col): None}  # the template's note moves down
        for i, (key, value) in enumerate(rows, start=2):
            cells[(i, key_col)] = key
            cells[(i, value_col)] = value
        cells[(len(rows) + 3, key_col)] = NOTE
        store.commit(Change(*store.head(), cells={schema.XLWINGS_CONF_SHEET: cells}))
        # A hard link fails if the target appeared meanwhile: no race can make us overwrite a file.
        try:
            os.link(tmp, target)
        except FileExistsError:
            raise ExistsError(f"{target} already exists: xl-ledger never overwrites a workbook. Choose another "
                              f"name, or move the old file away first") from None
        except OSError:  # file systems without hard links
            if target.exists():
                raise ExistsError(f"{target} already exists: choose another name") from None
            os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()
    return target
