"""A refused post is handled, never repeated: Slack failing a thread reply for a moment gets that reply
tried again alone; Slack refusing a message by its rules gets its short form once, with the whole in a
snippet; the log names Slack's error code and the rule. The real command path, an in-process RQ worker and
the strict Slack stand-in."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from driftbot.digest.jobs import start_digest
from driftbot.handlers.intake.commands import on_command
from driftbot.state.models import DigestRun
from driftbot.work.sweeper import sweep
from tests.support import build_environments, captured_log, runtime_on, run_worker

CHANNEL = "COPS"


@pytest.fixture
def rt(databases, redis_url, slack, tmp_path):
    envs = build_environments(databases, tmp_path / "envs", {"prod": "drifted"})
    envs["prod"]["channel"] = CHANNEL
    runtime = runtime_on(state_url=databases.create("state"), redis_url=redis_url, slack_url=slack.url,
                         environments=envs, cache_dir=tmp_path / "cache", heartbeat_s=0.2)
    yield runtime
    runtime.engine.dispose()


def headlines(slack) -> list[dict]:
    """Top-level messages in the channel, as they stand (with their ts)."""
    return [m for m in slack.stub.posts(CHANNEL) if not m["thread_ts"]]


def replies(slack) -> list[dict]:
    return [m for m in slack.stub.posts(CHANNEL) if m["thread_ts"]]


def in_thread(params) -> bool:
    return bool(params.get("thread_ts"))


def test_a_thread_reply_slack_fails_three_times_is_posted_once_and_the_headline_once(rt, slack):
    slack.stub.refuse("chat.postMessage", "internal_error", times=3, when=in_thread)
    on_command(rt, "status prod", "UANA", CHANNEL)
    run_worker(rt)
    [headline] = headlines(slack)
    [reply] = replies(slack)
    assert headline["text"].startswith(":") and reply["thread_ts"] == headline["ts"]
    thread_calls = [c for c in slack.stub.called("chat.postMessage") if c.params.get("thread_ts")]
    assert [c.ok for c in thread_calls] == [False, False, False, True]  # the reply alone, tried again
    assert not slack.stub.ephemerals()  # posted in the end: nobody needs telling


def test_a_thread_reply_slack_keeps_failing_is_kept_and_posted_alone_later(rt, slack):
    slack.stub.refuse("chat.postMessage", "internal_error", times=4, when=in_thread)  # more than notify retries
    on_command(rt, "status prod", "UANA", CHANNEL)
    with captured_log("driftbot.work.jobs") as (_, log):
        run_worker(rt)
    assert "Slack said internal_error" in log.getvalue()
    assert len(headlines(slack)) == 1 and replies(slack) == []
    [told] = slack.stub.ephemerals("UANA")
    assert told["text"].startswith("Slack did not take the result of the check of *prod*")
    for _ in range(3):  # the sweeper, round after round: only the missing reply, once
        sweep(rt)
        run_worker(rt)
    assert len(headlines(slack)) == 1
    [reply] = replies(slack)
    assert reply["thread_ts"] == headlines(slack)[0]["ts"] and "*[" in reply["text"]
    assert len(slack.stub.ephemerals("UANA")) == 1  # told once


def test_a_message_slack_refuses_by_its_rules_is_posted_once_in_its_short_form(rt, slack):
    slack.stub.refuse("chat.postMessage", "msg_too_long", times=1, when=lambda p: not in_thread(p))
    on_command(rt, "status prod", "UANA", CHANNEL)
    with captured_log("driftbot.slack.notify") as (_, log):
        run_worker(rt)
    assert "Slack refused a message to COPS: msg_too_long" in log.getvalue()
    tops = [c for c in slack.stub.called("chat.postMessage") if not c.params.get("thread_ts")]
    assert [c.ok for c in tops] == [False, True]  # never sent again as it was
    [short] = headlines(slack)
    assert "Slack refused this message as composed (msg_too_long)" in short["text"] and not short.get("blocks")
    assert any(f["filename"] == "driftbot-message.txt" and "prod" in f["content"] for f in slack.files)
    for _ in range(2):
        sweep(rt)
        run_worker(rt)
    assert len(headlines(slack)) == 1


def test_a_digest_slack_refuses_is_retried_once_in_its_short_form_and_the_job_says_it_failed(rt, slack):
    slack.stub.refuse("chat.postMessage", "invalid_blocks", times=2)
    digest_id = start_digest(rt, requested_by="UANA", channel=CHANNEL)
    with captured_log("driftbot.digest.jobs") as (_, log):
        run_worker(rt)
    assert len(slack.stub.called("chat.postMessage")) == 2  # as composed, then its short form: no third try
    assert slack.posts == []
    with rt.sessions() as s:
        run = s.get(DigestRun, digest_id)
        assert run.status == "failed" and run.posts == {CHANNEL: {"error": "invalid_blocks"}}
    assert f"digest {digest_id}: not posted to {CHANNEL}: Slack said invalid_blocks" in log.getvalue()
    from rq.registry import FailedJobRegistry

    from driftbot.work.queues import DRIFT, queue
    failed = FailedJobRegistry(queue=queue(rt, DRIFT)).get_job_ids()
    assert len(failed) == 1  # the job itself says it failed
