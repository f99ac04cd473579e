"""#30's traces end to end: the real ``driftbot web`` (gunicorn) and ``driftbot worker`` (RQ, a work horse
per job) with an OTLP endpoint set send their spans to a local OTLP/HTTP receiver; a signed ``/drift status
prod`` through the Slack stand-in is one trace: the command, its enqueue, the job, the check and the Slack
posts, each linked to its parent. The target's URL carries a planted password: no byte sent has it, no span
attribute or event has a URL. The worker's JSON log line of the job carries the trace's id."""

from __future__ import annotations

import json
import uuid

import psycopg
import pytest

from tests.otlp_receiver import OtlpReceiver, assert_nothing_secret, assert_one_trace, by_name, planted
from tests.slack.conftest import command
from tests.slack.test_flow import _result_message

pytestmark = pytest.mark.slow


@pytest.fixture
def receiver():
    r = OtlpReceiver()
    yield r
    r.close()


def test_a_signed_status_through_web_and_worker_is_one_trace_at_the_otlp_receiver(receiver, bot_env, stub, db):
    password = f"Planted{uuid.uuid4().hex[:10]}"
    bot_env.env.update({
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "200",  # the web's batch leaves within 0.2 s, not the default 5
        "DRIFTBOT_LOG_FORMAT": "json",
        "DRIFTBOT_ENVIRONMENTS__PROD__DATABASE_URL": planted(db, password),
    })
    with psycopg.connect(db, autocommit=True) as conn:  # schema drift too: its summary goes up as a snippet
        conn.execute('ALTER TABLE "User" ADD COLUMN "nickname" text')
    url = bot_env.start_web()
    bot_env.start_worker()
    status, body, took = command(url, "status prod")
    assert status == 200 and "Checking *prod*" in body and took < 3
    result = _result_message(stub)
    assert result["text"].startswith(":red_circle:")
    stub.wait_for(lambda: [f for f in stub.files.values() if f.get("completed")], what="the snippet")
    receiver.wait_for(lambda: receiver.named("/drift status") and receiver.named("job check_job"),
                      what="the web's and the worker's spans")

    assert_one_trace(receiver.spans, "prod", snippet=True)
    check = by_name(receiver.spans, "check").attributes  # the check's phases: seconds each
    assert check["driftbot.state"] == "failed" and all(check[f"driftbot.{p}_s"] > 0 for p in ("replay", "introspection", "diff"))
    assert_nothing_secret(receiver, password)
    assert {s.resource["service.name"] for s in receiver.spans} == {"driftbot"}
    assert receiver.refused == []  # every request was a protobuf POST to /v1/traces

    # The worker's lines while the job ran name the trace (RQ's own "Successfully completed" included).
    trace = by_name(receiver.spans, "job check_job").trace_id
    lines = [json.loads(line) for p in bot_env.tmp.glob("worker-*.log") for line in p.read_text().splitlines()
             if line.startswith("{")]
    done = [x for x in lines if x["message"].startswith("Successfully completed driftbot.work.jobs.check_job")]
    assert done and done[0]["trace_id"] == trace and done[0]["job_id"] == by_name(receiver.spans, "job check_job").attributes["driftbot.job_id"]
