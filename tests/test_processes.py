"""The processes as an orchestrator meets them: one-line start-up failures with a non-zero exit and no
traceback (unless --debug or DRIFTBOT_DEBUG=1), /healthz and /readyz, and `driftbot check-ready`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

# Each test starts driftbot's own processes (web, worker, clock) and waits for them.
pytestmark = pytest.mark.slow

DRIFTBOT = str(Path(sys.executable).parent / "driftbot")
DOWN_REDIS = "redis://127.0.0.1:1/0"
DOWN_STATE = "postgresql://driftbot:hunter2@127.0.0.1:1/state"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def env(tmp_path, databases, redis_url):
    """A process environment that works: a fresh state database, Redis, Slack credentials, one environment."""
    config = tmp_path / "driftbot.toml"
    config.write_text('[environments.prod]\ndatabase_url = "postgresql://ro@127.0.0.1:1/app"\nmigrations = "m"\n')
    return {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "DRIFTBOT_CONFIG": str(config),
            "DRIFTBOT_STATE_URL": databases.create("state"), "REDIS_URL": redis_url,
            "SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": "s3cret-signing",
            "DRIFTBOT_QUEUE_PREFIX": f"p{os.getpid()}:", "DRIFTBOT_CACHE_DIR": str(tmp_path / "cache")}


def run(args: list[str], env: dict, timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run([DRIFTBOT, *args], env=env, capture_output=True, text=True, timeout=timeout)


def one_or_two_lines(done: subprocess.CompletedProcess) -> list[str]:
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert 1 <= len(lines) <= 2, done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    return lines


@pytest.mark.parametrize("process, change, needle", [
    ("web", {"SLACK_SIGNING_SECRET": None}, "SLACK_SIGNING_SECRET"),
    ("worker", {"REDIS_URL": DOWN_REDIS}, "Redis"),
    ("clock", {"REDIS_URL": DOWN_REDIS}, "Redis"),
    ("worker", {"DRIFTBOT_STATE_URL": DOWN_STATE}, "state database"),
])
def test_a_start_up_failure_is_one_or_two_lines_and_a_non_zero_exit(env, process, change, needle):
    env = {k: v for k, v in {**env, **change}.items() if v is not None}
    done = run([process], env)
    assert done.returncode == 2, done.stderr
    lines = one_or_two_lines(done)
    assert lines[0].startswith(f"driftbot {process}: ") and needle in lines[0]
    assert "hunter2" not in done.stderr


def test_debug_shows_the_traceback(env):
    done = run(["--debug", "worker"], {**env, "REDIS_URL": DOWN_REDIS})
    assert done.returncode == 2 and "Traceback" in done.stderr
    done = run(["worker"], {**env, "REDIS_URL": DOWN_REDIS, "DRIFTBOT_DEBUG": "1"})
    assert done.returncode == 2 and "Traceback" in done.stderr


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def start_web(env: dict, tmp_path: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    log = open(tmp_path / f"web-{port}.log", "ab")
    p = subprocess.Popen([DRIFTBOT, "web", "--workers", "1"], env={**env, "PORT": str(port)}, stdout=log, stderr=log,
                         start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert p.poll() is None, (tmp_path / f"web-{port}.log").read_text()[-2000:]
        try:
            urllib.request.urlopen(base + "/healthz", timeout=1).read()
            return p, base
        except OSError:
            time.sleep(0.2)
    raise AssertionError("web did not start")


def test_readyz_answers_503_naming_redis_when_it_is_down_while_healthz_answers_200(env, tmp_path):
    web, base = start_web({**env, "REDIS_URL": DOWN_REDIS}, tmp_path)
    try:
        assert get(base + "/healthz") == (200, "ok\n")
        status, body = get(base + "/readyz")
        assert status == 503 and body.startswith("not ready") and "redis: does not answer" in body
        assert "state" not in body  # the state database is fine
        assert "127.0.0.1:1" not in body and "hunter2" not in body
    finally:
        web.terminate()
        web.wait(timeout=30)


def test_readyz_answers_200_when_redis_and_the_state_schema_are_ready(env, tmp_path):
    web, base = start_web(env, tmp_path)
    try:
        assert get(base + "/readyz") == (200, "ready\n")
    finally:
        web.terminate()
        web.wait(timeout=30)


def test_check_ready_for_the_worker_and_clock_probes(env):
    done = run(["check-ready"], env)  # a fresh state database: nothing has created the schema yet
    assert done.returncode == 1 and "state schema: not created yet" in done.stdout
    from driftbot.state.db import make_engine, upgrade

    engine = make_engine(env["DRIFTBOT_STATE_URL"])
    upgrade(engine)
    engine.dispose()
    done = run(["check-ready"], env)
    assert done.returncode == 0 and done.stdout == "ready\n", done.stdout + done.stderr
    done = run(["check-ready"], {**env, "REDIS_URL": DOWN_REDIS, "DRIFTBOT_STATE_URL": DOWN_STATE})
    assert done.returncode == 1
    assert "redis: does not answer" in done.stdout and "state database: does not answer" in done.stdout
    assert "hunter2" not in done.stdout + done.stderr


def test_status_help_names_the_environment_argument_and_the_exit_codes(env):
    done = run(["status", "--help"], env)
    assert done.returncode == 0
    assert "ENV" in done.stdout and "driftbot envs" in done.stdout
    for code in ("0", "1", "2"):
        assert f"  {code} " in done.stdout


def test_readiness_answers_in_time_when_a_part_hangs(env, monkeypatch):
    """A Redis that accepts and never answers (or a name that takes long to resolve) must not hold the
    probe past its own deadline."""
    from driftbot.processes import problems
    from driftbot.settings import load_settings

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    try:
        for key, value in env.items():
            if key.startswith(("DRIFTBOT_", "SLACK_")):
                monkeypatch.setenv(key, value)
        monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{silent.getsockname()[1]}/0")
        settings = load_settings()
        started = time.monotonic()
        found = problems(settings, within=0.5)
        assert time.monotonic() - started < 1.5
        assert str(found[0]) == "redis: no answer within 0.5 s"
        assert [p.part for p in found] == ["redis", "state schema"]  # (a fresh state database: not upgraded)
    finally:
        silent.close()


AUDIT_KEY = "k" * 8 + "0123456789abcdef0123456789abcdef"


def _keyed_trail(env: dict) -> None:
    """A trail keyed after the processes last started: they ran without DRIFTBOT_AUDIT_KEY (their
    configuration is recorded unkeyed), then the operator keyed it (``driftbot audit key start``) and
    someone with the key in their shell recorded a keyed event (``driftbot enum ... --yes``)."""
    from driftbot import audit
    from driftbot.runtime import build
    from driftbot.settings import load_settings
    from driftbot.state.db import make_engine, upgrade

    engine = make_engine(env["DRIFTBOT_STATE_URL"])
    upgrade(engine)
    saved = dict(os.environ)
    try:
        os.environ.update(env)
        audit.record_start(engine, load_settings(), "worker")
        os.environ["DRIFTBOT_AUDIT_KEY"] = AUDIT_KEY
        rt = build(load_settings())
        with rt.sessions.begin() as s:
            audit.key_start(s, "terminal:ops")
            audit.record(s, event="execution_finished", actor="cli", environment="prod")
        rt.engine.dispose()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    engine.dispose()


@pytest.mark.parametrize("process", ["web", "worker", "clock"])
def test_a_process_without_the_key_refuses_to_start_on_a_keyed_trail(env, process):
    """#14: a keyed trail and no DRIFTBOT_AUDIT_KEY: one clear line and exit 2 (bad configuration) at start,
    not a process that runs and fails at its first audit event."""
    _keyed_trail(env)
    try:
        done = run([process], env, timeout=25)
    except subprocess.TimeoutExpired:
        pytest.fail(f"driftbot {process} started without DRIFTBOT_AUDIT_KEY on a keyed audit trail")
    assert done.returncode == 2, done.stderr
    lines = one_or_two_lines(done)
    assert lines[0].startswith(f"driftbot {process}: ") and "DRIFTBOT_AUDIT_KEY" in lines[0]
