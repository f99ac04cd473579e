"""#14 case 8, second half: execution truth. When the state write is lost after the target
committed, the execution is reconciled from the target (the enum value, the
``_prisma_migrations`` row) and recorded as ran; the thread is corrected. Real PostgreSQL for
state and target, the real writers, the sweeper, the Slack stand-in."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import psycopg
import pytest
from sqlalchemy import select

from driftbot.engine import writers
from driftbot.requests import machine
from driftbot.work.execute import execute_request
from driftbot.requests.plans import make_plan
from driftbot.settings import Settings
from driftbot.slack import posting
from driftbot.state.models import Execution, Request
from driftbot.work.sweeper import sweep
from tests import factory
from tests.support import make_runtime

def _state_gone(admin: str, state: str, gone: bool) -> None:
    """The state database refusing connections (and its sessions cut), or back."""
    name = urlsplit(state).path.lstrip("/")  # also for ?host=/socket/dir URLs
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {"false" if gone else "true"}')
        if gone:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))


def _setup(databases, redis_url, stub, tmp_path, kind):
    target, state = databases.create("rec_target"), databases.create_state("rec_state")
    factory.execute(target, factory.ENUM)
    settings = Settings(
        environments={"prod": {"database_url": target, "admin_url": target, "migrations": str(tmp_path),
                               "approvals_required": 1, "channel": "C0DBOPS"}},
        approvers=["UDI"], state_url=state, redis_url=redis_url, slack_bot_token=stub.token, slack_api_url=stub.base_url,
        queue_prefix=f"rec{uuid.uuid4().hex[:6]}:", heartbeat_s=0.2)
    rt = make_runtime(settings)
    return rt, target, state


def _approved(rt, value: str):
    """A request to add *value* to MediaKind, posted and approved by UDI: (plan, request, approval)."""
    plan = make_plan("prod", "add_enum_value", {"enum": "MediaKind", "value": value}, "fp")
    with rt.sessions.begin() as s:
        req = machine.create_request(s, plan, requester="UANA", approvals_required=1, ttl_hours=24, channel="C0DBOPS")
    posting.post_request(rt, req, plan, None)
    with rt.sessions.begin() as s:
        approval = machine.approve(s, req.id, "UDI", frozenset({"UDI"}))
    return plan, req, approval


def _run_then_sweep(rt, request_id: int, writer, admin: str, state: str) -> None:
    """Execute the request with *writer*, which fails it (taking the state database away, or not);
    then the state database is back and the sweeper runs five minutes later."""
    planner = lambda rt_, environment, kind, args, before: (make_plan(environment, kind, args, "fp"), None)  # noqa: E731
    try:
        with pytest.raises(Exception):
            execute_request(rt, request_id, planner=planner, writer=writer)
    finally:
        _state_gone(admin, state, False)
    rt.engine.dispose()
    sweep(rt, now=datetime.now(timezone.utc) + timedelta(minutes=5))


def test_an_enum_value_committed_while_the_state_write_was_lost_is_recorded_as_ran(databases, pg_url, redis_url, stub,
                                                                                  tmp_path):
    rt, target, state = _setup(databases, redis_url, stub, tmp_path, "add_enum_value")
    plan, req, approval = _approved(rt, "VIDEO")
    assert approval.ready

    def writer(rt_, env, plan_):
        done = writers.add_enum_value(env.admin_url, "MediaKind", "VIDEO")  # the target commits
        _state_gone(pg_url, state, True)  # ... and the state database goes before the outcome is written
        return done

    _run_then_sweep(rt, req.id, writer, pg_url, state)
    with rt.sessions() as s:
        done = s.get(Request, req.id)
        ex = s.execute(select(Execution).where(Execution.request_id == req.id)).scalar_one()
    assert done.status == "succeeded" and ex.outcome == "succeeded"
    assert ex.statements == [plan.sql]
    thread = [m["text"] for m in stub.posts("C0DBOPS") if m["thread_ts"]]
    assert any("ran after all" in t and "VIDEO" in t for t in thread), thread
    assert not any("The worker stopped" in t for t in thread)
    message = next(m for m in stub.posts("C0DBOPS") if (m["text"] or "").startswith(f"Request #{req.id} "))
    assert "succeeded" in message["text"]


def test_an_execution_that_did_not_commit_is_still_reported_as_interrupted(databases, pg_url, redis_url, stub, tmp_path):
    rt, target, state = _setup(databases, redis_url, stub, tmp_path, "add_enum_value")
    plan, req, _ = _approved(rt, "AUDIO2")

    def writer(rt_, env, plan_):
        _state_gone(pg_url, state, True)  # the state goes, and the change never reaches the target
        raise RuntimeError("worker died")

    _run_then_sweep(rt, req.id, writer, pg_url, state)
    with rt.sessions() as s:
        ex = s.execute(select(Execution).where(Execution.request_id == req.id)).scalar_one()
    assert ex.outcome == "interrupted"
    with psycopg.connect(target) as conn:
        assert "AUDIO2" not in [r[0] for r in conn.execute("SELECT unnest(enum_range(NULL::\"MediaKind\"))::text")]


def test_a_writer_declared_interrupted_that_commits_after_all_records_the_truth(databases, pg_url, redis_url, stub,
                                                                                tmp_path):
    """Issue #26 item 2: the writer's session to the state database cut (its fence released with it), the
    sweeper closes the execution as interrupted; then the writer commits. The state, the audit trail and
    the thread end with the truth (succeeded, a correction), never "interrupted" beside "Done"."""
    from driftbot.work.execute import mark_interrupted

    rt, target, state = _setup(databases, redis_url, stub, tmp_path, "add_enum_value")
    plan, req, _ = _approved(rt, "VIDEO")

    def writer(rt_, env, plan_):
        _state_gone(pg_url, state, True)  # a partition: the writer's sessions (and its fence) are cut ...
        _state_gone(pg_url, state, False)
        assert mark_interrupted(rt, req.id)  # ... so the sweeper finds it dead, before the change committed
        return writers.add_enum_value(env.admin_url, "MediaKind", "VIDEO")  # then the writer commits

    planner = lambda rt_, environment, kind, args, before: (make_plan(environment, kind, args, "fp"), None)  # noqa: E731
    execute_request(rt, req.id, planner=planner, writer=writer)
    with rt.sessions() as s:
        done = s.get(Request, req.id)
        ex = s.execute(select(Execution).where(Execution.request_id == req.id)).scalar_one()
        from driftbot.state.models import AuditEvent
        outcomes = [e.data.get("outcome") for e in s.execute(select(AuditEvent).where(
            AuditEvent.event == "execution_finished").order_by(AuditEvent.id)).scalars()]
    assert (done.status, ex.outcome) == ("succeeded", "succeeded") and "VIDEO" in ex.statements[0]
    assert outcomes == ["interrupted", "succeeded"]  # the trail keeps both, the second correcting the first
    thread = [m["text"] for m in stub.posts("C0DBOPS") if m["thread_ts"]]
    assert "Correction" in thread[-1] and "Done" in thread[-1], thread
