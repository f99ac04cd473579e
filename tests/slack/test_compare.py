"""``/drift compare FROM TO`` over real HTTP: signed requests into ``driftbot web``, a real
``driftbot worker``, real target databases; the SQL arrives as a snippet and is never run."""

from __future__ import annotations

import json

import psycopg
import pytest

from tests import factory
from tests.conftest import MIGRATIONS
from tests.slack.conftest import CHANNEL, command

M4 = "20250104000000_posts"


@pytest.fixture
def staging_channel() -> str:
    """Where staging is talked about (a test parametrizes another)."""
    return CHANNEL


@pytest.fixture
def staging(bot_env, databases, tmp_path, staging_channel):
    """A second environment, staging: prod's first two migrations and one more (the Post table), and a
    hand-made index; prod (the ``project`` fixture) has a third migration that failed."""
    names = list(MIGRATIONS)
    folder = factory.write_migrations(tmp_path / "staging", {names[0]: MIGRATIONS[names[0]],
                                                            names[1]: MIGRATIONS[names[1]], M4: factory.POSTS})
    url = databases.create("staging")
    assert factory.deploy(url, folder) is None
    factory.execute(url, 'CREATE INDEX "Post_title_idx" ON "Post"("title")')
    config = bot_env.env["DRIFTBOT_CONFIG"]
    with open(config, "a") as f:
        f.write(f'\n[environments.staging]\ndatabase_url = "{url}"\nmigrations = "{folder}"\nprotected = false\n'
                f'channel = "{staging_channel}"\n')
    return url


def test_compare_posts_the_difference_with_the_sql_as_a_snippet_never_run(bot_env, stub, staging, db):
    url = bot_env.start_web()
    bot_env.start_worker()
    status, body, took = command(url, "compare prod staging")
    assert status == 200 and took < 3
    assert json.loads(body)["text"] == "Comparing *prod* with *staging*… the result will be posted in this channel."

    message = stub.wait_for(lambda: next((m for m in stub.posts(CHANNEL) if "prod → staging" in (m["text"] or "")), None),
                            what="the comparison")
    assert message["text"] == (":large_yellow_circle: *prod → staging*: prod and staging differ by 2 migrations and "
                               "2 schema changes, part explained by the history gap, part drift in staging. "
                               "· asked by <@UANA>")
    shown = json.dumps(message["blocks"])
    assert "failed in prod only: 20250103000000_email_unique" in shown and f"applied in staging only: {M4}" in shown
    assert "Explained by the history gap" in shown and "Drift in staging" in shown and "Post_title" not in shown
    snippet = stub.wait_for(lambda: next((f for f in stub.files.values() if f.get("channel")), None), what="the snippet")
    assert snippet["name"] == "compare-prod-staging.sql" and snippet["snippet_type"] == "sql"
    assert snippet["thread_ts"] == message["ts"] and 'CREATE TABLE "Post"' in snippet["content"]
    assert 'CREATE INDEX "Post_title_idx"' in snippet["content"]
    with psycopg.connect(db) as conn:  # for review only: prod never got the SQL
        assert conn.execute("SELECT to_regclass('\"Post\"')").fetchone()[0] is None


def test_compare_bad_input_is_answered_at_once_in_one_line(bot_env, stub, staging):
    url = bot_env.start_web()
    for text, says in [("compare prod", "Write `/drift compare FROM TO`"),
                       ("compare prod prdo", "Unknown environment `prdo`. Known: prod, staging"),
                       ("compare staging staging", "staging and staging are the same environment: equal.")]:
        status, body, took = command(url, text)
        answer = json.loads(body)["text"]
        assert status == 200 and took < 3 and says in answer and "\n" not in answer
    assert not stub.posts(CHANNEL)  # nothing was queued


def test_compare_answers_only_where_both_environments_are_talked_about(bot_env, stub, staging):
    url = bot_env.start_web()
    answer = json.loads(command(url, "compare prod staging", channel="C0ELSEWHERE")[1])["text"]
    assert answer.startswith("Ask about *prod* in <#C0DBOPS>") and "Comparing" not in answer


@pytest.mark.parametrize("staging_channel", ["C0STAGING"])
def test_compare_is_refused_in_the_channel_of_only_one_of_the_two(bot_env, stub, staging):
    """The place rule holds for both environments: prod's channel may not read staging's schema, nor the
    other way round, whichever is named first."""
    url = bot_env.start_web()
    for text, channel, other in [("compare prod staging", CHANNEL, "Ask about *staging* in <#C0STAGING>"),
                                 ("compare staging prod", CHANNEL, "Ask about *staging* in <#C0STAGING>"),
                                 ("compare prod staging", "C0STAGING", "Ask about *prod* in <#C0DBOPS>"),
                                 ("compare staging prod", "C0STAGING", "Ask about *prod* in <#C0DBOPS>")]:
        answer = json.loads(command(url, text, channel=channel)[1])["text"]
        assert answer.startswith(other) and "Comparing" not in answer, (text, channel, answer)
    assert not stub.posts()  # nothing was queued, nothing posted
