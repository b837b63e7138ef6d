"""Scenarios from the seeds and the issue, told as a studio's story, with the numbers in them."""

from __future__ import annotations

import datetime as dt

from studio import D
from studio import Studio
from studio import day

from xl_ledger.core import periods
from xl_ledger.core import queries
from xl_ledger.core.parse import Validity


def test_24_hour_package_and_a_3_5_hour_session_leave_20_5_hours():
    s = Studio()
    s.product("G24", "hours", 24, 960, name="Growth Package")
    s.student("S-001", "Mario Rossi")
    pkg = s.sell("S-001", "G24", "2026-03-01")
    s.session("T-1", "2026-03-03", "S-001", minutes=210, service="tutoring")
    assert s.state("2026-03-04").packages[pkg].remaining == D("20.5")


def test_client_booking_deducts_at_booking_pending_does_not_and_cancelling_gives_back():
    s = Studio(today="2026-03-01")
    s.product("H10", "hours", 10, 500)
    s.student("S-001")
    pkg = s.sell("S-001", "H10", "2026-03-01")
    # The parent books a 1-hour lesson for next week: deducted now.
    s.session("A", "2026-03-08", "S-001", status="scheduled", booked_by="client", minutes=60)
    p = s.state("2026-03-01").packages[pkg]
    assert (p.remaining, p.reserved, p.used) == (D(9), D(1), D(0))
    # The tutor proposes a 2-hour session: pending, nothing deducted...
    s.session("B", "2026-03-09", "S-001", status="pending", booked_by="staff", minutes=120)
    assert s.state("2026-03-01").packages[pkg].remaining == D(9)
    # ...until the family accepts it and it becomes scheduled.
    s.session("B", "2026-03-09", "S-001", status="scheduled", booked_by="staff", minutes=120)
    assert s.state("2026-03-01").packages[pkg].remaining == D(7)
    # Cancelling the client's booking (a week ahead) gives the hour back.
    s.session("A", "2026-03-08", "S-001", status="cancelled", booked_by="client", minutes=60,
              cancelled_at="2026-03-01 10:00")
    assert s.state("2026-03-01").packages[pkg].remaining == D(8)
    # Completing B does not change the balance again: reserved becomes used.
    s.session("B", "2026-03-09", "S-001", status="attended", booked_by="staff", minutes=120)
    p = s.state("2026-03-10").packages[pkg]
    assert (p.remaining, p.reserved, p.used) == (D(8), D(0), D(2))


def test_lesson_packages_charge_per_lesson_hour_packages_by_minutes():
    s = Studio()
    s.product("L10", "lessons", 10, 300)
    s.product("H10", "hours", 10, 400)
    s.student("S-001")
    s.student("S-002")
    lessons = s.sell("S-001", "L10", "2026-03-01")
    hours = s.sell("S-002", "H10", "2026-03-01")
    s.session("1", "2026-03-02", "S-001", minutes=45)
    s.session("2", "2026-03-03", "S-001", minutes=90)
    s.session("3", "2026-03-02", "S-002", minutes=45)
    st = s.state("2026-03-05")
    assert st.packages[lessons].used == D(2)
    assert st.packages[lessons].remaining == D(8)
    assert st.packages[hours].used == D("0.75")
    assert st.packages[hours].remaining == D("9.25")


def test_no_show_free_leaves_balance_and_default_deducts():
    s = Studio()
    s.product("FREE", "lessons", 10, 300, no_show="free")
    s.product("STD", "lessons", 10, 300)
    s.student("S-001")
    s.student("S-002")
    free = s.sell("S-001", "FREE", "2026-03-01")
    std = s.sell("S-002", "STD", "2026-03-01")
    s.session("1", "2026-03-02", "S-001", status="no_show")
    s.session("2", "2026-03-02", "S-002", status="no_show")
    st = s.state("2026-03-05")
    assert st.packages[free].remaining == D(10)
    assert st.packages[std].remaining == D(9)


