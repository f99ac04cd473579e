"""#14 case 1: an approval binds to what the approver saw. Signed clicks into the real
``driftbot web`` and a real worker: from another channel, another workspace, another message,
with another request's or another plan's button, replayed, re-delivered. None counts; each is
answered ephemerally and kept in the audit trail."""

from __future__ import annotations

import json
import time

import psycopg

from tests import factory
from tests.slack.conftest import buttons, click, click_body, command, post, sign
from tests.slack.test_flow import _ephemeral, _request_message, _thread_reply


def _state(bot_env, query, *params):
    with psycopg.connect(bot_env.env["DRIFTBOT_STATE_URL"]) as conn:
        return conn.execute(query, params).fetchall()


def _approvals(bot_env, rid):
    return _state(bot_env, "SELECT a.approver FROM approvals a JOIN requests r ON r.id = a.request_id "
                           "AND r.plan_hash = a.plan_hash WHERE r.id = %s ORDER BY a.id", rid)


def _refused(bot_env):
    return _state(bot_env, "SELECT actor, data->>'reason' FROM audit_events WHERE event = 'click_refused' ORDER BY id")


def _labels(db):
    with psycopg.connect(db) as conn:
        return [r[0] for r in conn.execute("SELECT unnest(enum_range(NULL::\"MediaKind\"))::text")]


def test_a_click_counts_only_from_the_requests_workspace_channel_message_and_plan(bot_env, stub, db):
    url = bot_env.start_web()
    bot_env.start_worker()
    command(url, "enum prod MediaKind VIDEO")
    a = _request_message(stub, 1)
    command(url, "enum prod MediaKind PHOTO")
    b = _request_message(stub, 2)
    value_a, value_b = buttons(a)[0]["value"], buttons(b)[0]["value"]
    assert value_a.startswith("1:") and len(value_a) == 2 + 64  # the button names the plan it shows

    tries = [
        ("UBO", value_a, dict(channel="C0ELSE"), "own message"),  # another channel
        ("UCY", value_a, dict(team="T0EVIL"), "another Slack workspace"),  # another workspace
        ("UDI", value_a, dict(message_ts=b["ts"]), "not on this request's message"),  # another message
        ("UBO", value_b, {}, "not on this request's message"),  # request B's button on A's message
        ("UCY", "1:" + "0" * 64, {}, "That button was for plan `00000000…`"),  # a plan never shown
        ("UDI", "1", {}, "not valid"),  # no plan at all
    ]
    for user, value, where, says in tries:
        click(url, "approve", value, user, a, **where)
        _ephemeral(stub, user, says)
    stub.wait_for(lambda: len(_refused(bot_env)) == len(tries), what="every refusal in the audit trail")
    assert _approvals(bot_env, 1) == [] and _approvals(bot_env, 2) == []

    # A click counts once: the same signed request delivered again (Slack's retry, or a replay).
    body, ts = click_body("approve", value_a, "UBO", a), int(time.time())
    signature = sign(body, ts)
    assert post(url, body, ts=ts, signature=signature)[0] == 200
    stub.wait_for(lambda: "(1 of 2)" in json.dumps(_request_message(stub, 1)["blocks"]), what="1 of 2")
    assert post(url, body, ts=ts, signature=signature)[0] == 200
    _ephemeral(stub, "UBO", "already received; it counts once")

    # The plan changes before the second approval: approvals reset; the old signed click, replayed,
    # and a fresh click on the old button, never count for the new plan.
    factory.execute(db, 'CREATE TABLE "hotfix" ("id" INTEGER PRIMARY KEY)')
    click(url, "approve", value_a, "UCY", a)
    _thread_reply(stub, "Plan changed since approval")
    stub.wait_for(lambda: buttons(_request_message(stub, 1)) and buttons(_request_message(stub, 1))[0]["value"] != value_a,
                  what="the new plan's buttons")
    before = len(_refused(bot_env))
    assert post(url, body, ts=ts, signature=signature)[0] == 200
    click(url, "approve", value_a, "UDI", a)
    _ephemeral(stub, "UDI", "approvals reset")
    stub.wait_for(lambda: len(_refused(bot_env)) >= before + 2, what="both refusals recorded")
    assert _approvals(bot_env, 1) == []
    assert "VIDEO" not in _labels(db) and _state(bot_env, "SELECT count(*) FROM executions") == [(0,)]
    assert "(0 of 2)" in json.dumps(_request_message(stub, 1)["blocks"])
