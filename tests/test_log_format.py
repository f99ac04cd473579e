"""DRIFTBOT_LOG_FORMAT=json: one JSON object a line on every process, masked as the text lines are;
text stays the default."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from driftbot import logs
from driftbot.errors import register_secret

ROOT = Path(__file__).resolve().parent.parent


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DRIFTBOT_", "SLACK_", "REDIS_URL"))}
    return {**env, **extra}


def _run(process: str, cwd: Path, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "driftbot.cli", process], cwd=cwd, env=_env(**extra), capture_output=True,
                          text=True, timeout=120)


def _planted_state_url(pg_url: str, password: str) -> str:
    """A state URL whose password is also its database's name: the server's "database ... does not exist"
    puts the password in the driver's error."""
    parts = urlsplit(pg_url)
    return urlunsplit(parts._replace(netloc=f"{parts.username or 'postgres'}:{password}@{parts.hostname}:{parts.port or 5432}",
                                     path=f"/{password}"))


@pytest.mark.slow
@pytest.mark.parametrize("process", ["web", "worker", "clock"])
def test_each_process_writes_json_lines_with_a_password_planted_in_a_driver_error_masked(process, pg_url, redis_url,
                                                                                        tmp_path):
    password = f"Planted{uuid.uuid4().hex[:10]}"
    settings = {"REDIS_URL": redis_url, "SLACK_BOT_TOKEN": "xoxb-log-test", "SLACK_SIGNING_SECRET": "s" * 32,
                "DRIFTBOT_STATE_URL": _planted_state_url(pg_url, password)}
    done = _run(process, tmp_path, DRIFTBOT_LOG_FORMAT="json", **settings)
    assert done.returncode == 2, done.stderr
    assert password not in done.stdout + done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines()]  # every line one JSON object
    error = [x for x in lines if x["level"] == "ERROR"]
    assert len(error) == 1, lines
    assert error[0]["process"] == process and error[0]["logger"] == "driftbot"
    assert error[0]["message"] == (f'driftbot {process}: the state database "***" does not exist: create it '
                                   "(docs/state-grants.md) or correct DRIFTBOT_STATE_URL.")
    assert {"time", "level", "logger", "message"} <= set(error[0])

    # Text stays the default: the same line as ever, masked too.
    done = _run(process, tmp_path, **settings)
    assert done.returncode == 2 and password not in done.stdout + done.stderr
    assert done.stderr.strip().splitlines()[-1] == (f'driftbot {process}: the state database "***" does not exist: '
                                                    "create it (docs/state-grants.md) or correct DRIFTBOT_STATE_URL.")
    assert not done.stderr.lstrip().startswith("{")


