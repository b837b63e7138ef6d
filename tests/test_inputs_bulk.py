"""The input readers parse a sheet a column at a time (inputs._build); that must give exactly what
parse_row gives row by row: the same models for the same rows, and the same problems in the same order."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from xl_ledger.core import inputs


def row_by_row(sheet, rows, fields, required, model, extra=None):
    """The reference: parse_row on each row, then the model, as the readers did before the bulk parse."""
    built, problems = [], []
    for row_no, raw in rows:
        if all(inputs.P.is_blank(v) for v in raw.values()):
            continue
        values, errs = inputs.parse_row(sheet, row_no, raw, fields, required)
        if errs:
            problems.extend(errs)
            continue
        if extra:
            values.update(extra(row_no, values))
        built.append((row_no, model(**values)))
    return built, problems


def _typed(items):
    """Values with their types: Decimal('1') == 1 == True, and the bulk parse must not mix them up."""
    return [(r, tuple((k, type(v), v) for k, v in sorted(vars(m).items()) if not k.startswith("_"))
             if hasattr(m, "__dict__") else tuple((n, type(getattr(m, n)), getattr(m, n))
                                                   for n in inputs._SESSION_FIELDS)) for r, m in items]


# Cells as they come from a sheet: good values, blanks, formulas typed as text, numbers of every kind
# (True, 1, 1.0 and Decimal(1) are equal in Python but not as cells), dates and times as text and typed.
CELL = st.one_of(
    st.none(), st.just(""), st.just("  "), st.just("=SUM(A1)"), st.booleans(),
    st.integers(-3, 120), st.sampled_from([1.0, 0.5, 60.0, -2.5, 1e308]), st.just(Decimal(1)),
    st.sampled_from(["L-1", "S1", "S2", "X 1", "ninety", "60", "1.5", "attended", "late_cancel", "no_show",
                     "scheduled", "Attended", "client", "staff", "yes", "no", "2026-03-14", "14/3/2026",
                     "3/14/2026", "19/01/2026", "16:30", "4pm", "2026-03-14 09:15", "lessons", "hours"]),
    st.dates(dt.date(2020, 1, 1), dt.date(2030, 12, 31)),
    st.datetimes(dt.datetime(2020, 1, 1), dt.datetime(2030, 12, 31)),
    st.times(),
)


def sheet_rows(fields):
    names = list(fields) + ["extra column"]
    return st.lists(st.fixed_dictionaries({n: CELL for n in names}), max_size=25).map(
        lambda rows: [(i + 2, r) for i, r in enumerate(rows)])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=sheet_rows(inputs.SESSION_FIELDS), day_first=st.booleans())
def test_sessions_parse_in_bulk_as_row_by_row(rows, day_first):
    fields = inputs._day_first(inputs.SESSION_FIELDS, day_first)
    required = ("session_id", "date", "student_id", "status")
    built, problems = inputs.read_sessions(rows, day_first)
    want_built, want_problems = row_by_row("Sessions", rows, fields, required, inputs.Session)
    assert _typed(built) == _typed(want_built)
    assert problems == want_problems


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=sheet_rows(inputs.ACTION_FIELDS))
def test_actions_parse_in_bulk_as_row_by_row(rows):
    built, problems = inputs.read_actions(rows)
    want = row_by_row("Actions", rows, inputs.ACTION_FIELDS, ("action",), inputs.Action,
                      extra=lambda row_no, _v: {"row": row_no})
    assert _typed(built) == _typed(want[0])
    assert problems == want[1]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=sheet_rows(inputs.STUDENT_FIELDS))
def test_students_parse_in_bulk_as_row_by_row(rows):
    built, problems = inputs.read_students(rows)
    want = row_by_row("Students", rows, inputs.STUDENT_FIELDS, ("student_id", "name"), inputs.Student)
    assert _typed(built) == _typed(want[0])
    assert problems == want[1]


def test_a_typical_register_parses_its_rows_and_names_each_bad_cell():
    """Hand-made: two good rows, a row with two bad cells (both named, in column order) and a blank row."""
    rows = [(2, {"session_id": "L-1", "date": dt.date(2026, 3, 14), "student_id": "S1", "status": "attended",
                 "minutes": 60}),
            (3, {"session_id": "L-2", "date": "2026-03-15", "student_id": "S1", "status": "no_show",
                 "credits": 0.5}),
            (4, {"session_id": "L-3", "date": "someday", "student_id": "S2", "status": "gone"}),
            (5, {"session_id": None, "date": "", "note": "  "})]
    built, problems = inputs.read_sessions(rows)
    assert [(r, s.session_id, s.date, s.credits, s.minutes) for r, s in built] == [
        (2, "L-1", dt.date(2026, 3, 14), Decimal(1), Decimal(60)),
        (3, "L-2", dt.date(2026, 3, 15), Decimal("0.5"), None)]
    assert [(p.source.row, p.source.column) for p in problems] == [(4, "date"), (4, "status")]
