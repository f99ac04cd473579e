"""``/drift audit`` and ``/drift digest`` through the real command path, worker and Slack stand-in
(their grammar is in test_grammar.py)."""

from __future__ import annotations

import csv
import io

import pytest

from driftbot import audit
from driftbot.handlers.intake.commands import on_command
from tests.support import build_environments, runtime_on, run_worker


@pytest.fixture
def rt(databases, redis_url, slack, tmp_path):
    envs = build_environments(databases, tmp_path / "envs", {"prod": "in_sync", "staging": "pending"})
    for env in envs.values():
        env["channel"] = "COPS"  # where `/drift audit` about them answers
    runtime = runtime_on(state_url=databases.create_state(), redis_url=redis_url, slack_url=slack.url,
                         environments=envs, cache_dir=tmp_path / "cache")
    yield runtime
    runtime.engine.dispose()


def test_drift_audit_posts_a_readable_summary_and_records_who_exported(rt, slack):
    with rt.sessions.begin() as s:
        audit.record(s, event="request_created", actor="UANA", environment="prod", request_id=5)
        audit.record(s, event="approved", actor="UBO", environment="prod", request_id=5)
        audit.record(s, event="request_created", actor="UANA", environment="staging", request_id=6)
    answer = on_command(rt, "audit prod --days 3", "UCY", "COPS")
    assert answer == "Gathering the audit trail of *prod* for the last 3 days… it will be posted in this channel."
    run_worker(rt)
    summary = next(p for p in slack.posts if p["channel"] == "COPS")["text"]
    assert summary.startswith("*Audit trail for prod in the last 3 days*: 2 events")
    assert "<@UBO> approved request #5 on prod" in summary and "staging" not in summary
    snippet = slack.files[0]
    assert snippet["filename"].startswith("driftbot-audit-prod-") and snippet["thread_ts"]
    exported_csv = list(csv.DictReader(io.StringIO(snippet["content"])))
    assert [(r["event"], r["actor"], r["request_id"]) for r in exported_csv] == [
        ("request_created", "UANA", "5"), ("approved", "UBO", "5")]
    with rt.sessions() as s:
        exported = [e for e in audit.events(s) if e.event == "audit_exported"]
        assert [(e.actor, e.data["events"]) for e in exported] == [("UCY", 2)]
        rows = list(csv.DictReader(io.StringIO(audit.to_csv(audit.events(s, environment="prod")))))
    assert [r["event"] for r in rows] == ["request_created", "approved", "audit_exported"]


def test_drift_audit_of_an_unknown_environment_is_answered_at_once(rt):
    assert on_command(rt, "audit prdo", "UCY", "COPS").startswith("Unknown environment `prdo`. Known: prod, staging.")


def test_drift_digest_posts_one_now_in_the_asking_channel(rt, slack):
    assert on_command(rt, "digest", "UANA", "CASK").startswith("No environment is talked about here")  # #26 item 6
    assert on_command(rt, "digest", "UANA", "COPS") == "Checking 2 environments… the digest will be posted in this channel."
    run_worker(rt)
    assert on_command(rt, "digest", "UANA", "COPS").startswith("A digest was asked for here less than 5 minutes ago")
    posts = [p for p in slack.posts if p["channel"] == "COPS"]
    assert len(posts) == 1
    lines = posts[0]["text"].splitlines()
    assert lines[0].endswith("· 2 environments · 1 needs attention")
    assert lines[1].startswith(":large_yellow_circle: *staging* has pending migrations")
    assert lines[2] == ":large_green_circle: prod in sync"
