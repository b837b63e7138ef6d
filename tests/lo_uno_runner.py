"""Drive a private headless LibreOffice through UNO. Runs under the *system* python3 (python3-uno).

Usage (see tests/libreoffice.run_uno): lo_uno_runner.py SOFFICE PROFILE_URL PIPE DOC_PATH REQUEST_JSON

REQUEST_JSON keys (all optional):
  "modules": true          -> answer["modules"] = {library: [module names]} of the document's Basic libraries
  "calls": [{"macro": "LedgerRibbon.OnPost", "args": ["$document"], "read": ["Start", "Z1"]}, ...]
                           -> answer["calls"] = [{"macro", "ok", "error", "value"}] where value is the text
                              of the cell after the call (the cell is cleared before each call)
Prints one JSON line. The caller kills the whole process group afterwards.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import uno
from com.sun.star.beans import PropertyValue


DOCUMENT_ARG = "$document"  # an argument placeholder replaced by the document (any UNO object will do)


def _prop(name, value):
    p = PropertyValue()
    p.Name, p.Value = name, value
    return p


def _connect(pipe: str, deadline: float):
    local = uno.getComponentContext()
    resolver = local.ServiceManager.createInstanceWithContext("com.sun.star.bridge.UnoUrlResolver", local)
    while True:
        try:
            return resolver.resolve(f"uno:pipe,name={pipe};urp;StarOffice.ComponentContext")
        except Exception:
            if time.time() > deadline:
                raise
            time.sleep(0.3)


def main() -> None:
    soffice, profile, pipe, doc_path, request_json = sys.argv[1:6]
    request = json.loads(request_json)
    subprocess.Popen([soffice, f"-env:UserInstallation={profile}", "--headless", "--invisible", "--norestore",
                      "--nologo", "--nodefault", f"--accept=pipe,name={pipe};urp;"],
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    ctx = _connect(pipe, time.time() + 90)
    desktop = ctx.ServiceManager.createInstanceWithContext("com.sun.star.frame.Desktop", ctx)
    # MacroExecutionMode 4 = ALWAYS_EXECUTE_NO_WARN: run the document's macros without asking.
    doc = desktop.loadComponentFromURL(uno.systemPathToFileUrl(doc_path), "_blank", 0,
                                       (_prop("Hidden", True), _prop("MacroExecutionMode", 4)))  # fmt: skip
    answer: dict = {}
    if request.get("modules"):
        libs = doc.BasicLibraries
        answer["modules"] = {}
        for name in libs.getElementNames():
            libs.loadLibrary(name)
            answer["modules"][name] = sorted(libs.getByName(name).getElementNames())
    calls = []
    provider = doc.getScriptProvider()
    for call in request.get("calls", []):
        sheet_name, cell_name = call["read"]
        cell = doc.Sheets.getByName(sheet_name).getCellRangeByName(cell_name)
        cell.setString("")
        result = {"macro": call["macro"], "ok": False, "error": None, "value": None}
        try:
            url = f"vnd.sun.star.script:VBAProject.{call['macro']}?language=Basic&location=document"
            args = tuple(doc if a == DOCUMENT_ARG else a for a in call.get("args", []))
            provider.getScript(url).invoke(args, (), ())
            result["ok"] = True
        except Exception as exc:  # report, keep going: one broken callback must not hide the others
            result["error"] = f"{type(exc).__name__}: {getattr(exc, 'Message', exc)}"
        result["value"] = cell.getString()
        calls.append(result)
    answer["calls"] = calls
    doc.close(True)
    try:
        desktop.terminate()
    except Exception:
        pass  # the bridge dies with the office; the caller kills the process group anyway
    print(json.dumps(answer))


if __name__ == "__main__":
    main()
