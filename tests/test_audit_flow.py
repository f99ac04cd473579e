"""Every step of the approval flow leaves its audit events, in order, on a chain that verifies;
and when the audit trail cannot be written, nothing executes and the thread says why."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import select

from driftbot import audit
from driftbot.requests import machine
from driftbot.engine.check import run_check
from driftbot.work.execute import execute_request
from driftbot.requests.plans import make_plan
from driftbot.state.db import make_engine, upgrade
from driftbot.state.grants import app_role_grants
from driftbot.state.models import Approval, AuditEvent, Execution, Request
from tests.support import build_environments, runtime_on
from tests.factory import rows

FAILED = "20250102000000_posts"
THREAD = "1700000000.000100"
ALLOWED = frozenset({"UBO", "UCY"})


def _runtime(databases, redis_url, slack, tmp_path, state_url=None):
    envs = build_environments(databases, tmp_path / "envs", {"prod": "failed"})
    envs["prod"]["admin_url"] = envs["prod"]["database_url"]
    return runtime_on(state_url=state_url or databases.create_state(), redis_url=redis_url, slack_url=slack.url,
                      environments=envs, cache_dir=tmp_path / "cache", approvers=sorted(ALLOWED))


def _request(rt, ttl_hours: float = 24) -> int:
    result = run_check(rt.settings, rt.settings.environment("prod"))
    plan = make_plan("prod", "resolve_rolled_back", {"migration": FAILED}, result.fingerprint, None)
    with rt.sessions.begin() as s:
        return machine.create_request(s, plan, requester="UANA", approvals_required=2, ttl_hours=ttl_hours,
                                        channel="COPS", thread_ts=THREAD).id


def _click(rt, fn, rid, user, **kw):
    with rt.sessions.begin() as s:
        return fn(s, rid, user, ALLOWED, **kw) if fn is not machine.cancel else fn(s, rid, user)


def _events(rt, rid) -> list[tuple[str, str | None]]:
    with rt.sessions() as s:
        return [(e.event, e.actor) for e in audit.events(s) if e.request_id == rid]


def test_the_approval_flow_leaves_its_events_in_order_and_the_chain_verifies(databases, redis_url, slack, tmp_path):
    rt = _runtime(databases, redis_url, slack, tmp_path)
    rid = _request(rt)
    assert not _click(rt, machine.approve, rid, "UANA").ok  # the requester's own click: refused, not an approval
    assert _click(rt, machine.approve, rid, "UBO").ok
    _click(rt, machine.approve, rid, "UBO")  # a double click counts once
    assert _click(rt, machine.approve, rid, "UCY").ready
    assert execute_request(rt, rid, worker="worker-2") == "succeeded"
    assert _events(rt, rid) == [
        ("request_created", "UANA"), ("approval_counted", "UBO"), ("approval_counted", "UCY"), ("approved", "UCY"),
        ("execution_started", "worker-2"), ("execution_finished", None),
    ]
    with rt.sessions() as s:
        finished = s.execute(select(AuditEvent).where(AuditEvent.event == "execution_finished")).scalar_one()
        assert finished.data["outcome"] == "succeeded" and finished.data["statements"]
        assert audit.verify(s).ok
    assert rows(rt.settings.environments["prod"].database_url, FAILED)[0]["rolled_back_at"] is not None

    rejected, cancelled, expiring = _request(rt), _request(rt), _request(rt, ttl_hours=0.01)
    _click(rt, machine.reject, rejected, "UCY")
    _click(rt, machine.cancel, cancelled, "UANA")
    with rt.sessions.begin() as s:
        machine.expire_due(s, now=datetime.now(timezone.utc) + timedelta(hours=1))
    assert _events(rt, rejected) == [("request_created", "UANA"), ("rejected", "UCY")]
    assert _events(rt, cancelled) == [("request_created", "UANA"), ("cancelled", "UANA")]
    assert _events(rt, expiring) == [("request_created", "UANA"), ("expired", None)]
    with rt.sessions() as s:
        report = audit.verify(s)
    assert report.ok and report.events == 12
    rt.engine.dispose()


def _as(url: str, role: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{role}@{parts.hostname}:{parts.port or 5432}"))


def test_audit_store_down_during_an_approval_nothing_executes_and_the_thread_says_why(
        databases, redis_url, slack, tmp_path, pg_url):
    role = f"driftbot_app_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    try:
        state = databases.create_state()
        owner = make_engine(state)
        upgrade(owner)
        owner.dispose()
        with psycopg.connect(state, autocommit=True) as conn:
            for statement in app_role_grants(role):
                conn.execute(statement)
        rt = _runtime(databases, redis_url, slack, tmp_path, state_url=_as(state, role))
        rid = _request(rt)
        _click(rt, machine.approve, rid, "UBO")
        assert _click(rt, machine.approve, rid, "UCY").ready
        revoke = sql.SQL("REVOKE INSERT ON audit_events FROM {}").format(sql.Identifier(role))
        with psycopg.connect(state, autocommit=True) as conn:
            conn.execute(revoke)

        assert execute_request(rt, rid, worker="worker-1") == "audit_failed"
        target = rt.settings.environments["prod"].database_url
        assert rows(target, FAILED)[0]["rolled_back_at"] is None  # nothing ran on the target
        with rt.sessions() as s:
            assert s.get(Request, rid).status == "approved"
            assert s.execute(select(Execution)).scalars().all() == []
        said = [p for p in slack.posts if p.get("thread_ts") == THREAD]
        assert len(said) == 1
        assert said[0]["text"].startswith(f"Request #{rid} was not executed: the audit trail could not be written (")
        assert said[0]["text"].endswith("Nothing ran.")

        # An approval click while the trail is down is not recorded either: the click and its event are one.
        other = None
        with psycopg.connect(state, autocommit=True) as conn:
            conn.execute(sql.SQL("GRANT INSERT ON audit_events TO {}").format(sql.Identifier(role)))
        other = _request(rt)
        with psycopg.connect(state, autocommit=True) as conn:
            conn.execute(revoke)
        with pytest.raises(Exception, match="permission denied for table audit_events"):
            _click(rt, machine.approve, other, "UBO")
        with rt.sessions() as s:
            assert s.execute(select(Approval).where(Approval.request_id == other)).scalars().all() == []

        with psycopg.connect(state, autocommit=True) as conn:  # the trail is back: the approved request runs
            conn.execute(sql.SQL("GRANT INSERT ON audit_events TO {}").format(sql.Identifier(role)))
        assert execute_request(rt, rid, worker="worker-1") == "succeeded"
        rt.engine.dispose()
    finally:
        databases.drop_all()
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
