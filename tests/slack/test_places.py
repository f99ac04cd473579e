"""#14 case 2: where, and who. Everything about an environment happens in its channels;
`/drift diff` and `/drift audit` also answer in a DM to an approver or a viewer, and nowhere
else. Signed commands into the real ``driftbot web``, a real worker, the Slack stand-in."""

from __future__ import annotations

import json
import time
from pathlib import Path

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


# --- issue #26, items 3 and 6: one gate for what leaves driftbot ----------------------------------

def _everything_in(stub, channel: str) -> str:
    sent = [json.dumps(c.params, ensure_ascii=False) for c in stub.calls if c.params.get("channel") == channel
            or channel in str(c.params.get("channel_id", "")) or channel in str(c.params.get("channels", ""))]
    sent += [json.dumps(f, ensure_ascii=False) for f in stub.files.values() if channel in json.dumps(f)]
    return "\n".join(sent)


def test_status_of_an_environment_without_a_channel_shows_no_sql_away_from_a_readers_dm(bot_env, stub, project, db,
                                                                                          tmp_path):
    """Issue #26 item 3: `/drift diff prod` is refused in any channel when prod has no channel, so
    `/drift status prod` there must not post its SQL snippet either; findings never carry the worker's
    file system paths."""
    config = Path(bot_env.env["DRIFTBOT_CONFIG"])
    config.write_text("\n".join(line for line in config.read_text().splitlines() if not line.startswith("channel ")) + "\n")
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute('CREATE TABLE "handmade" ("id" INTEGER)')  # drift with a catch-up SQL snippet
    url = bot_env.start_web()
    bot_env.start_worker()
    assert "Checking" not in json.loads(command(url, "diff prod", channel="C0ELSE")[1])["text"]  # refused here
    assert "Checking" in json.loads(command(url, "status prod", channel="C0ELSE")[1])["text"]  # answered anywhere
    result = stub.wait_for(lambda: next((m for m in stub.posts("C0ELSE") if not m["thread_ts"]), None), what="the result")
    stub.wait_for(lambda: [m for m in stub.posts("C0ELSE") if m["thread_ts"] == result["ts"]], what="its thread")
    time.sleep(1.5)  # the snippet, if any, follows the thread's lines
    assert not [f for f in stub.files.values() if "C0ELSE" in json.dumps(f)], "the SQL snippet was posted in C0ELSE"
    sent = _everything_in(stub, "C0ELSE")
    assert "CREATE" not in sent and str(tmp_path) not in sent and str(project) not in sent


def test_drift_digest_on_demand_shows_only_the_environments_of_its_place_and_is_rate_limited(bot_env, stub):
    """Issue #26 item 6: `/drift digest` in a channel that is no environment's shows nothing of prod (its
    states, failed migrations, request links), and asking again at once does not run every check again."""
    url = bot_env.start_web()
    bot_env.start_worker()
    elsewhere = json.loads(command(url, "digest", channel="C0ELSE")[1])["text"]
    here = json.loads(command(url, "digest")[1])["text"]
    assert "Checking 1 environment" in here
    digest = stub.wait_for(lambda: next((m for m in stub.posts(CHANNEL) if "prod" in (m["text"] or "")), None),
                           what="the digest in prod's channel")
    time.sleep(2)
    assert "Checking" not in elsewhere and not stub.posts("C0ELSE"), stub.posts("C0ELSE")
    again = json.loads(command(url, "digest")[1])["text"]
    assert "Checking" not in again and "digest" in again.lower(), again
    with psycopg.connect(bot_env.env["DRIFTBOT_STATE_URL"]) as conn:
        started = conn.execute("SELECT count(*) FROM audit_events WHERE event = 'digest_started'").fetchone()[0]
    assert started == 1 and digest
