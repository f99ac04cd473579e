"""The whole product over real HTTP: signed Slack requests into ``driftbot web`` (gunicorn), a real
``driftbot worker`` on Redis, PostgreSQL for state and target, and the Web API stand-in."""

from __future__ import annotations

import json
import time

import psycopg
from sqlalchemy import select

from tests.slack.conftest import CHANNEL, buttons, click, command
from tests import factory

FAILED = "20250103000000_email_unique"


def _result_message(stub, env="prod"):
    return stub.wait_for(lambda: next((m for m in stub.posts(CHANNEL) if not m["thread_ts"]
                                       and m["text"] and f"{env} " in m["text"] and "Request" not in m["text"]), None),
                         what="the check result")


def _request_message(stub, n):
    return stub.wait_for(lambda: next((m for m in stub.posts(CHANNEL) if (m["text"] or "").startswith(f"Request #{n} ")), None),
                         what=f"request #{n}")


def _thread_reply(stub, contains):
    return stub.wait_for(lambda: next((m for m in stub.posts(CHANNEL) if m["thread_ts"] and contains in (m["text"] or "")), None),
                         what=f"a thread reply saying {contains!r}")


def _approved_once(url, stub, text="enum prod MediaKind VIDEO"):
    """`/drift TEXT` (request #1), approved by UBO and shown "(1 of 2)"; returns (its first message, button value)."""
    command(url, text)
    request = _request_message(stub, 1)
    value = buttons(request)[0]["value"]
    click(url, "approve", value, "UBO", request)
    stub.wait_for(lambda: "(1 of 2)" in json.dumps(_request_message(stub, 1)["blocks"]), what="1 of 2")
    return request, value


def _approved_twice(url, stub, text, n=1):
    """`/drift TEXT` (a request), then request #n approved by UBO and UCY; returns its message as first posted."""
    command(url, text)
    request = _request_message(stub, n)
    value = buttons(request)[0]["value"]
    click(url, "approve", value, "UBO", request)
    click(url, "approve", value, "UCY", request)
    return request


def _ephemeral(stub, user, contains):
    return stub.wait_for(lambda: any(contains in e.get("text", "") for e in stub.ephemerals(user)),
                         what=f"an ephemeral to {user} saying {contains!r}")


def test_status_to_two_approvals_to_executed_resolve_and_enum(bot_env, stub, db):
    url = bot_env.start_web()
    bot_env.start_worker()

    status, body, took = command(url, "status prod")
    assert status == 200 and took < 3
    assert json.loads(body) == {"response_type": "ephemeral", "text": "Checking *prod*… results will be posted in this channel."}

    result = _result_message(stub)
    assert result["text"].startswith(":red_circle: *prod has a failed migration*")
    labels = {b["text"]["text"]: b for b in buttons(result)}
    assert f"Resolve --applied {FAILED}" in labels and f"Resolve --rolled-back {FAILED}" in labels
    lines = _thread_reply(stub, "[B']")
    assert lines["thread_ts"] == result["ts"]

    fix = labels[f"Resolve --applied {FAILED}"]
    click(url, fix["action_id"], fix["value"], "UANA", result)
    click(url, fix["action_id"], fix["value"], "UANA", result)  # a double click makes one request
    request = _request_message(stub, 1)
    _ephemeral(stub, "UANA", "Request #1 for this exact change is already open")
    assert request["thread_ts"] == result["ts"]  # the request lives in the check's thread
    assert [b["text"]["text"] for b in buttons(request)] == ["Approve", "Reject", "Cancel"]
    approve = buttons(request)[0]

    click(url, "approve", approve["value"], "UANA", request)  # the requester
    _ephemeral(stub, "UANA", "your approval does not count")
    click(url, "approve", approve["value"], "UEVE", request)  # not an approver
    _ephemeral(stub, "UEVE", "not an approver for prod")
    click(url, "approve", approve["value"], "UBO", request)
    stub.wait_for(lambda: "(1 of 2)" in json.dumps(_request_message(stub, 1)["blocks"]), what="1 of 2")
    click(url, "approve", approve["value"], "UBO", request)  # a second click counts once
    _ephemeral(stub, "UBO", "counts once")
    assert factory.rows(db, FAILED)[-1]["finished_at"] is None  # nothing ran on one approval
    click(url, "approve", approve["value"], "UCY", request)  # UCY is in the S0DBAS group

    done = _thread_reply(stub, "Done: request #1")
    assert "INSERT INTO" in done["text"]
    rows = factory.rows(db, FAILED)
    assert [r["finished_at"] is not None for r in rows] == [False, True] and rows[0]["rolled_back_at"] is not None
    final = stub.wait_for(lambda: (m := _request_message(stub, 1)) and "succeeded" in m["text"] and m, what="final request")
    assert buttons(final) == []
    shown = json.dumps(final["blocks"])
    assert "Ran in" in shown and "<@UBO>, <@UCY>" in shown and "audit #" in shown

    # The enum, requested by command; approvers UBO and UDI.
    status, body, _ = command(url, "enum prod MediaKind VIDEO", user="UCY")
    assert "Preparing the request" in json.loads(body)["text"]
    request2 = _request_message(stub, 2)
    value2 = buttons(request2)[0]["value"]
    assert "ALTER TYPE \\\"MediaKind\\\" ADD VALUE IF NOT EXISTS 'VIDEO'" in json.dumps(request2["blocks"])
    for user in ("UDI", "UBO"):
        click(url, "approve", value2, user, request2)
    _thread_reply(stub, "Done: request #2")
    with psycopg.connect(db) as conn:
        labels = [r[0] for r in conn.execute("SELECT unnest(enum_range(NULL::\"MediaKind\"))::text")]
    assert labels == ["IMAGE", "AUDIO", "VIDEO"]

    # Clicking again after execution changes nothing and says so.
    click(url, "approve", value2, "UCY", request2)
    _ephemeral(stub, "UCY", "already succeeded")
    assert len(stub.called("chat.postEphemeral")) >= 5
    for call in stub.calls:  # secrets never reach Slack
        assert "postgresql://" not in json.dumps(call.params) and "xoxb" not in json.dumps(call.params)


