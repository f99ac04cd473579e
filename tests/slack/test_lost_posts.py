"""#14 case 8, first half: a result is never lost silently. When Slack answers 500 more often than
the client retries, the check result is posted later by the sweeper and the asker is told.
Real ``driftbot web`` and ``driftbot worker``, the Slack stand-in."""

from __future__ import annotations

import psycopg

from tests.slack.conftest import CHANNEL, command
from tests.slack.test_flow import _ephemeral, _result_message


def test_a_check_result_slack_refused_is_posted_later_and_the_asker_told(bot_env, stub):
    url = bot_env.start_web()
    bot_env.start_worker()
    stub.fail("chat.postMessage", 500, times=6)  # the first post and its five retries
    command(url, "status prod")
    _ephemeral(stub, "UANA", "Slack did not take the result of the check of *prod*")
    result = _result_message(stub)  # posted again by the sweeper
    assert result["text"].startswith(":red_circle:")
    headlines = [m for m in stub.posts(CHANNEL) if not m["thread_ts"] and "prod " in (m["text"] or "")]
    assert len(headlines) == 1

    def recorded():  # the state is written once the headline, its thread and its snippets are posted
        with psycopg.connect(bot_env.env["DRIFTBOT_STATE_URL"]) as conn:
            return conn.execute("SELECT post_state, message_ts IS NOT NULL FROM checks").fetchall() == [(None, True)]

    stub.wait_for(recorded, what="the check recorded as posted (post_state NULL, message_ts set)")