@pytest.mark.slow
def test_a_running_worker_writes_rqs_own_lines_as_json(state_url, redis_url, tmp_path):
    done = subprocess.run([sys.executable, "-m", "driftbot.cli", "worker", "--burst"], cwd=tmp_path,
                          env=_env(DRIFTBOT_LOG_FORMAT="json", REDIS_URL=redis_url, DRIFTBOT_STATE_URL=state_url,
                                   DRIFTBOT_QUEUE_PREFIX=f"logs{uuid.uuid4().hex[:6]}"),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert any(x["logger"] == "rq.worker" for x in lines), lines
    assert all(x["process"] in ("worker", "sweeper") for x in lines), lines


def test_a_json_line_names_its_environment_check_request_and_job_and_masks_the_traceback():
    secret = f"hunter{uuid.uuid4().hex[:8]}"
    register_secret(secret)
    logs.install()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    logger = logging.getLogger(f"driftbot.test.json.{uuid.uuid4().hex[:6]}")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        with logs.context(environment="prod", check_id=7):
            with logs.context(request_id=3, job_id="job-1"):
                try:
                    psycopg.connect(f"postgresql://u@127.0.0.1:1/x?password={secret}", connect_timeout=1)
                except psycopg.OperationalError:
                    logger.exception("check failed with %s", secret)
            logger.warning("after")
    finally:
        logger.removeHandler(handler)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert secret not in stream.getvalue()
    assert first["message"] == "check failed with ***" and first["level"] == "ERROR"
    assert (first["environment"], first["check_id"], first["request_id"], first["job_id"]) == ("prod", "7", "3", "job-1")
    assert "Traceback" in first["exc_info"] and "OperationalError" in first["exc_info"]
    assert second["check_id"] == "7" and "request_id" not in second and "job_id" not in second


def test_an_unknown_log_format_is_refused_in_one_line(monkeypatch):
    from driftbot.errors import ConfigError

    monkeypatch.setenv("DRIFTBOT_LOG_FORMAT", "yaml")
    with pytest.raises(ConfigError, match="not a log format: use text"):
        logs.configure("web")
    monkeypatch.setenv("DRIFTBOT_LOG_FORMAT", "JSON")
    assert logs.log_format() == "json"
    monkeypatch.delenv("DRIFTBOT_LOG_FORMAT")
    assert logs.log_format() == "text"


def _json_lines(logger_name: str):
    """The JSON lines the logger *logger_name* writes until the block ends (driftbot's logging installed)."""
    logs.install()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    logger = logging.getLogger(logger_name)
    logger.addHandler(handler)
    # INFO whatever an earlier test in this process left: the demo's in-process worker sets rq.worker to
    # WARNING (RQ's logging_level), which hid RQ's own success line when a demo test ran first (failed in CI).
    handler.level_before = logger.level
    logger.setLevel(logging.INFO)
    return logger, handler, stream


def _stop(logger: logging.Logger, handler: logging.Handler) -> None:
    logger.removeHandler(handler)
    logger.setLevel(handler.level_before)


def test_a_commands_lines_in_the_web_name_its_environment_a_name_typed_is_not_one(monkeypatch, tmp_path):
    import dataclasses
    from types import SimpleNamespace

    from driftbot.handlers.intake.commands import on_command
    from driftbot.handlers.intake.grammar import VERBS
    from driftbot.settings import Settings

    def broken(*args):
        raise RuntimeError("the handler broke")

    monkeypatch.setitem(VERBS, "status", dataclasses.replace(VERBS["status"], place=lambda *a: None, handle=broken))
    rt = SimpleNamespace(settings=Settings(environments={"prod": {"database_url": "postgresql://u@127.0.0.1/app",
                                                                  "migrations": str(tmp_path)}}))
    logger, handler, stream = _json_lines("driftbot.handlers.intake.commands")
    try:
        assert "Something went wrong" in on_command(rt, "status prod", "UANA", "C1")
        assert "Something went wrong" in on_command(rt, "status <https://evil.example|x>", "UANA", "C1")
    finally:
        _stop(logger, handler)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["message"] == "command failed" and first["environment"] == "prod" and "the handler broke" in first["exc_info"]
    assert second["message"] == "command failed" and "environment" not in second


def test_every_line_while_a_worker_handles_a_job_names_the_job(redis_url):
    from redis import Redis
    from rq import Queue

    from driftbot.work.workers import SimpleWorker

    conn = Redis.from_url(redis_url)
    q = Queue(f"logs{uuid.uuid4().hex[:8]}", connection=conn)
    job = q.enqueue("os.getpid")
    logger, handler, stream = _json_lines("rq.worker")
    try:
        SimpleWorker([q], connection=conn).work(burst=True, with_scheduler=False)
    finally:
        _stop(logger, handler)
        conn.delete(f"rq:job:{job.id}")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    done = [x for x in lines if x["message"].startswith("Successfully completed os.getpid()")]
    assert len(done) == 1 and done[0]["job_id"] == job.id  # RQ's own line, after the job's function returned
    assert [x for x in lines if x["message"].startswith("*** Listening")][0].get("job_id") is None
