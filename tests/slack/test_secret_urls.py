"""#14 case 4 end to end: a target URL from the environment whose password has an unencoded ``%``, an
``@`` and a space (libpq echoes such a password in its error text). Through the real ``driftbot web``
and ``driftbot worker``, ``/drift status prod`` posts the failed check, and the password is nowhere:
not in what the Slack stand-in received (messages, ephemerals, uploads), not in the processes' logs,
not in the state database (audit rows, stored checks). tests/test_secrets.py has each sink alone."""

from __future__ import annotations

import json

import psycopg

from tests.slack.conftest import command
from tests.slack.test_flow import _result_message
from tests.test_secrets import assert_clean

PASSWORD = "50%off S3cr@t-pw"


def test_a_password_with_percent_at_and_space_leaves_no_trace_through_web_and_worker(bot_env, stub):
    bot_env.env["DRIFTBOT_ENVIRONMENTS__PROD__DATABASE_URL"] = f"postgresql://driftbot_ro:{PASSWORD}@127.0.0.1:5432/app"
    url = bot_env.start_web()
    bot_env.start_worker()
    status, body, _ = command(url, "status prod")
    assert status == 200
    result = _result_message(stub)
    assert result["text"].startswith(":warning: *prod could not be checked*"), result["text"]
    stub.wait_for(lambda: _rows(bot_env, "SELECT 1 FROM audit_events WHERE event = 'check_finished'"),
                  what="the check's audit event")
    sent = [json.dumps(c.params, ensure_ascii=False) for c in stub.calls]
    sent += [json.dumps(f, ensure_ascii=False) for f in stub.files.values()]
    logs = [p.read_text(errors="replace") for p in bot_env.tmp.glob("*.log")]
    stored = [json.dumps(_rows(bot_env, f"SELECT to_jsonb(t) FROM {table} t"), default=str, ensure_ascii=False)
              for table in ("audit_events", "checks")]
    assert_clean("\n".join([body, *sent, *logs, *stored]), PASSWORD, "off S3cr", "S3cr@t-pw")
    assert "prod" in json.dumps(result["blocks"])  # the failure still names the environment


def _rows(bot_env, sql):
    with psycopg.connect(bot_env.env["DRIFTBOT_STATE_URL"]) as conn:
        return conn.execute(sql).fetchall()
