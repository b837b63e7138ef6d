"""The accountant's month-end, told as a three-month story (September to November 2026, today 2 December).

Every figure below is worked out by hand in the comments. Two products:
  PIANO10: 10 lessons for 400.00 (40.00 a lesson), valid 2 months;
  YOGA5:   5 lessons for 100.00 (20.00 a lesson), valid 1 month.
The refund admin fee is 10.00.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from studio import Studio

from xl_ledger.core import events as E
from xl_ledger.core import finance


def D(x) -> Decimal:
    return Decimal(str(x))


def story(breakage_method: str = "remote") -> tuple[Studio, dict]:
    s = Studio(today="2026-12-02", refund_admin_fee="10", breakage_method=breakage_method)
    s.product("PIANO10", "lessons", 10, 400, validity="2 months")
    s.product("YOGA5", "lessons", 5, 100, validity="1 month")
    for sid in ("S1", "S2", "S3", "S4"):
        s.student(sid)
    pk = {}
    # --- September -------------------------------------------------------------------------------
    pk["S1 piano"] = s.sell("S1", "PIANO10", "2026-09-01")  # valid to 31 Oct
    pk["S2 yoga"] = s.sell("S2", "YOGA5", "2026-09-05")  # valid to 4 Oct
    pk["S3 yoga"] = s.sell("S3", "YOGA5", "2026-09-10")  # valid to 9 Oct
    for n, d in enumerate(("2026-09-08", "2026-09-15", "2026-09-22")):
        s.session(f"P{n}", d, "S1")
    s.session("Y1", "2026-09-12", "S2")
    s.session("Y2", "2026-09-19", "S2")
    s.session("Y3", "2026-09-15", "S3")
    events, problem = s.act("comp", "2026-09-20", student_id="S4", product_id="YOGA5", quantity=2,
                            reason_code="goodwill")
    assert problem is None, problem
    s.session("C1", "2026-09-25", "S4")  # uses the comp: no money, not a paid redemption
    # --- October ---------------------------------------------------------------------------------
    s.session("P3", "2026-10-06", "S1")
    s.session("P4", "2026-10-13", "S1")
    # S2 moves away after two lessons: 3 unused × 20.00 − 10.00 fee = 50.00 paid back.
    events, problem = s.act("refund", "2026-10-02", package_id=pk["S2 yoga"], reason_code="moved_away")
    assert problem is None, problem
    assert events[0].amount == D("50.00") and events[0].quantity == 4 - 1
    # S3's bank takes back the whole 100.00; the 4 unused lessons go with it.
    events, problem = s.act("chargeback", "2026-10-07", package_id=pk["S3 yoga"], reason_code="chargeback")
    assert problem is None, problem
    assert events[0].amount == D("100") and events[0].quantity == 4
    # --- November --------------------------------------------------------------------------------
    pk["S1 yoga"] = s.sell("S1", "YOGA5", "2026-11-03")  # valid to 2 Dec
    pk["S4 piano"] = s.sell("S4", "PIANO10", "2026-11-05")  # valid to 4 Jan
    s.session("Y4", "2026-11-10", "S1")
    s.session("P5", "2026-11-09", "S4")
    s.session("P6", "2026-11-16", "S4")
    return s, pk


def figures(s: Studio, method: str = "remote") -> dict[str, finance.Month]:
    state = s.state()
    return {m.month: m for m in finance.months(state, s.journal.entries, method)}


def test_three_months_remote_breakage_by_hand():
    s, pk = story()
    months = figures(s)
    assert list(months) == ["2026-09", "2026-10", "2026-11", "2026-12"]  # never a month after today
    sep, oct_, nov, dec = months.values()

    # September: sales 400 + 100 + 100 = 600 (3 packages); delivered 3 piano × 40 + 3 yoga × 20 = 180
    # (6 paid sessions; the comp lesson is not one); closing 600 − 180 = 420
    # = S1 7 × 40 (280) + S2 3 × 20 (60) + S3 4 × 20 (80).
    assert (sep.opening, sep.sales, sep.sales_count) == (0, D(600), 3)
    assert [(p.product_id, p.count, p.value) for p in sep.by_product] == [("PIANO10", 1, D(400)),
                                                                           ("YOGA5", 2, D(200))]
    assert (sep.delivered, sep.delivered_count) == (D(180), 6)
    assert (sep.refunds, sep.chargebacks, sep.breakage) == (0, 0, 0)
    assert (sep.comps, sep.comps_value) == (1, D(40))  # 2 yoga lessons at the list 20.00
    assert sep.closing == D(420)

    # October: delivered 2 piano × 40 = 80; the refund releases 3 × 20 = 60 (50 paid, 10 fee kept);
    # the chargeback releases 4 × 20 = 80 (100 taken back). S1's piano pack ends 31 Oct with 5 lessons
    # unused: breakage 5 × 40 = 200. Closing 420 − 80 − 60 − 80 − 200 = 0.
    assert (oct_.opening, oct_.sales, oct_.delivered, oct_.delivered_count) == (D(420), 0, D(80), 2)
    assert (oct_.refunds, oct_.refunds_paid) == (D(60), D(50))
    assert (oct_.chargebacks, oct_.chargebacks_paid) == (D(80), D(100))
    assert (oct_.breakage, oct_.closing) == (D(200), 0)

    # November: sales 100 + 400 = 500; delivered 1 yoga × 20 + 2 piano × 40 = 100. Closing 0 + 500 − 100
    # = 400 = S1 yoga 4 × 20 (80) + S4 piano 8 × 40 (320).
    assert (nov.opening, nov.sales, nov.sales_count) == (0, D(500), 2)
    assert [(p.product_id, p.count, p.value) for p in nov.by_product] == [("PIANO10", 1, D(400)),
                                                                           ("YOGA5", 1, D(100))]
    assert (nov.delivered, nov.delivered_count, nov.breakage, nov.closing) == (D(100), 3, 0, D(400))
    # Ageing at 30 Nov: S1's yoga ends 2 Dec (next month), S4's piano ends 4 Jan (in 2 months).
    assert nov.ageing == {"expiring_next_month": D(80), "expiring_in_2_3_months": D(320), "expiring_later": 0,
                          "no_expiry": 0}

    # December so far: nothing moved.
    assert (dec.opening, dec.sales, dec.delivered, dec.closing) == (D(400), 0, 0, D(400))
    for m in months.values():
        assert m.rolled == m.closing


def test_three_months_proportional_breakage_by_hand():
    s, _pk = story("proportional")
    sep, oct_, nov, dec = figures(s, "proportional").values()
    # No package has ended in September: rate 0, as under remote. By 31 Oct three have ended: S2 yoga 100
    # and S3 yoga 100 (nothing lapsed), S1 piano 400 (200 lapsed): r = 200 / 600 = 1/3. No package is live
    # at October's end, so no provision: October reads as under remote.
    assert (sep.breakage, sep.closing, oct_.breakage, oct_.closing) == (0, D(420), D(200), 0)
    # November: r / (1 − r) = 1/2 of delivered value is provisioned on live packages: S1 yoga 20 × 1/2 = 10,
    # S4 piano 80 × 1/2 = 40: provision 50 = breakage; closing = 400 value remaining − 50 = 350.
    assert (nov.provision, nov.breakage, nov.closing, nov.delivered) == (D(50), D(50), D(350), D(100))
    assert (dec.opening, dec.breakage, dec.closing) == (D(350), 0, D(350))
    for m in (sep, oct_, nov, dec):
        assert m.rolled == m.closing


def test_a_closed_month_rejects_a_backdated_change():
    s, pk = story()
    s._append([E.PeriodClose(effective_date=dt.date(2026, 10, 31))])  # October closed
    before = figures(s)
    _events, problem = s.act("sell", "2026-10-20", student_id="S2", product_id="YOGA5")
    assert problem is not None and "closed period" in str(problem) and "2026-10-20" in str(problem)
    with pytest.raises(AssertionError, match="closed period"):
        s.session("LATE", "2026-10-21", "S1")
    assert figures(s) == before


def test_a_closed_month_is_not_rematched_by_a_later_sale_a_transfer_or_a_top_up():
    """The example the steady property once found, as a story (today 20 Feb 2026). P3: 3 lessons for 90.00
    (30.00 each), valid 2 months. Ann (S1) and Bea (S2) are one family."""
    s = Studio(today="2026-02-20")
    s.product("P3", "lessons", 3, 90, validity="2 months")
    s.student("S1", family="F1")
    s.student("S2", family="F1")
    ann = s.sell("S1", "P3", "2026-01-02")  # valid to 1 Mar
    s.session("A1", "2026-01-03", "S1")
    s.session("A2", "2026-01-04", "S1")
    s.session("B1", "2026-01-05", "S2")  # Bea has no credit yet: owed
    events, problem = s.act("transfer", "2026-01-16", package_id=ann, to_student_id="S2", quantity=1,
                            reason_code="family_transfer")
    assert problem is None, problem
    bea = events[0].to_package_id  # its credit is valid to Ann's 1 Mar, from 16 Jan: it cannot pay 5 Jan
    _events, problem = s.act("top_up", "2026-01-24", package_id=bea, quantity=1, amount=30)
    assert problem is None, problem  # the first credit to come after Bea's lesson: it pays it, on 24 Jan
    s._append([E.PeriodClose(effective_date=dt.date(2026, 1, 31))])
    jan = figures(s)["2026-01"]
    # January: sales 90 + the top-up 30 = 120; delivered Ann's 2 × 30 = 60 and Bea's lesson, paid on 24 Jan,
    # 30 = 90; the transfer moves 30 of credit inside the liability. Closing 120 − 90 = 30: the transferred
    # lesson, 1 × 30 (Bea's pack: 60.00 for 2 credits).
    assert (jan.opening, jan.sales, jan.delivered, jan.delivered_count, jan.breakage, jan.closing) == \
        (0, D(120), D(90), 3, 0, D(30))
    paid = {(a.session_id, a.lot_id) for a in s.state().allocations}
    assert (("B1", f"{bea}/t1") in paid) and {a for a in paid if a[0].startswith("A")} == \
        {("A1", f"{ann}/1"), ("A2", f"{ann}/1")}
    # February: Bea buys a pack valid to 31 March. Before matching drew on credit in the order it came, her
    # owed lesson of 5 Jan moved to this pack (it expires before the top-up's package, whose expiry was not
    # yet known to the draw order), and January's closing became 60.
    s.sell("S2", "P3", "2026-02-01")
    assert figures(s)["2026-01"] == jan
    assert {(a.session_id, a.lot_id) for a in s.state().allocations} == paid
    feb = figures(s)["2026-02"]
    assert (feb.opening, feb.sales, feb.delivered, feb.closing) == (D(30), D(90), 0, D(120))  # 30 + 3 × 30


def test_a_later_pack_that_expires_sooner_does_not_take_an_earlier_lesson():
    """LONG10: 10 lessons for 300.00, valid 6 months; SHORT4: 4 lessons for 100.00, valid 1 month. Today
    20 February 2026. Ann's January lessons stay on the pack she had then, whatever she buys later."""
    s = Studio(today="2026-02-20")
    s.product("LONG10", "lessons", 10, 300, validity="6 months")
    s.product("SHORT4", "lessons", 4, 100, validity="1 month")
    s.student("S1")
    long_ = s.sell("S1", "LONG10", "2026-01-02")
    s.session("L1", "2026-01-10", "S1")
    s.session("L2", "2026-01-17", "S1")
    s._append([E.PeriodClose(effective_date=dt.date(2026, 1, 31))])
    jan = figures(s)["2026-01"]
    assert (jan.sales, jan.delivered, jan.closing) == (D(300), D(60), D(240))  # 2 × 30; 8 × 30 left
    short = s.sell("S1", "SHORT4", "2026-02-03")  # valid to 2 Mar, before LONG10's 1 Jul: drawn first from now on
    s.session("L3", "2026-02-10", "S1")
    assert figures(s)["2026-01"] == jan
    drawn = {a.session_id: a.package_id for a in s.state().allocations}
    assert drawn == {"L1": long_, "L2": long_, "L3": short}
    feb = figures(s)["2026-02"]
    assert (feb.opening, feb.sales, feb.delivered, feb.closing) == (D(240), D(100), D(25), D(315))  # 240 + 3 × 25


