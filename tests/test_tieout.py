"""The payout tie-out against a hand-written Stripe itemized payout reconciliation report
(tests/golden/tieout/stripe_payouts.csv) and a bank statement (bank.csv).

The studio (post_helpers: P10 ten lessons 300.00, H10 ten hours 500.00, FAM family pack 560.00), posted
on 10 March 2026, holds in February:
  Actions!2  sell P10 to S1 on 2 Feb, payment_ref ch_A       ↔ txn_A charge 300.00 (fee 9.00): by payment_ref
  Actions!3  sell H10 to S3 on 3 Feb, no payment_ref         ↔ txn_B charge 500.00 on 4 Feb: by amount, 1 day apart
  Actions!4  sell FAM to S2 on 3 Feb, no payment_ref         — not in the file: ledger only
  Actions!5  refund 2 lessons of S1's P10 on 5 Feb, 60.00, re_C ↔ txn_C refund −60.00: by payment_ref
                                                             txn_D charge 120.00 "-Gift card (phone)": processor only
                                                             txn_E Radar fee −2.00: the processor's fee
Payouts, by hand:
  po_1Feb06 = txn_A + txn_B: gross 800.00 − fee 23.80 = net 776.20; the bank's 776.20 of 6 Feb: ties.
  po_2Feb10 = txn_C + txn_D + txn_E: gross −60 + 120 − 2 = 58.00 − fee 3.78 = net 54.22; the bank got 52.22
            on 10 Feb: 2.00 short, the payout differs.
The bank's cash deposit of 150.00 (8 Feb) is no payout: listed, not counted; its rent (−900) is no deposit.
Unmatched: the gift card, the family pack and po_2: three, so the command exits 5.
"""

from __future__ import annotations

import csv
import datetime as dt
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from post_helpers import cli
from post_helpers import records
from post_helpers import studio
from post_helpers import type_rows

from xl_ledger.accounting import payouts
from xl_ledger.accounting import tieout as T
from xl_ledger.book.filestore import FileStore

FIXTURES = Path(__file__).parent / "golden" / "tieout"
TODAY = "2026-03-10"


def D(x) -> Decimal:
    return Decimal(str(x))


