"""#14 case 5 in Slack: the digest and every execution outcome carry the audit checkpoint ``N:HASH``, so
Slack holds a copy of the chain's end outside the database, and ``/drift audit verify [N:HASH]`` checks
the chain against it. Real ``driftbot web`` and ``driftbot worker``, the Slack stand-in."""

from __future__ import annotations

import json
import re

import psycopg

from tests.slack.conftest import CHANNEL, command
from tests.slack.test_flow import _approved_twice, _request_message, _thread_reply

CHECKPOINT = re.compile(r"Audit checkpoint `([0-9]+:[0-9a-f]{64})`")


def _state(bot_env, sql, *params):
    with psycopg.connect(bot_env.env["DRIFTBOT_STATE_URL"]) as conn:
        return conn.execute(sql, params).fetchall()


def _newest_post(stub, contains):
    return stub.wait_for(lambda: next((m for m in reversed(stub.posts(CHANNEL)) if contains in (m["text"] or "")), None),
                         what=f"a message saying {contains!r}")


def test_the_outcome_carries_the_checkpoint_and_audit_verify_checks_it_in_slack(bot_env, stub):
    url = bot_env.start_web()
    bot_env.start_worker()
    _approved_twice(url, stub, "enum prod MediaKind VIDEO")
    done = _thread_reply(stub, "Done: request #1")
    mark = CHECKPOINT.search(done["text"])
    assert mark, done["text"]
    n, digest = mark[1].split(":")
    assert _state(bot_env, "SELECT event, hash FROM audit_events WHERE id = %s", int(n)) == [("execution_finished", digest)]
    updated = stub.wait_for(lambda: (m := _request_message(stub, 1)) and "Ran" in json.dumps(m["blocks"]) and m,
                            what="the request message after the run")
    assert CHECKPOINT.search(json.dumps(updated["blocks"]).replace('\\"', '"'))

    answer = json.loads(command(url, "audit verify")[1])["text"]
    assert answer.startswith("Verifying the audit trail")
    ok = _newest_post(stub, "Audit chain OK")
    assert CHECKPOINT.search(ok["text"])  # the newest checkpoint, to keep
    json.loads(command(url, f"audit verify {mark[1]}")[1])
    _newest_post(stub, f"Checkpoint {n} matches")

    # Someone with superuser rights cuts the trail back to before the execution: caught against the copy in Slack.
    with psycopg.connect(bot_env.env["DRIFTBOT_STATE_URL"]) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute("DELETE FROM audit_events WHERE id >= %s", (int(n),))
    json.loads(command(url, f"audit verify {mark[1]}")[1])
    broken = _newest_post(stub, "Audit chain BROKEN")
    assert f"event #{n} of the checkpoint is missing" in broken["text"]


def test_audit_verify_obeys_the_audit_place_rule_and_checks_its_argument_at_once(bot_env, stub):
    url = bot_env.start_web()
    elsewhere = json.loads(command(url, "audit verify", channel="C0ELSE")[1])["text"]
    assert elsewhere.startswith("`/drift audit verify` checks the trail of every environment: it answers only in")
    for bad in ("audit verify 12", "audit verify 1:xyz", "audit verify 1:" + "0" * 64 + " extra"):
        status, body, took = command(url, bad)
        answer = json.loads(body)["text"]
        assert status == 200 and took < 3 and "N:HASH" in answer and "\n" not in answer, (bad, answer)
    assert not stub.posts(CHANNEL)