def test_monthly_5_lessons_for_march_sixth_lesson_is_owed_and_april_leaves_march_alone():
    s = Studio()
    s.product("M5", "lessons", 5, 150, period="month", per_period=5)
    s.student("S-001")
    march = s.sell("S-001", "M5", "2026-03-01")
    lots = s.state("2026-03-01").packages[march].lots
    assert [(lot.quantity, lot.start, lot.end) for lot in lots] == [(D(5), day("2026-03-01"), day("2026-03-31"))]
    for i, d in enumerate(["03-02", "03-05", "03-09", "03-12", "03-16", "03-19"]):
        s.session(f"L{i}", f"2026-{d}", "S-001")
    st = s.state("2026-03-31")
    assert st.packages[march].used == D(5)
    owed = queries.owed(st, "S-001")
    assert [a.session_id for a in owed] == ["L5"]
    april = s.sell("S-001", "M5", "2026-04-01")
    st = s.state("2026-04-02")
    assert st.packages[march].used == D(5) and st.packages[march].remaining == D(0)
    assert st.packages[april].remaining == D(5)  # April's credits do not pay March's extra lesson
    assert [a.session_id for a in queries.owed(st, "S-001")] == ["L5"]


def test_weekly_credits_are_clipped_at_months_and_the_boundary_week_is_one_credit():
    # Weeks start on Monday (DECISIONS.md). March 2026 starts on a Sunday and ends on a Tuesday.
    s = Studio()
    s.product("W1", "lessons", 4, 120, period="week", per_period=1, validity="1 month")
    s.student("S-001")
    march = s.sell("S-001", "W1", "2026-03-01")
    lots = s.state("2026-03-01").packages[march].lots
    assert (lots[0].start, lots[0].end) == (day("2026-03-01"), day("2026-03-01"))  # first week clipped
    assert (lots[-1].start, lots[-1].end) == (day("2026-03-30"), day("2026-03-31"))  # last week clipped
    assert len(lots) == 6
    april = s.sell("S-001", "W1", "2026-04-01")
    st = s.state("2026-04-01")
    boundary = [lot for lot in st.packages[march].lots if lot.start == day("2026-03-30")]
    assert (boundary[0].start, boundary[0].end, boundary[0].quantity) == (day("2026-03-30"), day("2026-04-05"), D(1))
    assert all(lot.start > day("2026-04-05") for lot in st.packages[april].lots)
    assert st.packages[march].granted + st.packages[april].granted == D(6 + 5 - 1)
    # Two lessons in that week: one is credited, one is owed.
    s.session("A", "2026-03-31", "S-001")
    s.session("B", "2026-04-02", "S-001")
    st = s.state("2026-04-06")
    assert [a.session_id for a in queries.owed(st, "S-001")] == ["B"]


def test_package_added_after_lessons_pays_for_them():
    s = Studio()
    s.product("L10", "lessons", 10, 300)
    s.student("S-001")
    s.session("1", "2026-03-02", "S-001")
    s.session("2", "2026-03-09", "S-001")
    assert len(queries.owed(s.state("2026-03-10"))) == 2
    pkg = s.sell("S-001", "L10", "2026-03-10")
    st = s.state("2026-03-10")
    assert queries.owed(st) == []
    assert st.packages[pkg].remaining == D(8)


def test_deactivated_package_rematches_to_another_or_shows_owed():
    s = Studio()
    s.product("L10", "lessons", 10, 300, validity="3 months")
    s.product("L5", "lessons", 5, 160, validity="6 months")
    s.student("S-001")
    a = s.sell("S-001", "L10", "2026-03-01")
    b = s.sell("S-001", "L5", "2026-03-01")
    for i in range(3):
        s.session(f"{i}", f"2026-03-0{i + 2}", "S-001")
    st = s.state("2026-03-10")
    assert (st.packages[a].used, st.packages[b].used) == (D(3), D(0))  # a expires first
    _ev, problem = s.act("deactivate", "2026-03-10", package_id=a, reason_code="billing_error")
    assert problem is None
    st = s.state("2026-03-10")
    assert st.packages[a].status == "inactive"
    assert st.packages[b].used == D(3)
    _ev, problem = s.act("deactivate", "2026-03-10", package_id=b, reason_code="billing_error")
    assert problem is None
    assert len(queries.owed(s.state("2026-03-10"))) == 3


