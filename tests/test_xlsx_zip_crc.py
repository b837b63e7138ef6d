"""The CRC-32 of a concatenation from its parts' CRCs: what lets the store append to the Log part
without re-reading the rows before (xlsx_log). It must agree with zlib on every split of the data."""

from __future__ import annotations

import zlib

from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from xl_ledger.xlsx.archive import crc32_combine
from xl_ledger.xlsx.archive import crc32_extend
from xl_ledger.xlsx.archive import crc32_shift


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=3000), st.binary(max_size=3000))
def test_combined_crc_is_the_crc_of_the_concatenation(a, b):
    assert crc32_combine(zlib.crc32(a), zlib.crc32(b), len(b)) == zlib.crc32(a + b)


def test_long_parts_and_an_empty_tail():
    a, b = bytes(range(256)) * 4099, b"</sheetData></worksheet>" * 50_001
    assert crc32_combine(zlib.crc32(a), zlib.crc32(b), len(b)) == zlib.crc32(a + b)
    assert crc32_combine(zlib.crc32(a), 0, 0) == zlib.crc32(a)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=2000), max_size=6))
def test_a_crc_extended_by_each_part_s_shift_is_the_crc_of_the_whole(parts):
    """What segments.py does: each part's CRC and x^(8·len) worked out once, then one multiplication per
    part to combine them (zlib's crc32_combine split in two)."""
    crc = 0
    for part in parts:
        crc = crc32_extend(crc, zlib.crc32(part), crc32_shift(len(part)))
    assert crc == zlib.crc32(b"".join(parts))
