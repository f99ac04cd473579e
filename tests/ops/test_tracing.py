"""Optional OpenTelemetry traces (driftbot.ops.tracing): with an OTLP endpoint and the otel extra, a slash
command, the job it enqueues, the check and the Slack posts are one trace, sent to a real OTLP/HTTP receiver
(tests/otlp_receiver.py); without either, nothing of it is imported and nothing changes. No span carries a
secret or a database URL."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import textwrap
import uuid

import pytest
from redis import Redis
from rq import Queue
from rq.job import Job

from driftbot import logs
from driftbot.handlers.intake.commands import on_command
from driftbot.ops import tracing
from driftbot.runtime import build
from driftbot.settings import Settings
from driftbot.work import queues
from tests.otlp_receiver import OtlpReceiver, assert_nothing_secret, assert_one_trace, by_name, planted
from tests.support import build_environments, run_worker, runtime_on

CHANNEL = "COPS"


@pytest.fixture
def receiver():
    r = OtlpReceiver()
    yield r
    r.close()


@pytest.fixture
def traced(monkeypatch, receiver):
    """Traces on in this process, sent to *receiver* (decided afresh: the module decides once a process)."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    monkeypatch.setattr(tracing, "_state", {**{k: None for k in tracing._state}, "decided": False})
    assert tracing.enabled()
    yield receiver
    tracing._state["provider"].shutdown()


# --- off: nothing imported, nothing changed ----------------------------------------------------------

_LOAD = textwrap.dedent("""
    import json, logging, os, sys
    {before}
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")
    import redis  # redis 8 imports OpenTelemetry's metrics SDK itself whenever it is installed
    by_redis = {{m for m in sys.modules if m.partition(".")[0] == "opentelemetry"}}
    from rq.job import Job
    from driftbot import processes  # the web app's factory and listeners, the jobs, the workers
    from driftbot.ops import tracing
    from driftbot.runtime import build
    from driftbot.settings import Settings
    from driftbot.work import jobs, queues
    rt = build(Settings(redis_url=os.environ["T_REDIS"], state_url=os.environ["T_STATE"], queue_prefix=os.environ["T_PREFIX"],
                        slack_bot_token="xoxb-off", slack_signing_secret="s" * 32))
    web = processes.wsgi_app(rt)
    answer = []
    web({{"PATH_INFO": "/healthz"}}, lambda status, headers: answer.append(status))
    with tracing.span("/drift status", environment="prod") as span:
        span.set(check_id=1)
    jid = queues.enqueue_check(rt, 1)
    meta = Job.fetch(jid, connection=rt.redis).meta
    rt.redis.delete(*rt.redis.keys(os.environ["T_PREFIX"] + "*"), *rt.redis.keys("rq:job:" + jid))
    loaded = {{m for m in sys.modules if m.partition(".")[0] == "opentelemetry"}}
    print(json.dumps({{"by_redis": sorted(by_redis), "by_driftbot": sorted(loaded - by_redis), "meta": meta,
                      "enabled": tracing.enabled(), "web": answer}}))
""")

_HIDDEN = textwrap.dedent("""
    class _NotInstalled:  # as if the otel extra were not installed
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] == "opentelemetry":
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    sys.meta_path.insert(0, _NotInstalled())
""")


def _load(redis_url, state_url, before="", **env) -> tuple[dict, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "DRIFTBOT_", "SLACK_", "REDIS_URL"))}
    done = subprocess.run([sys.executable, "-c", _LOAD.format(before=before)], capture_output=True, text=True, timeout=120,
                          env={**base, "T_REDIS": redis_url, "T_STATE": state_url, "T_PREFIX": f"off{uuid.uuid4().hex[:8]}:",
                               **env})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1]), done.stderr