def test_overlapping_packages_the_one_expiring_first_is_drawn_first():
    s = Studio()
    s.product("LONG", "lessons", 10, 300, validity="6 months")
    s.product("SHORT", "lessons", 5, 160, validity="1 month")
    s.student("S-001")
    long_ = s.sell("S-001", "LONG", "2026-03-01")
    short = s.sell("S-001", "SHORT", "2026-03-05")
    s.session("1", "2026-03-06", "S-001")
    st = s.state("2026-03-07")
    assert st.packages[short].used == D(1) and st.packages[long_].used == D(0)


def test_refund_quote_after_three_lessons_and_before_first_use():
    s = Studio(refund_admin_fee=15)
    s.product("P10", "lessons", 10, 200)
    s.student("S-001")
    pkg = s.sell("S-001", "P10", "2026-03-01")
    assert queries.refund_quote(s.state("2026-03-01"), pkg) == D(200)
    for i in range(3):
        s.session(f"{i}", f"2026-03-0{i + 2}", "S-001")
    assert queries.refund_quote(s.state("2026-03-06"), pkg) == D(125)
    # A refund above that is refused, with the number in the message.
    _ev, problem = s.act("refund", "2026-03-06", package_id=pkg, amount=130, reason_code="moved_away")
    assert problem is not None and "125" in problem.message and problem.source.column == "amount"
    events, problem = s.act("refund", "2026-03-06", package_id=pkg, reason_code="moved_away")
    assert problem is None and events[0].amount == D(125) and events[0].quantity == D(7)
    p = s.state("2026-03-07").packages[pkg]
    assert (p.remaining, p.refunded, p.status) == (D(0), D(7), "refunded")


def test_expiry_arithmetic():
    assert periods.last_valid_day(day("2026-01-15"), Validity(3, "months")) == day("2026-04-14")
    assert periods.last_valid_day(day("2024-01-31"), Validity(1, "months")) == day("2024-02-29")
    assert periods.last_valid_day(day("2026-03-31"), Validity(1, "months")) == day("2026-04-30")
    assert periods.last_valid_day(day("2024-11-30"), Validity(3, "months")) == day("2025-02-28")
    assert periods.last_valid_day(day("2026-01-31"), Validity(3, "months")) == day("2026-04-30")
    assert periods.last_valid_day(day("2026-03-01"), Validity(90, "days")) == day("2026-05-29")


def _eight_pack(**product):
    s = Studio()
    s.product("P8", "lessons", 8, 240, **product)
    s.student("S-001")
    first = s.sell("S-001", "P8", "2026-03-01")
    for i in range(6):
        s.session(f"a{i}", f"2026-03-{i + 2:02d}", "S-001")
    assert s.state("2026-03-10").packages[first].remaining == D(2)
    for i in range(4):
        s.session(f"b{i}", f"2026-03-{i + 10:02d}", "S-001")
    s.renew("2026-03-20")
    return s, s.state("2026-03-20")


def test_auto_renew_sells_a_second_package_and_ends_at_six():
    s, st = _eight_pack(auto_renew="yes")
    sales = [e for e in s.journal.entries if e.event.kind == "sale"]
    assert len(sales) == 2 and sales[1].event.reason_code == "auto_renew"
    assert queries.balance(st, "S-001", "lessons") == D(6)
    assert queries.owed(st) == []


def test_negative_limit_two_ends_at_minus_two():
    _s, st = _eight_pack(negative_limit=2)
    assert queries.balance(st, "S-001", "lessons") == D(-2)
    assert queries.owed(st) == []


def test_without_auto_renew_or_negative_limit_two_lessons_are_owed():
    _s, st = _eight_pack()
    assert queries.balance(st, "S-001", "lessons") == D(0)
    assert [a.session_id for a in queries.owed(st)] == ["b2", "b3"]


def test_siblings_share_a_family_ten_pack():
    s = Studio()
    s.product("FAM10", "lessons", 10, 280, shared="yes")
    s.student("S-001", "Luca", family="F-1")
    s.student("S-002", "Giulia", family="F-1")
    pkg = s.sell("S-001", "FAM10", "2026-03-01")
    for i in range(2):
        s.session(f"luca{i}", f"2026-03-0{i + 2}", "S-001")
        s.session(f"giulia{i}", f"2026-03-0{i + 4}", "S-002")
    st = s.state("2026-03-10")
    assert st.packages[pkg].remaining == D(6)
    for child, mine in (("S-001", {"luca0", "luca1"}), ("S-002", {"giulia0", "giulia1"})):
        lines = queries.history(st, child)
        assert {ln.session_id for ln in lines if ln.session_id and ln.by_student == child} == mine
        assert lines[-1].balance == D(6)


