"""Issue 13's stories: what the owner looks at every day, with the numbers worked out by hand."""

from __future__ import annotations

import datetime as dt

from studio import D
from studio import Studio
from studio import day

from xl_ledger.core import queries


def test_a_two_week_pass_sold_on_a_wednesday_grants_two_weekly_credits_worth_35_each():
    # 23 Sep 2026 is a Wednesday. A 2-week pass ($70, 1 lesson a week) runs 23 Sep – 6 Oct: its weeks
    # count from the purchase day, 23–29 Sep and 30 Sep – 6 Oct, so 2 credits at $70 / 2 = $35 each
    # (calendar weeks would have made 3: 23–27 Sep, 28 Sep – 4 Oct, 5–6 Oct, at $23.33).
    s = Studio(today="2026-09-23")
    s.product("2W", "lessons", 2, 70, period="week", per_period=1, validity="2 weeks")
    s.student("S-001")
    pkg = s.sell("S-001", "2W", "2026-09-23")
    p = s.state("2026-09-23").packages[pkg]
    assert [(lot.start, lot.end) for lot in p.lots] == [(day("2026-09-23"), day("2026-09-29")),
                                                       (day("2026-09-30"), day("2026-10-06"))]
    assert (p.granted, p.unit_value, p.value_remaining) == (D(2), D(35), D("70.00"))
    # Thursday 24 Sep uses week 1; Monday 28 Sep is still week 1, already used: owed.
    # Thursday 1 Oct uses week 2.
    s.session("A", "2026-09-24", "S-001")
    s.session("B", "2026-09-28", "S-001")
    s.session("C", "2026-10-01", "S-001")
    st = s.state("2026-10-02")
    assert [a.session_id for a in queries.owed(st, "S-001")] == ["B"]
    assert (st.packages[pkg].used, st.packages[pkg].remaining, st.packages[pkg].value_remaining) == \
        (D(2), D(0), D("0.00"))


def test_a_two_week_pass_valid_from_first_use_counts_its_weeks_from_the_first_lesson():
    # Bought Wednesday 23 Sep, first lesson Friday 25 Sep: weeks 25 Sep – 1 Oct and 2 – 8 Oct.
    s = Studio(today="2026-09-23")
    s.product("2WF", "lessons", 2, 70, period="week", per_period=1, validity="2 weeks",
              validity_starts="first_use")
    s.student("S-001")
    pkg = s.sell("S-001", "2WF", "2026-09-23")
    assert s.state("2026-09-24").packages[pkg].remaining == D(2)  # not started: nothing expires
    s.session("A", "2026-09-25", "S-001")
    s.session("B", "2026-10-01", "S-001")  # still the first week: owed
    s.session("C", "2026-10-02", "S-001")  # the second week
    st = s.state("2026-10-09")
    p = st.packages[pkg]
    assert [(lot.start, lot.end) for lot in p.lots] == [(day("2026-09-25"), day("2026-10-01")),
                                                       (day("2026-10-02"), day("2026-10-08"))]
    assert [a.session_id for a in queries.owed(st, "S-001")] == ["B"]
    assert (p.used, p.expired, p.expires_on) == (D(2), D(0), day("2026-10-08"))


def test_an_attended_lesson_draws_the_regular_pack_before_the_coupon_book_bought_earlier():
    # Coupon book (apply_at=service, a "delayed" credit): 10 lessons for $200, sold 1 Apr.
    # Regular pack (apply_at=booking, "immediate"): 2 lessons for $60, sold 3 Apr. Neither expires, so
    # the older purchase would come first; seed 004 says the immediate credit is used first.
    s = Studio(today="2026-04-01")
    s.product("COUPON", "lessons", 10, 200, apply_at="service")
    s.product("REG2", "lessons", 2, 60)
    s.student("S-001")
    coupon = s.sell("S-001", "COUPON", "2026-04-01")
    regular = s.sell("S-001", "REG2", "2026-04-03")
    for sid, date in (("A", "2026-04-06"), ("B", "2026-04-13"), ("C", "2026-04-20")):
        s.session(sid, date, "S-001")
    st = s.state("2026-04-21")
    drawn = {a.session_id: a.package_id for a in st.allocations}
    # 6 and 13 Apr use the regular pack's 2 lessons; only 20 Apr, with nothing immediate left, uses the
    # coupon book: 9 left × $20 = $180.
    assert drawn == {"A": regular, "B": regular, "C": coupon}
    assert (st.packages[regular].remaining, st.packages[coupon].remaining) == (D(0), D(9))
    assert st.packages[coupon].value_remaining == D("180.00")


