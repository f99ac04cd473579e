"""The daily digest on real PostgreSQL, Redis and real target databases."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from driftbot.digest import content as d
from driftbot.digest.jobs import post_digest, start_digest
from driftbot.state.models import DigestRun, Request
from tests.support import build_environments, runtime_on, run_worker


@pytest.fixture
def runtime_for(databases, redis_url, slack, tmp_path):
    made = []

    def make(states: dict[str, str], **kwargs):
        envs = build_environments(databases, tmp_path / "envs", states)
        rt = runtime_on(state_url=databases.create_state(), redis_url=redis_url, slack_url=slack.url,
                        environments=envs, cache_dir=tmp_path / "cache", **kwargs)
        made.append(rt)
        return rt

    yield make
    for rt in made:
        rt.engine.dispose()


def test_digest_shows_each_environments_real_state_and_an_unreachable_one(runtime_for, slack):
    rt = runtime_for({"prod": "drifted", "staging": "in_sync", "qa": "pending", "legacy": "failed",
                      "analytics": "unreachable"})
    assert start_digest(rt, requested_by="U1") is not None
    run_worker(rt)
    assert [p["channel"] for p in slack.posts] == ["CDIGEST"]
    text = slack.posts[0]["text"]
    head, *body = text.splitlines()
    assert head.endswith("· 5 environments · 4 need attention")
    assert body[0].startswith(":red_circle: *legacy* has a failed migration (`20250102000000_posts`) since ")
    assert body[1].startswith(":red_circle: *prod* drifted")
    assert body[2].startswith(":warning: *analytics* unreachable (") and "since" in body[2]
    assert body[3].startswith(":large_yellow_circle: *qa* has pending migrations (1 pending)")
    assert body[4] == ":large_green_circle: staging in sync"
    assert slack.posts[0]["blocks"][0]["text"]["text"] == head
    with rt.sessions() as s:
        run = s.execute(select(DigestRun)).scalar_one()
    assert run.status == "posted" and run.environments["analytics"]["state"] == "unreachable"


def test_short_form_when_all_in_sync_then_what_changed_since_the_previous_digest(runtime_for, slack):
    from tests.factory import execute

    rt = runtime_for({"prod": "in_sync", "staging": "in_sync"})
    start_digest(rt)
    run_worker(rt)
    assert slack.posts[-1]["text"].splitlines()[1:] == []
    assert slack.posts[-1]["text"].endswith("· all 2 environments in sync :large_green_circle:")
    execute(rt.settings.environments["prod"].database_url,
            "UPDATE _prisma_migrations SET finished_at = NULL WHERE migration_name = '20250102000000_posts'")
    start_digest(rt)
    run_worker(rt)
    lines = slack.posts[-1]["text"].splitlines()
    assert lines[1].startswith(":red_circle: *prod* has a failed migration")
    assert lines[-1].startswith("Since the last digest (") and lines[-1].endswith("prod in sync → has a failed migration")


def test_open_requests_appear_with_their_age_and_thread_link(runtime_for, slack):
    rt = runtime_for({"prod": "drifted"})
    now = datetime.now(timezone.utc)
    with rt.sessions.begin() as s:
        s.add(Request(environment="prod", kind="resolve_applied", args={}, sql="", fingerprint="f", plan_hash="p",
                      status="requested", requester="U1", approvals_required=2, channel="COPS",
                      thread_ts="1700000000.000100", created_at=now - timedelta(hours=3), expires_at=now + timedelta(hours=21)))
        rid = s.execute(select(Request.id)).scalar()
    start_digest(rt)
    run_worker(rt)
    line = slack.posts[-1]["text"].splitlines()[1]
    assert f"· <https://slack.com/archives/COPS/p1700000000000100|request #{rid}> waiting 3 h" in line


def test_one_unreachable_environment_does_not_hold_up_the_others(runtime_for, slack):
    rt = runtime_for({"gone": "unreachable", "prod": "in_sync"})
    start_digest(rt)
    run_worker(rt)
    body = slack.posts[-1]["text"].splitlines()[1:]
    assert body[0].startswith(":warning: *gone* unreachable (")
    assert body[1] == ":large_green_circle: prod in sync"


def test_posting_twice_posts_once(runtime_for, slack):
    rt = runtime_for({"prod": "in_sync"})
    digest_id = start_digest(rt)
    run_worker(rt)
    assert post_digest(digest_id) == {}
    assert len(slack.posts) == 1


def test_a_manual_digest_goes_to_the_asking_channel_and_per_environment_channels_get_theirs(runtime_for, slack):
    rt = runtime_for({"prod": "in_sync", "dev": "in_sync"}, channels=())
    # dev posts to its own channel; with no digest channel configured only it gets a scheduled digest
    assert d.channels_for([], {"prod": None, "dev": "CDEV"}) == {"CDEV": ["dev"]}
    assert d.channels_for(["CALL"], {"prod": "CALL", "dev": "CDEV"}) == {"CALL": ["dev", "prod"], "CDEV": ["dev"]}
    start_digest(rt, requested_by="U1", channel="CASK")
    run_worker(rt)
    assert [p["channel"] for p in slack.posts] == ["CASK"]
    assert "all 2 environments in sync" in slack.posts[0]["text"]


def test_short_reason_is_pure():
    assert d.short_reason("Cannot connect to the target database: connection refused (check that the server is up)") \
        == "connection refused"


def test_configured_pairs_get_their_comparison_line(runtime_for, slack):
    rt = runtime_for({"prod": "in_sync", "staging": "pending", "qa": "in_sync", "analytics": "unreachable"},
                     compare=[("staging", "prod"), ("qa", "prod"), ("analytics", "prod")])
    start_digest(rt)
    run_worker(rt)
    body = slack.posts[-1]["text"].splitlines()[1:]
    assert body[-3:-1] == [
        ":large_yellow_circle: staging and prod differ by 1 migration and 1 schema change, all explained by the history gap.",
        ":large_green_circle: qa and prod are equal: the same migrations applied, the same schema."]
    assert body[-1].startswith(":warning: Cannot compare analytics and prod: analytics cannot be read (Cannot connect")
    with rt.sessions() as s:
        posted = s.execute(select(DigestRun)).scalar_one()
    assert posted.status == "posted"


def test_all_in_sync_with_every_pair_equal_stays_one_short_line(runtime_for, slack):
    rt = runtime_for({"prod": "in_sync", "staging": "in_sync"}, compare=[("staging", "prod")])
    start_digest(rt)
    run_worker(rt)
    assert slack.posts[-1]["text"].splitlines()[1:] == []


def test_the_digest_carries_the_audit_checkpoint(runtime_for, slack):
    """#14: a copy of the audit chain's end outside the database, every morning (the quiet form too)."""
    import re

    from driftbot import audit

    rt = runtime_for({"prod": "in_sync"})
    with rt.sessions.begin() as s:
        audit.record(s, event="approved", actor="UBO", environment="prod", request_id=1)
    start_digest(rt, requested_by="U1")
    run_worker(rt)
    shown = " ".join(e["text"] for b in slack.posts[0]["blocks"] if b["type"] == "context" for e in b["elements"])
    mark = re.search(r"Audit checkpoint `([0-9]+:[0-9a-f]{64})`", shown)
    assert mark, slack.posts[0]["blocks"]
    with rt.sessions() as s:
        assert audit.verify(s, checkpoint=mark[1]).ok
        n, digest = mark[1].split(":")
        assert s.get(audit.AuditEvent, int(n)).hash == digest


