"""Input validation, rejections, canonical events and the hash chain."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from studio import Studio

from xl_ledger.core import chain
from xl_ledger.core import events as E
from xl_ledger.core import inputs
from xl_ledger.core.errors import format_problem
from xl_ledger.core.journal import Journal
from xl_ledger.core.parse import ParseError
from xl_ledger.core.parse import parse_date
from xl_ledger.core.parse import parse_minutes
from xl_ledger.core.parse import parse_money


# --- inputs -----------------------------------------------------------------------------------------

def test_a_bad_minutes_cell_names_sheet_row_column_and_value():
    rows, problems = inputs.read_sessions([
        (13, {"session_id": "L-1", "date": "2026-03-14", "student_id": "S-001", "status": "attended", "minutes": 60}),
        (14, {"session_id": "L-2", "date": "2026-03-14", "student_id": "S-001", "status": "attended",
              "minutes": "ninety"}),
    ])
    assert [r for r, _ in rows] == [13]  # the good row still loads
    [p] = problems
    assert (p.source.sheet, p.source.row, p.source.column) == ("Sessions", 14, "minutes")
    assert f"{p.source.human()}: {p.message}" == 'Sessions row 14, minutes: "ninety" is not a number of minutes.'
    assert "Type the lesson length in minutes" in format_problem(p)


def test_defaults_apply_to_blank_optional_cells():
    [(_, product)], problems = inputs.read_products([(2, {"product_id": "P10", "name": "10-pack", "unit": "Lessons",
                                                          "quantity": 10, "price": "$200.00", "validity": "3 Months",
                                                          "shared": "", "active": None})])
    assert not problems
    assert (product.unit, product.price, product.validity, product.shared, product.active) == \
        ("lessons", Decimal(200), "3 months", False, True)
    assert (product.late_cancel, product.no_show, product.apply_at, product.priority) == ("deduct", "deduct",
                                                                                         "booking", 100)
    [(_, session)], _ = inputs.read_sessions([(2, {"session_id": 7.0, "date": 46095.0, "student_id": "S-1",
                                                   "status": "Late cancel", "start": "4:30 pm",
                                                   "cancelled_at": "3/14/2026 9:15 am"})])
    assert session.session_id == "7" and session.status == "late_cancel" and session.credits == 1
    assert session.date == dt.date(2026, 3, 14) and session.start == dt.time(16, 30)
    assert session.booked_by == "staff" and session.paid_separately is False


def test_required_cells_and_formulas_typed_as_text_are_rejected_per_cell():
    _rows, problems = inputs.read_products([(3, {"product_id": "", "name": "x", "unit": "days", "quantity": -1,
                                                 "price": "=A1*2"})])
    found = {(p.source.column, p.message) for p in problems}
    assert ("product_id", "is empty but required") in found
    assert any(c == "unit" and "is not one of hours, lessons, months" in m for c, m in found)
    assert any(c == "quantity" and "more than zero" in m for c, m in found)
    assert any(c == "price" and "formula" in m for c, m in found)


@pytest.mark.parametrize("text,minutes", [("90", 90), ("1h30", 90), ("1:30", 90), ("90 min", 90), ("2 hours", 120),
                                          (45.0, 45)])
def test_durations_people_type(text, minutes):
    assert parse_minutes(text) == minutes


def test_bare_durations_on_legacy_sheets_are_hours():
    assert parse_minutes("1.5", bare="hours") == 90


@pytest.mark.parametrize("text,amount", [("€200", "200"), ("$1,200.00", "1200.00"), ("200 EUR", "200"),
                                         ("1.200,50 €", "1200.50"), (99.9, "99.9")])
def test_money_people_type(text, amount):
    assert parse_money(text) == Decimal(amount)


def test_dates_people_type_and_day_first():
    assert parse_date("3/4/2026") == dt.date(2026, 3, 4)
    assert parse_date("3/4/2026", day_first=True) == dt.date(2026, 4, 3)
    assert parse_date("14 Mar 2026") == dt.date(2026, 3, 14)
    with pytest.raises(ParseError, match="not a date"):
        parse_date("next week sometime")
    with pytest.raises(ParseError, match="no such day"):
        parse_date("2026-02-30")


# --- rejections ---------------------------------------------------------------------------------------

@pytest.fixture
def studio():
    s = Studio(today="2026-03-01")
    s.product("P10", "lessons", 10, 200, validity="1 month")
    s.product("INTRO", "lessons", 3, 45, intro_only="yes")
    s.product("OLD", "lessons", 5, 100, active="no")
    s.student("S-001", family="F-1")
    s.student("S-002", family="F-2")
    s.pkg = s.sell("S-001", "P10", "2026-03-01")
    return s


def _reject(s, action, date="2026-03-02", **cells):
    events, problem = s.act(action, date, **cells)
    assert problem is not None and events == [], f"{action} should be rejected"
    return problem


def test_refund_above_refundable_is_rejected(studio):
    p = _reject(studio, "refund", package_id=studio.pkg, amount=250, reason_code="goodwill")
    assert "above the refundable 200.00" in p.message and p.source.column == "amount"


def test_admin_only_actions_need_an_admin_and_a_reason(studio):
    for action in ("refund", "chargeback", "transfer", "extend", "adjust"):
        p = _reject(studio, action, operator="tom", role="staff", package_id=studio.pkg, to_student_id="S-001",
                    quantity=1, days=5, reason_code="goodwill")
        assert "tom is staff" in p.message, (action, p.message)
    p = _reject(studio, "extend", package_id=studio.pkg, days=5)
    assert p.source.column == "reason_code" and "needs a reason code" in p.message
    p = _reject(studio, "extend", package_id=studio.pkg, days=5, reason_code="because")
    assert '"because" is not in the Reasons list' in p.message


def test_unknown_student_product_package(studio):
    assert "is not a student" in _reject(studio, "sell", student_id="S-404", product_id="P10").message
    assert "is not a product" in _reject(studio, "sell", student_id="S-001", product_id="P-404").message
    p = _reject(studio, "freeze", package_id="PK-9999", days=3)
    assert p.source.column == "package_id" and "is not a package" in p.message


def test_freeze_of_an_expired_package_is_rejected(studio):
    p = _reject(studio, "freeze", date="2026-04-05", package_id=studio.pkg, days=7)
    assert "expired on 2026-03-31" in p.message


def test_intro_only_for_a_returning_client_and_inactive_product(studio):
    p = _reject(studio, "sell", student_id="S-001", product_id="INTRO")
    assert "first-time clients only" in p.message
    events, problem = studio.act("sell", "2026-03-02", student_id="S-002", product_id="INTRO")
    assert problem is None and events[0].product_id == "INTRO"
    p = _reject(studio, "sell", student_id="S-002", product_id="OLD")
    assert "is not active" in p.message


def test_a_rejected_action_appends_nothing(studio):
    before = len(studio.journal.entries)
    _reject(studio, "refund", package_id=studio.pkg, amount=999, reason_code="goodwill")
    assert len(studio.journal.entries) == before


# --- events and the chain -----------------------------------------------------------------------------

def _one_of_each_kind(d: dt.date) -> list:
    return [
        E.SettingsSet(effective_date=d, values={"late_cancel_hours": "24"}),
        E.ProductSet(effective_date=d, values={"product_id": "P1", "name": "Ten", "unit": "lessons"}),
        E.StudentSet(effective_date=d, student_id="S-1", values={"student_id": "S-1", "name": "Åsa Ñúñez"}),
        E.Sale(effective_date=d, student_id="S-1", package_id="PK-1", quantity=Decimal("10.50"), unit="hours",
               amount=Decimal("200.00"), product_id="P1", payment_ref="ch_3Nx"),
        E.TopUp(effective_date=d, package_id="PK-1", quantity=Decimal(2), amount=Decimal(40)),
        E.SessionRecorded(effective_date=d, session_id="L1", student_id="S-1", quantity=Decimal("0.5"),
                          status="scheduled", start="16:30", minutes=Decimal(45), booked_by="client"),
        E.SessionChanged(effective_date=d, session_id="L1", student_id="S-1", status="attended", changed=("status",)),
        E.Refund(effective_date=d, package_id="PK-1", quantity=Decimal(7), amount=Decimal("125.00"),
                 reason_code="moved_away"),
        E.Chargeback(effective_date=d, package_id="PK-1", amount=Decimal(200)),
        E.Transfer(effective_date=d, package_id="PK-1", quantity=Decimal(3), to_student_id="S-2",
                   to_package_id="PK-2"),
        E.Freeze(effective_date=d, package_id="PK-1", days=14), E.Unfreeze(effective_date=d, package_id="PK-1"),
        E.Extend(effective_date=d, package_id="PK-1", days=30),
        E.Adjust(effective_date=d, package_id="PK-1", quantity=Decimal(-1), note="=cmd|' /C calc'!A0"),
        E.Comp(effective_date=d, student_id="S-1", package_id="CP-1", quantity=Decimal(1), product_id=None),
        E.Deactivate(effective_date=d, package_id="PK-1"), E.Reactivate(effective_date=d, package_id="PK-1"),
        E.PeriodClose(effective_date=d, figures={"2026-02": {"closing": "120.5", "comps": 1, "by_product": [["P1", 1, "200"]]}}),
        E.StaffSet(effective_date=d, values={"user": "bea", "role": "owner", "was": "staff"}),
        E.ReasonSet(effective_date=d, values={"reason_code": "storm", "meaning": "Studio closed by a storm"}),
        E.PeriodReopen(effective_date=d, reason_code="billing_error", note="late invoice"),
    ]


def test_every_kind_round_trips_through_canonical_text():
    d = dt.date(2026, 3, 1)
    samples = _one_of_each_kind(d)
    assert {type(e) for e in samples} == set(E.KINDS.values())
    for ev in samples:
        cells = E.to_cells(ev)
        assert E.from_cells(cells) == ev
        assert E.to_cells(E.from_cells(cells)) == cells  # stable bytes
    assert E.to_cells(samples[3])["quantity"] == "10.5" and E.to_cells(samples[3])["amount"] == "200"
    # The Log's hot decode path (positional makers filling slots) gives the same objects as the
    # constructors, for every kind, with extras present, absent (defaults) or unknown (refused alike).
    from xl_ledger.core.journal import entry_to_row
    from xl_ledger.core.journal import row_to_entry

    for ev in samples + [E.SessionRecorded(effective_date=d, session_id="L2"), E.Freeze(effective_date=d),
                         E.ProductSet(effective_date=d), E.Transfer(effective_date=d, package_id="PK-1")]:
        entry = E.Entry(7, "2026-01-01T00:00:00Z", "owner", "Actions!3", ev, "a" * 64, "b" * 64)
        again = row_to_entry(entry_to_row(entry))
        assert again == entry and type(again.event) is type(ev)
        assert [getattr(again.event, f.name) for f in E.fields(type(ev))] == \
            [getattr(ev, f.name) for f in E.fields(type(ev))]
    cells = E.to_cells(samples[11])  # a freeze
    with pytest.raises(TypeError):
        E.from_texts("freeze", cells["effective_date"], "", "PK-1", "", "", "", "", "", "", '{"days":3,"bogus":1}')
    with pytest.raises(TypeError):
        E.Freeze(effective_date=d, days=3, bogus=1)
    first, second = (E.from_texts("product_set", "2026-01-01", "", "", "", "", "", "", "", "", "") for _ in range(2))
    assert first.values == {} and first.values is not second.values  # a default made afresh, as the constructor does


def _reader_cells(row: tuple, which: list[bool]) -> tuple:
    """The row as a spreadsheet reader may give it back: each flagged cell as a number, date or None."""
    out = list(row)
    for i, flagged in enumerate(which):
        v = row[i]
        if not flagged or i == 0:
            continue
        if v == "":
            out[i] = None
        elif chain.LOG_COLUMNS[i] in ("quantity", "amount"):
            out[i] = float(v)
        elif chain.LOG_COLUMNS[i] == "effective_date":
            out[i] = dt.date.fromisoformat(v)
        elif chain.LOG_COLUMNS[i] == "student_id" and v.isdigit():
            out[i] = float(v)
    return tuple(out)


_KIND_ROWS = Journal().append(
    _one_of_each_kind(dt.date(2026, 3, 1))
    + [E.SessionRecorded(effective_date=dt.date(2026, 3, 2), session_id="L2", student_id="42", quantity=Decimal("0.5")),
       E.Freeze(effective_date=dt.date(2026, 3, 3)), E.ProductSet(effective_date=dt.date(2026, 3, 4)),
       E.Transfer(effective_date=dt.date(2026, 3, 5), package_id="PK-1"),
       E.Sale(effective_date=dt.date(2031, 12, 31), student_id="S-9", package_id="PK-9", quantity=Decimal("7.25"),
              amount=Decimal("12.34"), product_id="P1")],
    operator="owner", recorded_at=dt.datetime(2026, 3, 1, 9, tzinfo=dt.timezone.utc))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(_KIND_ROWS) - 1),  # a row as text (most often), or some cells not
                          st.one_of(st.just([False] * 17), st.lists(st.booleans(), min_size=17, max_size=17))),
                max_size=40), st.sampled_from(["", "all", "numbers", "dates"]))
def test_decoding_rows_in_bulk_gives_what_row_to_entry_gives(picks, fresh):
    """journal.rows_to_entries (the fast path of every warm post) against row_to_entry row by row: the same
    entries, field by field with the same types, for rows of every kind, whether a reader gave text or
    numbers, dates and None, and whether the decode caches have seen the values or not."""
    from xl_ledger.core.journal import row_to_entry
    from xl_ledger.core.journal import rows_to_entries

    rows = [_reader_cells(_KIND_ROWS[i], which) for i, which in picks]
    if fresh in ("all", "dates"):  # values seen for the first time (the decode caches fill as they go)
        E._DATES.clear()
    if fresh in ("all", "numbers"):
        E._NUMBERS.clear()
    if fresh == "all":
        E._EXTRA_VALUES.clear(), E._DATA.clear()
    fast = rows_to_entries(rows)
    slow = [row_to_entry(r) for r in rows]
    assert fast == slow

    def typed(entry):
        cells = [getattr(entry, f.name) for f in E.fields(E.Entry) if f.name != "event"]
        cells += [type(entry.event)] + [getattr(entry.event, f.name) for f in E.fields(type(entry.event))]
        return [(type(v), v) for v in cells]
    assert [typed(e) for e in fast] == [typed(e) for e in slow]


def _log(n=6, key=None):
    j = Journal()
    rows = j.append([E.Sale(effective_date=dt.date(2026, 3, i + 1), student_id="S-1", package_id=f"PK-{i}",
                            quantity=Decimal(10), amount=Decimal("199.99"), product_id="P1") for i in range(n)],
                    operator="owner", recorded_at=dt.datetime(2026, 3, 1, 12, 0, 0, 123456), key=key)
    return rows


def test_the_chain_verifies_and_survives_what_readers_do_to_cells():
    rows = _log()
    assert chain.verify(rows) is None
    # calamine/fastexcel give floats for ints and None/'' for blanks: still verifies.
    read_back = [tuple(float(v) if i == 0 else (None if v == "" else v) for i, v in enumerate(r)) for r in rows]
    assert chain.verify(read_back) is None
    assert rows[0][chain.COL["recorded_at"]] == "2026-03-01T12:00:00Z"


@pytest.mark.parametrize("tamper,bad_index", [
    ("edit", 3), ("delete", 3), ("insert", 3), ("swap", 2),
])
def test_tampering_names_the_first_bad_row(tamper, bad_index):
    rows = [list(r) for r in _log()]
    if tamper == "edit":
        rows[3][chain.COL["amount"]] = "19.99"
    elif tamper == "delete":
        del rows[3]
    elif tamper == "insert":
        rows.insert(3, list(rows[2]))
    elif tamper == "swap":
        rows[2], rows[3] = rows[3], rows[2]
    broken = chain.verify(rows)
    assert broken is not None and broken.index == bad_index


def test_with_an_owner_key_a_recomputed_plain_chain_is_caught():
    key = b"owner-secret"
    rows = [list(r) for r in _log(key=key)]
    assert chain.verify(rows, key) is None
    rows[2][chain.COL["amount"]] = "0"
    forged = chain.seal([r for r in rows], chain.GENESIS)  # a clerk re-seals with plain SHA-256
    assert chain.verify(forged) is None
    broken = chain.verify(forged, key)
    assert broken is not None and broken.index == 0 and "owner key" in broken.explanation


def test_the_core_imports_neither_openpyxl_nor_xlwings():
    code = ("import sys, pkgutil, importlib, xl_ledger.core as c\n"
            "for m in pkgutil.iter_modules(c.__path__): importlib.import_module('xl_ledger.core.' + m.name)\n"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('openpyxl', 'xlwings', 'fastexcel', "
            "'python_calamine')]\n"
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""


@pytest.mark.parametrize("key", [None, b"owner-secret"])
def test_fast_append_matches_the_canonical_row_and_hash(key):
    """Journal.append builds rows positionally with cached texts; they must be exactly the canonical
    definition (events.to_cells + chain.row_hash), for sessions of every shape and other kinds between."""
    from xl_ledger.core import events as E
    from xl_ledger.core.journal import Journal
    from xl_ledger.core.journal import entry_to_row

    d = dt.date(2024, 3, 1)
    events = [
        E.SettingsSet(effective_date=d, values={"timezone": "Europe/Berlin"}),
        E.Sale(effective_date=d, student_id="LEG-S001", package_id="LEG-P0001", quantity=Decimal("10"), unit="lessons",
               amount=Decimal("200.50"), reason_code="migration", note="legacy 10er", product_id="LEG-10L-200_5"),
    ]
    shapes = [dict(status="attended", minutes=Decimal(60)), dict(status="no_show", minutes=Decimal("45.0")),
              dict(status="late_cancel", minutes=None, note="LC; sick"), dict(status="attended", minutes=Decimal("90")),
              dict(status="cancelled", minutes=Decimal("30"), note="=A1 looks like a formula")]
    for i in range(40):
        shape = dict(shapes[i % len(shapes)])
        note = shape.pop("note", None)
        events.append(E.SessionRecorded(effective_date=d + dt.timedelta(days=i // 3), student_id=f"LEG-S00{i % 3}",
                                        session_id=f"LEG-L{i:06d}", quantity=Decimal("1.50") if i % 7 == 0 else Decimal(1),
                                        reason_code="migration", note=note, **shape))
        if i == 20:
            events.append(E.Adjust(effective_date=d, student_id="LEG-S001", package_id="LEG-P0001",
                                   quantity=Decimal("-2"), unit="lessons", reason_code="migration", note="used"))
    sources = [f"log.xlsx!Log!A{i + 4}" if i % 9 else "" for i in range(len(events))]
    when = dt.datetime(2025, 4, 15, 12, 30, 15, 123456, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    # a journal that already holds rows: the chain continues from its head
    first = [E.StudentSet(effective_date=d, student_id="S1", values={"name": "Ana"})]
    a, b = Journal(), Journal()
    a.append(first, operator="maria", recorded_at=when, key=key)
    b.append(first, operator="maria", recorded_at=when, key=key)

    expected = a.append(events, operator="owner", recorded_at=when, sources=sources, key=key)
    seq, prev = b.head()
    reference = []
    for event, source in zip(events, sources):
        seq += 1
        row = list(entry_to_row(E.Entry(seq, "2025-04-15T10:30:15Z", "owner", source, event)))
        row[chain.PREV], row[chain.HASH] = prev, ""
        row[chain.HASH] = prev = chain.row_hash(row, key)
        reference.append(tuple(row))
    assert expected == reference
    assert chain.verify(a.rows(), key) is None
    assert [e.hash for e in a.entries[1:]] == [r[chain.HASH] for r in reference]


def test_text_dates_follow_the_studio_date_order_and_are_never_silently_swapped():
    row = {"session_id": "L1", "student_id": "S-1", "status": "attended", "date": "14/03/2026",
           "cancelled_at": "13/03/2026 18:00"}
    rows, problems = inputs.read_sessions([(5, row)])
    assert rows == [] and problems[0].source.column == "date"
    assert "reads only day-first" in problems[0].message and "date_order to dmy" in problems[0].message
    [(_, session)], problems = inputs.read_sessions([(5, row)], day_first=True)
    assert not problems and session.date == dt.date(2026, 3, 14)
    assert session.cancelled_at == dt.datetime(2026, 3, 13, 18, 0)
    with pytest.raises(ParseError, match="month-first"):
        parse_date("03/14/2026", day_first=True)
    assert parse_date("03/04/2026") == dt.date(2026, 3, 4) and parse_date("03/04/2026", day_first=True) == \
        dt.date(2026, 4, 3)
    settings, problems = inputs.read_settings([(2, {"key": "date_order", "value": "DMY"})])
    assert not problems and settings.date_order == "dmy"


def test_sell_and_comp_decide_the_same_from_the_selling_catalog_as_from_the_fold(studio):
    """Post gives sell and comp rows Scopes.for_selling (master data folded once) instead of a family fold:
    every such row is decided exactly as with the full state, whatever it is rejected for."""
    from studio import DEFAULT_REASONS

    from xl_ledger.core import commands
    from xl_ledger.core.scope import Scopes

    studio.student("S-003", family="F-1")
    studio.sell("S-002", "P10", "2026-04-20")  # a sale dated after the rows below: a buyer all the same
    studio._append([E.PeriodClose(effective_date=dt.date(2026, 2, 28))])  # February is closed
    rows = [("sell", "2026-03-02", dict(student_id=s, product_id=p)) for s in ("S-001", "S-002", "S-003", "S-404", None)
            for p in ("P10", "INTRO", "OLD", "P-404", None)]
    rows += [("comp", d, dict(student_id=s, product_id=p, quantity=q, reason_code="goodwill"))
             for s in ("S-001", "S-404") for p in ("P10", None, "P-404") for q in (1, None)
             for d in ("2026-03-02", "2026-02-10")]
    rows += [("sell", "2026-02-15", dict(student_id="S-001", product_id="P10")),
             ("sell", "2026-03-05", dict(student_id="S-003", product_id="P10", quantity=-1))]
    scopes = Scopes(studio.journal.entries)
    seen = []
    for action, date, cells in rows:
        parsed, problems = inputs.read_actions([(5, {"action": action, "date": date, **cells})])
        assert not problems
        a = parsed[0][1]
        when = a.date
        assert action in commands.CATALOG_ONLY
        answers = []
        for state in (studio.state(when), scopes.for_selling(when)):
            ctx = commands.Context(state=state, today=when, operator="owner", role="owner",
                                   reasons=DEFAULT_REASONS, package_ids=set(studio.package_ids))
            answers.append(commands.decide(a, ctx))
        assert answers[0] == answers[1], (action, date, cells)
        seen.append(answers[0][1].message if answers[0][1] else "accepted")
    for found in ("accepted", "closed period", "first-time clients only", "is not active", "is not a student",
                  "is not a product", "is empty", "not more than zero"):
        assert any(found in m for m in seen), found


def test_a_sheet_is_parsed_a_distinct_value_at_a_time_with_every_row_still_answered():
    """read_sessions keeps each column's answer per distinct value (parse_row's memo): a value seen again
    gives the same parse, and a bad one a Problem in each row it is in, naming that row."""
    row = {"session_id": "L1", "date": "2026-03-02", "student_id": "S-001", "status": "attended", "minutes": 60}
    rows = [(2, row), (3, {**row, "session_id": "L2", "minutes": "ninety"}),
            (4, {**row, "session_id": "L3", "minutes": "ninety"}), (5, {**row, "session_id": "L4", "credits": True}),
            (6, {**row, "session_id": "L5", "credits": 1})]
    parsed, problems = inputs.read_sessions(rows)
    assert [r for r, _s in parsed] == [2, 6] and parsed[0][1].date == parsed[1][1].date == dt.date(2026, 3, 2)
    assert [(p.source.row, p.source.column, p.value) for p in problems] == [
        (3, "minutes", "ninety"), (4, "minutes", "ninety"), (5, "credits", True)]  # True is not the number 1
    assert problems[0].message == problems[1].message
