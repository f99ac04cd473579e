"""Faults: Redis down, a worker killed mid-check and mid-execution, the target database down,
Slack answering 429 and 500. Each ends in a clear message and a consistent state."""

from __future__ import annotations

import json
import time
from pathlib import Path
from urllib.parse import urlsplit

import psycopg

from tests import factory
from tests.slack.conftest import CHANNEL, buttons, click, command
from tests.slack.test_flow import FAILED, _ephemeral, _request_message, _result_message, _thread_reply


def _state(bot_env, query, *params):
    with psycopg.connect(bot_env.env["DRIFTBOT_STATE_URL"]) as conn:
        return conn.execute(query, params).fetchall()


def test_redis_down_the_asker_is_told_at_once_and_nothing_is_left_behind(bot_env, stub):
    url = bot_env.start_web(REDIS_URL="redis://127.0.0.1:1/0")
    status, body, took = command(url, "status prod")
    assert status == 200 and took < 3
    text = json.loads(body)["text"]
    assert "job queue (Redis) is unreachable" in text and "Nothing was queued" in text
    assert _state(bot_env, "SELECT count(*) FROM checks")[0][0] == 0  # the check row went with the failed enqueue
    assert "redis://" not in body


def test_worker_killed_during_a_check_is_reported_and_the_next_check_runs(bot_env, stub, db):
    url = bot_env.start_web()
    worker = bot_env.start_worker()
    with psycopg.connect(db) as blocker:
        blocker.execute('LOCK TABLE "_prisma_migrations" IN ACCESS EXCLUSIVE MODE')  # the check hangs on it
        command(url, "status prod")
        stub.wait_for(lambda: _state(bot_env, "SELECT 1 FROM checks WHERE status = 'running'"), timeout=20.0,
                      what="the check to start")
        time.sleep(0.3)
        bot_env.kill(worker)
    bot_env.start_worker()
    note = stub.wait_for(lambda: next((m for m in stub.posts(CHANNEL) if "was interrupted" in (m["text"] or "")), None),
                         what="the interrupted check report")
    assert "Run `/drift status prod` again" in note["text"]
    assert _state(bot_env, "SELECT status FROM checks") == [("lost",)]
    events = _state(bot_env, "SELECT data->>'state' FROM audit_events WHERE event = 'check_finished'")
    assert events == [("lost",)]
    assert "Checking *prod*" in json.loads(command(url, "status prod")[1])["text"]  # not stuck "already running"
    _result_message(stub)


def _approved_resolve(bot_env, stub, url):
    command(url, "status prod")
    result = _result_message(stub)
    fix = next(b for b in buttons(result) if "--applied" in b["text"]["text"] and FAILED in b["text"]["text"])
    click(url, fix["action_id"], fix["value"], "UANA", result)
    request = _request_message(stub, 1)
    value = buttons(request)[0]["value"]
    click(url, "approve", value, "UBO", request)
    stub.wait_for(lambda: "(1 of 2)" in json.dumps(_request_message(stub, 1)["blocks"]), what="1 of 2")
    click(url, "approve", value, "UDI", request)
    return value


def test_worker_killed_during_an_execution_is_reported_never_run_twice(bot_env, stub, db):
    url = bot_env.start_web()
    worker = bot_env.start_worker()
    with psycopg.connect(db) as blocker:
        blocker.execute('SELECT * FROM "_prisma_migrations" FOR UPDATE')  # the writer waits on these rows
        value = _approved_resolve(bot_env, stub, url)
        stub.wait_for(lambda: _state(bot_env, "SELECT 1 FROM requests WHERE status = 'executing'"), timeout=20.0,
                      what="the execution to start")
        time.sleep(0.5)
        bot_env.kill(worker)
        blocker.rollback()
    bot_env.start_worker()
    note = _thread_reply(stub, "The worker stopped during the execution")
    assert "will not be run again automatically" in note["text"]
    assert _state(bot_env, "SELECT status FROM requests") == [("failed",)]
    assert _state(bot_env, "SELECT outcome FROM executions") == [("interrupted",)]
    time.sleep(0.5)
    rows = factory.rows(db, FAILED)
    assert [r["finished_at"] for r in rows] == [None]  # the killed transaction never committed
    # Another approval click or a re-delivered job does not run it again.
    click(url, "approve", value, "UCY", _request_message(stub, 1))
    _ephemeral(stub, "UCY", "already failed")
    assert _state(bot_env, "SELECT count(*) FROM executions") == [(1,)]
    events = [e for (e,) in _state(bot_env, "SELECT event FROM audit_events WHERE request_id = 1 ORDER BY id")]
    assert events[-2:] == ["execution_started", "execution_finished"]


