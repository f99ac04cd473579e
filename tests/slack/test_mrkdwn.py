"""#14 case 6, first half: values from users, databases and files are shown as text, never as live
Slack markup. Real ``driftbot web`` and ``driftbot worker``, the Slack stand-in; the approved enum value
``<!channel>`` would ping the whole channel in real Slack, a link ``<https://evil.example|VIDEO>`` would
read "VIDEO"."""

from __future__ import annotations

import json
import re

import psycopg

from driftbot.slack import mrkdwn
from tests.slack.conftest import command
from tests.slack.test_flow import _approved_twice, _ephemeral, _request_message, _result_message, _thread_reply

LIVE = ("<!channel>", "<https://evil.example", "<!here>", "<!everyone>")


def _everything_sent(stub, answers: list[str]) -> str:
    """Every payload the bot sent Slack (messages, updates, ephemerals, files) and its command answers."""
    sent = [json.dumps(c.params, ensure_ascii=False) for c in stub.calls]
    sent += [f.get("content") or "" for f in stub.files.values()]
    sent += [json.dumps(f, ensure_ascii=False) for f in stub.files.values()]
    for value in list(sent):  # blocks and files arrive as JSON strings inside the form
        sent.append(value.replace('\\"', '"').replace("\\\\", "\\"))
    return "\n".join(sent + answers)


def test_an_approved_enum_value_with_slack_markup_is_posted_as_text_everywhere(bot_env, stub, db):
    url = bot_env.start_web()
    bot_env.start_worker()
    _approved_twice(url, stub, "enum prod MediaKind <!channel>")
    answers = []
    done = _thread_reply(stub, "Done: request #1")
    assert "'&lt;!channel&gt;'" in done["text"] and done["text"].count("&lt;!channel&gt;") == 2  # the message and the SQL block
    stub.wait_for(lambda: "Ran" in json.dumps(_request_message(stub, 1)["blocks"]), what="the request message updated")
    with psycopg.connect(db) as conn:  # the value itself went into the database as typed
        labels = [r[0] for r in conn.execute("SELECT unnest(enum_range(NULL::\"MediaKind\"))::text")]
    assert labels[-1] == "<!channel>"
    # Migration names and an environment name that are markup: refused, and the refusal echoes them as text.
    answers.append(command(url, "resolve prod --rolled-back <https://evil.example|VIDEO>")[1])
    answers.append(command(url, "status <!here>")[1])
    answers.append(command(url, "resolve prod --applied <!everyone>")[1])  # refused on the worker: P3017
    _ephemeral(stub, "UANA", "&lt;!everyone&gt;")
    sent = _everything_sent(stub, answers)
    for live in LIVE:
        assert live not in sent, f"{live} was sent as live markup"
    assert "&lt;https://evil.example|VIDEO&gt;" in sent and "&lt;!here&gt;" in sent


def test_code_spans_escape_and_survive_a_backtick():
    assert mrkdwn.code("<!channel>") == "`&lt;!channel&gt;`"
    assert mrkdwn.code("a`<!here>`b") == "`a\u02cb&lt;!here&gt;\u02cbb`"  # the span is not closed early
    assert mrkdwn.code("R&D") == "`R&amp;D`"
    assert mrkdwn.block("x```<!channel>") == "```\nx``\u02cb&lt;!channel&gt;\n```"


def test_control_format_and_bidi_characters_in_names_never_reach_slack(bot_env, stub, db, project):
    """Issue #26, item 11: a bidi override (U+202E) in a migration folder name, and control and format
    characters in a migration name that only the database has, are neutralised in every post."""
    import unicodedata

    hostile_file = "20250104000000_a\u202egpj.exe"
    hostile_row = "20250105000000_x\u2066y\u0007z\u200b"
    (project / hostile_file).mkdir()
    (project / hostile_file / "migration.sql").write_text("SELECT 1;\n")
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("INSERT INTO _prisma_migrations (id, checksum, migration_name, started_at, finished_at, "
                     "applied_steps_count) VALUES (gen_random_uuid()::text, 'x', %s, now(), now(), 1)", (hostile_row,))
    url = bot_env.start_web()
    bot_env.start_worker()
    answers = [command(url, "status prod")[1]]
    result = _result_message(stub)
    stub.wait_for(lambda: next((m for m in stub.posts("C0DBOPS") if m["thread_ts"] == result["ts"]), None),
                  what="the findings in the thread")
    sent = _everything_sent(stub, answers)
    assert "gpj" in sent and "20250105000000_x" in sent  # the names are shown ...
    sent = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m[1], 16)), sent)  # JSON's escapes, as Slack reads them
    bad = sorted({f"U+{ord(c):04X}" for c in sent
                  if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") and c not in "\n\t"})
    assert bad == [], f"sent to Slack raw: {bad}"  # ... but none of their invisible characters
