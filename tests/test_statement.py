"""`xl-ledger statement` on the demo workbook: the lines agree with `balance --as-of`, the PDF reads back."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from decimal import Decimal

import pytest

from xl_ledger import cli as xl_cli
from xl_ledger import demo as xl_demo


@pytest.fixture(scope="module")
def book(tmp_path_factory):
    path = tmp_path_factory.mktemp("statement") / "demo.xlsm"
    xl_demo.build(path, today=dt.date(2026, 3, 31), seed=7)
    return path


def run_json(capsys, *args) -> dict:
    assert xl_cli.run([*args, "--today", "2026-03-31"]) == 0
    return json.loads(capsys.readouterr().out)


def test_family_statement_agrees_with_balance_as_of_on_every_line_date(book, capsys):
    # FAM-BAKER: Vik (S-003) and Chloe (S-004) share one family pack; the history of Chloe shows it too.
    history = run_json(capsys, "history", str(book), "--student", "S-004", "--json")
    shared = [ln for ln in history["lines"] if ln["package_id"] == "PK-0002"]
    assert {ln["student_id"] for ln in shared if ln["session_id"]} == {"S-003", "S-004"}
    end_of_day: dict[str, dict[str, Decimal]] = {}
    for ln in history["lines"]:
        end_of_day.setdefault(ln["date"], {})[ln["package_id"]] = Decimal(ln["balance"])
    running = {p: Decimal(q) for p, q in history["opening"].items()}
    for date in sorted(end_of_day):
        running.update(end_of_day[date])
        report = run_json(capsys, "balance", str(book), "--student", "S-004", "--as-of", date, "--json")
        counted = {p["package_id"]: Decimal(p["remaining"]) for p in report["packages"]
                   if p["status"] not in ("inactive", "expired", "refunded")}
        assert {p: q for p, q in running.items() if q or counted.get(p)} == \
            {p: q for p, q in counted.items() if q or running.get(p)}, date
        assert str(sum(running.values(), Decimal(0))) == report["students"][0]["remaining"]["lessons"], date


def test_statement_pdf_opens_in_pdftotext_with_the_closing_balance(book, tmp_path, capsys):
    if shutil.which("pdftotext") is None:
        pytest.skip("poppler's pdftotext is not installed")
    out = tmp_path / "baker.pdf"
    assert xl_cli.run(["statement", str(book), "--family", "FAM-BAKER", "--from", "2026-03-01", "--pdf", str(out),
                       "--today", "2026-03-31"]) == 0
    said = capsys.readouterr().out
    report = run_json(capsys, "balance", str(book), "--student", "S-003", "--as-of", "2026-03-31", "--json")
    closing = report["students"][0]["remaining"]["lessons"]  # the family pack is Vik's and Chloe's
    assert f"closing {closing} lessons" in said
    text = subprocess.run(["pdftotext", "-layout", str(out), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert "Family FAM-BAKER: Vik Baker, Chloe Baker" in text and "2026-03-01 to 2026-03-31" in text
    total = next(line for line in text.splitlines() if "Total lessons" in line).split()
    assert total[-1] == closing  # Total lessons  <opening>  <closing>
    assert "Chloe Baker" in text and "Vik Baker" in text and "Policy" in text
    assert "less than 24 hours" in text  # the demo's late-cancel rule, from its Settings


def test_statement_refuses_unknown_family_and_bad_period(book, capsys):
    assert xl_cli.run(["statement", str(book), "--family", "FAM-NOPE"]) == 2
    err = capsys.readouterr().err
    assert "demo.xlsm!Students" in err and "FAM-NOPE" in err and "family_id" in err
    assert xl_cli.run(["statement", str(book), "--student", "S-003", "--from", "2026-04-01", "--to", "2026-03-01"]) == 2
    assert "--from 2026-04-01" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        xl_cli.run(["statement", str(book)])  # neither --family nor --student: argparse says which is needed


def test_statement_sheet_is_filled_and_reads_back_in_another_reader(book, tmp_path, capsys):
    import python_calamine

    copy = tmp_path / "copy.xlsm"
    shutil.copyfile(book, copy)
    assert xl_cli.run(["statement", str(copy), "--family", "FAM-BAKER", "--from", "2026-03-01", "--sheet",
                       "--today", "2026-03-31"]) == 0
    assert "Filled copy.xlsm!Statement" in capsys.readouterr().out
    rows = python_calamine.CalamineWorkbook.from_path(str(copy)).get_sheet_by_name("Statement").to_python()
    assert rows[0][:5] == ["date", "what", "who", "change", "balance"]
    assert rows[1][1] == "Riverside Music & Movement — statement for Family FAM-BAKER: Vik Baker, Chloe Baker"
    assert any(r[1] == "Total lessons: opening 6, closing 17" for r in rows)  # as the PDF and balance say
    assert xl_cli.run(["verify", str(copy)]) == 0  # the Log is untouched


def test_policy_box_says_each_products_rule():
    from xl_ledger.core.inputs import Product
    from xl_ledger.core.inputs import Settings
    from xl_ledger.statements.document import policy

    products = [Product(product_id="P", name="Ten lessons", unit="lessons", quantity=10, price=300,
                        validity="3 months", late_cancel="free"),
                Product(product_id="M", name="Pilates monthly", unit="lessons", quantity=12, price=270,
                        validity="3 months", period="month", per_period=4),
                Product(product_id="H", name="Hours", unit="hours", quantity=10, price=500, validity_starts="first_use",
                        validity="6 weeks")]
    lines = policy(Settings(late_cancel_hours=24), products)
    assert lines[0] == "A lesson cancelled less than 24 hours before it starts is a late cancel."
    assert lines[1] == "A late cancel uses the lesson's credit, except on: Ten lessons."
    assert lines[2] == "A missed lesson (no-show) uses its credit."
    assert "Pilates monthly: 4 lessons a month; what is not used in a month expires at its end; the package runs " \
           "3 months." in lines
    assert any(x.startswith("Hours: credit is valid 6 weeks from the first lesson") for x in lines)