def test_names_and_error_texts_in_the_digest_are_text_not_markup():
    failed = d.status_from_check("prod", "failed", {"history": {"failed": ["<!channel>"]}}, None, None)
    down = d.status_from_check("qa", "error", {}, "Cannot connect to the target database: <https://evil.example|x>",
                               None)
    digest = d.Digest(at=datetime(2026, 12, 1, tzinfo=timezone.utc), statuses=(failed, down),
                      pairs=(d.PairLine("a", "b", "error", "Cannot compare a and b: <!here>"),))
    text, blocks = d.render(digest)
    sent = text + str(blocks)
    assert "<!channel>" not in sent and "<https://evil.example" not in sent and "<!here>" not in sent
    assert "(`&lt;!channel&gt;`)" in text and "&lt;https://evil.example|x&gt;" in text


@pytest.mark.slow  # a check per environment, many environments
def test_a_digest_over_more_environments_than_check_jobs_checks_each_one_once(databases, redis_url, slack, tmp_path):
    from driftbot.digest.jobs import MAX_CHECK_JOBS
    from driftbot.state.models import Check
    from driftbot.work.queues import DRIFT, queue
    from tests.support import runtime_on

    real = build_environments(databases, tmp_path / "envs", {"a": "in_sync", "b": "drifted"})
    envs = {f"env{i:03d}": real["a" if i % 2 else "b"] for i in range(MAX_CHECK_JOBS + 6)}
    rt = runtime_on(state_url=databases.create_state(), redis_url=redis_url, slack_url=slack.url, environments=envs,
                    cache_dir=tmp_path / "cache")
    start_digest(rt, requested_by="U1")
    assert queue(rt, DRIFT).count == MAX_CHECK_JOBS  # the post waits apart, as a deferred job
    run_worker(rt)
    head = slack.posts[-1]["text"].splitlines()[0]
    assert head.endswith(f"· {MAX_CHECK_JOBS + 6} environments · {(MAX_CHECK_JOBS + 6) // 2} need attention")
    with rt.sessions() as s:
        checked = sorted(s.execute(select(Check.environment)).scalars())
    assert checked == sorted(envs)
    rt.engine.dispose()
