"""Executions counted by outcome where the worker runs them and where the sweeper settles one (#30)."""

from __future__ import annotations

from driftbot.engine import writers
from driftbot.metrics import instruments
from driftbot.requests.plans import make_plan
from driftbot.work.execute import execute_request, mark_interrupted
from tests.requests.test_reconcile import _approved, _setup, _state_gone


def executions(outcome: str) -> float:
    return instruments.REGISTRY.get_sample_value("driftbot_executions_total",
                                                 {"environment": "prod", "outcome": outcome}) or 0.0


def test_an_execution_and_the_sweepers_verdict_on_it_are_counted_by_outcome(databases, pg_url, redis_url, stub,
                                                                             tmp_path):
    rt, target, state = _setup(databases, redis_url, stub, tmp_path, "add_enum_value")
    _, req, _ = _approved(rt, "VIDEO")
    before = {o: executions(o) for o in ("succeeded", "interrupted", "failed")}

    def writer(rt_, env, plan_):
        _state_gone(pg_url, state, True)  # the writer's fence is cut: the sweeper declares it interrupted ...
        _state_gone(pg_url, state, False)
        assert mark_interrupted(rt, req.id)
        return writers.add_enum_value(env.admin_url, "MediaKind", "VIDEO")  # ... then it commits after all

    planner = lambda rt_, environment, kind, args, before: (make_plan(environment, kind, args, "fp"), None)  # noqa: E731
    assert execute_request(rt, req.id, planner=planner, writer=writer) == "succeeded"
    # Asked again (a job queued twice): it says the request's status, "succeeded", and runs nothing; not counted.
    assert execute_request(rt, req.id, planner=planner, writer=writer) == "succeeded"
    after = {o: executions(o) for o in before}
    assert {o: after[o] - before[o] for o in before} == {"succeeded": 1, "interrupted": 1, "failed": 0}
