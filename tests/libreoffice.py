"""LibreOffice headless as an independent client of our workbooks (conversion and UNO macros).

Reusable by every workbook test:

    from tests.libreoffice import convert, require_soffice
    pdf = convert(path, "pdf", tmp_path)               # -> Path of the PDF
    xlsx = convert(path, "xlsx", tmp_path)

Each run gets a fresh user profile (`-env:UserInstallation`) in a temporary directory and its own
process group, killed afterwards: a stale soffice on a shared profile hijacks later runs and hangs.

Without `soffice` the callers are skipped, unless XL_LEDGER_REQUIRE_LIBREOFFICE=1 (set by .ci/run),
in which case they fail: CI must never pass by skipping.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest

REQUIRE_ENV = "XL_LEDGER_REQUIRE_LIBREOFFICE"
SYSTEM_PYTHON = "/usr/bin/python3"  # python3-uno is installed for the system interpreter only
UNO_RUNNER = Path(__file__).with_name("lo_uno_runner.py")


def _missing(what: str) -> None:
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{what} is required ({REQUIRE_ENV}=1) but not available")
    pytest.skip(f"{what} not available")


def soffice() -> str:
    """Path of soffice, or skip/fail the calling test."""
    path = shutil.which("soffice") or shutil.which("libreoffice")
    if not path:
        _missing("LibreOffice (soffice)")
    return path  # type: ignore[return-value]


def require_soffice() -> str:
    return soffice()


def require_uno() -> str:
    """The interpreter that can `import uno`, or skip/fail."""
    soffice()
    try:
        subprocess.run([SYSTEM_PYTHON, "-c", "import uno"], check=True, capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        _missing("python3-uno")
    return SYSTEM_PYTHON


def _run_group(cmd: list[str], timeout: float, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run `cmd` in its own process group; on return the whole group is gone."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True, env=env)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        raise RuntimeError(f"timed out after {timeout}s: {' '.join(cmd)}\n{err.decode(errors='replace')}")
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # any oosplash/soffice.bin child left behind
        except ProcessLookupError:
            pass
    return subprocess.CompletedProcess(cmd, proc.returncode, out.decode(errors="replace"), err.decode(errors="replace"))


def convert(path: Path, to: str, outdir: Path, timeout: float = 120) -> Path:
    """Convert `path` with `soffice --convert-to <to>` into `outdir`; return the output file.

    `to` is an extension (pdf, xlsx, png) optionally followed by ':<filter>'. Raises if LibreOffice
    reports an error or writes nothing.
    """
    exe = soffice()
    outdir.mkdir(parents=True, exist_ok=True)
    ext = to.split(":", 1)[0]
    target = outdir / (path.stem + "." + ext)
    if target.exists():
        target.unlink()
    with tempfile.TemporaryDirectory(prefix="lo-profile-") as profile:
        cmd = [exe, f"-env:UserInstallation=file://{profile}", "--headless", "--norestore", "--nolockcheck",
               "--convert-to", to, "--outdir", str(outdir), str(path)]  # fmt: skip
        result = _run_group(cmd, timeout, env={**os.environ, "HOME": profile})
    if result.returncode != 0 or "Error" in result.stderr or not target.exists():
        raise RuntimeError(f"soffice failed ({result.returncode}): {result.stdout}\n{result.stderr}")
    return target


def run_uno(path: Path, request: dict, timeout: float = 180) -> dict:
    """Open `path` in a private headless soffice and run `tests/lo_uno_runner.py` against it.

    `request` is passed to the runner as JSON (see that file for the operations); its JSON answer
    is returned.
    """
    exe = soffice()
    python = require_uno()
    with tempfile.TemporaryDirectory(prefix="lo-uno-") as tmp:
        pipe = "xlledger_" + Path(tmp).name.replace("-", "_")
        cmd = [python, str(UNO_RUNNER), exe, f"file://{tmp}/profile", pipe, str(path.resolve()), json.dumps(request)]
        result = _run_group(cmd, timeout, env={**os.environ, "HOME": tmp})
    if result.returncode != 0:
        raise RuntimeError(f"UNO runner failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])
