"""Hostile and broken legacy files: a clear LegacyFileError, quickly, and nothing written beside them."""

from __future__ import annotations

import time
import zipfile
from pathlib import Path

import pytest

import legacy_fixtures as lf
from xl_ledger.migrate import LegacyFileError
from xl_ledger.migrate import Limits
from xl_ledger.migrate import read_legacy


@pytest.fixture(scope="module")
def plain(tmp_path_factory) -> Path:
    return lf.purchases_xlsx(tmp_path_factory.mktemp("plain") / "plain.xlsx")


def refuse(path: Path, *words: str, limits: Limits | None = None, budget: float = 8.0) -> LegacyFileError:
    before = sorted(p.name for p in path.parent.iterdir())
    t0 = time.perf_counter()
    with pytest.raises(LegacyFileError) as info:
        read_legacy(path, **({"limits": limits} if limits else {}))
    elapsed = time.perf_counter() - t0
    assert elapsed < budget, f"refusal took {elapsed:.2f}s"
    assert sorted(p.name for p in path.parent.iterdir()) == before, "something was written beside the file"
    message = info.value.message
    for w in words:
        assert w in message, message
    assert info.value.path == str(path)
    return info.value


def test_password_protected(tmp_path, plain):
    pytest.importorskip("msoffcrypto", reason="msoffcrypto-tool (installed with oletools) builds the encrypted file")
    refuse(lf.encrypted_xlsx(tmp_path / "locked.xlsx", plain), "password", "remove the password")


def test_truncated_workbook(tmp_path, plain):
    refuse(lf.truncated_xlsx(tmp_path / "cut.xlsx", plain), "damaged")


def test_random_bytes_named_xlsx(tmp_path):
    refuse(lf.garbage_xlsx(tmp_path / "noise.xlsx"), "not an Excel workbook")


def test_empty_and_missing(tmp_path):
    (tmp_path / "empty.xlsx").write_bytes(b"")
    refuse(tmp_path / "empty.xlsx", "empty")
    with pytest.raises(LegacyFileError, match="does not exist"):
        read_legacy(tmp_path / "nope.xlsx")


def test_zip_bomb(tmp_path, plain):
    refuse(lf.zip_bomb_xlsx(tmp_path / "bomb.xlsx", plain), "zip bomb", "xl/bomb.xml")


def test_zip_member_larger_than_declared(tmp_path, plain):
    path = lf.lying_zip_xlsx(tmp_path / "liar.xlsx", plain)
    assert zipfile.ZipFile(path).getinfo("xl/lie.xml").file_size == 1024
    # Python's zipfile stops inflating at the declared size, so the CRC check fails: refused as damaged
    # before calamine (whose zip reader might trust the stream instead) ever sees the part.
    refuse(path, "damaged")


@pytest.mark.parametrize("part", ["xl/sharedStrings.xml", "xl/worksheets/sheet1.xml", "xl/workbook.xml"])
def test_entity_bomb(tmp_path, plain, part):
    refuse(lf.entity_bomb_xlsx(tmp_path / "lol.xlsx", plain, part), "DTD", "entity bomb", part)


@pytest.fixture(scope="module")
def million(tmp_path_factory, plain):
    d = tmp_path_factory.mktemp("million")
    return (lf.million_rows_xlsx(d / "million.xlsx", plain),
            lf.million_rows_xlsx(d / "million_nodim.xlsx", plain, dimension=False))


def test_million_rows_refused_from_dimension(million):
    refuse(million[0], 'sheet "Packages" has more than 100,000 rows', "1,000,000", budget=4.0)


def test_million_rows_without_dimension_refused_while_counting(million):
    refuse(million[1], "more than 100,000 rows")


def test_row_limit_is_configurable(tmp_path, plain):
    path = lf.million_rows_xlsx(tmp_path / "small.xlsx", plain, rows=5_000, dimension=False)
    refuse(path, "more than 1,000 rows", limits=Limits(max_rows=1_000))
    read_legacy(path, limits=Limits(max_rows=10_000), save=False)  # within the limit: read


def test_sheet_reaching_column_xfd(tmp_path):
    refuse(lf.wide_xlsx(tmp_path / "wide.xlsx"), "16,384 columns")


def test_file_size_limit(tmp_path, plain):
    refuse(_copy(plain, tmp_path / "big.xlsx"), "MB limit", limits=Limits(max_file_bytes=1024))


def test_binary_csv(tmp_path):
    (tmp_path / "x.csv").write_bytes(b"Date,Student\x00\x01\x02" * 10)
    refuse(tmp_path / "x.csv", "binary")


def test_csv_row_limit(tmp_path):
    (tmp_path / "long.csv").write_text("Date,Student,Minutes\n" + "2025-01-01,Ana,60\n" * 2_000)
    refuse(tmp_path / "long.csv", "more than 1,000 rows", limits=Limits(max_rows=1_000))


def _copy(src: Path, dst: Path) -> Path:
    dst.write_bytes(src.read_bytes())
    return dst