def test_a_second_status_joins_the_running_check(bot_env, stub, db):
    url = bot_env.start_web()
    with psycopg.connect(db) as blocker:
        blocker.execute('LOCK TABLE "_prisma_migrations" IN ACCESS EXCLUSIVE MODE')  # the check waits here
        bot_env.start_worker()
        assert "Checking *prod*" in command(url, "status prod")[1]
        second = json.loads(command(url, "status prod", user="UBO")[1])["text"]
        assert "already running (asked by <@UANA>)" in second
    _result_message(stub)
    time.sleep(1)
    results = [m for m in stub.posts(CHANNEL) if not m["thread_ts"] and "prod " in (m["text"] or "")]
    assert len(results) == 1


def test_signature_failures_are_rejected(bot_env, stub):
    from tests.slack.conftest import command_body, post, sign

    url = bot_env.start_web()
    body = command_body("status prod")
    now = int(time.time())
    assert post(url, body, signature="v0=" + "0" * 64)[0] == 401
    assert post(url, body, signature=sign(body, now, secret="not-the-secret"))[0] == 401
    stale = now - 6 * 60
    assert post(url, body, ts=stale, signature=sign(body, stale))[0] == 401
    assert post(url, body + b"&x=1", ts=now, signature=sign(body, now))[0] == 401  # body changed after signing
    assert post(url, body)[0] == 200
    assert stub.called("chat.postMessage") == []


def test_wrong_commands_get_usage_not_a_traceback(bot_env, stub):
    url = bot_env.start_web()
    for text, says in [("stauts prod", "Unknown command `stauts`"), ("status prdo", "Unknown environment `prdo`. Known: prod"),
                       ("resolve prod --applied ../x", "is not a migration name"), ("", "finds and fixes")]:
        status, body, took = command(url, text)
        assert status == 200 and took < 3
        assert says in json.loads(body)["text"] and "Traceback" not in body


def test_repeated_status_commands_keep_joining_once_statements_are_prepared(bot_env, stub):
    # psycopg prepares a statement after 5 runs; the join's ON CONFLICT must still find its partial index.
    url = bot_env.start_web()
    answers = [json.loads(command(url, "status prod", user=f"U{i:03d}")[1])["text"] for i in range(12)]
    assert answers[0].startswith("Checking *prod*")
    assert all("already running (asked by <@U000>)" in a for a in answers[1:])