def test_fourteen_day_freeze_moves_expiry_and_blocks_use():
    s = Studio()
    s.product("P10", "lessons", 10, 300, validity="2 months")
    s.product("DROP", "lessons", 1, 35)
    s.student("S-001")
    pkg = s.sell("S-001", "P10", "2026-03-01")
    assert s.state("2026-03-01").packages[pkg].expires_on == day("2026-04-30")
    _ev, problem = s.act("freeze", "2026-03-10", package_id=pkg, days=14)
    assert problem is None
    st = s.state("2026-03-10")
    assert st.packages[pkg].expires_on == day("2026-05-14")
    assert st.packages[pkg].status == "frozen"
    s.session("during", "2026-03-15", "S-001")
    s.session("after", "2026-03-25", "S-001")
    st = s.state("2026-03-26")
    assert st.packages[pkg].used == D(1)
    assert [a.session_id for a in queries.owed(st)] == ["during"]


def test_transfer_to_a_sibling_by_admin_and_outside_the_family_by_staff():
    s = Studio()
    s.product("P10", "lessons", 10, 300)
    s.student("S-001", family="F-1")
    s.student("S-002", family="F-1")
    s.student("S-009", family="F-7")
    pkg = s.sell("S-001", "P10", "2026-03-01")
    events, problem = s.act("transfer", "2026-03-05", operator="maria", role="admin", package_id=pkg,
                            to_student_id="S-002", quantity=3, reason_code="family_transfer")
    assert problem is None
    st = s.state("2026-03-05")
    assert st.packages[pkg].remaining == D(7)
    assert queries.balance(st, "S-002", "lessons") == D(3)
    _ev, problem = s.act("transfer", "2026-03-06", operator="tom", role="staff", package_id=pkg,
                         to_student_id="S-009", quantity=1, reason_code="goodwill")
    assert problem is not None
    assert "not in S-001's family" in problem.message and "tom is staff" in problem.message


def test_cancelled_inside_late_cancel_hours_counts_as_late_and_outside_releases():
    s = Studio(late_cancel_hours=24)
    s.product("P10", "lessons", 10, 300)
    s.student("S-001")
    pkg = s.sell("S-001", "P10", "2026-03-01")
    s.session("late", "2026-03-10", "S-001", status="cancelled", start="17:00", cancelled_at="2026-03-09 20:00")
    s.session("early", "2026-03-12", "S-001", status="cancelled", start="17:00", cancelled_at="2026-03-10 08:00")
    st = s.state("2026-03-13")
    assert st.packages[pkg].used == D(1)
    [a] = [a for a in st.allocations if a.package_id == pkg]
    assert (a.session_id, a.status) == ("late", "late_cancel")


def test_paid_separately_is_never_matched_and_staff_bookings_may_not_reserve():
    s = Studio(reserve_staff_bookings="no")
    s.product("P10", "lessons", 10, 300)
    s.student("S-001")
    pkg = s.sell("S-001", "P10", "2026-03-01")
    s.session("paid", "2026-03-02", "S-001", paid_separately="yes")
    s.session("staff", "2026-03-20", "S-001", status="scheduled", booked_by="staff")
    s.session("client", "2026-03-21", "S-001", status="scheduled", booked_by="client")
    p = s.state("2026-03-05").packages[pkg]
    assert (p.used, p.reserved, p.remaining) == (D(0), D(1), D(9))


def test_apply_at_service_reserves_nothing_at_booking_but_draws_when_attended():
    s = Studio()
    s.product("BOOK", "lessons", 10, 300, apply_at="service")
    s.student("S-001")
    pkg = s.sell("S-001", "BOOK", "2026-03-01")
    s.session("x", "2026-03-10", "S-001", status="scheduled", booked_by="client")
    st = s.state("2026-03-05")
    assert st.packages[pkg].reserved == D(0) and queries.owed(st) == []
    s.session("x", "2026-03-10", "S-001", status="attended", booked_by="client")
    assert s.state("2026-03-11").packages[pkg].used == D(1)