def test_a_monthly_allowance_sold_on_the_27th_expires_month_by_month_and_never_in_a_future_month():
    # "4 classes a month, 3 months", $360 (12 classes, $30 each), sold Friday 27 Nov 2026, asked 2 Dec.
    from xl_ledger.book import render

    s = Studio(today="2026-11-27")
    s.product("M4", "lessons", 12, 360, period="month", per_period=4, validity="3 months")
    s.product("M4P", "lessons", 12, 360, period="month", per_period=4, validity="3 months", period_start="purchase")
    s.student("S-001")
    s.student("S-002")
    cal = s.sell("S-001", "M4", "2026-11-27")
    anniv = s.sell("S-002", "M4P", "2026-11-27")
    s.session("A", "2026-12-01", "S-002")
    st = s.state("2026-12-02")
    # Calendar months (the default): November's 4 classes lapse on 30 Nov, their own last day, not on the
    # package's last day (31 Jan 2027). December and January are left: 8 × $30 = $240.
    p = st.packages[cal]
    assert p.expiries == [(day("2026-11-30"), D(4))]
    assert (p.expired, p.remaining, p.value_remaining, p.expires_on) == (D(4), D(8), D("240.00"), day("2027-01-31"))
    # Months from the purchase day: 27 Nov–26 Dec, 27 Dec–26 Jan, 27 Jan–26 Feb. Nothing has lapsed on 2 Dec;
    # the lesson of 1 Dec used the first month: 11 left, $330.
    q = st.packages[anniv]
    assert [(lot.start, lot.end) for lot in q.lots] == [
        (day("2026-11-27"), day("2026-12-26")), (day("2026-12-27"), day("2027-01-26")),
        (day("2027-01-27"), day("2027-02-26"))]
    assert (q.expired, q.used, q.remaining, q.value_remaining) == (D(0), D(1), D(11), D("330.00"))
    # The Report books the $120 of November's lapsed classes in November; no month after today appears.
    report = {r[0]: r for r in render.report(st, s.journal.entries)}
    assert sorted(report) == ["2026-11", "2026-12"]
    assert report["2026-11"][5] == D("120.00")  # breakage
    # December's liability = what is left: $240 + $330.
    assert report["2026-12"][7] == D("570.00") == p.value_remaining + q.value_remaining


def test_a_shared_family_pack_is_counted_once_any_member_may_freeze_it_and_owed_lessons_have_a_price():
    from xl_ledger.book import render
    from xl_ledger.core import balances

    s = Studio(today="2026-03-01")
    s.product("FAM", "lessons", 20, 560, shared="yes")  # $28 a lesson
    s.product("L10", "lessons", 10, 300)  # $30 a lesson
    s.student("S-003", family="F-02")
    s.student("S-004", family="F-02")
    s.student("S-005")
    fam = s.sell("S-003", "FAM", "2026-03-01")
    s.sell("S-005", "L10", "2026-03-01")
    s.session("A", "2026-03-02", "S-004")  # the sibling uses the pool: 19 left
    for i in range(11):  # S-005 attends 11 lessons on a 10-lesson pack: 1 owed
        s.session(f"B{i}", f"2026-03-{i + 2:02d}", "S-005")
    # S-004 (not the owner) freezes the family pack for a week: allowed, it is the family's.
    events, problem = s.act("freeze", "2026-03-03", student_id="S-004", package_id=fam, days=7)
    assert problem is None and events[0].package_id == fam
    st = s.state("2026-03-20")
    lines = {(ln.student_id, ln.family_id): ln for ln in balances.index(st).lines()}
    # Each sibling's own remaining is 0; both can use the pool of 19; the pool is one row of 19 = $532.
    assert (lines[("S-003", "F-02")].remaining, lines[("S-003", "F-02")].usable) == (D(0), D(19))
    assert (lines[("S-004", "F-02")].remaining, lines[("S-004", "F-02")].usable) == (D(0), D(19))
    pool = lines[(None, "F-02")]
    assert (pool.remaining, pool.value_remaining, pool.packages) == (D(19), D(532), (fam,))
    # S-005's owed lesson is worth the unit value of their latest pack: $30.
    assert (lines[("S-005", None)].owed_sessions, lines[("S-005", None)].owed_value) == (1, D("30.00"))
    # Adding up the sheet's remaining column counts each package once: 19 + 0 (S-005 used all 10).
    rows = render.balances(st)
    assert sum(r[4] for r in rows) == D(19) and sum(r[7] for r in rows) == D(532)
    # A student outside the family still may not act on it.
    _, problem = s.act("freeze", "2026-03-20", student_id="S-005", package_id=fam, days=7)
    assert problem is not None and "belongs to S-003" in str(problem)


