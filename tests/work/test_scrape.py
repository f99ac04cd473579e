"""What /metrics answers (driftbot.work.scrape): stable names and labels, an exposition no environment name
can break, the state read from a real Redis and state database, and an answer within its budget when
either is away (#30)."""

from __future__ import annotations

import importlib.util
import random
import io
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from redis import Redis

from driftbot import checks
from driftbot.metrics import instruments
from driftbot.settings import Settings
from driftbot.state import keys
from driftbot.state.models import Check, DigestRun, Request
from driftbot.work import scrape
from driftbot.work.queues import enqueue
from tests.support import UNREACHABLE, make_runtime

ROOT = Path(__file__).resolve().parents[2]

# Renaming a metric or a label breaks every dashboard and alert built on it: this list changes on purpose only.
STABLE = {
    "driftbot_checks_total": ("counter", ("environment", "outcome")),
    "driftbot_check_duration_seconds": ("histogram", ("phase",)),
    "driftbot_slack_api_calls_total": ("counter", ("method", "result")),
    "driftbot_executions_total": ("counter", ("environment", "outcome")),
    "driftbot_audit_events_total": ("counter", ("kind",)),
    "driftbot_processes": ("gauge", ("process",)),
    "driftbot_dependency_up": ("gauge", ("dependency",)),
    "driftbot_queue_depth": ("gauge", ("queue",)),
    "driftbot_queue_oldest_job_age_seconds": ("gauge", ("queue",)),
    "driftbot_reposts_pending": ("gauge", ("kind",)),
    "driftbot_drift_state": ("gauge", ("environment",)),
    "driftbot_drift_since_timestamp_seconds": ("gauge", ("environment",)),
    "driftbot_approvals_waiting": ("gauge", ("environment",)),
    "driftbot_approvals_oldest_age_seconds": ("gauge", ("environment",)),
    "driftbot_digest_last_success_timestamp_seconds": ("gauge", ()),
}
HOSTILE = 'prod"} 1\n# TYPE evil counter\nevil_total{a="\\'


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metric_names_types_and_labels_are_stable_and_follow_prometheus_conventions():
    described = {m.name: (m.type, m.labels) for m in scrape.catalog()}
    assert described == STABLE
    for name, (kind, labels) in described.items():
        assert name.startswith("driftbot_")
        assert name.endswith("_total") == (kind == "counter")
        assert not (name.endswith("_seconds") and kind == "counter")
        assert "environment" not in labels or name not in ("driftbot_check_duration_seconds",)  # bounded series
    # Every counted metric has labels: in multiprocess mode its storage is chosen when a label set is first used.
    assert all(m._labelnames for m in instruments.COUNTED)


