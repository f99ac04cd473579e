"""#14 case 8, first half: a result is never lost silently. When Slack answers 500 more often than
the client retries, the check result is posted later by the sweeper and the asker is told.
Real ``driftbot web`` and ``driftbot worker``, the Slack stand-in."""

from __future__ import annotations

import json

import psycopg

from tests.slack.conftest import CHANNEL, buttons, click, command
from tests.slack.test_flow import _approved_once, _ephemeral, _request_message, _result_message, _thread_reply


def _asked_while_slack_refuses(bot_env, stub, text: str) -> str:
    """``driftbot web`` and ``worker`` started, then ``/drift <text>`` while Slack answers 500 to the
    next six chat.postMessage (the first post and its five retries). The web's URL."""
    url = bot_env.start_web()
    bot_env.start_worker()
    stub.fail("chat.postMessage", 500, times=6)
    command(url, text)
    return url


def test_a_check_result_slack_refused_is_posted_later_and_the_asker_told(bot_env, stub):
    _asked_while_slack_refuses(bot_env, stub, "status prod")
    _ephemeral(stub, "UANA", "Slack did not take the result of the check of *prod*")
    result = _result_message(stub)  # posted again by the sweeper
    assert result["text"].startswith(":red_circle:")
    headlines = [m for m in stub.posts(CHANNEL) if not m["thread_ts"] and "prod " in (m["text"] or "")]
    assert len(headlines) == 1

    def recorded():  # the state is written once the headline, its thread and its snippets are posted
        with psycopg.connect(bot_env.env["DRIFTBOT_STATE_URL"]) as conn:
            return conn.execute("SELECT post_state, message_ts IS NOT NULL FROM checks").fetchall() == [(None, True)]

    stub.wait_for(recorded, what="the check recorded as posted (post_state NULL, message_ts set)")


def test_a_request_message_slack_refused_is_posted_later_and_the_asker_told(bot_env, stub):
    url = _asked_while_slack_refuses(bot_env, stub, "enum prod MediaKind VIDEO")
    _ephemeral(stub, "UANA", "Slack did not take the message of request #1")
    request = _request_message(stub, 1)  # posted again by the sweeper, with its buttons
    value = buttons(request)[0]["value"]
    click(url, "approve", value, "UBO", request)  # bound to the reposted message: it counts
    stub.wait_for(lambda: "(1 of 2)" in json.dumps(_request_message(stub, 1)["blocks"]), what="1 of 2")
    assert len([m for m in stub.posts(CHANNEL) if (m["text"] or "").startswith("Request #1 ")]) == 1


def test_an_execution_outcome_slack_refused_is_posted_later_and_the_requester_told(bot_env, stub):
    url = bot_env.start_web()
    bot_env.start_worker()
    request, value = _approved_once(url, stub)
    stub.fail("chat.postMessage", 500, times=6)  # the outcome in the thread, and its five retries
    click(url, "approve", value, "UCY", request)
    _ephemeral(stub, "UANA", "Slack did not take the outcome of request #1")
    done = _thread_reply(stub, "Done: request #1")  # posted again by the sweeper
    assert done["thread_ts"] == _request_message(stub, 1)["ts"]
    assert len([m for m in stub.posts(CHANNEL) if "Done: request #1" in (m["text"] or "")]) == 1