def test_an_extension_after_the_close_does_not_reorder_a_closed_months_draws():
    """LONG10: 10 lessons for 300.00, valid 6 months; SHORT4: 4 lessons for 100.00, valid 1 month. January's
    lessons draw on the pack that expires first (SHORT4, 2 Feb). An extension of SHORT4 after January's close
    makes LONG10 expire first from then on, but January's draws stay as they were closed."""
    s = Studio(today="2026-02-20")
    s.product("LONG10", "lessons", 10, 300, validity="6 months")
    s.product("SHORT4", "lessons", 4, 100, validity="1 month")
    s.student("S1")
    long_ = s.sell("S1", "LONG10", "2026-01-02")  # valid to 1 Jul
    short = s.sell("S1", "SHORT4", "2026-01-03")  # valid to 2 Feb
    s.session("L1", "2026-01-10", "S1")
    s.session("L2", "2026-01-17", "S1")
    assert {a.session_id: a.package_id for a in s.state().allocations} == {"L1": short, "L2": short}
    s._append([E.PeriodClose(effective_date=dt.date(2026, 1, 31))])  # a close without recorded figures
    jan = figures(s)["2026-01"]
    _events, problem = s.act("extend", "2026-02-01", package_id=short, days=200, reason_code="goodwill")
    assert problem is None, problem  # SHORT4 now valid to 21 Aug, after LONG10's 1 Jul
    s.session("L3", "2026-02-10", "S1")
    assert {a.session_id: a.package_id for a in s.state().allocations} == {"L1": short, "L2": short, "L3": long_}
    after = figures(s)["2026-01"]  # this close recorded no figures: the matching alone keeps January
    assert (after.delivered, after.delivered_count, after.breakage, after.closing) == \
        (jan.delivered, jan.delivered_count, jan.breakage, jan.closing) == (D(50), 2, 0, D(350))