def test_the_metrics_page_is_current():
    spec = importlib.util.spec_from_file_location("gen_metrics", ROOT / "docs" / "gen_metrics.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    assert (ROOT / "docs" / "metrics.md").read_text() == gen.render(), "docs/metrics.md is stale: run python3 docs/gen_metrics.py"


def test_a_hostile_environment_name_cannot_break_the_exposition():
    instruments.checked(HOSTILE, "drifted", 0.2, {"replay": 0.1, "bogus": 9.0})
    instruments.executed(HOSTILE, "succeeded")
    instruments.slack_answered('chat.postMessage"}', "ok\n")  # never a label value as given
    reg = CollectorRegistry()
    reg.register(instruments.REGISTRY)
    text = generate_latest(reg).decode()
    found = samples(text)  # the parser reads back every line
    assert found[("driftbot_checks_total", frozenset({("environment", HOSTILE), ("outcome", "drifted")}))] >= 1
    assert found[("driftbot_executions_total", frozenset({("environment", HOSTILE), ("outcome", "succeeded")}))] >= 1
    assert found[("driftbot_slack_api_calls_total", frozenset({("method", "other"), ("result", "other_error")}))] >= 1
    assert not any(name.startswith("evil") for name, _ in found)
    assert all(dict(labels).get("phase") != "bogus" for _, labels in found)
    # The state read at scrape time, named after the same environment.
    state = scrape.families({**scrape.EVERY, "drift": {HOSTILE: 1}, "since": {HOSTILE: 1.7e9},
                             "approvals": {HOSTILE: (2, 60.0)}})
    text = generate_latest(_registry_of(list(state))).decode()
    found = samples(text)
    assert found[("driftbot_drift_state", frozenset({("environment", HOSTILE)}))] == 1
    assert found[("driftbot_approvals_waiting", frozenset({("environment", HOSTILE)}))] == 2
    assert not any(name.startswith("evil") for name, _ in found)


def _registry_of(families) -> CollectorRegistry:
    class Fixed:
        def collect(self):
            return families

    reg = CollectorRegistry(auto_describe=False)
    reg.register(Fixed())
    return reg


def test_the_answer_comes_within_its_budget_with_redis_and_the_state_database_away():
    settings = Settings(redis_url="redis://127.0.0.1:1/0", state_url=UNREACHABLE,
                        environments={"prod": {"database_url": UNREACHABLE, "migrations": "."}})
    app = scrape.wsgi(settings)
    said = {}
    started = time.perf_counter()
    body = b"".join(app({"REQUEST_METHOD": "GET", "PATH_INFO": "/metrics", "QUERY_STRING": "",
                         "wsgi.input": io.BytesIO()}, lambda status, headers: said.update(status=status)))
    took = time.perf_counter() - started
    assert said["status"].startswith("200") and took < scrape.SCRAPE_BUDGET_S + 1
    found = samples(body.decode())
    assert found[("driftbot_dependency_up", frozenset({("dependency", "redis")}))] == 0
    assert found[("driftbot_dependency_up", frozenset({("dependency", "state_database")}))] == 0
    assert not any(name.startswith(("driftbot_queue", "driftbot_drift")) for name, _ in found)


def test_an_unreadable_metrics_directory_leaves_the_counts_out_not_the_answer(monkeypatch, tmp_path):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "removed"))
    settings = Settings(redis_url="redis://127.0.0.1:1/0", state_url=UNREACHABLE)
    said = {}
    body = b"".join(scrape.wsgi(settings)({"REQUEST_METHOD": "GET", "PATH_INFO": "/metrics", "QUERY_STRING": "",
                                           "wsgi.input": io.BytesIO()}, lambda status, headers: said.update(status=status)))
    assert said["status"].startswith("200")
    assert ("driftbot_dependency_up", frozenset({("dependency", "redis")})) in samples(body.decode())


@pytest.fixture
def rt(databases, redis_url):
    settings = Settings(state_url=databases.create_state(), redis_url=redis_url, queue_prefix=f"t{uuid.uuid4().hex[:8]}:",
                        environments={name: {"database_url": UNREACHABLE, "migrations": "."} for name in ("prod", "staging", "dev")})
    runtime = make_runtime(settings)
    yield runtime
    Redis.from_url(redis_url).delete(*[k for k in Redis.from_url(redis_url).scan_iter(f"*{settings.queue_prefix}*")] or ["-"])
    runtime.engine.dispose()


