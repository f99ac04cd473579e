"""The request state machine and the two-person rule on a real state database."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from driftbot.requests import machine
from driftbot.requests.plans import make_plan
from driftbot.state.models import AuditEvent, Execution, Request

ALLOWED = frozenset({"UBO", "UCY", "UDI"})


def _request(state, fingerprint="f1", required=2, ttl=24.0):
    plan = make_plan("prod", "add_enum_value", {"enum": "MediaKind", "value": "VIDEO"}, fingerprint)
    with state.begin() as s:
        return machine.create_request(s, plan, requester="UANA", approvals_required=required, ttl_hours=ttl).id


def _approve(state, rid, user, now=None):
    with state.begin() as s:
        return machine.approve(s, rid, user, ALLOWED, now)


def test_two_distinct_approvers_other_than_the_requester(state):
    rid = _request(state)
    assert not _approve(state, rid, "UANA").ok  # the requester never counts
    assert "not an approver" in _approve(state, rid, "UEVE").message
    first = _approve(state, rid, "UBO")
    again = _approve(state, rid, "UBO")
    assert first.ok and not first.ready and again.approvals == ("UBO",) and "counts once" in again.message
    second = _approve(state, rid, "UCY")
    assert second.ready and second.status == "approved" and second.approvals == ("UBO", "UCY")
    assert _approve(state, rid, "UDI").ready is False  # already approved: a third click changes nothing
    with state() as s:
        events = list(s.execute(select(AuditEvent.event).where(AuditEvent.request_id == rid).order_by(AuditEvent.id)).scalars())
    assert events == ["request_created", "approval_counted", "approval_counted", "approved"]


def test_execution_begins_once_and_only_for_the_approved_plan(state):
    rid = _request(state)
    _approve(state, rid, "UBO")
    _approve(state, rid, "UCY")
    with state() as s:
        plan_hash = s.get(Request, rid).plan_hash
    with state.begin() as s:
        assert machine.begin_execution(s, rid, "0" * 64, ALLOWED) is None
    with state.begin() as s:
        assert machine.begin_execution(s, rid, plan_hash, ALLOWED, worker="w1") is not None
    with state.begin() as s:
        assert machine.begin_execution(s, rid, plan_hash, ALLOWED, worker="w2") is None
    with state.begin() as s:
        assert machine.finish_execution(s, rid, ok=True, statements=["ALTER TYPE ..."], message="done", duration_ms=3.0)
        assert not machine.finish_execution(s, rid, ok=True, statements=[], message="again", duration_ms=1.0)
    with state() as s:
        assert s.get(Request, rid).status == "succeeded"
        assert s.scalar(select(func.count()).select_from(Execution)) == 1


def test_a_changed_plan_resets_the_approvals(state):
    rid = _request(state)
    _approve(state, rid, "UBO")
    _approve(state, rid, "UCY")
    new = make_plan("prod", "add_enum_value", {"enum": "MediaKind", "value": "VIDEO"}, "f2")
    with state.begin() as s:
        assert machine.reset_plan(s, rid, new, "a new migration arrived")
    with state() as s:
        req = s.get(Request, rid)
        assert req.status == "requested" and req.plan_hash == new.hash
        assert machine.counted_approvers(s, req, ALLOWED) == ()
    assert _approve(state, rid, "UBO").approvals == ("UBO",)


def test_reject_cancel_and_expiry_close_the_request(state):
    rid = _request(state)
    assert "Only the requester" in machine.cancel(state.begin().__enter__(), rid, "UBO").message
    with state.begin() as s:
        assert machine.reject(s, rid, "UBO", ALLOWED).status == "rejected"
    assert _approve(state, rid, "UCY").status == "rejected"
    rid2 = _request(state)
    with state.begin() as s:
        assert machine.reject(s, rid2, "UANA", ALLOWED).status == "cancelled"  # the requester's reject cancels
    rid3 = _request(state, ttl=1)
    later = datetime.now(timezone.utc) + timedelta(hours=2)
    assert _approve(state, rid3, "UBO", later).status == "expired"
    with state() as s:
        assert s.get(Request, rid3).status == "expired"

