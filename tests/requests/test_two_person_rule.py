"""The two-person rule under every ordering (hypothesis), on real PostgreSQL and Redis.

Random sequences of clicks (the requester, approvers, a user-group member,
non-approvers, repeated clicks), rejects, cancels, expiry, plan changes and
executions by one or two racing workers; and (#14) clicks through the server-side
click path from another channel, workspace or message, with another plan's or no
plan hash, replayed deliveries, and policy changes between clicks and execution
(approvals_required raised, a group member or a named approver removed). Whatever the order: nothing executes
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

from driftbot.requests import machine
from driftbot.engine import writers
from driftbot.work.execute import execute_request
from driftbot.requests.plans import make_plan
from driftbot.settings import Settings
from driftbot.requests.clicks import Click
from driftbot.work.clicks import decide
from driftbot.state.models import Approval, Execution, Request
from tests import factory
from tests.support import make_runtime

# Property tests: hundreds of generated click sequences on real databases (over a minute alone).
pytestmark = pytest.mark.slow

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
            # Who counts under the policy in force now (the stricter of the request's and the current one).
            counted = machine.counted_approvers(s, req, rt.request_approvers(env, req.approvers))
        with self.lock:
            self.runs.append((req.id, plan.hash, counted))
        return writers.add_enum_value(self.target, "MediaKind", plan.arguments["value"])


@pytest.fixture(scope="module")
def world(pg_url, redis_url):
    from tests.conftest import Databases

    dbs = Databases(pg_url)
    target, state = dbs.create("pp_target"), dbs.create_state("pp_state")
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


# --- where the click comes from, what it carries, and a policy that changes (#14) ---------------------

CHANNEL, TEAM = "C0DBOPS", "T0TEST"
WHERE = st.sampled_from(["ok"] * 6 + ["channel", "team", "message", "plan", "replay", "bare"])
APPROVER_OK = st.tuples(st.sampled_from(["UBO", "UCY", "UDI"]), st.just("ok"))
bound_event = st.one_of(
    st.tuples(st.just("click"), APPROVER_OK),
    st.tuples(st.just("click"), APPROVER_OK),
    st.tuples(st.just("click"), st.tuples(CLICKERS, WHERE)),
    st.tuples(st.just("click"), st.tuples(CLICKERS, WHERE)),
    st.tuples(st.just("approve"), CLICKERS),
    st.tuples(st.just("execute"), st.sampled_from([1, 2])),
    st.tuples(st.just("execute"), st.sampled_from([1, 2])),
    st.tuples(st.just("plan_change"), st.none()),
    st.tuples(st.just("policy"), st.sampled_from(["raise", "drop_UBO", "drop_UDI", "restore"])),
)


class Policy:
    """The configuration as a restart would change it: approvals_required raised, an approver
    group member or a named approver gone."""

    def __init__(self, world: World) -> None:
        self.world, self.base = world, world.rt.settings
        self.raised, self.groups, self.named = 0, {k: list(v) for k, v in GROUPS.items()}, ["S0DBAS", "UDI"]
        world.rt.__dict__["group_members"] = lambda group: self.groups.get(group, [])
        self.apply()

    def apply(self) -> None:
        env = self.base.environments["prod"]
        env = env.model_copy(update={"approvals_required": env.approvals_required + self.raised, "channel": CHANNEL})
        self.world.rt.settings = self.base.model_copy(update={"environments": {"prod": env},
                                                              "approvers": list(self.named)})

    def change(self, what: str) -> None:
        if what == "raise":
            self.raised = min(self.raised + 1, 2)
        elif what == "drop_UBO":
            self.groups = {"S0DBAS": [u for u in self.groups["S0DBAS"] if u != "UBO"]}
        elif what == "drop_UDI":
            self.named = [w for w in self.named if w != "UDI"]
        else:
            self.raised, self.groups, self.named = 0, {k: list(v) for k, v in GROUPS.items()}, ["S0DBAS", "UDI"]
        self.apply()

    def required(self, at_request: int) -> int:
        return max(at_request, self.world.rt.settings.environments["prod"].approvals_required)

    def reset(self) -> None:
        self.change("restore")
        self.world.rt.settings = self.base


def _click(world: World, rid: int, user: str, where: str, last: list) -> None:
    rt = world.rt
    with rt.sessions() as s:
        req = s.get(Request, rid)
        value, ts = f"{rid}:{req.plan_hash}", req.message_ts
    if where == "replay" and last:
        click = last[-1]  # the very same delivery again, whatever plan it was for
    else:
        click = Click(action="approve", value=value, user=user, team=TEAM, channel=CHANNEL, message_ts=ts,
                      trigger_id=uuid.uuid4().hex, action_ts=f"{uuid.uuid4().int % 10**9}.000001")
        click = {
            "channel": lambda c: c.__class__(**{**c.to_job(), "channel": "C0ELSE"}),
            "team": lambda c: c.__class__(**{**c.to_job(), "team": "T0EVIL"}),
            "message": lambda c: c.__class__(**{**c.to_job(), "message_ts": "1700000999.000100"}),
            "plan": lambda c: c.__class__(**{**c.to_job(), "value": f"{rid}:{uuid.uuid4().hex * 2}"}),
            "bare": lambda c: c.__class__(**{**c.to_job(), "value": str(rid)}),
        }.get(where, lambda c: c)(click)
        if where == "ok":
            last.append(click)
    with rt.sessions() as s:
        before = s.scalar(select(func.count()).select_from(Approval).where(Approval.request_id == rid))
    decide(rt, click)
    if where not in ("ok", "replay"):
        with rt.sessions() as s:
            after = s.scalar(select(func.count()).select_from(Approval).where(Approval.request_id == rid))
        assert after == before, f"a click from the wrong {where} was counted"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(required=st.integers(1, 3), requester=st.sampled_from(["UANA", "UBO"]),
       events=st.lists(bound_event, min_size=1, max_size=16))
def test_clicks_from_elsewhere_replays_and_policy_changes_never_make_too_few_approvers_enough(
        world, required, requester, events):
    rt = world.rt
    policy = Policy(world)
    try:
        value = "B" + uuid.uuid4().hex[:12]
        plan = make_plan("prod", "add_enum_value", {"enum": "MediaKind", "value": value}, f"fp{world.version}")
        with rt.sessions.begin() as s:
            req = machine.create_request(s, plan, requester=requester, approvals_required=required, ttl_hours=24,
                                         channel=CHANNEL, team_id=TEAM, approvers=["S0DBAS", "UDI"])
            req.message_ts = f"17000{uuid.uuid4().int % 10**5:05d}.000100"
            rid = req.id
        clock, last, runs_seen = [datetime.now(timezone.utc)], [], 0
        for kind, arg in events:
            if kind == "click":
                _click(world, rid, arg[0], arg[1], last)
            elif kind == "policy":
                policy.change(arg)
            else:
                _step(world, rid, kind, arg, clock)
            runs = [r for r in world.runs if r[0] == rid]
            assert len(runs) <= 1, "executed twice"
            if len(runs) > runs_seen:  # it ran just now: under the policy in force now
                runs_seen = len(runs)
                _, plan_hash, counted = runs[0]
                assert len(counted) >= policy.required(required) and requester not in counted
                allowed_now = rt.request_approvers(rt.settings.environment("prod"), ["S0DBAS", "UDI"])
                assert set(counted) <= allowed_now
        with rt.sessions() as s:
            final = s.get(Request, rid)
            executions = s.scalar(select(func.count()).select_from(Execution).where(Execution.request_id == rid))
        runs = [r for r in world.runs if r[0] == rid]
        note(f"ended {final.status}")
        note(f"refused clicks seen: {min(3, len([k for k, a in events if k == 'click' and a[1] not in ('ok',)]))}")
        assert executions == len(runs)
        if runs:
            assert runs[0][1] == final.plan_hash
    finally:
        policy.reset()


def test_the_bound_path_is_not_vacuous_right_clicks_execute_and_a_raised_rule_stops_them(world):
    rt = world.rt
    policy = Policy(world)
    try:
        for raise_first, ends in ((False, "succeeded"), (True, "requested")):
            plan = make_plan("prod", "add_enum_value", {"enum": "MediaKind", "value": "N" + uuid.uuid4().hex[:12]},
                             f"fp{world.version}")
            with rt.sessions.begin() as s:
                req = machine.create_request(s, plan, requester="UANA", approvals_required=2, ttl_hours=24,
                                             channel=CHANNEL, team_id=TEAM, approvers=["S0DBAS", "UDI"])
                req.message_ts = f"17000{uuid.uuid4().int % 10**5:05d}.000100"
                rid = req.id
            last: list = []
            for user in ("UBO", "UDI"):
                _click(world, rid, user, "ok", last)
            if raise_first:
                policy.change("raise")
            _step(world, rid, "execute", 2, [datetime.now(timezone.utc)])
            with rt.sessions() as s:
                assert s.get(Request, rid).status == ends
            policy.change("restore")
    finally:
        policy.reset()