def test_first_use_activation_starts_the_validity_clock():
    s = Studio()
    s.product("FU", "lessons", 5, 150, validity="30 days", validity_starts="first_use")
    s.student("S-001")
    pkg = s.sell("S-001", "FU", "2026-01-10")
    p = s.state("2026-02-20").packages[pkg]
    assert p.expires_on is None and p.status == "active" and p.expired == 0
    s.session("1", "2026-03-01", "S-001")
    p = s.state("2026-04-05").packages[pkg]
    assert p.expires_on == day("2026-03-30") and p.expired == D(4) and p.status == "expired"


def test_studio_cancellation_grants_a_make_up_credit_with_a_quarterly_limit():
    s = Studio(makeup_validity_days=30, makeup_max_per_quarter=1)
    s.product("P4", "lessons", 4, 120)
    s.student("S-001")
    pkg = s.sell("S-001", "P4", "2026-03-01")
    s.session("storm", "2026-03-02", "S-001", status="studio_cancelled")
    s.session("flu", "2026-03-09", "S-001", status="studio_cancelled")  # over the quarter's limit
    s.session("makeup", "2026-03-05", "S-001")
    st = s.state("2026-03-06")
    assert st.packages["MK-storm"].used == D(1) and st.packages["MK-storm"].value_remaining == 0
    assert st.packages[pkg].remaining == D(4)
    assert "MK-flu" not in st.packages
    assert any("limit of 1" in n.message for n in st.notices)


def test_rollover_carries_up_to_the_cap_into_a_repurchase_inside_the_window():
    s = Studio()
    s.product("P10", "lessons", 10, 300, validity="1 month", rollover_days=14, rollover_cap=3)
    s.student("S-001")
    old = s.sell("S-001", "P10", "2026-03-01")
    for i in range(5):
        s.session(f"{i}", f"2026-03-{i + 2:02d}", "S-001")
    new = s.sell("S-001", "P10", "2026-04-10")  # 10 days after March's package ended
    st = s.state("2026-04-10")
    assert st.packages[old].expired == D(2) and st.packages[old].transferred_out == D(3)
    assert st.packages[new].remaining == D(13)
    s.session("a", "2026-04-11", "S-001")
    lots = [a.lot_id for a in s.state("2026-04-12").allocations if a.session_id == "a"]
    assert lots == [f"{new}/r"]  # carried-over credit is drawn first
    late = Studio()
    late.product("P10", "lessons", 10, 300, validity="1 month", rollover_days=14, rollover_cap=3)
    late.student("S-001")
    first = late.sell("S-001", "P10", "2026-03-01")
    late.sell("S-001", "P10", "2026-04-20")  # outside the window: all 10 are breakage
    assert late.state("2026-04-20").packages[first].expired == D(10)


def test_months_package_covers_every_session_and_recognises_months_as_they_start():
    s = Studio()
    s.product("Q3", "months", 3, 450)
    s.student("S-001")
    pkg = s.sell("S-001", "Q3", "2026-03-01")
    for i in range(6):
        s.session(f"{i}", f"2026-03-{i * 4 + 2:02d}", "S-001")
    st = s.state("2026-03-31")
    p = st.packages[pkg]
    assert (p.used, p.remaining, p.value_remaining) == (D(1), D(2), D(300))
    assert {a.state for a in st.allocations} == {"covered"} and queries.owed(st) == []
    s.session("june", "2026-06-02", "S-001")
    assert [a.session_id for a in queries.owed(s.state("2026-06-03"))] == ["june"]


def test_liability_expiring_and_low_balance_alerts():
    s = Studio(expiry_warning_days=10, low_balance_threshold=2)
    s.product("P10", "lessons", 10, 200, validity="1 month")
    s.student("S-001")
    pkg = s.sell("S-001", "P10", "2026-03-01")
    for i in range(8):
        s.session(f"{i}", f"2026-03-{i + 2:02d}", "S-001")
    st = s.state("2026-03-25")
    assert queries.liability(st) == D(40)
    kinds = {(a.kind, a.package_id) for a in st.alerts}
    assert ("low_balance", None) in kinds and ("expiring", pkg) in kinds  # low balance: per student and unit
    assert [p.package_id for p in queries.expiring(st, 10)] == [pkg]
    st = s.state("2026-04-02")
    assert queries.liability(st) == 0 and st.packages[pkg].expired == D(2)


