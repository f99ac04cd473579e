"""Requests end to end: a plan that changed before execution, expiry, the audit trail failing,
the SQL snippet, and the listing commands."""

from __future__ import annotations

import json

import psycopg
from sqlalchemy import text

from driftbot.requests import machine
from driftbot.work.execute import execute_request
from driftbot.requests.plans import make_plan
from driftbot.settings import Settings
from driftbot.state.models import Request
from tests import factory
from tests.slack.conftest import CHANNEL, TOKEN, buttons, click, command, write_config
from tests.support import make_runtime
from tests.slack.test_flow import _approved_once, _ephemeral, _request_message, _thread_reply


def test_a_plan_that_changed_after_approval_is_refused_and_approvals_reset(bot_env, stub, db):
    url = bot_env.start_web()
    bot_env.start_worker()
    request, value = _approved_once(url, stub)
    # Someone changes the database before the second approval: the drift fingerprint moves.
    factory.execute(db, 'CREATE TABLE "hotfix" ("id" INTEGER PRIMARY KEY)')
    click(url, "approve", value, "UCY", request)
    refusal = _thread_reply(stub, "Plan changed since approval")
    assert "approvals reset" in refusal["text"] and "Nothing was run" in refusal["text"]
    with psycopg.connect(db) as conn:
        labels = [r[0] for r in conn.execute("SELECT unnest(enum_range(NULL::\"MediaKind\"))::text")]
    assert "VIDEO" not in labels
    again = stub.wait_for(lambda: (m := _request_message(stub, 1)) and "(0 of 2)" in json.dumps(m["blocks"]) and m,
                          what="the request back to 0 of 2")
    # The new plan needs two fresh approvals, and then runs.
    click(url, "approve", buttons(again)[0]["value"], "UBO", again)
    click(url, "approve", buttons(again)[0]["value"], "UCY", again)
    _thread_reply(stub, "Done: request #1")
    with psycopg.connect(db) as conn:
        labels = [r[0] for r in conn.execute("SELECT unnest(enum_range(NULL::\"MediaKind\"))::text")]
    assert labels[-1] == "VIDEO"


def test_an_expired_request_is_closed_by_the_sweeper(bot_env, stub):
    bot_env.env["DRIFTBOT_REQUEST_TTL_HOURS"] = str(4 / 3600)  # 4 s
    url = bot_env.start_web()
    bot_env.start_worker()
    command(url, "enum prod MediaKind VIDEO")
    request = _request_message(stub, 1)
    value = buttons(request)[0]["value"]
    listed = json.loads(command(url, "requests")[1])["text"]
    assert listed.startswith("• Request #1 on *prod*: `add_enum_value` enum=`MediaKind` value=`VIDEO` by <@UANA>")
    stub.wait_for(lambda: "expired" in (_request_message(stub, 1)["text"] or ""), what="the expiry")
    assert not any(b["type"] == "actions" for b in _request_message(stub, 1)["blocks"])
    click(url, "approve", value, "UBO", request)
    _ephemeral(stub, "UBO", "expired")


def test_listing_commands(bot_env, stub):
    url = bot_env.start_web()
    assert json.loads(command(url, "requests")[1])["text"] == "No open requests."
    assert "*prod* · protected · 2 approvals" in json.loads(command(url, "envs")[1])["text"]


def _in_process_runtime(bot_env):
    from driftbot.settings import load_settings

    e = bot_env.env
    return make_runtime(load_settings(e["DRIFTBOT_CONFIG"], state_url=e["DRIFTBOT_STATE_URL"], redis_url=e["REDIS_URL"],
                                      slack_api_url=e["DRIFTBOT_SLACK_API_URL"], slack_bot_token=TOKEN,
                                      queue_prefix=e["DRIFTBOT_QUEUE_PREFIX"]))


def test_when_the_audit_trail_cannot_be_written_nothing_executes_and_the_thread_says_why(bot_env, stub, db):
    rt = _in_process_runtime(bot_env)
    plan = make_plan("prod", "add_enum_value", {"enum": "MediaKind", "value": "VIDEO"}, "fp")
    with rt.sessions.begin() as s:
        req = machine.create_request(s, plan, requester="UANA", approvals_required=2, ttl_hours=1, channel=CHANNEL,
                                       thread_ts="1700000000.000001")
        rid = req.id
    allowed = rt.approvers(rt.settings.environment("prod"))
    for user in ("UBO", "UDI"):
        with rt.sessions.begin() as s:
            machine.approve(s, rid, user, allowed)
    with rt.engine.begin() as conn:  # the audit store breaks
        conn.execute(text("ALTER TABLE audit_events RENAME TO audit_events_gone"))
    got = execute_request(rt, rid, planner=lambda *a: (plan, None))
    assert got == "audit_failed"
    said = [c.params["text"] for c in stub.called("chat.postMessage")]
    assert any("audit trail could not be written" in t and "Nothing ran" in t for t in said)
    with psycopg.connect(db) as conn:
        labels = [r[0] for r in conn.execute("SELECT unnest(enum_range(NULL::\"MediaKind\"))::text")]
    assert "VIDEO" not in labels
    with rt.sessions() as s:
        assert s.get(Request, rid).status == "approved"
    rt.engine.dispose()


