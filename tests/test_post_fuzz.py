"""Garbage in the Actions and Sessions sheets — wrong types, huge numbers, formula-looking text and real
formulas, unicode, blank ids, duplicates — never gives a traceback, and every row is answered in its
own place: an Actions row is `applied` or `rejected` with a message; a Sessions row is in the Log or
named (sheet and cell) by an Alerts row. A seeded generator, so a failure replays exactly."""

from __future__ import annotations

import datetime as dt
import random
import re

import openpyxl
import pytest
from post_helpers import NOW
from post_helpers import records
from post_helpers import studio
from post_helpers import type_rows

from xl_ledger import post
from xl_ledger.book.filestore import FileStore
from xl_ledger.core.chain import verify

ODD = ["", " ", "=1+1", "=SUM(A1:A9)", "'007", "ünïcødé ✓", "学生", "🎹", "\u202eevil", "NaN", "inf", "-0", "1e309",
       "None", "null", "TRUE", "yes", "no", "0x10", "1,5", "3.000,50", " 10 ", "ten", "x" * 300, "S1\nS2", "\t"]
NUMBERS = [0, -1, 1, 2.5, 1e15, -1e15, 1e308, 10**20, 0.1 + 0.2, 123456789.123456789, 3]
DATES = [dt.date(2026, 3, 2), dt.date(1900, 1, 1), dt.date(9999, 12, 31), dt.datetime(2026, 3, 2, 23, 59),
         "2026-02-30", "2026-03-05", "03/04/2026", "yesterday", 46000, -5]


def pick(rng: random.Random, good: list) -> object:
    roll = rng.random()
    if roll < 0.45:
        return rng.choice(good)
    if roll < 0.65:
        return rng.choice(ODD)
    if roll < 0.8:
        return rng.choice(NUMBERS)
    if roll < 0.9:
        return rng.choice(DATES)
    return None


def garbage_actions(rng: random.Random, n: int) -> dict[int, dict]:
    rows = {}
    for r in range(2, n + 2):
        rows[r] = {
            "action": pick(rng, ["sell", "refund", "transfer", "freeze", "adjust", "comp", "top_up", "extend",
                                 "unfreeze", "deactivate", "reactivate", "chargeback", "SELL", "sel"]),
            "date": pick(rng, DATES),
            "student_id": pick(rng, ["S1", "S2", "S3", "S9", "s1"]),
            "package_id": pick(rng, ["PK-0001", "PK-0002", "PK-9", ""]),
            "product_id": pick(rng, ["P10", "H10", "FAM", "P99"]),
            "quantity": pick(rng, [1, 2, 0.5, -3, 1e9]),
            "amount": pick(rng, [10, 99.99, -5, 1e12]),
            "reason_code": pick(rng, ["goodwill", "medical", "family_transfer", "nope"]),
            "to_student_id": pick(rng, ["S1", "S2", "S3"]),
            "days": pick(rng, [7, 14, -1, 10**6]),
            "note": pick(rng, ["hello", "=HYPERLINK(\"http://x\")"]),
        }
    return rows


def garbage_sessions(rng: random.Random, n: int) -> dict[int, dict]:
    rows = {}
    for r in range(2, n + 2):
        rows[r] = {
            "session_id": pick(rng, [f"L{r}", f"L{r}", "L2", "dup", ""]),
            "date": pick(rng, DATES),
            "start": pick(rng, ["16:30", "25:99", "4pm", dt.time(9, 0) if False else "09:00"]),
            "minutes": pick(rng, [45, 60, 90, -30, 0, 10**7]),
            "student_id": pick(rng, ["S1", "S2", "S3", "S9"]),
            "service": pick(rng, ["piano", "ピアノ"]),
            "status": pick(rng, ["attended", "no_show", "late_cancel", "cancelled", "scheduled", "Attended", "done"]),
            "booked_by": pick(rng, ["client", "staff", "robot"]),
            "credits": pick(rng, [1, 0.5, 2, -1, 1e300]),
            "paid_separately": pick(rng, ["yes", "no", "maybe"]),
            "cancelled_at": pick(rng, [dt.datetime(2026, 3, 1, 10), "2026-03-01 25:00"]),
            "note": pick(rng, ["ok"]),
        }
    return rows