def close(s: Studio, through: str, role: str = "owner"):
    """What `xl-ledger close` appends: a period_close row keeping the figures of the months it closes."""
    from xl_ledger.core import commands

    day = dt.date.fromisoformat(through)
    state = s.state()
    newly = [m for m in finance.months(state, s.journal.entries) if m.last <= day
             and (state.closed_through is None or m.first > state.closed_through)]
    events, problem = commands.close_period(day, commands.Context(state=state, today=s.today, role=role),
                                            finance.freeze(newly))
    assert problem is None, problem
    s._append(events)


def reopen(s: Studio, first: str, role: str = "owner", reason: str | None = "billing_error"):
    from xl_ledger.core import commands

    ctx = commands.Context(state=s.state(), today=s.today, operator=role, role=role,
                           reasons={"billing_error", "goodwill"})
    events, problem = commands.reopen_period(dt.date.fromisoformat(first), reason, "late invoice", ctx)
    if problem is None:
        s._append(events, role)
    return problem


def test_a_closed_months_report_row_is_the_one_its_close_recorded_until_the_owner_reopens_it():
    """LONG10: 10 lessons for 300.00 (30.00 each), valid 6 months. Today 20 February 2026."""
    s = Studio(today="2026-02-20")
    s.product("LONG10", "lessons", 10, 300, validity="6 months")
    s.student("S1")
    long_ = s.sell("S1", "LONG10", "2026-01-02")
    s.session("L1", "2026-01-10", "S1")
    s.session("L2", "2026-01-17", "S1")
    close(s, "2026-01-31")
    jan = figures(s)["2026-01"]
    assert (jan.sales, jan.delivered, jan.delivered_count, jan.closing) == (D(300), D(60), 2, D(240))
    # A deactivation unuses its package from the start, but not in a closed month: January's two lessons stay
    # on the pack as closed (its row and its allocations do not move). February forfeits the 8 lessons left,
    # 8 × 30 = 240, as breakage, and delivers nothing: 240 − 240 = 0.
    _events, problem = s.act("deactivate", "2026-02-05", package_id=long_)
    assert problem is None, problem
    months = figures(s)
    assert months["2026-01"] == jan
    assert {a.session_id: a.package_id for a in s.state().allocations} == {"L1": long_, "L2": long_}
    feb = months["2026-02"]
    assert (feb.opening, feb.sales, feb.breakage, feb.delivered, feb.closing) == (D(240), 0, D(240), 0, 0)
    assert feb.rolled == feb.closing
    # Reopening needs the owner and a reason code, and the month must be closed.
    assert "needs the owner" in reopen(s, "2026-01-01", role="admin").message
    assert "needs a reason code" in reopen(s, "2026-01-01", reason=None).message
    assert "is not closed" in reopen(s, "2026-02-01").message
    assert reopen(s, "2026-01-01") is None
    assert s.state().closed_through == dt.date(2025, 12, 31)
    entry = s.journal.entries[-1]
    assert (entry.event.kind, entry.operator, entry.event.reason_code) == ("period_reopen", "owner", "billing_error")
    # Open again, January shows today's view: the deactivated pack is unused from the start, so nothing was
    # delivered in January (its lessons are owed) and the pack's 300 is forfeited in February.
    jan2, feb2 = figures(s)["2026-01"], figures(s)["2026-02"]
    assert (jan2.delivered, jan2.closing, feb2.opening, feb2.delivered, feb2.breakage) == (0, D(300), D(300), 0, D(300))
    close(s, "2026-01-31")  # closed again: the figures recorded now are today's
    assert figures(s)["2026-01"] == jan2


