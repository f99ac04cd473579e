"""A digest over 200 environments (#25): mixed states, open requests, compare pairs, through the real job
and worker into the strict Slack stand-in. One message Slack accepts, under 4,000 characters, and the
whole digest in a snippet in its thread."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from driftbot.digest.jobs import start_digest
from driftbot.state.models import DigestRun, Request
from tests.support import UNREACHABLE, build_environments, runtime_on, run_worker

pytestmark = pytest.mark.slow
BASES = {"in_sync": "in_sync", "pending": "pending", "failed": "failed", "drifted": "drifted"}


def test_a_digest_of_200_environments_is_one_message_slack_accepts_and_a_snippet(databases, redis_url, slack, tmp_path):
    base = build_environments(databases, tmp_path / "envs", BASES)
    envs = {}
    for i in range(200):  # 40 read real databases in four states, 160 cannot be reached
        state = list(BASES)[i % 4] if i < 40 else None
        env = dict(base[state]) if state else {**base["in_sync"], "database_url": UNREACHABLE}
        envs[f"env-{i:03d}-{state or 'unreachable'}"] = env
    pairs = [["env-000-in_sync", "env-001-pending"], ["env-002-failed", "env-003-drifted"], ["env-004-in_sync", "env-008-in_sync"]]
    rt = runtime_on(state_url=databases.create("state"), redis_url=redis_url, slack_url=slack.url, environments=envs,
                    cache_dir=tmp_path / "cache", compare=pairs)
    now = datetime.now(timezone.utc)
    with rt.sessions.begin() as s:
        for i in range(30):
            s.add(Request(environment=f"env-{i:03d}-{list(BASES)[i % 4]}", kind="resolve_applied", args={"migration": "m"},
                          sql="", fingerprint="f", plan_hash=f"p{i}", status="requested", requester="UANA",
                          approvals_required=2, channel="CDIGEST", thread_ts=f"1700000000.{i:06d}",
                          created_at=now - timedelta(hours=i), expires_at=now + timedelta(hours=24)))
    digest_id = start_digest(rt, requested_by="UANA")
    run_worker(rt)
    [post] = slack.posts
    assert post["channel"] == "CDIGEST" and len(post["text"]) <= 4000
    assert post["text"].splitlines()[0].endswith("· 200 environments · 190 need attention")
    [table] = [f for f in slack.files if f["filename"].startswith("drift-digest-")]
    assert table["thread_ts"] and all(name in table["content"] for name in envs)
    assert "request #29" in table["content"] and "env-000-in_sync and env-001-pending" in table["content"]
    with rt.sessions() as s:
        assert s.get(DigestRun, digest_id).status == "posted"
    slack.stub.assert_clean()
    rt.engine.dispose()