def test_low_balance_is_one_alert_per_student_and_unit_judged_on_what_they_can_still_use():
    # S-015 used up PK-1 (10 lessons) while a booking still holds its last lesson, then renewed with 20: the
    # old pack shows 0 left, but S-015 can use 20, so there is no alert. S-016 has 2 + 0 left across two
    # packs: one alert for the student, not one per pack.
    s = Studio(today="2026-03-01", low_balance_threshold=2)
    s.product("L10", "lessons", 10, 300)
    s.product("L20", "lessons", 20, 560)
    s.product("L2", "lessons", 2, 60)
    s.student("S-015")
    s.student("S-016")
    s.sell("S-015", "L10", "2026-03-01")
    for i in range(9):
        s.session(f"A{i}", f"2026-03-{i + 2:02d}", "S-015")
    s.session("A9", "2026-03-25", "S-015", status="scheduled", booked_by="client")
    s.sell("S-015", "L20", "2026-03-12")
    s.sell("S-016", "L2", "2026-03-01")
    s.sell("S-016", "L2", "2026-03-01")
    s.session("B1", "2026-03-02", "S-016")
    s.session("B2", "2026-03-03", "S-016")
    st = s.state("2026-03-12")
    low = [(a.student_id, a.message) for a in st.alerts if a.kind == "low_balance"]
    assert low == [("S-016", "S-016 (S-016) has 2 lessons left")]


def test_the_packages_view_names_the_product_its_type_start_date_and_service():
    from xl_ledger.book import render
    from xl_ledger.book import schema

    s = Studio(today="2026-03-01")
    s.product("PIANO10", "lessons", 10, 450, name="Piano 10", service="piano")
    s.product("MONTHLY", "lessons", 4, 160, name="Monthly 4", auto_renew="yes")
    s.product("FU", "lessons", 5, 150, name="Five, from first lesson", validity="30 days", validity_starts="first_use")
    s.student("S-001")
    s.sell("S-001", "PIANO10", "2026-03-01")
    s.sell("S-001", "MONTHLY", "2026-03-02")
    s.sell("S-001", "FU", "2026-03-02")
    s.session("A", "2026-03-05", "S-001", service="yoga")  # only FU serves any service (MONTHLY first: older)
    headers = schema.PACKAGES.headers
    rows = [dict(zip(headers, r)) for r in render.packages(s.state("2026-03-06"))]
    got = [(r["product_name"], r["type"], r["start_date"], r["service"]) for r in rows]
    assert got == [("Piano 10", "one-time", day("2026-03-01"), "piano"),
                   ("Monthly 4", "recurring", day("2026-03-02"), None),
                   ("Five, from first lesson", "one-time", None, None)]


def test_pay_upfront_blocks_a_client_booking_without_credit_and_uses_delayed_credit_at_booking():
    from xl_ledger.core import commands
    from xl_ledger.core import inputs

    s = Studio(today="2026-04-01", require_upfront="yes")
    s.product("COUPON", "lessons", 1, 25, apply_at="service")  # one delayed credit
    s.student("S-001")
    coupon = s.sell("S-001", "COUPON", "2026-04-01")
    # The client books 8 Apr: no immediate credit, so (paying upfront) the coupon's credit is held now.
    s.session("A", "2026-04-08", "S-001", status="scheduled", booked_by="client")
    p = s.state("2026-04-01").packages[coupon]
    assert (p.reserved, p.remaining) == (D(1), D(0))

    def diff(*rows):
        parsed, problems = inputs.read_sessions([(i + 2, r) for i, r in enumerate(rows)])
        assert not problems
        return commands.diff_sessions(parsed, s.state("2026-04-01"), day("2026-04-01"))

    a = {"session_id": "A", "date": "2026-04-08", "student_id": "S-001", "status": "scheduled", "booked_by": "client"}
    # A second client booking finds no credit: rejected in its row, nothing logged for it.
    pairs, problems, _ = diff(a, {"session_id": "B", "date": "2026-04-15", "student_id": "S-001",
                                  "status": "scheduled", "booked_by": "client"})
    assert pairs == [] and [(p.source.row, p.source.column) for p in problems] == [(3, "status")]
    assert problems[0].message.startswith("blocked: no credit; sell a package first")
    # The same lesson booked by staff is accepted (applied at the time of service).
    pairs, problems, _ = diff(a, {"session_id": "B", "date": "2026-04-15", "student_id": "S-001",
                                  "status": "scheduled", "booked_by": "staff"})
    assert problems == [] and [ev.session_id for _row, ev in pairs] == ["B"]


