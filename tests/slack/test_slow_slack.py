"""#14 case 7: a slow Slack never stalls the bot. With ``usergroups.users.list`` answering 429
(Retry-After 10), a burst of Approve clicks must not take the listeners: every later command is
still acknowledged at once. Real ``driftbot web`` (one gunicorn worker) and worker, the stand-in.
The speed target itself is in benchmarks/bench_slow_slack.py."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

from tests.slack.conftest import buttons, click, command
from tests.slack.test_flow import _request_message


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
