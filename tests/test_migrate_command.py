"""`xl-ledger import` through its command: refusals of hostile files in bounded time with the studio
byte-identical, dry runs that write nothing, the mapping saved and reused, no second import."""

from __future__ import annotations

import io
import json
import shutil
import time
from pathlib import Path

import pytest

import legacy_fixtures as lf
from xl_ledger.template import template_path
from xl_ledger.migrate.command import BROKEN
from xl_ledger.migrate.command import REJECTED
from xl_ledger.migrate.command import USAGE
from xl_ledger.migrate.command import main
from xl_ledger.migrate.command import register
from xl_ledger.migrate.mapping import mapping_path_for


def cli(*argv: str) -> tuple[int, str, str]:
    import argparse

    parser = argparse.ArgumentParser(prog="xl-ledger")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    out, err = io.StringIO(), io.StringIO()
    code = args.func(args, out, err)
    return code, out.getvalue(), err.getvalue()


def snapshot(*folders: Path) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for f in folders for p in sorted(f.iterdir()) if p.is_file()}


@pytest.fixture(scope="module")
def plain(tmp_path_factory) -> Path:
    return lf.purchases_xlsx(tmp_path_factory.mktemp("plain") / "plain.xlsx")


@pytest.fixture
def book(tmp_path) -> Path:
    folder = tmp_path / "studio"
    folder.mkdir()
    path = folder / "studio.xlsm"
    shutil.copy(template_path(), path)
    return path


HOSTILE = {
    "password": (lambda d, plain: lf.encrypted_xlsx(d / "locked.xlsx", plain), "password"),
    "truncated": (lambda d, plain: lf.truncated_xlsx(d / "cut.xlsx", plain), "damaged"),
    "random bytes": (lambda d, plain: lf.garbage_xlsx(d / "noise.xlsx"), "not an Excel workbook"),
    "empty": (lambda d, plain: _write(d / "empty.xlsx", b""), "empty"),
    "zip bomb": (lambda d, plain: lf.zip_bomb_xlsx(d / "bomb.xlsx", plain), "zip bomb"),
    "lying zip sizes": (lambda d, plain: lf.lying_zip_xlsx(d / "liar.xlsx", plain), "damaged"),
    "entity bomb": (lambda d, plain: lf.entity_bomb_xlsx(d / "lol.xlsx", plain), "entity bomb"),
    "million rows": (lambda d, plain: lf.million_rows_xlsx(d / "million.xlsx", plain), "more than 100,000 rows"),
    "million rows, no dimension": (lambda d, plain: lf.million_rows_xlsx(d / "nodim.xlsx", plain, dimension=False),
                                   "more than 100,000 rows"),
    "column XFD": (lambda d, plain: lf.wide_xlsx(d / "wide.xlsx"), "16,384 columns"),
    "binary csv": (lambda d, plain: _write(d / "x.csv", b"Date,Student\x00\x01\x02" * 10), "binary"),
    "missing": (lambda d, plain: d / "nope.xlsx", "does not exist"),
}


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_file_is_refused_and_the_studio_is_untouched(case, tmp_path, plain, book):
    if case == "password":
        pytest.importorskip("msoffcrypto", reason="msoffcrypto-tool builds the encrypted file")
    build, words = HOSTILE[case]
    folder = tmp_path / "legacy"
    folder.mkdir()
    legacy = build(folder, plain)
    before = snapshot(folder, book.parent)
    t0 = time.perf_counter()
    code, out, err = cli("import", str(legacy), "--into", str(book))
    elapsed = time.perf_counter() - t0
    assert code == (USAGE if case == "missing" else BROKEN), (out, err)
    assert words in err and "Nothing was imported; studio.xlsm is unchanged." in err
    assert out == ""
    assert elapsed < 15, f"refusal took {elapsed:.2f}s"  # bounded: a bomb that got decompressed takes minutes
    assert snapshot(folder, book.parent) == before  # studio byte-identical, nothing written beside either file


def test_dry_run_writes_nothing(tmp_path, book):
    legacy = lf.purchases_xlsx(tmp_path / "tracking.xlsx")
    before = snapshot(tmp_path, book.parent)
    code, out, err = cli("import", str(legacy), "--into", str(book), "--dry-run", "--as", "maria")
    assert (code, err) == (0, "")
    assert snapshot(tmp_path, book.parent) == before
    assert not mapping_path_for(legacy).exists()
    lines = out.splitlines()
    # The dry run shows every finding first, the held rows among them (left out of the counts).
    assert lines[0].startswith("tracking.xlsx → studio.xlsm: would import 8 students, 4 products, 8 packages, 5 sessions")
    assert lines[0].endswith("3 rows held until the mapping or the file says what they mean.")
    assert "Dry run: nothing was written (not the studio, not the report CSV, not the mapping)." in lines
    assert f"Mapping: {mapping_path_for(legacy)} (would be saved)." in lines
    assert any(ln.startswith("  Dev Patel (LEG-S005) / LEG-P0003 10-pack: legacy 16, recomputed 9, difference -7;")
               for ln in lines)
    held = [ln for ln in lines if ln.startswith(("   foreign_currency:", "   remaining_mismatch:"))]
    assert [ln.split(":")[0].strip() for ln in held] == ["remaining_mismatch", "foreign_currency", "foreign_currency"]
    assert "tracking.xlsx!Packages!G6: the amount is in EUR, but the studio counts in USD" in held[1]


