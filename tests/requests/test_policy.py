"""#14 case 3: policy at execution. The worker applies the stricter of the request's and the
current configuration (approvers, user groups, approvals_required); when the approvals no longer
suffice the request's message and thread say so and what is needed. Real PostgreSQL (state and
target), the real executor and writer, the Slack stand-in."""

from __future__ import annotations

import json
import uuid

import psycopg
import pytest

from driftbot.engine import writers
from driftbot.requests import machine
from driftbot.work.execute import execute_request
from driftbot.requests.plans import make_plan
from driftbot.settings import Settings
from driftbot.slack import posting
from driftbot.state.models import Request
from tests import factory
from tests.support import make_runtime

@pytest.fixture
def world(databases, redis_url, stub):
    target, state = databases.create("pol_target"), databases.create_state("pol_state")
    factory.execute(target, factory.ENUM)
    runtimes = []

    def runtime(required: int = 2, groups: dict | None = None, approvers=("S0DBAS", "UDI")):
        """A process started with this configuration (a restart: same state, same Redis)."""
        settings = Settings(
            environments={"prod": {"database_url": target, "admin_url": target, "migrations": "/nonexistent",
                                   "approvals_required": required, "channel": "C0DBOPS"}},
            approvers=list(approvers), state_url=state, redis_url=redis_url, slack_bot_token=stub.token,
            slack_api_url=stub.base_url, queue_prefix=f"pol{uuid.uuid4().hex[:6]}:")
        rt = make_runtime(settings)
        members = groups if groups is not None else {"S0DBAS": ["UBO", "UCY"]}
        rt.__dict__["group_members"] = lambda group: members.get(group, [])
        runtimes.append(rt)
        return rt

    yield runtime, target
    for rt in runtimes:
        rt.engine.dispose()


def _approved(rt, approvers=("UBO", "UDI")) -> tuple[int, str]:
    value = "V" + uuid.uuid4().hex[:10]
    plan = make_plan("prod", "add_enum_value", {"enum": "MediaKind", "value": value}, "fp")
    env = rt.settings.environment("prod")
    with rt.sessions.begin() as s:
        req = machine.create_request(s, plan, requester="UANA", approvals_required=2, ttl_hours=24, channel="C0DBOPS")
    posting.post_request(rt, req, plan, None)
    for who in approvers:
        with rt.sessions.begin() as s:
            outcome = machine.approve(s, req.id, who, rt.approvers(env))
    assert outcome.ready
    return req.id, value


def _run(rt, rid):
    planner = lambda rt_, environment, kind, args, before: (make_plan(environment, kind, args, "fp"), None)  # noqa: E731
    return execute_request(rt, rid, planner=planner, writer=lambda rt_, env, plan: writers.add_enum_value(
        env.admin_url, plan.arguments["enum"], plan.arguments["value"]))


def _labels(target):
    with psycopg.connect(target) as conn:
        return [r[0] for r in conn.execute("SELECT unnest(enum_range(NULL::\"MediaKind\"))::text")]


def _said(stub, rid):
    message = next(m for m in stub.posts("C0DBOPS") if (m["text"] or "").startswith(f"Request #{rid} "))
    thread = [m["text"] for m in stub.posts("C0DBOPS") if m["thread_ts"] == message["ts"]]
    return json.dumps(message["blocks"]), thread


def test_approvals_required_raised_after_the_approvals_blocks_the_run_and_says_what_is_needed(world, stub):
    runtime, target = world
    rid, value = _approved(runtime(required=2))
    restarted = runtime(required=3)  # approvals_required raised to 3, processes restarted
    assert _run(restarted, rid) == "refused"
    assert value not in _labels(target)
    with restarted.sessions() as s:
        req = s.get(Request, rid)
        assert (req.status, req.approvals_required) == ("requested", 3)
    shown, thread = _said(stub, rid)
    assert "(2 of 3)" in shown and "(2 of 2)" not in shown and "Approve" in shown
    assert any("did not run: approvals no longer suffice: 2 of 3 now required; needs 1 more approval" in t for t in thread)
    # One more approval of the same plan, under the new rule, and it runs.
    with restarted.sessions.begin() as s:
        assert machine.approve(s, rid, "UCY", restarted.approvers(restarted.settings.environment("prod")),
                               required=3).ready
    assert _run(restarted, rid) == "succeeded" and value in _labels(target)


def test_a_group_member_removed_after_approving_is_said_in_the_message_and_thread(world, stub):
    runtime, target = world
    rid, value = _approved(runtime())
    restarted = runtime(groups={"S0DBAS": ["UCY"]})  # UBO left the approver group
    assert _run(restarted, rid) == "refused"
    assert value not in _labels(target)
    shown, thread = _said(stub, rid)
    assert "Approved by <@UDI> (1 of 2)" in shown and "<@UBO>" not in shown.split("Approved by")[1].split(")")[0]
    assert any("1 of 2 now required (<@UBO> no longer counts); needs 1 more approval" in t for t in thread)


def test_an_approver_added_after_the_request_does_not_count_for_it(world, stub):
    runtime, target = world
    first = runtime(approvers=("UDI", "UCY"))
    env = first.settings.environment("prod")
    plan = make_plan("prod", "add_enum_value", {"enum": "MediaKind", "value": "X" + uuid.uuid4().hex[:8]}, "fp")
    with first.sessions.begin() as s:
        req = machine.create_request(s, plan, requester="UANA", approvals_required=2, ttl_hours=24, channel="C0DBOPS",
                                     approvers=first.settings.approvers_for(env))
    later = runtime(approvers=("UDI", "UCY", "UEVE"))  # UEVE added since: the stricter list is the request's
    allowed = later.request_approvers(later.settings.environment("prod"), ["UDI", "UCY"])
    assert allowed == {"UDI", "UCY"}
    with later.sessions.begin() as s:
        machine.approve(s, req.id, "UDI", allowed, plan_hash=plan.hash)
        assert not machine.approve(s, req.id, "UEVE", allowed, plan_hash=plan.hash).ok
