"""The ribbon's Month-end group (Close month, Export, Tie-out, Audit) through xlwings' in-memory book
(test_excel_support): the same functions as `xl-ledger close/export/tieout/audit`, on the open workbook.

The studio of test_excel_macros, posted on 2 March 2026: Ann (ST1) bought P10 (300.00) on 2 January and
Cy (ST3) H5 (250.00) on 3 January. The month is the one of the Report row under the selection.
"""

from __future__ import annotations

import csv
from decimal import Decimal

from test_excel_macros import posted
from test_excel_macros import studio  # noqa: F401 - the fixture

from xl_ledger.book.livestore import LiveStore
from xl_ledger.core import chain
from xl_ledger.excel import macros

STRIPE = ("automatic_payout_id,balance_transaction_id,created,currency,gross,fee,net,reporting_category,charge_id,"
          "description\r\n"
          "po_1,txn_1,2026-01-02 11:00:00,usd,300.00,9.00,291.00,charge,ch_1,Ten lessons\r\n"
          "po_1,txn_2,2026-01-04 09:30:00,usd,250.00,7.55,242.45,charge,ch_2,Five hours\r\n")


def on_report(client, month: str):
    rows = LiveStore(client.open()).read_sheet("Report").rows
    row = next(n for n, v in rows if v[0] == month)
    return client.select("Report", f"A{row}")


def test_close_export_tie_out_and_audit_the_selected_month(studio, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.chdir(tmp_path)  # Excel gives the workbook's folder; the in-memory book has none: here
    client, _ = posted(studio)
    # Close month: January (the selected Report row), by the owner: a period_close row.
    book = on_report(client, "2026-01")
    macros.close_month(book)
    client.apply(book)
    last = LiveStore(client.open()).read_log()[-1]
    assert (last[chain.COL["kind"]], last[chain.COL["effective_date"]], last[chain.COL["operator"]]) == \
        ("period_close", "2026-01-31", "owner")
    assert client.alerts[-1]["prompt"].startswith("Closed through 2026-01-31")
    # Export: the three formats beside the workbook, each balanced.
    book = on_report(client, "2026-01")
    written = macros.export(book)
    client.apply(book)
    assert [p.name for p in written] == ["studio-journal-qbo-2026-01.csv", "studio-journal-iif-2026-01.iif",
                                         "studio-journal-xero-2026-01.csv"]
    qbo = list(csv.DictReader((tmp_path / written[0].name).open(encoding="utf-8", newline="")))
    debits = sum(Decimal(r["Debits"] or 0) for r in qbo)
    assert debits == sum(Decimal(r["Credits"] or 0) for r in qbo) > 0 and {r["Journal Date"] for r in qbo} == \
        {"01/31/2026"}
    assert "studio-journal-xero-2026-01.csv" in client.alerts[-1]["prompt"]
    # Tie-out: Stripe's file (chosen in Excel's Open dialog; no bank file): both sales match by amount.
    (tmp_path / "payouts.csv").write_text(STRIPE, encoding="utf-8")
    chosen = iter([str(tmp_path / "payouts.csv"), None])
    monkeypatch.setattr(macros, "_choose_csv", lambda book, title: next(chosen))
    book = client.open()
    result = macros.tieout(book)
    client.apply(book)
    assert result.unmatched == 0 and result.counts == {"payout ties": 1, "matched": 2}
    assert client.active_sheet == "Tieout" and "Everything ties out." in client.alerts[-1]["prompt"]
    sheet = LiveStore(client.open()).read_sheet("Tieout")
    assert [v[0] for _n, v in sheet.rows] == ["payout ties", "matched", "matched"]
    assert (tmp_path / "studio-tieout-payouts.csv").exists()
    # Audit: January's changes by hand, here the close itself (recorded in March, effective in January).
    book = on_report(client, "2026-01")
    rows = macros.audit(book)
    client.apply(book)
    assert [r[4] for r in rows] == ["close through 2026-01-31"] and client.active_sheet == "Audit"
    audit = LiveStore(client.open()).read_sheet("Audit")
    assert [v[4] for _n, v in audit.rows] == ["close through 2026-01-31"]
    assert (tmp_path / "studio-audit-2026-01.csv").exists()


def test_a_month_still_running_is_refused_and_nothing_changes(studio, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.chdir(tmp_path)
    client, _ = posted(studio)
    log = LiveStore(client.open()).read_log()
    book = on_report(client, "2026-03")
    assert macros.close_month(book) is None
    client.apply(book)
    prompt = client.alerts[-1]["prompt"]
    assert "2026-03 has not ended" in prompt and "Nothing was changed" in prompt
    assert client.alerts[-1]["mode"] == "critical" and LiveStore(client.open()).read_log() == log
    # Nothing selected on the Report: the last full month (February), which has nothing to close twice.
    book = client.select("Students", "A2")
    macros.close_month(book)
    client.apply(book)
    assert client.alerts[-1]["prompt"].startswith("Closed through 2026-02-28")


def test_tie_out_without_a_file_dialog_gives_the_command(studio):  # noqa: F811
    client, _ = posted(studio)
    book = client.open()
    assert macros.tieout(book) is None
    client.apply(book)
    assert "xl-ledger tieout studio.xlsm --stripe PAYOUTS.csv" in client.alerts[-1]["prompt"]
