"""The ribbon's Statement and Reminders buttons, through xlwings' in-memory book (test_excel_support)."""

from __future__ import annotations

import openpyxl
from test_excel_macros import NOW
from test_excel_macros import posted
from test_excel_macros import studio  # noqa: F401 - the fixture

from xl_ledger.book import schema
from xl_ledger.book.livestore import LiveStore
from xl_ledger.excel import macros
from xl_ledger.statements import command as statement_command
from xl_ledger.statements import sheet as statement_sheet
from xl_ledger.statements.load import ledger_from_store


def test_statement_fills_the_sheet_for_the_selected_students_family(studio):  # noqa: F811
    client, _ = posted(studio)
    students = LiveStore(client.open()).read_sheet("Students")
    row = next(n for n, v in students.rows if v[0] == "ST2")  # Ben, of family F1 with Ann (ST1)
    book = client.select("Students", f"A{row}")
    doc = macros.statement(book)
    client.apply(book)
    assert doc.title == "Family F1: Ann, Ben"
    assert (client.active_sheet, client.selection) == ("Statement", "A1")
    width = len(schema.STATEMENT.headers)
    live = [list(v) + [None] * (width - len(v)) for _n, v in LiveStore(client.open()).read_sheet("Statement").rows]
    # The same rows `statement --sheet` writes from the same Log: Ann's pack (10 − 2 lessons = 8).
    expected = statement_sheet.rows(statement_command.make(ledger_from_store(LiveStore(client.open()), NOW),
                                                           family_id="F1"))
    shown = [r for r in expected if any(v not in ("", None) for v in r)]  # a store leaves blank rows out
    assert [v[1] for v in live] == [r[1] for r in shown]
    assert [v[4] for v in live if v[4] is not None] == [r[4] for r in shown if r[4] != ""]
    closing = [v for v in live if v[1] == "closing balance"]
    assert [v[4] for v in closing] == [8]
    assert any("Policy" == v[1] for v in live)


def test_statement_without_a_student_selected_says_what_to_do(studio):  # noqa: F811
    client, _ = posted(studio)
    book = client.select("Products", "A2")
    assert macros.statement(book) is None
    client.apply(book)
    assert "Select a row of a student first" in client.alerts[-1]["prompt"]


def test_reminders_button_queues_on_the_outbox(studio):  # noqa: F811
    wb = openpyxl.load_workbook(studio, keep_vba=True)
    keys = list(schema.SETTINGS)
    wb["Settings"].cell(keys.index("low_balance_threshold") + 2, 2, 8)  # Ann has 8 lessons left, Cy 3.5 hours
    wb.save(studio)
    client, _ = posted(studio)
    book = client.open()
    new = macros.remind(book)
    client.apply(book)
    due = [("PK-0001:low_balance:8", "failed"), ("PK-0002:low_balance:8", "failed")]  # no emails on Students
    assert [(r.key, r.status) for r in new] == due
    assert "no address" in new[0].answer
    assert client.active_sheet == "Outbox"
    rows = [dict(zip(schema.OUTBOX.headers, v)) for _n, v in LiveStore(client.open()).read_sheet("Outbox").rows]
    assert [(r["key"], r["status"]) for r in rows] == due
    assert "0 reminders queued" in client.alerts[-1]["prompt"]
