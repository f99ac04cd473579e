"""#14 case 7: a slow Slack never stalls the bot. With ``usergroups.users.list`` answering 429
(Retry-After 10), a burst of Approve clicks must not take the listeners: every later command is
still acknowledged at once. Real ``driftbot web`` (one gunicorn worker) and worker, the stand-in.
The speed target itself is in benchmarks/bench_slow_slack.py."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

from redis import Redis

from tests.slack.conftest import buttons, click, command
from tests.slack.test_flow import _ephemeral, _request_message, _result_message


def test_approve_clicks_waiting_on_a_rate_limited_slack_leave_commands_answered(bot_env, stub):
    url = bot_env.start_web(workers=1)
    bot_env.start_worker()
    command(url, "enum prod MediaKind VIDEO")
    request = _request_message(stub, 1)
    value = buttons(request)[0]["value"]
    stub.fail("usergroups.users.list", 429, times=10_000, retry_after=10)
    with ThreadPoolExecutor(max_workers=24) as pool:
        clicks = [pool.submit(click, url, "approve", value, user, request) for user in ["UBO", "UCY", "UDI"] * 4]
        for c in clicks:
            status, _, took = c.result()
            assert status == 200 and took < 3
        answers = [pool.submit(command, url, "status prod", f"U{i:03d}") for i in range(8)]
        for a in answers:
            status, body, took = a.result()
            assert status == 200 and took < 3, (status, body[:80], took)
            assert "prod" in json.loads(body)["text"]


def test_a_worker_never_sleeps_for_retry_after_when_the_group_copy_is_stale(bot_env, stub):
    """The approver group's shared copy is gone (older than its keep time) and Slack answers 429 with
    Retry-After 10: the click's decision is put off, not slept on, so the worker runs the next job (a
    check) at once; the click is counted once Slack answers again."""
    url = bot_env.start_web()
    bot_env.start_worker()
    command(url, "enum prod MediaKind VIDEO")
    request = _request_message(stub, 1)
    stub.fail("usergroups.users.list", 429, times=10_000, retry_after=10)
    Redis.from_url(bot_env.env["REDIS_URL"]).delete(f"driftbot:{bot_env.env['DRIFTBOT_QUEUE_PREFIX']}group:S0DBAS")
    clicked = time.monotonic()
    click(url, "approve", buttons(request)[0]["value"], "UBO", request)
    _ephemeral(stub, "UBO", "will be decided")  # told at once that it waits for Slack
    command(url, "status prod")
    _result_message(stub)
    assert time.monotonic() - clicked < 8, "the worker slept for Retry-After before running the check"
    stub.heal("usergroups.users.list")
    stub.wait_for(lambda: "(1 of 2)" in json.dumps(_request_message(stub, 1)["blocks"]), timeout=40,
                  what="the put-off click counted once Slack answers")