def test_target_database_down_is_a_clear_result_without_secrets(bot_env, stub, tmp_path):
    # The message names the environment, never the server: not its host, not its port (#14, case 9).
    bot_env.env["DRIFTBOT_ENVIRONMENTS__PROD__DATABASE_URL"] = "postgresql://driftbot_ro:hunter2@127.0.0.1:1/app"
    url = bot_env.start_web()
    bot_env.start_worker()
    command(url, "status prod")
    result = _result_message(stub)
    assert result["text"].startswith(":warning: *prod could not be checked*")
    shown = json.dumps(result["blocks"])
    assert "hunter2" not in shown and "127.0.0.1" not in shown and "port 1" not in shown
    assert "Cannot connect to the target database: Connection refused (check that the database server of prod is up" in shown
    for call in stub.calls:
        assert "hunter2" not in json.dumps(call.params)
    assert _state(bot_env, "SELECT status, state FROM checks") == [("finished", "error")]


def test_slack_429_and_500_are_retried_and_nothing_is_lost(bot_env, stub):
    url = bot_env.start_web()
    bot_env.start_worker()
    stub.fail("chat.postMessage", 429, times=2, retry_after=1)
    stub.fail("chat.postMessage", 500, times=2)
    t0 = time.monotonic()
    command(url, "status prod")
    result = _result_message(stub)
    assert time.monotonic() - t0 >= 2  # Retry-After was honoured twice
    statuses = [c.status for c in stub.calls if c.method == "chat.postMessage"]
    assert statuses[:5] == [429, 429, 500, 500, 200]
    assert len([m for m in stub.posts(CHANNEL) if not m["thread_ts"]]) == 1  # posted once, not five times
    assert result["text"].startswith(":red_circle:")
    stub.fail("chat.update", 503, times=3)
    fix = buttons(result)[0]
    click(url, fix["action_id"], fix["value"], "UANA", result)
    request = _request_message(stub, 1)
    click(url, "approve", buttons(request)[0]["value"], "UBO", request)
    stub.wait_for(lambda: "(1 of 2)" in json.dumps(_request_message(stub, 1)["blocks"]), what="the update after 503s")


def test_state_database_gone_the_asker_is_told_in_time(bot_env, stub, pg_url):
    url = bot_env.start_web()
    assert "Checking" in json.loads(command(url, "status prod")[1])["text"]
    state = urlsplit(bot_env.env["DRIFTBOT_STATE_URL"]).path.lstrip("/")  # also for ?host=/socket/dir URLs
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{state}" WITH (FORCE)')
    status, body, took = command(url, "status prod")
    assert status == 200 and took < 3
    assert "state database is unreachable" in json.loads(body)["text"]


# --- issue #26, item 2: fencing, not heartbeats, decides that an execution is dead ----------------

def _own_redis(tmp, port: int):
    """A redis-server of this test's own (never the shared one), without persistence: a restart is empty."""
    import subprocess

    p = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                          "--dir", str(tmp)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import redis

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            redis.Redis(port=port).ping()
            return p
        except redis.RedisError:
            time.sleep(0.05)
    raise AssertionError("redis-server did not start")


def _horse(worker) -> int:
    """The work horse RQ forked for the running job (the spawned sweeper is the other child)."""
    # Read the whole command line from /proc: `ps` cuts `args` at its column width when no terminal is attached,
    # so a long checkout path (CI's) hid "driftbot worker" and no horse was found.
    children = [pid for task in Path(f"/proc/{worker.pid}/task").iterdir() for pid in (task / "children").read_text().split()]
    lines = {}
    for pid in children:
        try:
            lines[int(pid)] = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except FileNotFoundError:
            continue
    horses = [pid for pid, line in lines.items() if "driftbot worker" in line]
    assert len(horses) == 1, lines
    return horses[0]