def test_without_an_endpoint_driftbot_imports_nothing_of_opentelemetry(redis_url, state_url):
    out, err = _load(redis_url, state_url)
    assert out["by_driftbot"] == [] and not out["enabled"]
    assert out["meta"] == {} and out["web"] == ["200 OK"]
    assert "opentelemetry.sdk.trace" not in out["by_redis"]  # what redis loads is its own (metrics), not traces
    assert "otel extra" not in err


def test_without_the_otel_extra_nothing_of_opentelemetry_is_imported_even_with_an_endpoint(redis_url, state_url):
    out, err = _load(redis_url, state_url, before=_HIDDEN, OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:4318")
    assert out["by_redis"] == [] and out["by_driftbot"] == []  # 'opentelemetry' not in sys.modules
    assert not out["enabled"] and out["meta"] == {} and out["web"] == ["200 OK"]
    assert err.count("the otel extra is not installed") == 1  # said once, in one line


# --- on -------------------------------------------------------------------------------------------------

def test_an_exception_is_recorded_as_its_type_and_masked_line_never_its_url(traced):
    password = f"Planted{uuid.uuid4().hex[:10]}"
    url = f"postgresql://driftbot:{password}@db.internal:5432/app"
    with pytest.raises(RuntimeError):
        with tracing.span("check", environment="prod", check_id=7) as span:
            span.set(job_id="job-7", note=f"connecting to {url}")
            raise RuntimeError(f"could not connect to {url}: password authentication failed")
    tracing.flush()
    [check] = traced.wait_for(lambda: traced.named("check"))
    assert check.attributes["driftbot.environment"] == "prod" and check.attributes["driftbot.check_id"] == 7
    assert check.attributes["driftbot.job_id"] == "job-7"
    [(name, event)] = check.events
    assert name == "exception" and event["exception.type"] == "RuntimeError"
    assert event["exception.message"] == "could not connect to <url> password authentication failed"
    assert check.attributes["driftbot.note"] == "connecting to <url>"
    assert check.status.startswith("RuntimeError: could not connect to <url>")
    assert check.resource["service.name"] == "driftbot"
    assert_nothing_secret(traced, password)


def test_a_json_log_line_inside_a_span_carries_its_trace_id(traced):
    logs.install()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    logger = logging.getLogger(f"driftbot.test.trace.{uuid.uuid4().hex[:6]}")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        with tracing.span("check", environment="prod"):
            logger.warning("inside")
        logger.warning("outside")
    finally:
        logger.removeHandler(handler)
    tracing.flush()
    [check] = traced.wait_for(lambda: traced.named("check"))
    inside, outside = (json.loads(line) for line in stream.getvalue().splitlines())
    assert (inside["trace_id"], inside["span_id"]) == (check.trace_id, check.span_id)
    assert "trace_id" not in outside and "span_id" not in outside


def test_a_job_carries_its_trace_context_in_its_meta(traced, redis_url, state_url):
    rt = build(Settings(redis_url=redis_url, state_url=state_url, queue_prefix=f"tr{uuid.uuid4().hex[:8]}:"))
    with tracing.span("/drift audit"):
        jid = queues.enqueue(rt, "audit", kwargs={"environment": None, "days": 1, "user": "U", "channel": "C"})
    job = Job.fetch(jid, connection=Redis.from_url(redis_url))
    with tracing.job(job):
        pass
    traced.wait_for(lambda: traced.named("job audit_job"))
    rt.redis.delete(*rt.redis.keys(rt.settings.queue_prefix + "*"), f"rq:job:{jid}")
    spans = traced.spans
    command, enqueue, run = by_name(spans, "/drift audit"), by_name(spans, "enqueue audit"), by_name(spans, "job audit_job")
    assert job.meta["trace"]["traceparent"].startswith(f"00-{enqueue.trace_id}-{enqueue.span_id}-")  # W3C
    assert run.trace_id == enqueue.trace_id == command.trace_id
    assert (run.parent_id, enqueue.parent_id, command.parent_id) == (enqueue.span_id, command.span_id, "")
    assert run.attributes["driftbot.job_id"] == jid == enqueue.attributes["driftbot.job_id"]


def test_a_collector_away_costs_a_job_at_most_a_second_and_the_job_still_runs(monkeypatch, traced, redis_url):
    import time

    from driftbot.work.workers import SimpleWorker

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")  # the discard port: nothing answers
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "2")  # the exporter's retries (seconds): the teardown waits for them
    monkeypatch.setattr(tracing, "_state", {**{k: None for k in tracing._state}, "decided": False})
    assert tracing.enabled()
    conn = Redis.from_url(redis_url)
    q = Queue(f"away{uuid.uuid4().hex[:8]}", connection=conn)
    job = q.enqueue("os.getpid", meta=tracing.job_meta())
    started = time.monotonic()
    SimpleWorker([q], connection=conn).work(burst=True, with_scheduler=False)
    took = time.monotonic() - started
    try:
        assert Job.fetch(job.id, connection=conn).get_status() == "finished"
        # At most the flush's second (plus the job), never the exporter's retries. No lower bound: where the
        # exporter gives up before the second is out (a refused connection under load), the job waits less
        # (failed in CI: 0.90 s).
        assert took < tracing.FLUSH_S + 2
    finally:
        conn.delete(f"rq:job:{job.id}")


