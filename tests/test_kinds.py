"""Statuses and kinds are StrEnums (xl_ledger/core/kinds.py) whose members are their stored text: the
Log's kinds, the workbook's dropdowns and the input parsers all take their words from there."""

from __future__ import annotations

import pickle

from xl_ledger.book import checkpoint
from xl_ledger.book import schema
from xl_ledger.core import events as E
from xl_ledger.core import inputs
from xl_ledger.core.kinds import CLOSED
from xl_ledger.core.kinds import AllocationState
from xl_ledger.core.kinds import EventKind
from xl_ledger.core.kinds import PackageStatus
from xl_ledger.core.kinds import Role
from xl_ledger.core.kinds import SessionStatus


def test_every_log_kind_is_an_event_kind_and_back():
    assert set(E.KINDS) == {k.value for k in EventKind}
    assert all(type(cls.kind) is str for cls in E.KINDS.values())  # the Log holds plain text


def test_a_member_is_its_text():
    assert PackageStatus.USED_UP == "used_up" and hash(PackageStatus.USED_UP) == hash("used_up")
    assert "expired" in CLOSED and f"{AllocationState.OWED}" == "owed"


def test_the_dropdowns_and_parsers_use_the_same_words():
    assert schema.LISTS["status"] == inputs.STATUSES == tuple(SessionStatus)
    assert schema.LISTS["role"] == inputs.ROLES == tuple(Role)
    assert all(type(s) is str for s in schema.LISTS["status"] + schema.LISTS["role"])  # the template's text


def test_a_checkpoint_may_hold_a_status():
    """Engine-sheet bodies carry statuses and kinds; the checkpoint's restricted unpickler loads them."""
    body = [("PK-1", PackageStatus.EXPIRED, AllocationState.OWED, SessionStatus.NO_SHOW)]
    assert checkpoint.unpack(checkpoint.pack(body)) == body
    assert pickle.loads(pickle.dumps(PackageStatus.ACTIVE)) is PackageStatus.ACTIVE


def test_alerts_list_the_posts_own_rows_first_then_the_engines_in_the_enums_order():
    """Rejected rows, typed-over cells and notices (added by the post) before owed, expiring and low balance."""
    from xl_ledger.book import render
    from xl_ledger.core.kinds import AlertKind
    from types import SimpleNamespace

    from xl_ledger.core.state import Alert

    state = SimpleNamespace(alerts=[Alert(AlertKind.LOW_BALANCE, "S1", "PK-1", "Balances S1", "low"),
                                    Alert(AlertKind.OWED, "S2", None, "Sessions L-1", "owed"),
                                    Alert(AlertKind.EXPIRING, "S1", "PK-1", "Packages PK-1", "expiring")])
    extra = [("notice", None, None, "Sessions", "deleted", None, None),
             ("rejected", None, None, "Actions!A2", "bad", None, None),
             ("drift", None, None, "Packages!C2", "typed", None, None)]
    kinds = [row[0] for row in render.alerts(state, extra)]
    assert kinds == ["notice", "rejected", "drift", "owed", "expiring", "low_balance"]  # the post's rows as given
    assert [k.value for k in AlertKind] == ["rejected", "drift", "notice", "owed", "expiring", "low_balance"]