def test_a_live_execution_whose_heartbeat_vanished_is_not_declared_dead(bot_env, stub, db, tmp_path, monkeypatch):
    """The heartbeat key gone (Redis restarted empty, the worker paused past a few beats) while the writer
    waits on a lock on the target: the sweeper does not call it dead; released, it ends succeeded, once,
    and nothing says "interrupted"."""
    import os
    import signal

    from driftbot.runtime import build
    from driftbot.settings import load_settings
    from driftbot.work.sweeper import sweep
    from tests.slack.conftest import free_port

    port = free_port()
    own = _own_redis(tmp_path, port)
    try:
        bot_env.env["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
        url = bot_env.start_web()
        worker = bot_env.start_worker()
        with psycopg.connect(db) as blocker:
            blocker.execute('SELECT * FROM "_prisma_migrations" FOR UPDATE')  # the writer waits on these rows
            _approved_resolve(bot_env, stub, url)
            stub.wait_for(lambda: _state(bot_env, "SELECT 1 FROM requests WHERE status = 'executing'"), timeout=20.0,
                          what="the execution to start")
            time.sleep(0.5)
            horse = _horse(worker)
            os.kill(horse, signal.SIGSTOP)  # paused: no heartbeat
            try:
                own.terminate()
                own.wait(timeout=10)
                own = _own_redis(tmp_path, port)  # restarted empty: the heartbeat key is gone
                for key, value in bot_env.env.items():
                    monkeypatch.setenv(key, value)
                rt = build(load_settings())
                for _ in range(8):  # sweeps past the heartbeat's grace (3 beats of 0.5 s)
                    assert "interrupted" not in sweep(rt)
                    time.sleep(0.5)
                rt.engine.dispose()
                assert _state(bot_env, "SELECT status FROM requests") == [("executing",)]
            finally:
                os.kill(horse, signal.SIGCONT)
            blocker.rollback()  # the lock released: the writer goes on
        done = _thread_reply(stub, "Done: request #1")
        time.sleep(2)  # sweeper rounds after the end: nothing more is said
        replies = [m["text"] or "" for m in stub.posts(CHANNEL) if m["thread_ts"]]
        assert not [t for t in replies if "interrupted" in t or "will not be run again" in t or "stopped" in t], replies
        assert sum("Done: request #1" in t for t in replies) == 1 and done
        assert _state(bot_env, "SELECT status FROM requests") == [("succeeded",)]
        assert _state(bot_env, "SELECT data->>'outcome' FROM audit_events WHERE event = 'execution_finished'") == [("succeeded",)]
    finally:
        bot_env.stop_all()
        own.terminate()
        own.wait(timeout=10)


# --- issue #26, item 5: acked work survives Redis -------------------------------------------------

def test_acknowledged_work_queued_when_redis_restarts_empty_is_done_after_all(bot_env, stub, tmp_path):
    """`/drift enum` (a request to prepare) and `/drift audit` (an export) acknowledged while no worker runs,
    then Redis restarted without its data: once a worker is up, both are done (or the asker told), never
    silently gone."""
    from tests.slack.conftest import free_port

    port = free_port()
    own = _own_redis(tmp_path, port)
    try:
        bot_env.env["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
        url = bot_env.start_web()
        asked = [json.loads(command(url, text)[1])["text"] for text in ("enum prod MediaKind VIDEO", "audit prod")]
        assert asked[0].startswith("Preparing the request") and "audit trail" in asked[1], asked
        own.terminate()
        own.wait(timeout=10)
        own = _own_redis(tmp_path, port)  # restarted empty: the two queued jobs are gone
        bot_env.start_worker()
        _request_message(stub, 1)  # the request prepared after all
        stub.wait_for(lambda: next((m for m in stub.posts(CHANNEL) if "Audit trail for prod" in (m["text"] or "")), None),
                      timeout=60.0, what="the audit export")
    finally:
        bot_env.stop_all()
        own.terminate()
        own.wait(timeout=10)