# --- property: for random Logs the roll-forward holds every month, and the closing liability is the
# value remaining (plus credit held by bookings) in a fold as of that month's last day -----------------

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from test_properties import FAST  # noqa: E402
from test_properties import START  # noqa: E402
from test_properties import build  # noqa: E402
from test_properties import studio_st  # noqa: E402

from xl_ledger.core.numbers import money  # noqa: E402
from xl_ledger.core.periods import month_end  # noqa: E402


def liability_by_fold(s: Studio, day: dt.date, today: dt.date | None = None) -> Decimal:
    """Σ value_remaining plus the value of credit held by bookings, folded as of `day`. A booking's credit
    is still owed to the student (net of any overdraw: 0.5 overdrawn with 0.5 booked holds nothing).
    At a past month's end, credit whose last day it is has lapsed by the evening: it is left out."""
    state = s.state(day)
    total = Decimal(0)
    for p in state.packages.values():
        if not p.active or p.comp:
            continue
        left = p.remaining + p.reserved
        if today is not None and day < today:
            left -= sum((lot.left for lot in p.lots if (lot.end if lot.own_end else p.expires_on) == day), 0)
        total += money(max(left, 0) * p.unit_value)
    return total


def steady(spec):
    """Studios whose later events never re-match an earlier month: one product (so an older pack never
    expires after a newer one), validity from purchase, no overdraw, no rollover, no make-up credit, no
    weekly credits (the boundary week two packs share is merged into the earlier one when the later is
    sold), no freeze, deactivation or adjustment. Transfers and top-ups are in: a session draws first on
    credit that had arrived by its date and only then, for an owed lesson, on later credit in the order it
    came (matching.py), so a sale of February no longer takes January's owed lesson from a January top-up
    (the example this test found: a lesson of 5 Jan, owed, a transfer in on 16 Jan, a top-up on 24 Jan and
    a sale on 1 Feb; January's closing as folded on 31 Jan was 0.51, and 0.88 once February's sale
    re-matched it). What is left out still re-matches the past by design (docs/engine.md): a deactivated
    package is unused from the start; an overdrawn lesson moves to a pack bought later. Those are what a
    period close is for; the broad test below still checks the roll-forward and today's closing."""
    product = {**spec["products"][0], "rollover_days": 0, "negative_limit": 0, "validity_starts": "purchase"}
    if product["period"] == "week":  # a later pack's boundary week merges into the earlier pack's lot
        product["period"] = "month"
    return {**spec, "products": [product], "makeups": 0,
            "steps": [t for t in spec["steps"] if t[0] not in ("freeze", "deactivate", "adjust")]}


