"""Prometheus metrics through the real processes (#30): a signed ``/drift status`` into ``driftbot web``,
the check run by ``driftbot worker``'s work horse, then ``/metrics`` scraped on web's port and on the
worker's ``worker_metrics_port``: the check's outcome and duration, the environment's drift gauge, Slack's
answers (a 429 included), the audit events. Under gunicorn with two workers, a count made by whichever
worker served the command is in the answer of each of them (multiprocess mode)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.slack.conftest import CHANNEL, command, free_port

pytestmark = pytest.mark.slow


def scrape(url: str) -> dict[tuple[str, frozenset], float]:
    """Every sample of a /metrics answer, by (name, labels); the answer must parse."""
    with urllib.request.urlopen(url, timeout=10) as resp:
        assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/plain")
        text = resp.read().decode()
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: dict, name: str, **labels) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def answered(stub):
    return [m for m in stub.posts(CHANNEL) if not m["thread_ts"]]


def test_a_status_check_is_counted_timed_and_its_drift_state_shown(bot_env, stub):
    port = free_port()
    bot_env.env["DRIFTBOT_WORKER_METRICS_PORT"] = str(port)
    url = bot_env.start_web()
    bot_env.start_worker()
    stub.fail("chat.postMessage", 429, 1, retry_after=1)  # the result's first post is rate limited, then retried
    status, body, _ = command(url, "status prod")
    assert status == 200 and "Checking *prod*" in body
    stub.wait_for(lambda: answered(stub), timeout=120, what="the check's result")

    worker_url = f"http://127.0.0.1:{port}/metrics"
    stub.wait_for(lambda: _reachable(worker_url), timeout=30, what="the worker's metrics listener")
    worker = scrape(worker_url)
    assert value(worker, "driftbot_checks_total", environment="prod", outcome="failed") == 1  # the fixture's failed migration
    assert value(worker, "driftbot_check_duration_seconds_count", phase="total") == 1
    assert 0 < value(worker, "driftbot_check_duration_seconds_sum", phase="total") < 120
    for phase in ("replay", "introspection", "diff"):  # this check replayed the applied migrations and diffed them
        assert value(worker, "driftbot_check_duration_seconds_count", phase=phase) == 1, phase
        assert value(worker, "driftbot_check_duration_seconds_sum", phase=phase) <= \
            value(worker, "driftbot_check_duration_seconds_sum", phase="total")
    assert value(worker, "driftbot_slack_api_calls_total", method="chat.postMessage", result="ratelimited") == 1
    assert value(worker, "driftbot_slack_api_calls_total", method="chat.postMessage", result="ok") >= 1
    assert value(worker, "driftbot_audit_events_total", kind="check_finished") == 1
    assert value(worker, "driftbot_processes", process="worker") == 1

    web = scrape(url.removesuffix("/slack/events") + "/metrics")
    assert value(web, "driftbot_dependency_up", dependency="redis") == 1
    assert value(web, "driftbot_dependency_up", dependency="state_database") == 1
    assert value(web, "driftbot_drift_state", environment="prod") == 1  # out of sync
    assert time.time() - 120 < value(web, "driftbot_drift_since_timestamp_seconds", environment="prod") <= time.time()
    assert value(web, "driftbot_audit_events_total", kind="check_requested") == 1  # counted by web's gunicorn worker
    assert value(web, "driftbot_queue_depth", queue="drift") == 0
    assert value(web, "driftbot_checks_total", environment="prod", outcome="failed") is None  # the worker's group counted it
    assert value(worker, "driftbot_drift_state", environment="prod") == 1  # the state is the same from either


def _reachable(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=2).read()
        return True
    except OSError:
        return False


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def test_two_gunicorn_workers_answer_with_the_counts_of_both(bot_env, stub, tmp_path):
    shared = tmp_path / "metrics"  # as an operator sets it: one directory for the web and the worker of a host
    bot_env.env["PROMETHEUS_MULTIPROC_DIR"] = str(shared)
    url = bot_env.start_web(workers=2)
    web = bot_env.procs[-1]
    stub.wait_for(lambda: len(_children(web.pid)) == 2, timeout=30, what="two gunicorn workers")
    bot_env.start_worker()
    status, body, _ = command(url, "status prod")
    assert status == 200 and "Checking *prod*" in body
    stub.wait_for(lambda: answered(stub), timeout=120, what="the check's result")
    metrics_url = url.removesuffix("/slack/events") + "/metrics"
    first, second = _children(web.pid)
    seen = []
    for paused in (first, second):  # one worker stopped: the other one answers, whichever served the command
        os.kill(paused, signal.SIGSTOP)
        try:
            seen.append(scrape(metrics_url))
        finally:
            os.kill(paused, signal.SIGCONT)
    # Counted by the gunicorn worker that served the command, seen in the answer of each.
    assert [value(samples, "driftbot_audit_events_total", kind="check_requested") for samples in seen] == [1, 1]
    for samples in seen:
        assert value(samples, "driftbot_checks_total", environment="prod", outcome="failed") == 1
        assert value(samples, "driftbot_check_duration_seconds_count", phase="total") == 1
        assert value(samples, "driftbot_drift_state", environment="prod") == 1
        assert value(samples, "driftbot_processes", process="web") == 2
    assert {p.name.split("_")[0] for p in shared.iterdir()} >= {"counter", "histogram"}