def real_formulas(path, rng: random.Random, rows: int) -> None:
    """Real formula cells (openpyxl writes them without a cached value, as a hand-made file may)."""
    wb = openpyxl.load_workbook(path, keep_vba=True)
    for sheet, cols in (("Actions", "ABCDEFGHIJ"), ("Sessions", "ABCDEFGHIJ")):
        ws = wb[sheet]
        for _ in range(5):
            cell = f"{rng.choice(cols)}{rng.randrange(2, rows + 2)}"
            ws[cell] = rng.choice(["=1/0", "=TODAY()", '="S"&"1"', "=NA()", "=A1", "=2+2"])
    wb.save(path)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_garbage_rows_are_each_answered_in_their_own_row(tmp_path, seed):
    rng = random.Random(seed)
    path = studio(tmp_path)
    type_rows(path, "Actions", {2: {"action": "sell", "date": dt.date(2026, 3, 1), "student_id": "S1",
                                    "product_id": "P10"}})
    post.post(FileStore(path), now=NOW, operator="owner")  # a package to refund, freeze, transfer from
    n = 40
    type_rows(path, "Actions", {r + 1: v for r, v in garbage_actions(rng, n).items()})
    type_rows(path, "Sessions", garbage_sessions(rng, n))
    if seed == 1:
        real_formulas(path, rng, n)
    result = post.post(FileStore(path), now=NOW, operator="owner")
    log = FileStore(path).read_log()
    assert verify(log) is None

    for row, a in records(path, "Actions").items():
        assert a["status"] in ("applied", "rejected"), (row, a)
        if a["status"] == "rejected":
            assert a["message"] and a["log_seq"] is None, (row, a)
        else:
            assert any(r[0] == a["log_seq"] and r[13] == f"Actions!{row}" for r in log), (row, a)

    logged = {int(r[13].split("!")[1]) for r in log if r[13].startswith("Sessions!")}
    alerts = list(records(path, "Alerts").values())
    named = set()
    for a in alerts:
        m = re.fullmatch(r"studio\.xlsm!Sessions!([A-Z]*)(\d+)", a["where"] or "")
        if m and a["kind"] in ("rejected", "notice"):
            named.add(int(m.group(2)))
            assert a["message"], a
    for row, s in records(path, "Sessions").items():
        assert row in logged or row in named, (row, s)
    assert result.rejected  # the generator does produce bad rows
    assert len(result.rejected) >= len(named)


def test_far_future_dates_and_impossible_date_serials_are_rejected_in_their_row(tmp_path):
    """Two bugs the fuzzer found: a 9999-12-31 action date overflowed the fold (core/parse.py now
    refuses years outside 1900–2999), and 1e308 in a date-formatted cell panicked calamine (FileStore
    falls back to openpyxl for that sheet)."""
    from xl_ledger.core.parse import ParseError
    from xl_ledger.core.parse import parse_date

    with pytest.raises(ParseError, match="not a plausible date"):
        parse_date("9999-12-31")
    path = studio(tmp_path)
    type_rows(path, "Actions", {2: {"action": "sell", "date": dt.date(9999, 12, 31), "student_id": "S1",
                                    "product_id": "P10"},
                                3: {"action": "sell", "date": 1e308, "student_id": "S1", "product_id": "P10"},
                                4: {"action": "sell", "date": dt.date(2026, 3, 1), "student_id": "S1",
                                    "product_id": "P10"}})
    result = post.post(FileStore(path), now=NOW, operator="owner")
    rows = records(path, "Actions")
    assert [rows[r]["status"] for r in (2, 3, 4)] == ["rejected", "rejected", "applied"], rows
    assert "date" in rows[2]["message"] and "date" in rows[3]["message"]
    assert len(result.applied) == 1
