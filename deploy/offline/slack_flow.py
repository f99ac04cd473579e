"""The image's signed Slack flow on this machine: driftbot web and worker from the image, on the host
network, against a PostgreSQL, a Redis and the tests' Slack Web API stand-in, all on 127.0.0.1.

    python deploy/offline/slack_flow.py IMAGE PG_SUPERUSER_URL REDIS_URL

A signed `/drift status prod` to the web container is answered at once, the worker container runs the
check, and the result is posted to the stand-in: what tests/slack/test_flow.py checks on processes
started from a checkout. Prints what it saw; exits non-zero when the result never arrives."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.conftest import MIGRATIONS, Databases  # noqa: E402
from tests.slack.conftest import CHANNEL, SECRET, TOKEN, command, free_port, write_config  # noqa: E402
from tests.slack_stub import SlackStub  # noqa: E402
from tests import factory  # noqa: E402


def main(image: str, pg_url: str, redis_url: str) -> int:
    import psycopg

    from driftbot.engine import replay
    from driftbot.engine.sources import read_folder

    dbs = Databases(pg_url)
    stub = SlackStub(token=TOKEN, groups={"S0DBAS": ["UBO", "UCY"]}).start()
    names = []
    with tempfile.TemporaryDirectory(prefix="driftbot-image-flow-") as tmp:
        tmp = Path(tmp)
        tmp.chmod(0o755)
        target, state = dbs.create("imgtarget"), dbs.create("imgstate")
        folder = factory.write_migrations(tmp / "migrations", MIGRATIONS)
        items = read_folder(folder).items
        with psycopg.connect(target, autocommit=True) as conn:
            replay.deploy(conn, items[:2])
            conn.execute("""INSERT INTO "User" (email) VALUES ('ana@example.com'), ('ana@example.com')""")
            replay.deploy(conn, items)
        config = write_config(tmp / "driftbot.toml", target, folder, Path("/var/lib/driftbot/cache"))
        for p in tmp.rglob("*"):
            p.chmod(0o755 if p.is_dir() else 0o644)
        port = free_port()
        env = {"DRIFTBOT_CONFIG": "/etc/driftbot/driftbot.toml", "SLACK_BOT_TOKEN": TOKEN,
               "SLACK_SIGNING_SECRET": SECRET, "DRIFTBOT_SLACK_API_URL": stub.base_url, "REDIS_URL": redis_url,
               "DRIFTBOT_STATE_URL": state, "DRIFTBOT_QUEUE_PREFIX": f"img{uuid.uuid4().hex[:6]}:", "PORT": str(port)}
        flags = [f for k, v in env.items() for f in ("-e", f"{k}={v}")]
        mounts = ["-v", f"{config}:/etc/driftbot/driftbot.toml:ro", "-v", f"{folder}:{folder}:ro"]
        for process in ("web", "worker"):
            name = f"driftbot-flow-{process}-{uuid.uuid4().hex[:6]}"
            subprocess.run(["docker", "run", "-d", "--rm", "--network", "host", "--name", name, *flags, *mounts,
                            image, process, *(["--workers", "1"] if process == "web" else [])],
                           check=True, capture_output=True)
            names.append(name)
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    urllib.request.urlopen(url + "/healthz", timeout=1).read()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise SystemExit("web container did not answer /healthz")
                    time.sleep(0.5)
            status, body, took = command(url + "/slack/events", "status prod")
            print(f"POST /slack/events (signed /drift status prod): {status} in {took:.2f} s: {body[:120]}")
            posted = stub.wait_for(lambda: [p for p in stub.posts(CHANNEL) if "FAILED" in str(p) or "failed" in str(p)],
                                   timeout=120, what="the check's result in the channel")
            print(f"chat.postMessage to {CHANNEL}: {str(posted[0].get('text'))[:160]}")
            return 0
        finally:
            for name in names:
                logs = subprocess.run(["docker", "logs", "--tail", "5", name], capture_output=True, text=True)
                print(f"--- docker logs {name} (last lines)\n{logs.stdout}{logs.stderr}")
                subprocess.run(["docker", "stop", "-t", "10", name], capture_output=True)
            stub.stop()
            dbs.drop_all()


if __name__ == "__main__":
    raise SystemExit(main(*sys.argv[1:4]))