def test_an_approve_click_and_the_decision_job_it_queues_are_one_trace(traced, databases, redis_url, slack, tmp_path):
    from driftbot.handlers.actions import decide
    from driftbot.work.queues import EXECUTE, queue
    from driftbot.work.workers import SimpleWorker

    envs = build_environments(databases, tmp_path / "envs", {"prod": "in_sync"})
    rt = runtime_on(state_url=databases.create("state"), redis_url=redis_url, slack_url=slack.url,
                    environments=envs, cache_dir=tmp_path / "cache")
    body = {"user": {"id": "UBO"}, "team": {"id": "T0TEST"}, "channel": {"id": CHANNEL}, "trigger_id": "1.2.3",
            "container": {"channel_id": CHANNEL, "message_ts": "1.000001"}, "message": {"ts": "1.000001"}}
    try:
        decide(lambda *a, **k: None, body, {"action_id": "approve", "value": "41", "action_ts": "2.0"},
               {"driftbot": rt}, rt.slack)  # the listener as Bolt calls it, after the signature is checked
        SimpleWorker([queue(rt, EXECUTE)], connection=rt.redis).work(burst=True, with_scheduler=False)
    finally:
        rt.engine.dispose()
    traced.wait_for(lambda: traced.named("job decision_job"))
    spans = traced.spans
    click, enqueue, run = by_name(spans, "click approve"), by_name(spans, "enqueue decision"), by_name(spans, "job decision_job")
    assert click.parent_id == "" and click.attributes == {"driftbot.action": "approve"}
    assert (enqueue.parent_id, run.parent_id) == (click.span_id, enqueue.span_id)
    assert click.trace_id == enqueue.trace_id == run.trace_id


def test_a_command_its_job_the_check_and_the_slack_posts_are_one_trace(traced, databases, redis_url, slack, tmp_path):
    password = f"Planted{uuid.uuid4().hex[:10]}"
    envs = build_environments(databases, tmp_path / "envs", {"prod": "drifted"})
    envs["prod"].update(channel=CHANNEL, database_url=planted(envs["prod"]["database_url"], password))
    rt = runtime_on(state_url=databases.create("state"), redis_url=redis_url, slack_url=slack.url,
                    environments=envs, cache_dir=tmp_path / "cache")
    try:
        assert "Checking *prod*" in on_command(rt, "status prod", "UANA", CHANNEL)
        run_worker(rt)  # a real RQ worker, in this process
    finally:
        rt.engine.dispose()
    assert [p for p in slack.posts if not p.get("thread_ts")]
    traced.wait_for(lambda: traced.named("slack chat.postMessage"))
    assert_one_trace(traced.spans, "prod", snippet=False)  # the history's drift alone: no SQL to attach
    assert_nothing_secret(traced, password)