def test_top_up_adds_hours_to_the_same_package():
    s = Studio()
    s.product("H10", "hours", 10, 500)
    s.student("S-001")
    pkg = s.sell("S-001", "H10", "2026-03-01")
    events, problem = s.act("top_up", "2026-03-05", package_id=pkg, quantity=5)
    assert problem is None and events[0].amount == D(250)
    p = s.state("2026-03-05").packages[pkg]
    assert (p.remaining, p.granted, p.price) == (D(15), D(15), D(750))


def test_a_renewal_pays_back_a_negative_balance():
    s, st = _eight_pack(negative_limit=2)
    assert queries.balance(st, "S-001", "lessons") == D(-2)
    second = s.sell("S-001", "P8", "2026-03-25")
    st = s.state("2026-03-25")
    assert queries.balance(st, "S-001", "lessons") == D(6)
    assert st.packages[second].remaining == D(6)


def test_a_closed_month_refuses_backdated_changes():
    from xl_ledger.core import commands

    s = Studio(today="2026-04-02")
    s.product("P10", "lessons", 10, 300)
    s.student("S-001")
    pkg = s.sell("S-001", "P10", "2026-03-01")
    s.session("m1", "2026-03-10", "S-001")
    ctx = commands.Context(state=s.state("2026-04-02"), today=day("2026-04-02"), role="owner")
    events, problem = commands.close_period(day("2026-03-31"), ctx)
    assert problem is None
    s._append(events)
    _ev, problem = s.act("adjust", "2026-03-20", package_id=pkg, quantity=1, reason_code="billing_error")
    assert problem is not None and "closed period" in problem.message
    _ev, problem = s.act("adjust", "2026-04-02", package_id=pkg, quantity=1, reason_code="billing_error")
    assert problem is None
    state = s.state("2026-04-02")
    from xl_ledger.core import inputs as I
    rows, _ = I.read_sessions([(2, {"session_id": "m1", "date": "2026-03-10", "student_id": "S-001",
                                    "status": "no_show"})])
    _pairs, problems, _notices = commands.diff_sessions(rows, state, day("2026-04-02"))
    assert problems and "closed period" in problems[0].message
    staff = commands.Context(state=state, today=day("2026-04-02"), operator="tom", role="staff")
    assert commands.close_period(day("2026-03-31"), staff)[1] is not None


def _breakage_studio(method: str):
    from xl_ledger.book import render

    s = Studio(breakage_method=method)
    s.product("P10", "lessons", 10, 200, validity="1 month")
    s.student("S-001")
    s.student("S-002")
    s.sell("S-001", "P10", "2026-01-01")
    for i in range(8):  # 2 of 10 lapse at the end of January: a 20 % breakage history
        s.session(f"a{i}", f"2026-01-{i + 2:02d}", "S-001")
    s.sell("S-002", "P10", "2026-03-01")
    for i in range(4):
        s.session(f"b{i}", f"2026-03-{i + 2:02d}", "S-002")
    return ({r[0]: r for r in render.report(s.state("2026-03-20"), s.journal.entries)},
            {r[0]: r for r in render.report(s.state("2026-05-01"), s.journal.entries)})


def test_breakage_remote_waits_for_expiry_proportional_follows_delivery():
    remote, remote_later = _breakage_studio("remote")
    prop, prop_later = _breakage_studio("proportional")
    # January: the first pack expires with 2 unused lessons = $40 breakage under both methods.
    assert remote["2026-01"][5] == D(40) and prop["2026-01"][5] == D(40)
    # March: 4 lessons ($80) delivered from the second pack. Remote recognises nothing yet; proportional
    # recognises the expected share at the historical 20 % rate: 80 × 0.2 / 0.8 = $20.
    assert remote["2026-03"][5] == 0 and prop["2026-03"][5] == D(20)
    assert prop["2026-03"][7] == remote["2026-03"][7] - 20  # liability is lower by what was recognised
    # Once the second pack has expired (6 unused = $120), both methods have recognised the same total.
    total = lambda rows: sum(r[5] for r in rows.values())  # noqa: E731
    assert total(remote_later) == total(prop_later) == D(160)
    assert remote_later["2026-03"][7] == prop_later["2026-03"][7] == 0