def test_the_state_is_read_from_redis_and_the_state_database(rt):
    now = datetime.now(timezone.utc)
    with rt.sessions.begin() as s:
        for env, state, minutes_ago in [("prod", "in_sync", 50), ("prod", "drifted", 40), ("prod", "error", 30),
                                        ("prod", "drifted", 20), ("staging", "in_sync", 10), ("dev", "error", 5),
                                        ("gone", "drifted", 5)]:  # not configured any more: left out
            at = now - timedelta(minutes=minutes_ago)
            s.add(Check(environment=env, status="finished", state=state, watchers=[], started_at=at, finished_at=at))
        s.add(Check(environment="staging", status="finished", state="in_sync", watchers=[], post_state="failed",
                    finished_at=now - timedelta(minutes=60)))
        for hours in (3, 1):
            s.add(Request(environment="prod", kind="resolve_applied", args={}, sql="", fingerprint="f", plan_hash="p",
                          status="requested", requester="U1", approvals_required=2,
                          created_at=now - timedelta(hours=hours), expires_at=now + timedelta(hours=20)))
        s.add(DigestRun(kind="manual", status="posted", finished_at=now - timedelta(hours=2)))
        s.add(DigestRun(kind="manual", status="failed", finished_at=now - timedelta(hours=1)))
    enqueue(rt, "refresh_groups")
    time.sleep(1.1)
    enqueue(rt, "audit", None, 7, "U1", "C1")
    rt.redis.rpush(keys.kept_posts(rt.settings.queue_prefix), "{}")

    collector = scrape.StateCollector(rt.settings)
    text = generate_latest(_registry_of(list(collector.collect()))).decode()
    found = samples(text)

    def value(name, **labels):
        return found.get((name, frozenset(labels.items())))

    assert value("driftbot_dependency_up", dependency="redis") == 1
    assert value("driftbot_dependency_up", dependency="state_database") == 1
    assert value("driftbot_queue_depth", queue="drift") == 2 and value("driftbot_queue_depth", queue="execute") == 0
    assert 1.0 <= value("driftbot_queue_oldest_job_age_seconds", queue="drift") < 30
    assert value("driftbot_queue_oldest_job_age_seconds", queue="execute") == 0
    assert value("driftbot_reposts_pending", kind="check_result") == 1
    assert value("driftbot_reposts_pending", kind="message") == 1
    assert value("driftbot_drift_state", environment="prod") == 1  # drifted, the error between does not count
    assert value("driftbot_drift_state", environment="staging") == 0
    assert value("driftbot_drift_state", environment="dev") == 2
    assert value("driftbot_drift_state", environment="gone") is None
    assert value("driftbot_drift_since_timestamp_seconds", environment="prod") == \
        pytest.approx((now - timedelta(minutes=40)).timestamp(), abs=1)
    assert value("driftbot_drift_since_timestamp_seconds", environment="staging") is None
    assert value("driftbot_approvals_waiting", environment="prod") == 2
    assert value("driftbot_approvals_oldest_age_seconds", environment="prod") == pytest.approx(3 * 3600, abs=60)
    assert value("driftbot_digest_last_success_timestamp_seconds") == \
        pytest.approx((now - timedelta(hours=2)).timestamp(), abs=1)


def test_the_chart_sets_the_workers_metrics_port_by_the_settings_name(monkeypatch):
    template = (ROOT / "deploy" / "helm" / "driftbot" / "templates" / "worker.yaml").read_text()
    (name,) = {n for n in ("DRIFTBOT_WORKER_METRICS_PORT", "DRIFTBOT_METRICS_PORT") if f'"{n}"' in template}
    monkeypatch.setenv(name, "9200")
    assert Settings().worker_metrics_port == 9200


def test_since_in_one_query_is_since_as_each_environments_status_says_it(rt):
    """checks.drifted_since_each (one query for the scrape) against checks.drifted_since (what /drift status
    shows), over random histories of in-sync, out-of-sync and error checks."""
    rng = random.Random(30)
    now = datetime.now(timezone.utc)
    names = [f"env{i}" for i in range(40)]
    with rt.sessions.begin() as s:
        for env in names:
            for n in range(rng.randint(0, 8)):
                at = now - timedelta(minutes=100 - n * 10)
                s.add(Check(environment=env, status="finished", watchers=[], started_at=at, finished_at=at,
                            state=rng.choice(["in_sync", "drifted", "pending", "failed", "error"])))
        s.add(Check(environment="env0", status="running", watchers=[]))  # not finished: no part of the history
    with rt.sessions() as s:
        each = checks.drifted_since_each(s, names)
        one_by_one = {env: checks.drifted_since(s, env) for env in names}
    assert each == {env: at for env, at in one_by_one.items() if at is not None}
    assert 5 < len(each) < 35  # both kinds of history were drawn


def test_a_flood_of_scrapes_reads_the_state_once_per_interval(rt, monkeypatch):
    collector = scrape.StateCollector(rt.settings)
    reads = []
    real = collector._database
    monkeypatch.setattr(collector, "_database", lambda: reads.append(1) or real())

    def drift():
        found = samples(generate_latest(_registry_of(list(collector.collect()))).decode())
        return found.get(("driftbot_drift_state", frozenset({("environment", "prod")})))

    assert drift() is None  # never checked
    with rt.sessions.begin() as s:
        s.add(Check(environment="prod", status="finished", state="drifted", watchers=[],
                    finished_at=datetime.now(timezone.utc)))
    assert [drift() for _ in range(20)] == [None] * 20 and len(reads) == 1  # the reading of a moment ago
    monkeypatch.setattr(scrape, "FRESH_S", 0.0)
    assert drift() == 1 and len(reads) == 2