@FAST
@given(studio_st.map(steady))
def test_roll_forward_holds_and_closing_is_the_value_remaining_at_each_month_end(spec):
    s = build(spec)
    today = START + dt.timedelta(days=200)
    months = finance.months(s.state(today), s.journal.entries, "remote")
    opening = Decimal(0)
    for m in months:
        assert m.opening == opening
        assert m.rolled == m.closing, m
        assert m.closing == liability_by_fold(s, min(m.last, today), today), m.month
        opening = m.closing


@FAST
@given(studio_st, st.sampled_from(["remote", "proportional"]))
def test_any_studio_rolls_forward_every_month_and_closes_today_at_the_value_remaining(spec, method):
    s = build(spec)
    for today in (START + dt.timedelta(days=75), START + dt.timedelta(days=200)):
        months = finance.months(s.state(today), s.journal.entries, method)
        opening = Decimal(0)
        for m in months:
            assert m.opening == opening and m.rolled == m.closing, m
            assert sum(m.ageing.values()) == m.closing + m.provision, m
            opening = m.closing
        assert months[-1].closing + months[-1].provision == liability_by_fold(s, today, today)


@FAST
@given(studio_st, st.sampled_from(["remote", "proportional"]))
def test_the_liability_is_the_sum_of_value_remaining_on_packages_and_on_balances(spec, method):
    """One definition (queries.liability, Package.value_remaining): credit left or held by a booking, at unit
    value. The Report's current month closes at it (less the provision under proportional breakage), and
    the Packages and Balances columns add up to it, whatever the studio did (random Logs, bookings
    included)."""
    from xl_ledger.book import render
    from xl_ledger.book import schema
    from xl_ledger.core import queries

    s = build(spec)
    today = START + dt.timedelta(days=200)
    state = s.state(today)
    liability = queries.liability(state)
    months = finance.months(state, s.journal.entries, method)
    assert months[-1].closing + months[-1].provision == liability
    if method == "remote":
        assert months[-1].provision == 0
    on_packages = schema.PACKAGES.headers.index("value_remaining")
    on_balances = schema.BALANCES.headers.index("value_remaining")
    assert sum((r[on_packages] for r in render.packages(state)), Decimal(0)) == liability
    where = schema.BALANCES.headers.index("location")  # a studio's location lines repeat its packages
    assert sum((r[on_balances] for r in render.balances(state) if not r[where]), Decimal(0)) == liability
    assert liability == liability_by_fold(s, today, today)


