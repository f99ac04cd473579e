"""The two-person rule under every ordering (hypothesis), on real PostgreSQL and Redis.

Random sequences of clicks (the requester, approvers, a user-group member,
non-approvers, repeated clicks), rejects, cancels, expiry, plan changes and
executions by one or two racing workers. Whatever the order: nothing executes
with fewer than the required distinct approvers of the exact plan it runs, and
nothing executes twice. The state machine and the executor run directly (no
HTTP), the writer is the real ``ADD VALUE`` on a real target database.
"""

from __future__ import annotations

import threading
import uuid
from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from hypothesis import HealthCheck, event as note, given, settings, strategies as st
from sqlalchemy import func, select

from bot.requests import machine
from bot.engine import writers
from bot.requests.execution import execute_request
from bot.requests.plans import make_plan
from bot.settings import Settings
from bot.state.models import Approval, Execution, Request
from tests import factory
from tests.support import make_runtime

GROUPS = {"S0DBAS": ["UBO", "UCY"]}
USERS = ["UANA", "UBO", "UCY", "UDI", "UEVE", "UFAY"]  # UBO, UCY via the group; UDI directly; UEVE, UFAY never

# Approvers are drawn more often than others so that many sequences reach an execution.
CLICKERS = st.sampled_from(["UBO", "UCY", "UDI"] * 3 + USERS)
RARE = st.sampled_from([("plan_change", None), ("expire", None)] + [("reject", u) for u in USERS]
                       + [("cancel", u) for u in USERS])
event = st.one_of(
    st.tuples(st.just("approve"), CLICKERS),
    st.tuples(st.just("approve"), CLICKERS),
    st.tuples(st.just("execute"), st.sampled_from([1, 2])),
    RARE,
)


class World:
    """The target as the planner sees it: a change bumps the drift fingerprint."""

    def __init__(self, rt, target: str) -> None:
        self.rt, self.target, self.version = rt, target, 0
        self.runs: list[tuple[int, str, tuple[str, ...]]] = []  # (request, plan hash, approvers counted at run time)
        self.lock = threading.Lock()

    def planner(self, rt, environment, kind, args, before):
        return make_plan(environment, kind, args, f"fp{self.version}"), None

    def writer(self, rt, env, plan):
        with rt.sessions() as s:
            req = s.execute(select(Request).where(Request.plan_hash == plan.hash)).scalar_one()
            counted = machine.counted_approvers(s, req, rt.approvers(env))
        with self.lock:
            self.runs.append((req.id, plan.hash, counted))
        return writers.add_enum_value(self.target, "MediaKind", plan.arguments["value"])


@pytest.fixture(scope="module")
def world(pg_url, redis_url):
    from tests.conftest import Databases

    dbs = Databases(pg_url)
    target, state = dbs.create("pp_target"), dbs.create("pp_state")
    factory.execute(target, factory.ENUM)
    config = Settings(
        environments={"prod": {"database_url": target, "admin_url": target, "migrations": "/nonexistent",
                               "approvals_required": 2}},
        approvers=["S0DBAS", "UDI"], state_url=state, redis_url=redis_url,
        queue_prefix=f"pp{uuid.uuid4().hex[:6]}:", heartbeat_s=5,
    )
    rt = make_runtime(config)
    rt.__dict__["group_members"] = lambda group: GROUPS.get(group, [])  # usergroups.users.list, answered locally
    yield World(rt, target)
    rt.engine.dispose()
    dbs.drop_all()


def _step(world: World, rid: int, kind: str, arg, clock: list[datetime]) -> None:
    rt = world.rt
    allowed = rt.approvers(rt.settings.environment("prod"))
    if kind == "execute":
        threads = [threading.Thread(target=execute_request, args=(rt, rid),
                                    kwargs={"planner": world.planner, "writer": world.writer, "notify_slack": False})
                   for _ in range(arg)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return
    if kind == "plan_change":
        world.version += 1
        return
    if kind == "expire":
        clock[0] += timedelta(hours=25)
        with rt.sessions.begin() as s:
            machine.expire_due(s, clock[0])
        return
    with rt.sessions.begin() as s:
        if kind == "approve":
            machine.approve(s, rid, arg, allowed, clock[0])
        elif kind == "reject":
            machine.reject(s, rid, arg, allowed, clock[0])
        else:
            machine.cancel(s, rid, arg, clock[0])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(required=st.integers(1, 3), requester=st.sampled_from(["UANA", "UBO"]),
       events=st.lists(event, min_size=1, max_size=14))
def test_never_fewer_than_the_required_approvers_and_never_twice(world, required, requester, events):
    rt = world.rt
    value = "V" + uuid.uuid4().hex[:12]
    plan = make_plan("prod", "add_enum_value", {"enum": "MediaKind", "value": value}, f"fp{world.version}")
    with rt.sessions.begin() as s:
        rid = machine.create_request(s, plan, requester=requester, approvals_required=required, ttl_hours=24).id
    clock = [datetime.now(timezone.utc)]
    for kind, arg in events:
        _step(world, rid, kind, arg, clock)
        runs = [r for r in world.runs if r[0] == rid]
        assert len(runs) <= 1, "executed twice"
        for _, plan_hash, counted in runs:
            assert len(counted) >= required and requester not in counted
            assert set(counted) <= {"UBO", "UCY", "UDI"}
    with rt.sessions() as s:
        req = s.get(Request, rid)
        executions = s.scalar(select(func.count()).select_from(Execution).where(Execution.request_id == rid))
    runs = [r for r in world.runs if r[0] == rid]
    note(f"ended {req.status}")
    assert executions == len(runs)
    assert (req.status == "succeeded") == bool(runs)
    if runs:
        assert runs[0][1] == req.plan_hash  # it ran the plan the approvals were for
        with psycopg.connect(world.target) as conn:
            labels = [r[0] for r in conn.execute("SELECT unnest(enum_range(NULL::\"MediaKind\"))::text")]
        assert labels.count(value) == 1


def test_the_rule_is_not_vacuous_a_plain_sequence_executes(world):
    rt = world.rt
    value = "W" + uuid.uuid4().hex[:12]
    plan = make_plan("prod", "add_enum_value", {"enum": "MediaKind", "value": value}, f"fp{world.version}")
    with rt.sessions.begin() as s:
        rid = machine.create_request(s, plan, requester="UANA", approvals_required=2, ttl_hours=24).id
    clock = [datetime.now(timezone.utc)]
    for kind, arg in [("approve", "UBO"), ("approve", "UDI"), ("execute", 2), ("execute", 1)]:
        _step(world, rid, kind, arg, clock)
    assert [r for r in world.runs if r[0] == rid] != []
    with rt.sessions() as s:
        assert s.get(Request, rid).status == "succeeded"
        assert s.scalar(select(func.count()).select_from(Approval).where(Approval.request_id == rid)) == 2
