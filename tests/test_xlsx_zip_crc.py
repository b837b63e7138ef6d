"""The CRC-32 of a concatenation from its parts' CRCs: what lets the store append to the Log part
without re-reading the rows before (xlsx_log). It must agree with zlib on every split of the data."""

from __future__ import annotations

import zlib

from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from xl_ledger.xlsx.archive import crc32_combine


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=3000), st.binary(max_size=3000))
def test_combined_crc_is_the_crc_of_the_concatenation(a, b):
    assert crc32_combine(zlib.crc32(a), zlib.crc32(b), len(b)) == zlib.crc32(a + b)


def test_long_parts_and_an_empty_tail():
    a, b = bytes(range(256)) * 4099, b"</sheetData></worksheet>" * 50_001
    assert crc32_combine(zlib.crc32(a), zlib.crc32(b), len(b)) == zlib.crc32(a + b)
    assert crc32_combine(zlib.crc32(a), 0, 0) == zlib.crc32(a)
