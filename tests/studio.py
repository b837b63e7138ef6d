"""A studio in a test: products, students, sessions and actions driven through the real commands.

Scenario tests read like the studio's story; every input goes through the same validation and
commands as a post from the workbook (inputs → commands → events → Journal → fold).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from xl_ledger.core import commands
from xl_ledger.core import inputs
from xl_ledger.core.journal import Journal
from xl_ledger.core.state import State

DEFAULT_REASONS = {"goodwill", "medical", "billing_error", "family_transfer", "owner_override", "auto_renew",
                   "migration", "chargeback", "moved_away"}


def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


class Studio:
    def __init__(self, today: str = "2026-03-01", **settings):
        self.journal = Journal()
        self.today = day(today)
        self.clock = dt.datetime(2026, 1, 1, 9, 0, 0)
        self.package_ids: set[str] = set()
        if settings:
            parsed, problems = inputs.read_settings([(i + 2, {"key": k, "value": v})
                                                     for i, (k, v) in enumerate(settings.items())])
            assert not problems, problems
            self._append(commands.diff_settings(parsed, inputs.Settings(), self.today))

    # --- plumbing ---------------------------------------------------------------------------------
    def _append(self, events, operator: str = "owner"):
        self.clock += dt.timedelta(minutes=1)
        return self.journal.append(events, operator=operator, recorded_at=self.clock)

    def state(self, as_of: str | dt.date | None = None) -> State:
        as_of = day(as_of) if isinstance(as_of, str) else (as_of or self.today)
        return self.journal.fold(as_of)

    # --- master data ------------------------------------------------------------------------------
    def product(self, product_id: str, unit: str, quantity, price, **columns):
        raw = {"product_id": product_id, "name": columns.pop("name", product_id), "unit": unit,
               "quantity": quantity, "price": price, **columns}
        rows, problems = inputs.read_products([(2, raw)])
        assert not problems, [str(p) for p in problems]
        events, problems = commands.diff_products(rows, self.state().products, self.today)
        assert not problems
        self._append(events)

    def student(self, student_id: str, name: str | None = None, family: str | None = None):
        rows, problems = inputs.read_students([(2, {"student_id": student_id, "name": name or student_id,
                                                    "family_id": family})])
        assert not problems
        events, _ = commands.diff_students(rows, self.state().students, self.today)
        self._append(events)

    # --- the register -----------------------------------------------------------------------------
    def session(self, session_id: str, date: str, student_id: str, status: str = "attended", **columns):
        raw = {"session_id": session_id, "date": date, "student_id": student_id, "status": status, **columns}
        rows, problems = inputs.read_sessions([(2, raw)])
        assert not problems, [str(p) for p in problems]
        state = self.state(max(self.today, day(date)))
        pairs, problems, _notices = commands.diff_sessions(rows, state, self.today)
        # diff_sessions sees only this row, so every other session reads as deleted: ignore those notices.
        assert not problems, [str(p) for p in problems]
        self._append([ev for _row, ev in pairs])

    def act(self, action: str, date: str | None = None, *, operator: str = "owner", role: str = "owner", **cells):
        """Post one Actions row; return (events, problem)."""
        raw = {"action": action, "date": date, **cells}
        rows, problems = inputs.read_actions([(5, raw)])
        assert not problems, [str(p) for p in problems]
        when = day(date) if date else self.today
        state = self.state(when)
        ids = set(self.package_ids)
        ctx = commands.Context(state=state, today=when, operator=operator, role=role, reasons=DEFAULT_REASONS,
                               package_ids=ids)
        events, problem = commands.decide(rows[0][1], ctx)
        if problem is None:
            self.package_ids = ids
            self._append(events, operator)
        return events, problem

    def sell(self, student_id: str, product_id: str, date: str, **cells) -> str:
        events, problem = self.act("sell", date, student_id=student_id, product_id=product_id, **cells)
        assert problem is None, str(problem)
        return events[0].package_id

    def renew(self, as_of: str):
        """What Post does after recording: auto-renew until nothing more is owed on auto-renew products."""
        for _ in range(20):
            state = self.state(as_of)
            ctx = commands.Context(state=state, today=day(as_of), package_ids=self.package_ids)
            sales = commands.auto_renew(state, day(as_of), ctx)
            if not sales:
                return
            self._append(sales, "xl-ledger")


def D(x) -> Decimal:
    return Decimal(str(x))