@pytest.fixture(scope="module")
def book(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tieout")
    path = studio(folder)
    type_rows(path, "Actions", {
        2: {"action": "sell", "date": dt.date(2026, 2, 2), "student_id": "S1", "product_id": "P10",
            "package_id": "PK-S1", "payment_ref": "ch_A"},
        3: {"action": "sell", "date": dt.date(2026, 2, 3), "student_id": "S3", "product_id": "H10"},
        4: {"action": "sell", "date": dt.date(2026, 2, 3), "student_id": "S2", "product_id": "FAM"},
        5: {"action": "refund", "date": dt.date(2026, 2, 5), "package_id": "PK-S1", "quantity": 2, "amount": 60,
            "reason_code": "moved_away", "payment_ref": "re_C"},
    })
    done = cli("post", str(path), "--as", "owner", "--today", TODAY)
    assert done.returncode == 0, done.stdout + done.stderr
    assert {r["status"] for r in records(path, "Actions").values()} == {"applied"}
    return path


def test_the_three_legs_tie_out_by_hand(book, tmp_path):
    path = tmp_path / "studio.xlsm"
    shutil.copy(book, path)
    before = FileStore(path).read_log()
    done = cli("tieout", str(path), "--stripe", str(FIXTURES / "stripe_payouts.csv"), "--bank",
               str(FIXTURES / "bank.csv"), "--today", TODAY)
    assert done.returncode == 5, done.stdout + done.stderr
    assert "3 matched, 1 processor only, 1 ledger only, 1 processor fee, 1 payout ties, 1 payout differs, " \
           "1 bank only" in done.stdout, done.stdout
    assert "2026-02-02 to 2026-02-05" in done.stdout and "3 unmatched" in done.stderr
    out = tmp_path / "studio-tieout-stripe_payouts.csv"
    rows = list(csv.DictReader(out.open(encoding="utf-8-sig", newline="")))
    got = [(r["status"], r["payout_id"], r["category"], r["processor_id"], r["log_seq"] and int(r["log_seq"]),
            r["source"], r["matched_by"]) for r in rows]
    seq = {int(r["log_seq"]): r["source"] for r in rows if r["log_seq"]}
    assert sorted(seq.values()) == ["studio.xlsm!Actions!2", "studio.xlsm!Actions!3", "studio.xlsm!Actions!4",
                                    "studio.xlsm!Actions!5"]
    at = {v.rsplit("!", 1)[1]: k for k, v in seq.items()}  # Actions row → Log seq
    assert got == [
        ("payout ties", "po_1Feb06", "payout", "bank.csv row 2", "", "", ""),
        ("matched", "po_1Feb06", "charge", "txn_A", at["2"], "studio.xlsm!Actions!2", "payment_ref ch_A"),
        ("matched", "po_1Feb06", "charge", "txn_B", at["3"], "studio.xlsm!Actions!3", "amount and date (1 day apart)"),
        ("payout differs", "po_2Feb10", "payout", "bank.csv row 5", "", "", ""),
        ("matched", "po_2Feb10", "refund", "txn_C", at["5"], "studio.xlsm!Actions!5", "payment_ref re_C"),
        ("processor only", "po_2Feb10", "charge", "txn_D", "", "", ""),
        ("processor fee", "po_2Feb10", "fee", "txn_E", "", "", ""),
        ("ledger only", "", "sale", "", at["4"], "studio.xlsm!Actions!4", ""),
        ("bank only", "", "deposit", "bank.csv row 3", "", "", ""),
    ]
    po1, po2 = rows[0], rows[3]
    assert [D(po1[c]) for c in ("gross", "fee", "net", "bank_deposit")] == [D("800"), D("23.8"), D("776.2"), D("776.2")]
    assert po1["message"] == "Σgross − Σfee = Σnet = 776.20 = the bank deposit of 2026-02-06"
    assert [D(po2[c]) for c in ("gross", "fee", "net", "bank_deposit")] == [D("58"), D("3.78"), D("54.22"), D("52.22")]
    assert po2["message"] == "the bank deposit (bank.csv row 5, 2026-02-10) is 52.22, the payout 54.22: -2.00"
    assert rows[7]["ledger_amount"] == "560" and "for 560.00 within 2 days" in rows[7]["message"]
    # The processor's description begins with "-": a spreadsheet would read it as a formula, so it is escaped.
    assert rows[5]["message"].startswith("'-Gift card (phone): no sale or top_up in the Log for 120.00")
    assert "not counted" in rows[8]["message"] and D(rows[8]["bank_deposit"]) == 150
    # The Tieout sheet holds the same rows; the Log is untouched.
    sheet = FileStore(path).read_sheet("Tieout")
    assert [r["status"] for _row, r in sheet.records()] == [r["status"] for r in rows]
    assert FileStore(path).read_log() == before
    assert cli("verify", str(path)).returncode == 0


def test_without_the_bank_every_payout_ties_to_its_own_lines(book, tmp_path):
    path = tmp_path / "studio.xlsm"
    shutil.copy(book, path)
    done = cli("tieout", str(path), "--stripe", str(FIXTURES / "stripe_payouts.csv"), "--today", TODAY)
    assert done.returncode == 5  # the gift card and the family pack are still unmatched
    assert "2 payout ties" in done.stdout and "bank only" not in done.stdout


def test_a_payment_ref_typed_after_posting_is_read_from_its_row(book, tmp_path):
    path = tmp_path / "studio.xlsm"
    shutil.copy(book, path)
    type_rows(path, "Actions", {4: {"payment_ref": "ch_D"}})  # the family pack was the phone charge? Its amount says no
    done = cli("tieout", str(path), "--stripe", str(FIXTURES / "stripe_payouts.csv"), "--today", TODAY)
    rows = list(csv.DictReader((tmp_path / "studio-tieout-stripe_payouts.csv").open(encoding="utf-8-sig")))
    d = next(r for r in rows if r["processor_id"] == "txn_D")
    assert (d["status"], d["matched_by"], d["source"]) == ("amount differs", "payment_ref ch_D", "studio.xlsm!Actions!4")
    assert d["message"] == "the Log says 560.00, the processor 120.00: a difference of -440.00"
    assert done.returncode == 5


@pytest.mark.parametrize("row, column, value, says", [
    (4, "net", "12,5x", "row 4, column net"),
    (3, "currency", "eur", "row 3, column currency"),
    (6, "created", "06/02/2026", "row 6, column created"),
    (2, "automatic_payout_id", "", "row 2, column automatic_payout_id"),
])
def test_a_malformed_stripe_file_names_its_row_and_column_and_nothing_is_written(book, tmp_path, row, column, value,
                                                                                says):
    path = tmp_path / "studio.xlsm"
    shutil.copy(book, path)
    lines = list(csv.reader((FIXTURES / "stripe_payouts.csv").open(encoding="utf-8", newline="")))
    lines[row - 1][lines[0].index(column)] = value
    bad = tmp_path / "payouts.csv"
    with bad.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows(lines)
    data = path.read_bytes()
    done = cli("tieout", str(path), "--stripe", str(bad), "--today", TODAY)
    assert done.returncode == 2 and f"payouts.csv {says}" in done.stderr and "Nothing was written" in done.stderr, \
        done.stderr
    assert path.read_bytes() == data and not (tmp_path / "studio-tieout-payouts.csv").exists()


def test_a_bank_file_without_an_amount_column_or_with_a_bad_date_is_refused(book, tmp_path):
    path = tmp_path / "studio.xlsm"
    shutil.copy(book, path)
    bank = tmp_path / "bank.csv"
    bank.write_text("Date,Description,Value\n2026-02-06,STRIPE,776.20\n", encoding="utf-8")
    done = cli("tieout", str(path), "--stripe", str(FIXTURES / "stripe_payouts.csv"), "--bank", str(bank),
               "--today", TODAY)
    assert done.returncode == 2 and "bank.csv row 1" in done.stderr and "no column amount" in done.stderr
    bank.write_text("Date,Description,Amount\n2026-02-06,STRIPE,776.20\nsoon,STRIPE,52.22\n", encoding="utf-8")
    done = cli("tieout", str(path), "--stripe", str(FIXTURES / "stripe_payouts.csv"), "--bank", str(bank),
               "--today", TODAY)
    assert done.returncode == 2 and "bank.csv row 3, column Date" in done.stderr, done.stderr
    assert not (tmp_path / "studio-tieout-stripe_payouts.csv").exists()


def test_matching_prefers_the_payment_ref_then_the_closest_day_and_never_pairs_a_named_ref_by_amount():
    def line(row, created, gross, category="charge", refs=()):
        return payouts.Line(row=row, payout_id="po_1", transaction_id=f"txn_{row}",
                            created=dt.date.fromisoformat(created), category=category, gross=D(gross), fee=D(0),
                            net=D(gross), refs=frozenset({f"txn_{row}", *refs}))

    def pay(seq, date, amount, ref="", kind="sale"):
        return T.Payment(seq, kind, dt.date.fromisoformat(date), D(amount), "S1", f"PK-{seq}", f"Actions!{seq}", ref)

    lines = [line(2, "2026-02-10", 100), line(3, "2026-02-11", 100), line(4, "2026-02-12", 100, refs=("ch_4",))]
    pays = [pay(1, "2026-02-12", 100), pay(2, "2026-02-10", 100, ref="ch_9"), pay(3, "2026-02-11", 100, ref="ch_4"),
            pay(4, "2026-02-08", 100)]
    result = T.tie_out(lines, pays, None, "b.xlsm", "p.csv")
    by_txn = {r[4]: (r[0], r[8], r[14]) for r in result.rows if r[3] == "charge"}
    # txn_4 is ch_4's; txn_2 (10 Feb) takes seq 4 (8 Feb, 2 days) or seq 1 (12 Feb, 2 days): txn_3 (11 Feb)
    # takes seq 1 first (1 day); seq 2 names ch_9, which the file lacks, so it is never paired by amount.
    assert by_txn == {"txn_4": ("matched", 3, "payment_ref ch_4"), "txn_3": ("matched", 1, "amount and date (1 day apart)"),
                      "txn_2": ("matched", 4, "amount and date (2 days apart)")}
    ledger_only = [r for r in result.rows if r[0] == T.Status.LEDGER_ONLY]
    assert [(r[8], r[15]) for r in ledger_only] == [(2, "payment_ref ch_9 is not in p.csv")]
