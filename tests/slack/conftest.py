"""Fixtures for the Slack side: the Web API stand-in and the real processes (``driftbot web``
under gunicorn, ``driftbot worker``) wired to them."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.slack_stub import SlackStub

ROOT = Path(__file__).resolve().parents[2]
DRIFTBOT = str(Path(sys.executable).parent / "driftbot")
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TOKEN = "xoxb-test-token"
CHANNEL = "C0DBOPS"
GROUPS = {"S0DBAS": ["UBO", "UCY"]}



@pytest.fixture
def stub():
    s = SlackStub(token=TOKEN, groups=GROUPS).start()
    yield s
    s.stop()
    s.assert_clean()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Bot:
    """The environment of the bot's processes, and the processes started with it."""

    env: dict[str, str]
    tmp: Path
    procs: list[subprocess.Popen] = field(default_factory=list)
    port: int = 0

    def start_worker(self) -> subprocess.Popen:
        log = open(self.tmp / f"worker-{len(self.procs)}.log", "ab")
        # Its own session: SIGKILL of the group takes the work horse down with it, as when a machine dies.
        p = subprocess.Popen([DRIFTBOT, "worker"], env=self.env, stdout=log, stderr=log, start_new_session=True)
        self.procs.append(p)
        return p

    def start_web(self, workers: int = 1, **overrides: str) -> str:
        env = {**self.env, **overrides}
        port = free_port()
        env["PORT"] = str(port)
        log = open(self.tmp / f"web-{port}.log", "ab")
        p = subprocess.Popen([DRIFTBOT, "web", "--workers", str(workers)], env=env, stdout=log, stderr=log, start_new_session=True)
        self.procs.append(p)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if p.poll() is not None:
                raise AssertionError(f"web exited: {(self.tmp / f'web-{port}.log').read_text()[-2000:]}")
            try:
                urllib.request.urlopen(url + "/healthz", timeout=1).read()
                return url + "/slack/events"
            except OSError:
                time.sleep(0.1)
        raise AssertionError("web did not start")

    def kill(self, p: subprocess.Popen) -> None:
        """SIGKILL the worker and everything under it, as when its machine dies (RQ puts each work
        horse in a session of its own, so the process group alone is not enough)."""
        family = [p.pid]
        for pid in family:
            out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
            family.extend(int(x) for x in out.split())
        for pid in family:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        p.wait(timeout=10)

    def stop_all(self) -> None:
        for p in self.procs:
            if p.poll() is None and "worker" in p.args:
                self.kill(p)  # no orphaned work horse may outlive the test
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                    p.wait(timeout=5)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    os.killpg(p.pid, signal.SIGKILL)


def write_config(path: Path, target: str, migrations: Path, cache: Path, top: dict | None = None, **env_extra) -> Path:
    prod = {"database_url": target, "admin_url": target, "migrations": str(migrations), "protected": True,
            "approvals_required": 2, "channel": CHANNEL, **env_extra}
    lines = ['approvers = ["S0DBAS", "UDI"]', f'cache_dir = "{cache}"']
    lines += [f"{k} = {json.dumps(v)}" for k, v in (top or {}).items()]
    lines += ["", "[environments.prod]"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in prod.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def bot_env(tmp_path, databases, redis_url, stub, project, db):
    state = databases.create_state()
    config = write_config(tmp_path / "driftbot.toml", db, project, tmp_path / "cache")
    env = {
        "PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", str(tmp_path)),
        "DRIFTBOT_CONFIG": str(config),
        "SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET, "DRIFTBOT_SLACK_API_URL": stub.base_url,
        "REDIS_URL": redis_url, "DRIFTBOT_STATE_URL": state,
        "DRIFTBOT_QUEUE_PREFIX": f"t{uuid.uuid4().hex[:8]}:",
        "DRIFTBOT_HEARTBEAT_S": "0.5", "DRIFTBOT_SWEEP_INTERVAL_S": "0.5",
        "DRIFTBOT_WRITE_LOCK_TIMEOUT_MS": "60000",
    }
    bot = Bot(env=env, tmp=tmp_path)
    yield bot
    bot.stop_all()


# --- signed Slack requests ------------------------------------------------------------------------

def sign(body: bytes, ts: int, secret: str = SECRET) -> str:
    base = b"v0:" + str(ts).encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def post(url: str, body: bytes, *, ts: int | None = None, signature: str | None = None,
         content_type: str = "application/x-www-form-urlencoded") -> tuple[int, str, float]:
    """POST a Slack request; returns (status, body, seconds)."""
    ts = int(time.time()) if ts is None else ts
    req = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": content_type, "X-Slack-Request-Timestamp": str(ts),
        "X-Slack-Signature": signature or sign(body, ts)})
    t0 = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read().decode(), time.perf_counter() - t0
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), time.perf_counter() - t0


def command_body(text: str, user: str = "UANA", channel: str = CHANNEL) -> bytes:
    return urlencode({
        "token": "legacy-unused", "team_id": "T0TEST", "team_domain": "example", "channel_id": channel,
        "channel_name": "db-ops", "user_id": user, "user_name": user.lower(), "command": "/drift", "text": text,
        "api_app_id": "A0DRIFT", "response_url": "https://hooks.slack.invalid/commands/1", "trigger_id": "1.2.3",
    }).encode()


def command(url: str, text: str, user: str = "UANA", channel: str = CHANNEL) -> tuple[int, str, float]:
    return post(url, command_body(text, user, channel))


def click_body(action_id: str, value: str, user: str, message: dict, *, team: str = "T0TEST",
               channel: str | None = None, message_ts: str | None = None, action_ts: str | None = None,
               trigger_id: str | None = None) -> bytes:
    """A block_actions payload as Slack sends it; the keywords make it come from elsewhere."""
    channel = channel or message["channel"]
    message_ts = message_ts or message["ts"]
    payload = {
        "type": "block_actions", "api_app_id": "A0DRIFT", "token": "legacy-unused",
        "trigger_id": trigger_id or f"{time.time_ns()}.{uuid.uuid4().hex[:8]}",
        "team": {"id": team, "domain": "example"}, "user": {"id": user, "username": user.lower(), "team_id": team},
        "container": {"type": "message", "message_ts": message_ts, "channel_id": channel, "is_ephemeral": False},
        "channel": {"id": channel, "name": "db-ops"},
        "message": {"type": "message", "ts": message_ts, "text": message.get("text"), "blocks": message.get("blocks")},
        "response_url": "https://hooks.slack.invalid/actions/1",
        "actions": [{"type": "button", "action_id": action_id, "block_id": "b", "value": value,
                     "text": {"type": "plain_text", "text": action_id}, "action_ts": action_ts or f"{time.time():.6f}"}],
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def click(url: str, action_id: str, value: str, user: str, message: dict, **where) -> tuple[int, str, float]:
    return post(url, click_body(action_id, value, user, message, **where))


def buttons(message: dict) -> list[dict]:
    return [e for b in message.get("blocks") or [] if b.get("type") == "actions" for e in b["elements"]]