def test_the_dashboard_values_liability_expiring_credit_low_balances_owed_lessons_and_churn_risk():
    from xl_ledger.core import dashboard

    s = Studio(today="2026-01-05", low_balance_threshold=2, churn_weeks=4)
    s.product("P10M", "lessons", 10, 300, validity="1 month")  # $30 a lesson, a month to use them
    s.product("L10", "lessons", 10, 300)  # $30 a lesson, no expiry
    s.product("L2", "lessons", 2, 70)  # $35 a lesson
    for sid in ("S-001", "S-002", "S-003"):
        s.student(sid)
    s.sell("S-002", "L10", "2026-01-05")
    for i in range(9):  # nine lessons, the last on 2 Mar: 1 left
        s.session(f"B{i}", (day("2026-01-05") + dt.timedelta(weeks=i)).isoformat(), "S-002")
    s.sell("S-001", "P10M", "2026-03-10")  # valid to 9 Apr
    for i, d in enumerate(("2026-03-11", "2026-03-18", "2026-03-25")):
        s.session(f"A{i}", d, "S-001")
    s.sell("S-003", "L2", "2026-03-01")
    for i, d in enumerate(("2026-03-02", "2026-03-09", "2026-03-30")):
        s.session(f"C{i}", d, "S-003")  # the third has no credit: owed, worth $35
    st = s.state("2026-03-31")
    lines = dashboard.lines(st, head=(123, "ab" * 32))
    summary = {ln.section: ln for ln in lines[:6]}
    # Liability: S-001 7 × $30 + S-002 1 × $30 = $240.
    assert summary["liability"].value == D("240.00")
    # Expiring within 30 days (by 30 Apr): S-001's pack on 9 Apr, 7 lessons worth $210.
    assert (summary["expiring"].quantity, summary["expiring"].value) == (D(1), D("210.00"))
    assert [(ln.student_id, ln.quantity, ln.value, ln.date) for ln in lines if ln.section == "expiring"][1:] == \
        [("S-001", D(7), D("210.00"), day("2026-04-09"))]
    # Low balance: S-002 has 1 lesson ($30). S-003's pack is used up, so it is not "low" but owes one lesson.
    assert (summary["low_balance"].quantity, summary["low_balance"].value) == (D(1), D("30.00"))
    assert (summary["owed"].quantity, summary["owed"].value) == (D(1), D("35.00"))
    # Churn risk: S-002's last lesson was 2 Mar, more than 4 weeks before 31 Mar (3 Mar), with 1 lesson left.
    churn = [(ln.student_id, ln.date) for ln in lines if ln.section == "churn_risk"][1:]
    assert churn == [("S-002", day("2026-03-02"))] and summary["churn_risk"].value == D("30.00")
    assert summary["log"].quantity == 123 and "ab" * 8 in summary["log"].item  # the hash, shortened to read


def test_the_dashboard_counts_a_shared_family_pack_once_when_two_siblings_are_at_risk():
    """Churn risk: both siblings have had no lesson for 4 weeks and may each use the family's pack, so each
    line shows it; the section's money counts the pack once (it is owed once)."""
    from xl_ledger.core import dashboard

    s = Studio(today="2026-03-31", churn_weeks=4)
    s.product("FAM", "lessons", 20, 560, shared="yes")  # $28 a lesson
    s.student("S-001", family="F")
    s.student("S-002", family="F")
    s.sell("S-001", "FAM", "2026-01-05")
    s.session("L1", "2026-01-06", "S-002")  # 19 left: $532
    lines = dashboard.lines(s.state("2026-03-31"))
    summary = {ln.section: ln for ln in lines[:6]}
    churn = [(ln.student_id, ln.value) for ln in lines[6:] if ln.section == "churn_risk"]
    assert churn == [("S-001", D("532.00")), ("S-002", D("532.00"))]
    assert (summary["churn_risk"].quantity, summary["churn_risk"].value) == (D(2), D("532.00"))
    assert summary["liability"].value == D("532.00")
