"""Long commands say what they are doing on stderr, on a terminal only (xl_ledger/progress.py)."""

from __future__ import annotations

import io
import os
import pty
import select
import subprocess
import sys
import time

from post_helpers import REPO
from post_helpers import cli
from post_helpers import studio
from post_helpers import type_rows

from xl_ledger.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_sees_the_current_step_once_the_threshold_passes_and_a_clean_line_after():
    out = Terminal()
    progress = Progress(out, after=0.05)
    progress("reading the Log")
    assert out.getvalue() == ""  # not before the threshold
    deadline = time.monotonic() + 5
    while "reading the Log" not in out.getvalue() and time.monotonic() < deadline:
        time.sleep(0.01)
    progress("saving the workbook")
    progress.done()
    text = out.getvalue()
    assert "\r\x1b[2Kxl-ledger: reading the Log…" in text and "xl-ledger: saving the workbook…" in text
    assert text.endswith("\r\x1b[2K")


def test_a_pipe_sees_nothing():
    out = io.StringIO()
    progress = Progress(out, after=0)
    progress("reading the Log")
    time.sleep(0.05)
    progress.done()
    assert out.getvalue() == ""


def test_post_on_a_terminal_shows_its_steps_and_piped_stays_quiet(tmp_path):
    path = studio(tmp_path)
    type_rows(path, "Actions", {2: {"action": "sell", "student_id": "S1", "product_id": "P10"}})
    piped = cli("post", str(path), "--as", "owner", "--dry-run")
    assert piped.returncode == 0 and piped.stderr == ""
    # The same command with stderr on a pseudo-terminal, and the threshold at zero.
    main, child = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(REPO), "XL_LEDGER_PROGRESS_AFTER": "0"}
    proc = subprocess.Popen([sys.executable, "-m", "xl_ledger.cli", "post", str(path), "--as", "owner"],
                            stdout=subprocess.PIPE, stderr=child, env=env)
    os.close(child)
    seen = b""
    while True:
        ready, _, _ = select.select([main], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(main, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    out, _ = proc.communicate(timeout=60)
    os.close(main)
    assert proc.returncode == 0, seen
    assert b"xl-ledger: " in seen and seen.endswith(b"\r\x1b[2K")  # steps shown, the line cleared at the end
    assert b"Posted studio.xlsm" in out  # the result still on stdout


def on_a_terminal(*args: str) -> tuple[int, bytes, bytes]:
    """`xl-ledger ARGS` with stderr on a pseudo-terminal and the progress threshold at zero:
    (exit code, what the terminal saw, stdout)."""
    main, child = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(REPO), "XL_LEDGER_PROGRESS_AFTER": "0"}
    proc = subprocess.Popen([sys.executable, "-m", "xl_ledger.cli", *args], stdout=subprocess.PIPE, stderr=child,
                            env=env)
    os.close(child)
    seen = b""
    while True:
        ready, _, _ = select.select([main], [], [], 120)
        if not ready:
            break
        try:
            chunk = os.read(main, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    out, _ = proc.communicate(timeout=120)
    os.close(main)
    return proc.returncode, seen, out


def test_import_and_demo_on_a_terminal_show_their_steps_and_piped_stay_quiet(tmp_path):
    import legacy_fixtures

    legacy = legacy_fixtures.log_xlsx(tmp_path / "log.xlsx")
    piped = cli("import", str(legacy), "--into", str(studio(tmp_path, "piped.xlsm")), "--as", "owner")
    assert piped.returncode == 0 and piped.stderr == "", piped.stderr
    code, seen, out = on_a_terminal("import", str(legacy), "--into", str(studio(tmp_path)), "--as", "owner")
    assert code == 0, seen
    assert b"xl-ledger: reading log.xlsx" in seen and b"xl-ledger: saving the workbook" in seen, seen
    assert seen.endswith(b"\r\x1b[2K") and b"Mapping:" in out  # the report still on stdout

    piped = cli("demo", str(tmp_path / "demo-piped.xlsm"), "--today", "2026-03-10")
    assert piped.returncode == 0 and piped.stderr == "", piped.stderr
    code, seen, out = on_a_terminal("demo", str(tmp_path / "demo.xlsm"), "--today", "2026-03-10")
    assert code == 0, seen
    # Each of the demo's three posts names itself and its stage.
    assert b"xl-ledger: post 1 of 3 (" in seen and b"xl-ledger: post 3 of 3 (" in seen, seen
    assert seen.endswith(b"\r\x1b[2K")
