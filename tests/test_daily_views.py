"""Issue 13's stories: what the owner looks at every day, with the numbers worked out by hand."""

from __future__ import annotations

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