def test_import_saves_the_mapping_refuses_a_second_import_and_reuses_the_mapping(tmp_path, book):
    legacy = lf.purchases_xlsx(tmp_path / "tracking.xlsx")
    # Three rows are held (two euro amounts in a USD studio, a Remaining formula on the wrong row):
    # nothing is imported, and the detected mapping is saved for the answers.
    before = snapshot(book.parent)
    code, out, err = cli("import", str(legacy), "--into", str(book), "--as", "maria")
    assert (code, out) == (REJECTED, "") and snapshot(book.parent) == before
    saved = mapping_path_for(legacy)
    assert "3 row(s) say something the importer cannot know, so nothing was imported" in err
    assert f"The mapping was saved to {saved}" in err and "foreign_currency: tracking.xlsx!Packages!G6" in err
    data = json.loads(saved.read_text(encoding="utf-8"))
    data["corrections"] = lf.PURCHASES_ANSWERS
    saved.write_text(json.dumps(data), encoding="utf-8")
    code, out, err = cli("import", str(legacy), "--into", str(book), "--as", "maria")
    assert (code, err) == (0, "")
    assert f"Mapping: {saved} (reused)." in out.splitlines()
    assert (book.parent / "studio.migration.csv").exists()
    # The same file again would double every credit: refused, nothing written.
    before = snapshot(tmp_path, book.parent)
    code, out, err = cli("import", str(legacy), "--into", str(book))
    assert code == REJECTED and out == ""
    assert "already holds an import of tracking.xlsx (Log seq 1" in err and "count every purchase and lesson twice" in err
    assert snapshot(tmp_path, book.parent) == before
    # A person corrects the saved mapping (an alias); a fresh studio imports with it.
    data = json.loads(saved.read_text(encoding="utf-8"))
    data["aliases"] = {"lopez, ana": "Ana Lopez", "Ana López": "Ana Lopez"}
    saved.write_text(json.dumps(data), encoding="utf-8")
    other = tmp_path / "other.xlsm"
    shutil.copy(template_path(), other)
    code, out, err = cli("import", str(legacy), "--into", str(other))
    assert code == 0 and f"Mapping: {saved} (reused)." in out
    assert "imported 6 students" in out.splitlines()[0]  # the three spellings of Ana are one student now
    assert json.loads(saved.read_text(encoding="utf-8"))["aliases"] == data["aliases"]


def test_explicit_mapping_and_day_first(tmp_path, book):
    legacy = lf.log_csv(tmp_path / "log.csv")
    code, out, _ = cli("import", str(legacy), "--into", str(book), "--dry-run", "--day-first")
    assert code == 0 and "would import 4 students" in out
    mapping = tmp_path / "mine.json"
    mapping.write_text(json.dumps({"day_first": True, "sheets": [
        {"sheet": "log", "layout": "lesson_log", "header_row": 3, "unit": "hours", "duration_bare": "hours",
         "columns": {"date": "A", "student": "B", "duration": "C", "status": "D"}}]}))
    code, out, err = cli("import", str(legacy), "--into", str(book), "--mapping", str(mapping))
    assert (code, err) == (0, "")
    assert f"Mapping: {mapping} (given)." in out and not mapping_path_for(legacy).exists()


def test_a_bad_mapping_is_refused(tmp_path, book):
    legacy = lf.log_csv(tmp_path / "log.csv")
    (tmp_path / "bad.json").write_text("{not json")
    before = book.read_bytes()
    code, _out, err = cli("import", str(legacy), "--into", str(book), "--mapping", str(tmp_path / "bad.json"))
    assert code == USAGE and "not valid JSON" in err
    assert book.read_bytes() == before


def test_studio_problems_are_refused(tmp_path):
    legacy = lf.log_csv(tmp_path / "log.csv")
    code, _out, err = cli("import", str(legacy), "--into", str(tmp_path / "missing.xlsm"))
    assert code == BROKEN and "missing.xlsm does not exist" in err
    assert not mapping_path_for(legacy).exists()


def test_main_entry_point(tmp_path, book, capsys):
    legacy = lf.log_xlsx(tmp_path / "log.xlsx")
    assert main(["import", str(legacy), "--into", str(book), "--dry-run"]) == 0
    assert "would import 2 students" in capsys.readouterr().out


def test_the_main_cli_runs_the_import(tmp_path, book, capsys):
    from xl_ledger import cli

    legacy = lf.log_csv(tmp_path / "log.csv")
    assert cli.run(["import", str(legacy), "--into", str(book), "--dry-run", "--as", "maria"]) == 0
    assert "log.csv → studio.xlsm: would import 4 students" in capsys.readouterr().out


def test_a_lesson_log_with_packs_through_the_command_as_a_new_user_runs_it(tmp_path, book):
    """The piano teacher's log (tests/legacy_cases.py): a dry run, then the import, then balance on the legacy date."""
    import legacy_cases as lc
    from xl_ledger.cli import run as xl_ledger

    legacy = lc.log_with_packs(tmp_path / "piano.xlsx")
    code, out, err = cli("import", str(legacy), "--into", str(book), "--dry-run", "--as", "owner")
    assert (code, err) == (0, "")
    assert out.splitlines()[0] == ("piano.xlsx → studio.xlsm: would import 2 students, 2 products, 2 packages, "
                                   "6 sessions (12 Log rows, reason 'migration'); 0 balances disagree with the legacy "
                                   "file; 1 findings to review.")
    code, out, err = cli("import", str(legacy), "--into", str(book), "--as", "owner")
    assert (code, err) == (0, "")
    assert "Legacy figures are compared as of 2025-02-03, the legacy file's last date." in out.splitlines()
    shown = io.StringIO()
    from contextlib import redirect_stdout

    with redirect_stdout(shown):
        assert xl_ledger(["balance", str(book), "--today", "2025-02-03"]) == 0
    assert [" ".join(ln.split()) for ln in shown.getvalue().splitlines()[1:]] == [
        "LEG-S001 Lia Chen 6 lessons (own packs worth 180.00 USD)", "LEG-S002 Max Roy 3 lessons (own packs worth 105.00 USD)"]
