"""#14 case 2: where, and who. Everything about an environment happens in its channels;
`/drift diff` and `/drift audit` also answer in a DM to an approver or a viewer, and nowhere
else. Signed commands into the real ``driftbot web``, a real worker, the Slack stand-in."""

from __future__ import annotations

import json

import psycopg

from tests.slack.conftest import CHANNEL, buttons, click, command, write_config
from tests.slack.test_flow import _ephemeral, _result_message

ASK_HERE = f"Ask about *prod* in <#{CHANNEL}>"


def _text(answer) -> str:
    status, body, took = answer
    assert status == 200 and took < 3
    return json.loads(body)["text"]


def _count(bot_env, table):
    with psycopg.connect(bot_env.env["DRIFTBOT_STATE_URL"]) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_commands_about_an_environment_answer_only_in_its_channels(bot_env, stub, db, project, tmp_path):
    write_config(tmp_path / "driftbot.toml", db, project, tmp_path / "cache", channels=["C0SECOND"],
                 viewers=["UFAY"])
    url = bot_env.start_web()
    bot_env.start_worker()
    for text in ("status prod", "diff prod", "enum prod MediaKind VIDEO", "resolve prod --applied 20250101000000_init",
                 "audit prod", "audit"):
        answer = _text(command(url, text, channel="C0ELSE"))
        assert answer.startswith(ASK_HERE) or answer.startswith("`/drift audit` of every environment"), (text, answer)
    assert _count(bot_env, "checks") == 0 and _count(bot_env, "requests") == 0
    # In a DM: status and requests never; diff and audit only to approvers and viewers.
    assert _text(command(url, "status prod", user="UBO", channel="D0UBO")).startswith(ASK_HERE)
    stub.wait_for(lambda: _text(command(url, "diff prod", user="UEVE", channel="D0UEVE")).startswith(ASK_HERE),
                  what="the group's members read, and UEVE not among them")
    assert _text(command(url, "audit prod", user="UEVE", channel="D0UEVE")).startswith(ASK_HERE)
    assert _text(command(url, "diff prod", user="UFAY", channel="D0UFAY")).startswith("Checking *prod*")
    assert _text(command(url, "audit prod", user="UDI", channel="D0UDI")).startswith("Gathering the audit trail")
    assert "listed" not in _text(command(url, "requests", channel="C0ELSE"))
    # The second channel is the environment's too.
    assert _text(command(url, "audit prod", channel="C0SECOND")).startswith("Gathering the audit trail")


def test_a_group_member_reads_in_a_dm_once_the_worker_read_the_group(bot_env, stub):
    url = bot_env.start_web()
    bot_env.start_worker()
    first = _text(command(url, "audit prod", user="UBO", channel="D0UBO"))
    assert first.startswith("Gathering") or "still reading the members of <!subteam^S0DBAS>" in first
    stub.wait_for(lambda: _text(command(url, "audit prod", user="UBO", channel="D0UBO")).startswith("Gathering"),
                  what="the group's members read by the worker")
    assert _text(command(url, "audit prod", user="UEVE", channel="D0UEVE")).startswith(ASK_HERE)


def test_a_fix_button_clicked_away_from_the_channel_makes_no_request(bot_env, stub):
    url = bot_env.start_web()
    bot_env.start_worker()
    command(url, "status prod")
    result = _result_message(stub)
    fix = buttons(result)[0]
    click(url, fix["action_id"], fix["value"], "UANA", result, channel="C0ELSE")
    _ephemeral(stub, "UANA", ASK_HERE)
    assert _count(bot_env, "requests") == 0
