"""Credit movements (core/movements.py): every line's running balance is what `balance --as-of` says."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from studio import D
from studio import Studio
from studio import day
from test_properties import build
from test_properties import studio_st

from xl_ledger.core import movements
from xl_ledger.core import queries
from xl_ledger.core.movements import Kind
from xl_ledger.core.numbers import ZERO


def running_on(stmt: movements.Statement, package_id: str, d: dt.date) -> Decimal:
    """The package's balance after the last line dated on or before d (the opening balance if none)."""
    bal = stmt.opening.get(package_id, ZERO)
    for m in stmt.lines:
        if m.package_id == package_id and m.date <= d:
            bal = m.balance
    return bal


def check_every_day(journal, students, first, last):
    """On every day, each package's running balance is its figure in the fold of that day, and a
    student's packages add up to queries.balance (what `balance --as-of` prints)."""
    stmt = movements.statement(journal.entries, students, first, last, family=True)
    d = first
    while d <= last:
        state = journal.fold(d)
        for pid, pkg in state.packages.items():
            if pkg.owner in students:
                assert running_on(stmt, pid, d) == movements.counted(pkg), (d, pid, stmt.lines)
        for sid in students:
            for unit in {p.unit for p in state.usable_packages(sid)}:
                mine = sum((running_on(stmt, p.package_id, d) for p in state.usable_packages(sid)
                            if p.unit == unit), ZERO)
                assert mine == queries.balance(state, sid, unit), (d, sid, unit)
        d += dt.timedelta(days=1)
    return stmt


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(studio_st)
def test_running_balance_equals_balance_as_of_on_every_day(spec):
    s = build(spec)
    students = sorted(s.state().students)
    dates = [e.event.effective_date for e in s.journal.entries if e.event.kind not in
             ("settings_set", "product_set", "student_set")]
    if not dates:
        return
    first, last = min(dates) - dt.timedelta(days=2), max(dates) + dt.timedelta(days=70)
    stmt = check_every_day(s.journal, students, first, last)
    # Every line is one of the movements a statement names, and balances close where the lines end.
    assert all(isinstance(m.kind, Kind) for m in stmt.lines)
    for pid, closing in stmt.closing.items():
        assert closing == running_on(stmt, pid, last)


def test_family_story_shared_pack_top_up_freeze_late_cancel_transfer():
    s = Studio(today="2026-03-01", late_cancel_hours=24)
    s.product("FAM10", "lessons", 10, 300, shared="yes", validity="2 months")
    s.student("S-001", "Luca", family="F-1")
    s.student("S-002", "Giulia", family="F-1")
    s.student("S-009", "Cousin Ada", family="F-9")

    def on(date: str):  # each fact is recorded on its own day, as the front desk would
        s.clock = dt.datetime.combine(day(date), dt.time(18))

    on("2026-03-02")
    pk = s.sell("S-001", "FAM10", "2026-03-02")                             # +10 → 10
    on("2026-03-03")
    s.session("L1", "2026-03-03", "S-001", start="16:00")                   # Luca −1 → 9
    on("2026-03-04")
    s.session("G1", "2026-03-04", "S-002", start="17:00")                   # Giulia −1 → 8
    on("2026-03-05")
    assert s.act("top_up", "2026-03-05", package_id=pk, quantity=5)[1] is None   # +5 → 13
    on("2026-03-06")
    assert s.act("freeze", "2026-03-06", package_id=pk, days=7)[1] is None       # 0, expiry 05-01 → 05-08
    on("2026-03-16")
    # cancelled 3 hours before a 17:00 lesson, under a 24-hour rule: a late cancel, −1 → 12
    s.session("G2", "2026-03-16", "S-002", "cancelled", start="17:00", cancelled_at="2026-03-16T14:00")
    on("2026-03-17")
    assert s.act("transfer", "2026-03-17", package_id=pk, to_student_id="S-009", quantity=2,
                 reason_code="family_transfer")[1] is None                          # −2 → 10
    stmt = check_every_day(s.journal, ["S-001", "S-002"], day("2026-03-01"), day("2026-05-20"))
    got = [(str(m.date), m.kind, m.student_id, m.change, m.balance) for m in stmt.lines]
    assert got == [
        ("2026-03-02", Kind.BOUGHT, "S-001", D(10), D(10)),
        ("2026-03-03", Kind.ATTENDED, "S-001", D(-1), D(9)),
        ("2026-03-04", Kind.ATTENDED, "S-002", D(-1), D(8)),
        ("2026-03-05", Kind.TOPPED_UP, "S-001", D(5), D(13)),
        ("2026-03-06", Kind.FROZEN, "S-001", D(0), D(13)),
        ("2026-03-16", Kind.LATE_CANCEL, "S-002", D(-1), D(12)),
        ("2026-03-17", Kind.TRANSFER_OUT, "S-001", D(-2), D(10)),
        # 2 months from 03-02 is 05-01, 7 frozen days later 05-08: the 10 left expire the next day,
        # split over the lot bought (10 − 3 used − 2 transferred = 5) and the top-up's lot (5).
        ("2026-05-09", Kind.EXPIRED, "S-001", D(-5), D(5)),
        ("2026-05-09", Kind.EXPIRED, "S-001", D(-5), D(0)),
    ]
    frozen = stmt.lines[4]
    assert frozen.detail == "7 days, expires 2026-05-08"
    transfer = stmt.lines[6]
    assert (transfer.reason_code, transfer.detail) == ("family_transfer", "to S-009 (PK-0002)")
    assert stmt.opening == {} and stmt.closing == {pk: D(0)}
    # The shared pack is one package: each sibling's use is its own line on it.
    assert {m.student_id for m in stmt.lines if m.session_id} == {"S-001", "S-002"}
    # A period inside: opening 13 on 03-15 (after the top-up), closing 10 on 03-31.
    part = movements.statement(s.journal.entries, ["S-001", "S-002"], day("2026-03-15"), day("2026-03-31"),
                               family=True)
    assert part.opening == {pk: D(13)} and part.closing == {pk: D(10)}
    assert [m.kind for m in part.lines] == [Kind.LATE_CANCEL, Kind.TRANSFER_OUT]
