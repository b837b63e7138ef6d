"""Issue 12, item 10: only our own words reach the terminal, and a closed pipe does not change the
exit code. Run as a new user would: the real command in a subprocess."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

import openpyxl

from post_helpers import REPO
from post_helpers import cli
from post_helpers import studio
from post_helpers import type_rows

from xl_ledger.output import shown


def _popen(*args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "xl_ledger.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)


def test_post_into_a_closed_pipe_ends_quietly_with_its_own_exit_code(tmp_path):
    """`post | head` used to commit, then print a traceback and exit 1 ("tampered")."""
    path = studio(tmp_path)
    type_rows(path, "Actions", {2: {"action": "sell", "date": dt.date(2026, 3, 1), "student_id": "S1",
                                    "product_id": "P10"},
                                3: {"action": "sell", "date": dt.date(2026, 3, 1), "student_id": "S404",
                                    "product_id": "P10"}})
    proc = _popen("post", str(path), "--today", "2026-03-10")
    proc.stdout.close()  # the reader went away before the first line
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 5, err  # one row rejected: the post's own code
    assert err == ""
    # and the post did happen
    done = cli("verify", str(path))
    assert done.returncode == 0 and "(8 rows" in done.stdout or "rows" in done.stdout


def test_control_characters_in_names_are_escaped_in_text_output(tmp_path):
    evil = "Eve\x1b[31mRED\r\nS9 fake line\u202eevil"
    path = studio(tmp_path)
    type_rows(path, "Students", {5: {"student_id": "S4", "name": evil}})
    type_rows(path, "Actions", {2: {"action": "sell", "date": dt.date(2026, 3, 1), "student_id": "S4",
                                    "product_id": "P10"}})
    assert cli("post", str(path), "--today", "2026-03-10").returncode == 0
    for args in (("balance", str(path), "--today", "2026-03-10"),
                 ("history", str(path), "--student", "S4", "--today", "2026-03-10")):
        out = cli(*args)
        assert out.returncode == 0, out.stderr
        assert "\x1b" not in out.stdout and "\r" not in out.stdout and "\u202e" not in out.stdout
        line = next(line for line in out.stdout.splitlines() if "Eve" in line)
        assert r"Eve\x1b[31mRED\x0aS9 fake line\u202eevil" in line  # (the xlsx keeps CR LF as LF)
        assert not any(line.startswith("S9") for line in out.stdout.splitlines())


def test_shown_leaves_ordinary_names_alone():
    assert shown("Zoë Ångström 学生 🎹") == "Zoë Ångström 學生 🎹".replace("學", "学")
    assert shown("a\tb") == r"a\x09b"
    assert shown("one\ntwo", keep_newlines=True) == "one\ntwo"


def test_a_panicking_library_does_not_print_its_panic(tmp_path):
    """1e308 in a date-formatted cell makes calamine panic; the row is rejected in its cell (already
    so), and the panic's own text ("thread '<unnamed>' panicked at ...") no longer reaches stderr."""
    path = studio(tmp_path)
    type_rows(path, "Sessions", {2: {"session_id": "L1", "date": dt.date(2026, 3, 2), "student_id": "S1",
                                     "status": "attended"}})
    wb = openpyxl.load_workbook(path, keep_vba=True)
    ws = wb["Sessions"]
    ws["K2"].value, ws["K2"].number_format = -1e308, "yyyy-mm-dd hh:mm"  # cancelled_at: calamine panics
    ws["A3"], ws["B3"], ws["E3"], ws["G3"] = "L2", "2026-03-03", "S1", "attended"
    ws["C3"].value, ws["C3"].number_format = 1e308, "[h]:mm:ss"  # start: calamine's OverflowError (exit 4)
    wb.save(path)
    out = cli("post", str(path), "--today", "2026-03-10")
    assert out.returncode == 5, out.stderr  # the two rows are rejected in their cells, not the whole post
    assert "Sessions!K2" in out.stdout and "Sessions!C3" in out.stdout
    assert "panick" not in out.stderr.lower() and "traceback" not in out.stderr.lower(), out.stderr
    assert "RUST_BACKTRACE" not in out.stderr
