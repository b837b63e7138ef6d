"""The vbaProject.bin writer, checked against independent readers (oletools, olefile)."""

from __future__ import annotations

import io
import os
import random

import olefile
import pytest
import xlwings_pins
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from oletools.olevba import VBA_Parser
from oletools.olevba import decompress_stream

from xl_ledger.xlsx import vba_project as V
from xl_ledger.xlsx.cfb import Storage
from xl_ledger.xlsx.cfb import write_compound_file
from xl_ledger.excel import sources


def roundtrip(data: bytes) -> bytes:
    return decompress_stream(bytearray(V.compress(data)))


# --- MS-OVBA §2.4.1 compression -------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"A",
        b"abc",
        b"ab" * 10,
        b" " * 5000,  # long overlapping copies; crosses a chunk boundary
        b"x" * 4096,  # exactly one chunk
        b"x" * 4097,
        bytes(range(256)) * 3,  # 768 bytes: above the ~600 bytes where ms-ovba-compression broke
    ],
    ids=lambda d: f"{len(d)}B",
)
def test_compression_roundtrips_through_oletools(data):
    assert roundtrip(data) == data


def test_long_copy_tokens_late_in_a_chunk():
    """Late in a chunk the offset takes 12 bits and the length only 4 (max 18); the old bug lived here."""
    block = bytes(random.Random(7).getrandbits(8) for _ in range(700))
    data = block + block + b"tail" + block[:300] * 5
    packed = V.compress(data)
    assert len(packed) < len(data) // 2  # the repeats really were encoded as copy tokens
    assert roundtrip(data) == data


def test_incompressible_full_chunks_are_stored_raw():
    data = os.urandom(3 * 4096)
    packed = V.compress(data)
    assert len(packed) == 1 + 3 * (2 + 4096)  # signature + three raw chunks
    assert roundtrip(data) == data


def test_real_module_larger_than_a_chunk():
    text = xlwings_pins.installed_xlwings_file("xlwings.bas").read_bytes()  # ~46 KB of VBA
    assert len(text) > 10 * 4096
    assert roundtrip(text) == text


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from([b"Dim ", b"x", b"As ", b"String", b"\r\n", b"    ", b"End Sub", b"'", b"\x00", b"\xff"]),
                max_size=1500).map(b"".join))  # fmt: skip
def test_compression_roundtrips_property(data):
    assert roundtrip(data) == data


@settings(max_examples=50, deadline=None)
@given(st.binary(max_size=9000))
def test_compression_roundtrips_random_bytes(data):
    assert roundtrip(data) == data


# --- Compound file ---------------------------------------------------------------------------------


def test_compound_file_reads_back_strictly_with_olefile():
    rng = random.Random(3)
    streams = {f"s{i}{'x' * (i % 7)}": rng.randbytes(rng.choice([1, 63, 64, 65, 4095, 4096, 9000])) for i in range(23)}
    data = write_compound_file(Storage({"VBA": Storage(dict(streams)), "PROJECT": b"p", "PROJECTwm": b"w" * 10}))
    assert len(data) % 512 == 0
    ole = olefile.OleFileIO(io.BytesIO(data), raise_defects=olefile.DEFECT_INCORRECT)
    for name, payload in streams.items():
        assert ole.openstream(["VBA", name]).read() == payload
    assert ole.openstream("PROJECT").read() == b"p"
    assert sorted(ole.listdir()) == sorted([["PROJECT"], ["PROJECTwm"]] + [["VBA", n] for n in streams])


def test_compound_file_is_deterministic():
    root = Storage({"VBA": Storage({"a": b"1" * 5000, "b": b"2"}), "PROJECT": b"x"})
    assert write_compound_file(root) == write_compound_file(root)


# --- The VBA project -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def project_bin() -> bytes:
    modules = [V.document_module("ThisWorkbook", V.WORKBOOK_BASE), V.document_module("Sheet1", V.WORKSHEET_BASE)]
    modules += [V.module_from_file(sources.VBA_DIR / n) for n in sources.VBA_SOURCES]
    return V.build_vba_project(modules)


def test_olevba_reads_every_module_with_the_repository_text(project_bin):
    parser = VBA_Parser("vbaProject.bin", data=project_bin)
    got = {name.rsplit(".", 1)[0]: code for _, _, name, code in parser.extract_macros()}
    assert set(got) == {"ThisWorkbook", "Sheet1"} | {n.rsplit(".", 1)[0] for n in sources.VBA_SOURCES}
    assert {"xlwings", "Dictionary", "LedgerRibbon", "xlwings_udfs", "LedgerFunctions"} <= set(got)
    for name in sources.VBA_SOURCES:
        path = sources.VBA_DIR / name
        expected = path.read_bytes().decode("cp1252")
        if path.suffix == ".cls":  # the VBE export header is not part of the stored module
            head, sep, rest = expected.partition("END\r\n")
            assert head.startswith("VERSION 1.0 CLASS") and sep
            expected = rest
        assert got[path.stem] == expected, f"{name} differs after the round trip"


def test_project_streams(project_bin):
    ole = olefile.OleFileIO(io.BytesIO(project_bin), raise_defects=olefile.DEFECT_INCORRECT)
    # Version 0xFFFF: no performance cache, Office compiles the source on open.
    assert ole.openstream(["VBA", "_VBA_PROJECT"]).read() == bytes.fromhex("CC61FFFF000100")
    project = ole.openstream("PROJECT").read().decode("cp1252")
    lines = project.split("\r\n")
    assert "Document=ThisWorkbook/&H00000000" in lines and "Class=Dictionary" in lines
    assert "Module=LedgerRibbon" in lines and 'Name="VBAProject"' in lines
    project_id = lines[0].split('"')[1]
    fields = {k: v.strip('"') for k, _, v in (line.partition("=") for line in lines) if k in ("CMG", "DPB", "GC")}
    assert V.decrypt(fields["CMG"], project_id) == bytes(4)  # not locked
    assert V.decrypt(fields["DPB"], project_id) == b"\x00"  # no password
    assert V.decrypt(fields["GC"], project_id) == b"\xff"  # visible


def test_olevba_finds_no_parsing_problems(project_bin):
    parser = VBA_Parser("vbaProject.bin", data=project_bin)
    assert parser.detect_vba_macros()
    # relaxed=False makes oletools raise on any dir-stream record it does not expect.
    from oletools.olevba import _extract_vba

    modules = list(_extract_vba(parser.ole_file, "", "PROJECT", "VBA/dir", relaxed=False))
    assert len(modules) == 2 + len(sources.VBA_SOURCES)


@pytest.mark.parametrize("seed", range(0, 256, 17))
def test_encryption_roundtrips(seed):
    assert V.decrypt(V.encrypt(b"\x01\x02\x03", "{ABC}", seed), "{ABC}") == b"\x01\x02\x03"


def test_duplicate_module_names_are_refused():
    m = V.document_module("Sheet1", V.WORKSHEET_BASE)
    with pytest.raises(ValueError):
        V.build_vba_project([m, V.document_module("SHEET1", V.WORKSHEET_BASE)])
