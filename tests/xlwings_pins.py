"""The files the product copies from the pinned xlwings package, and the one change made to them.

Test-only on purpose (the product uses only the BSD parts of xlwings): the patch's "old" text names the PRO module, and no product source
does. `vba/xlwings.bas` and `vba/Dictionary.cls` under xl_ledger/excel must be `xlwings_copy(name)`.
"""

from __future__ import annotations

from pathlib import Path

# Files copied from the xlwings package: repository name -> path inside the package.
XLWINGS_FILES = {"xlwings.bas": "xlwings.bas", "Dictionary.cls": "addin/Dictionary.cls"}
# The one change made to the copy of xlwings.bas: its embedded-code branch (for *.py sheets, an xlwings
# PRO feature) imports xlwings.pro. The product uses only the BSD parts, so that branch
# says so and stops instead. (old, new) in the file's own CRLF text.
XLWINGS_PATCHES = {"xlwings.bas": (
    b"            PythonCommand = \"import xlwings.pro;xlwings.pro.runpython_embedded_code('\" & "
    b"SourcePythonCommand & \"')\"\r\n",
    b"            MsgBox \"Embedded code (*.py sheets) is an xlwings PRO feature that xl-ledger does not use.\"\r\n"
    b"            Exit Function\r\n",
)}


def installed_xlwings_file(name: str) -> Path:
    import xlwings

    return Path(xlwings.__file__).resolve().parent / XLWINGS_FILES[name]


def xlwings_copy(name: str) -> bytes:
    """What the repository's copy of an xlwings file must be: the installed one, patched as above."""
    data = installed_xlwings_file(name).read_bytes()
    if name in XLWINGS_PATCHES:
        old, new = XLWINGS_PATCHES[name]
        assert data.count(old) == 1, f"the pinned xlwings changed {name}: review XLWINGS_PATCHES"
        data = data.replace(old, new)
    return data