def test_sql_snippets_go_through_files_upload_v2_even_when_slack_is_busy(stub):
    from driftbot.slack import notify
    from driftbot.slack.client import make_client

    client = make_client(Settings(slack_bot_token=TOKEN, slack_api_url=stub.base_url))
    stub.fail("files.getUploadURLExternal", 429, times=1, retry_after=1)
    stub.fail("files.completeUploadExternal", 500, times=2)
    sql = 'CREATE TABLE "staff" ("id" SERIAL NOT NULL);\n' * 400  # long: never cut
    notify.snippet(client, CHANNEL, "1700000000.000001", "drift-prod-catch-up.sql", sql, "Catch-up SQL for prod")
    [stored] = stub.files.values()
    assert stored["name"] == "drift-prod-catch-up.sql" and stored["snippet_type"] == "sql"
    assert stored["content"] == sql and stored["channel"] == CHANNEL and stored["thread_ts"] == "1700000000.000001"
    assert [c.status for c in stub.calls if c.method.startswith("files.")] == [429, 200, 500, 500, 200]


def test_schema_drift_comes_with_its_catch_up_sql_as_a_snippet_in_the_thread(bot_env, stub, db):
    from tests.slack.test_flow import _result_message

    factory.execute(db, 'CREATE TABLE "staff" ("id" SERIAL NOT NULL, "name" TEXT NOT NULL, CONSTRAINT "staff_pkey" PRIMARY KEY ("id"))')
    url = bot_env.start_web()
    bot_env.start_worker()
    command(url, "diff prod")
    result = _result_message(stub)
    assert "*Schema*" in json.dumps(result["blocks"]) and "staff" in json.dumps(result["blocks"])
    assert " · since " in result["text"]  # the start of the out-of-sync spell (this first drifted check)
    snippet = stub.wait_for(lambda: next((f for f in stub.files.values() if f.get("channel")), None), what="the snippet")
    assert snippet["name"] == "drift-prod-catch-up.sql" and snippet["snippet_type"] == "sql"
    assert snippet["thread_ts"] == result["ts"] and 'CREATE TABLE "staff"' in snippet["content"]


def test_a_propose_job_that_dies_is_reported_to_the_requester(bot_env, stub, redis_url):
    from redis import Redis
    from rq.exceptions import AbandonedJobError
    from rq.job import Job

    from driftbot import runtime
    from driftbot.work.jobs import propose_failed
    from driftbot.runtime import install

    install(_in_process_runtime(bot_env))
    job = Job.create("driftbot.work.jobs.propose_job", kwargs={"environment": "prod", "requester": "UANA", "channel": CHANNEL},
                     connection=Redis.from_url(redis_url))
    try:
        propose_failed(job, None, AbandonedJobError, AbandonedJobError(), None)
    finally:
        runtime._current.clear()
    [said] = stub.ephemerals("UANA")
    assert "could not be prepared (its worker stopped)" in said["text"] and "Nothing was created" in said["text"]


def test_a_request_for_a_value_schema_prisma_does_not_have_is_marked_so(bot_env, stub, db, project, tmp_path):
    """#14: the request says when the value asked for is not in schema.prisma's enum (a typo, or a value
    that the next `prisma migrate dev` would drop again); a value schema.prisma has gets no mark."""
    schema = tmp_path / "schema.prisma"
    schema.write_text("enum MediaKind {\n  IMAGE\n  AUDIO\n  VIDEO\n}\n")
    write_config(tmp_path / "driftbot.toml", db, project, tmp_path / "cache", schema=str(schema))
    url = bot_env.start_web()
    bot_env.start_worker()
    command(url, "enum prod MediaKind STREAM")
    marked = json.dumps(_request_message(stub, 1)["blocks"], ensure_ascii=False)
    assert "`STREAM` is not a value of enum `MediaKind` in schema.prisma" in marked
    command(url, "enum prod MediaKind VIDEO")
    assert "schema.prisma" not in json.dumps(_request_message(stub, 2)["blocks"], ensure_ascii=False)
    # Still marked after the message is re-rendered (an approval).
    request = _request_message(stub, 1)
    click(url, "approve", buttons(request)[0]["value"], "UBO", request)
    again = stub.wait_for(lambda: (m := _request_message(stub, 1)) and "(1 of 2)" in json.dumps(m["blocks"]) and m,
                          what="1 of 2")
    assert "`STREAM` is not a value of enum `MediaKind` in schema.prisma" in json.dumps(again["blocks"], ensure_ascii=False)