# --- journal exports: golden files of the story, re-read with each format's rules --------------------

import csv  # noqa: E402
import io  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
from pathlib import Path  # noqa: E402

from xl_ledger.accounting import iif  # noqa: E402
from xl_ledger.accounting import journal as J  # noqa: E402
from xl_ledger.accounting import qbo  # noqa: E402
from xl_ledger.accounting import xero  # noqa: E402

GOLDEN = Path(__file__).parent / "golden" / "month_end"


def story_journals() -> list[J.Journal]:
    s, _pk = story()
    accts, problems = J.accounts([(9, {"account": "clearing", "name": "=Stripe Clearing", "code": "+610"})])
    assert not problems  # a name that would be a formula in a spreadsheet: escaped in every file
    return [J.month_journal(m, accts, "Studio") for m in figures(s).values() if m.month < "2026-12"]


@pytest.mark.parametrize("fmt, name", [(qbo, "story.qbo.csv"), (iif, "story.iif"), (xero, "story.xero.csv")])
def test_the_story_exports_byte_for_byte_as_its_golden_file(fmt, name):
    files = fmt.write(story_journals())
    assert len(files) == 1
    if os.environ.get("XL_LEDGER_UPDATE_GOLDEN"):
        (GOLDEN / name).write_bytes(files[0])
    assert files[0] == (GOLDEN / name).read_bytes()


def test_the_journals_hold_the_hand_computed_lines():
    sep, oct_, nov = story_journals()
    lines = {(x.account.role, x.debit, x.credit) for x in oct_.lines}
    # October: delivered 80, breakage 200; the refund releases 60, pays 50 and keeps a 10 fee; the chargeback
    # releases 80 and takes 100, a 20 loss.
    assert lines == {("deferred_revenue", D(80), 0), ("class_revenue", 0, D(80)),
                     ("deferred_revenue", D(200), 0), ("breakage_income", 0, D(200)),
                     ("deferred_revenue", D(60), 0), ("clearing", 0, D(50)), ("refund_fees", 0, D(10)),
                     ("deferred_revenue", D(80), 0), ("clearing", 0, D(100)), ("chargeback_losses", D(20), 0)}
    assert oct_.debits == oct_.credits == D(440)
    assert "comps 1 (list value 40.00), memo only" in sep.memo and "comps" not in nov.memo


def test_qbo_reads_back_as_balanced_journals_with_us_dates():
    rows = list(csv.DictReader(io.StringIO((GOLDEN / "story.qbo.csv").read_bytes().decode("utf-8"))))
    assert list(rows[0]) == list(qbo.HEADERS)
    by_no: dict = {}
    for r in rows:
        assert re.fullmatch(r"(0[1-9]|1[0-2])/\d\d/\d{4}", r["Journal Date"])
        dt.datetime.strptime(r["Journal Date"], "%m/%d/%Y")
        assert bool(r["Debits"]) != bool(r["Credits"])  # one side per line
        d, c = Decimal(r["Debits"] or 0), Decimal(r["Credits"] or 0)
        by_no.setdefault(r["Journal No."], [Decimal(0), Decimal(0)])
        by_no[r["Journal No."]][0] += d
        by_no[r["Journal No."]][1] += c
        assert not r["Account Name"].startswith(("=", "+", "-", "@"))
    assert list(by_no) == ["XL-2026-09", "XL-2026-10", "XL-2026-11"]
    assert all(d == c for d, c in by_no.values())
    assert by_no["XL-2026-09"] == [D(780), D(780)]  # sales 600 + delivered 180
    assert rows[0]["Journal Date"] == "09/30/2026" and rows[0]["Account Name"] == "'=Stripe Clearing"


