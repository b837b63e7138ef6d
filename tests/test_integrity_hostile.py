"""Issue 12, item 11: hostile legacy files. Every part the relationships point to is pre-scanned wherever
it sits and whatever its encoding; any file up to 20 MB is refused or read within 5 s of CPU and 300 MB;
a folder, a FIFO and a device are each named as what they are. The reads run in a child process whose
CPU time and peak memory are measured by the kernel (getrusage), with an address-space cap so a
regression fails the test instead of the machine."""

from __future__ import annotations

import os
import resource
import subprocess
import sys

import hostile_files as hf
import pytest
from post_helpers import REPO
from post_helpers import cli

CPU_SECONDS, PEAK_MB = 5.0, 300
_READ = ("import sys\nfrom xl_ledger.migrate import read_legacy, LegacyFileError\n"
         "try:\n    read_legacy(sys.argv[1], save=False)\n    print('READ')\n"
         "except LegacyFileError as e:\n    print('REFUSED', e.message)\n")


def measured(path) -> str:
    """What read_legacy(path) did in a fresh interpreter, after checking its CPU time and peak memory as
    the kernel counted them for that child alone (wait4)."""
    assert path.stat().st_size <= 20 * 1024 * 1024
    cap = 2 << 30

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    proc = subprocess.Popen([sys.executable, "-c", _READ, str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=limit, env={**os.environ, "PYTHONPATH": str(REPO)})
    out, err = proc.stdout.read().decode(), proc.stderr.read().decode()  # small: no deadlock
    _pid, status, ru = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    what = out.strip() or f"died with {proc.returncode}"
    cpu, peak = ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024
    assert cpu <= CPU_SECONDS, (what, cpu)
    assert peak <= PEAK_MB, (what, peak)
    assert "panicked" not in err and "Traceback" not in err, err
    return what


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    return hf.small_xlsx(tmp_path_factory.mktemp("hostile") / "plain.xlsx")


@pytest.mark.parametrize("to", ["xl/data/s1.bin", "xl/data/s1.xml", "xl/worksheets/sheet1.xml"])
def test_a_sheet_anywhere_with_huge_dimensions_is_refused_before_it_is_loaded(tmp_path, plain, to):
    """A 5 KB file whose sheet sits at xl/data/s1.bin aborted the import allocating 512 GiB."""
    path = hf.moved_sheet(plain, tmp_path / "moved.xlsx", hf.huge_dimension_sheet(), to=to)
    what = measured(path)
    assert what.startswith('REFUSED sheet "Packages" has more than 100,000 rows'), what


def test_a_utf16_sheet_with_a_dtd_is_refused(tmp_path, plain):
    """It used to be accepted as an empty sheet: the byte search for <!DOCTYPE missed <\\0!\\0D\\0..."""
    path = hf.rewrite(plain, tmp_path / "u16.xlsx", {hf.SHEET: hf.utf16(hf.LAUGHS)})
    what = measured(path)
    assert what.startswith("REFUSED part xl/worksheets/sheet1.xml declares a DTD"), what


def test_a_utf16_sheet_at_an_odd_path_is_measured_too(tmp_path, plain):
    path = hf.moved_sheet(plain, tmp_path / "u16.xlsx", hf.utf16(hf.huge_dimension_sheet("ZZ90000")))
    assert measured(path).startswith('REFUSED sheet "Packages" spans more than 1,000,000 cells')


def test_shared_strings_claiming_billions_are_refused(tmp_path, plain):
    """calamine reserves room for the declared count: a 5 KB file aborted the process."""
    path = hf.shared_strings_claiming(plain, tmp_path / "sst.xlsx", 4_294_967_295)
    assert measured(path).startswith("REFUSED part xl/sharedStrings.xml claims 4,294,967,295 shared strings")


def test_the_largest_sheet_allowed_reads_within_budget_and_one_more_is_refused(tmp_path, plain):
    assert measured(hf.many_cells(plain, tmp_path / "ok.xlsx", 49_000, 20)) == "READ"
    assert measured(hf.many_cells(plain, tmp_path / "big.xlsx", 51_000, 20)).startswith(
        'REFUSED sheet "Packages" spans more than 1,000,000 cells')


@pytest.mark.parametrize("kind", ["folder", "fifo", "device"])
def test_a_folder_a_fifo_and_a_device_are_named_as_what_they_are(tmp_path, plain, kind):
    if kind == "folder":
        target, said = tmp_path / "studio.xlsm", "is a folder"
        target.mkdir()
    elif kind == "fifo":
        target, said = tmp_path / "studio.xlsm", "is a pipe (FIFO)"
        os.mkfifo(target)
    else:
        target, said = "/dev/zero", "is a device"
    for args in (("verify", str(target)), ("post", str(target)), ("balance", str(target)),
                 ("import", str(target), "--into", str(tmp_path / "x.xlsm")),
                 ("import", str(plain), "--into", str(target))):
        out = cli(*args, timeout=30)  # a FIFO opened for reading would wait here forever
        assert out.returncode == 4, (args, out.stdout, out.stderr)
        assert said in out.stderr and "does not exist" not in out.stderr, (args, out.stderr)
