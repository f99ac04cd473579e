"""The first thing a team does (#25): point driftbot at an empty database of a long history and ask
``/drift status``. A generated history of 820 migrations, the real ``driftbot web`` and ``driftbot
worker``, a signed command, the strict Slack stand-in: one top-level result, its thread and its
snippet, all accepted, nothing posted twice, every message readable (under 4,000 characters)."""

from __future__ import annotations

import time

import pytest

from benchmarks.gen_history import generate
from tests.factory import write_migrations
from tests.slack.conftest import CHANNEL, command, write_config

pytestmark = pytest.mark.slow


def test_an_empty_database_of_820_migrations_is_answered_once_in_full(bot_env, stub, databases, tmp_path):
    empty = databases.create("empty")
    folder = write_migrations(tmp_path / "history", generate(820, seed=25))
    write_config(tmp_path / "driftbot.toml", empty, folder, tmp_path / "cache")  # the file bot_env points at
    bot_env.env["DRIFTBOT_CHECK_JOB_TIMEOUT_S"] = "1200"
    bot_env.env["DRIFTBOT_HEARTBEAT_S"] = "5"  # a long replay under load: beats of the default's order
    url = bot_env.start_web()
    bot_env.start_worker()
    status, body, took = command(url, "status prod")
    assert status == 200 and "Checking *prod*" in body and took < 3

    def answered():
        tops = [m for m in stub.posts(CHANNEL) if not m["thread_ts"]]
        return tops and [m for m in stub.posts(CHANNEL) if m["thread_ts"] == tops[0]["ts"]] and tops

    stub.wait_for(answered, timeout=900, what="the result and its thread")
    time.sleep(3)  # sweeps run every 0.5 s here: anything that would post again has had its chance
    [top] = [m for m in stub.posts(CHANNEL) if not m["thread_ts"]]
    assert "prod" in top["text"] and "820 migrations" in str(top["blocks"])
    thread = [m for m in stub.posts(CHANNEL) if m["thread_ts"]]
    assert thread and all(m["thread_ts"] == top["ts"] for m in thread)
    texts = [m["text"] for m in thread]
    assert len(texts) == len(set(texts))  # nothing twice
    assert all(len(m["text"] or "") <= 4000 for m in [top, *thread])
    assert "can still fail on real rows" not in str(top["blocks"])  # an empty database has no rows to fail on
    snippets = [f for f in stub.files.values() if f.get("completed")]
    assert snippets and all(f["thread_ts"] == top["ts"] and f["channel"] == CHANNEL for f in snippets)
    assert len({f["name"] for f in snippets}) == len(snippets)
    posts = stub.called("chat.postMessage")
    assert all(c.ok for c in posts) and stub.violations == []
    assert not [e for e in stub.ephemerals() if "did not take" in e.get("text", "")]