def test_iif_blocks_sum_to_zero_with_crlf_and_tabs():
    data = (GOLDEN / "story.iif").read_bytes()
    assert data.count(b"\r\n") == data.count(b"\n")  # CRLF only
    lines = [x.split("\t") for x in data.decode("utf-8").split("\r\n")[:-1]]
    assert lines[0][0] == "!TRNS" and lines[1][0] == "!SPL" and lines[2] == ["!ENDTRNS"]
    header = lines[0]
    blocks, block = [], None
    for fields in lines[3:]:
        if fields[0] == "TRNS":
            assert block is None
            block = [fields]
        elif fields[0] == "SPL":
            block.append(fields)
        else:
            assert fields == ["ENDTRNS"]
            blocks.append(block)
            block = None
    assert len(blocks) == 3
    for b in blocks:
        assert sum(Decimal(f[header.index("AMOUNT")]) for f in b) == 0
        assert {f[header.index("TRNSTYPE")] for f in b} == {"GENERAL JOURNAL"}
        for f in b:
            dt.datetime.strptime(f[header.index("DATE")], "%m/%d/%Y")
    older = iif.write(story_journals(), iif_trnstype="journal")[0].decode()
    assert "\tJOURNAL\t" in older and "GENERAL JOURNAL" not in older


def test_xero_reads_back_with_day_first_dates_and_splits_at_300_lines():
    rows = list(csv.DictReader(io.StringIO((GOLDEN / "story.xero.csv").read_bytes().decode("utf-8"))))
    assert list(rows[0]) == list(xero.HEADERS)
    groups: dict = {}
    for r in rows:
        assert re.fullmatch(r"\d\d/\d\d/\d{4}", r["Date"])
        dt.datetime.strptime(r["Date"], "%d/%m/%Y")
        groups[(r["Narration"], r["Date"])] = groups.get((r["Narration"], r["Date"]), 0) + Decimal(r["Amount"])
    assert len(groups) == 3 and all(v == 0 for v in groups.values())
    assert rows[0]["Date"] == "30/09/2026" and rows[0]["AccountCode"] == "'+610"
    # 35 journals of 10 lines: 350 lines → two files of whole journals (300 + 50), each balanced.
    j = J.Journal("XL-X", dt.date(2026, 11, 30), "big", tuple(J.Line(J.Account("a", "A", "1", "Tax Exempt"),
                                                                      D(i % 2), D(1 - i % 2), "x") for i in range(10)))
    files = xero.write([J.Journal(f"XL-{n}", j.date, f"big {n}", j.lines) for n in range(35)])
    counts = [len(list(csv.DictReader(io.StringIO(f.decode())))) for f in files]
    assert counts == [300, 50]


def test_audit_rows_carry_who_when_why_and_escape_a_formula_in_the_csv():
    from xl_ledger import csvsafe
    from xl_ledger.accounting import audit

    s, pk = story()
    s.act("adjust", "2026-11-20", package_id=pk["S4 piano"], quantity=1, reason_code="goodwill", note="@desk: one more for the storm week")
    nov = figures(s)["2026-11"]
    rows = audit.rows(s.journal.entries, nov, "studio.xlsm", audit.meanings([(2, {"reason_code": "goodwill",
                                                                                  "meaning": "Kindness"})]))
    assert [(r[4], r[9], r[10], r[11]) for r in rows] == [("adjust", "goodwill", "Kindness", "@desk: one more for the storm week")]
    assert b"'@desk: one more" in csvsafe.to_bytes(audit.HEADERS, rows)
    sep = figures(s)["2026-09"]
    assert [r[4] for r in audit.rows(s.journal.entries, sep, "studio.xlsm", audit.meanings())] == ["comp"]
