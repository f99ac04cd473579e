"""Helpers shared across the tests: a small Slack Web API stand-in (the digest and audit
tests), environments in real databases, a runtime on a real state database, and an
in-process RQ worker."""

from __future__ import annotations

import io
import json
import logging
import threading
import uuid
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit, urlunsplit

import psycopg
from psycopg import sql
from rq import SimpleWorker

from bot import logs
from bot.runtime import Runtime, build, install
from bot.settings import Settings
from bot.state.db import upgrade
from bot.work.queues import DRIFT, queue
from tests.factory import INIT, POSTS, deploy, execute, write_migrations

UNREACHABLE = "postgresql://nobody@127.0.0.1:1/gone"


class SlackStandIn:
    """Answers the Web API methods the digest uses over real HTTP and keeps what was posted."""

    def __init__(self) -> None:
        self.posts: list[dict] = []
        self.files: list[dict] = []  # snippets: files_upload_v2's three steps, content included
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the http.server interface
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                if "/upload/" in self.path:  # the file bytes, sent to the URL we handed out
                    standin.files[int(self.path.rsplit("/", 1)[-1])]["content"] = body
                    self.send_response(200)
                    self.end_headers()
                    return
                if self.headers.get("Content-Type", "").startswith("application/json"):
                    args = json.loads(body or "{}")
                else:
                    args = {k: v[0] for k, v in parse_qs(body).items()}
                method = self.path.rsplit("/", 1)[-1]
                if method == "chat.postMessage":
                    standin.posts.append(args)
                    answer = {"ok": True, "channel": args.get("channel"), "ts": f"1700000000.{len(standin.posts):06d}"}
                elif method == "files.getUploadURLExternal":
                    standin.files.append({"filename": args.get("filename")})
                    n = len(standin.files) - 1
                    answer = {"ok": True, "file_id": f"F{n}", "upload_url": f"{standin.url}upload/{n}"}
                elif method == "files.completeUploadExternal":
                    done = json.loads(args.get("files", "[]"))
                    for f in done:
                        standin.files[int(f["id"][1:])].update(args, title=f.get("title"))
                    answer = {"ok": True, "files": [{"id": f["id"]} for f in done]}
                else:
                    answer = {"ok": True}
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def build_environments(databases, root: Path, states: dict[str, str]) -> dict[str, dict]:
    """Real databases in the asked states: in_sync, pending, failed, drifted, or unreachable."""
    folder = write_migrations(root / "migrations", {"20250101000000_init": INIT, "20250102000000_posts": POSTS})
    first_only = write_migrations(root / "first", {"20250101000000_init": INIT})
    out = {}
    for name, state in states.items():
        if state == "unreachable":
            out[name] = {"database_url": UNREACHABLE, "migrations": str(folder), "protected": True}
            continue
        url = databases.create(name.replace("-", "_"))
        if state == "pending":
            deploy(url, first_only)
        else:
            deploy(url, folder)
        if state == "failed":  # the migration failed and, being one transaction, left nothing behind
            execute(url, 'DROP TABLE "Post"')
            execute(url, "UPDATE _prisma_migrations SET finished_at = NULL, logs = 'boom' "
                         "WHERE migration_name = '20250102000000_posts'")
        if state == "drifted":  # a migration row the folder does not have: environments diverged
            execute(url, "INSERT INTO _prisma_migrations (id, checksum, migration_name, started_at, finished_at, "
                         "applied_steps_count) VALUES (%s, 'x', '20250103000000_hotfix', now(), now(), 1)",
                    (str(uuid.uuid4()),))
        out[name] = {"database_url": url, "migrations": str(folder), "protected": True}
    return out


@contextmanager
def captured_log(name: str):
    """driftbot's logging installed (bot/logs.py) and the logger *name* at INFO, its lines written to a
    string: (logger, stream) until the block ends."""
    logs.install()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger(name)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield logger, stream
    finally:
        logger.removeHandler(handler)


@contextmanager
def login_role(server_url: str, prefix: str, grants: str = ""):
    """A throwaway LOGIN role without CREATEDB on the server of *server_url*, named *prefix* and a
    random tail; *grants*: more of the CREATE ROLE options, as SQL. Dropped with what it owns."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL(f"CREATE ROLE {{}} LOGIN NOCREATEDB {grants}").format(sql.Identifier(name)))
    try:
        yield name
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def as_role(url: str, role: str) -> str:
    """*url* with *role* as its user (and no password)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{role}@{parts.hostname}:{parts.port or 5432}"))


def make_runtime(settings: Settings, *, installed: bool = False) -> Runtime:
    """A runtime on *settings* with its state database at the current revision; *installed*:
    also this process's runtime, for jobs run in-process (``run_worker``)."""
    rt = build(settings)
    upgrade(rt.engine)
    if installed:
        install(rt)
    return rt


def runtime_on(*, state_url: str, redis_url: str, slack_url: str, environments: dict, cache_dir: Path,
               channels=("CDIGEST",), cron: str = "0 9 * * 1-5", timezone: str = "UTC", **extra) -> Runtime:
    """An installed runtime for *environments*, posting to *slack_url*, on its own queue prefix."""
    settings = Settings(
        environments=environments, state_url=state_url, redis_url=redis_url, slack_bot_token="xoxb-test",
        slack_api_url=slack_url, digest={"cron": cron, "timezone": timezone, "channels": list(channels)},
        queue_prefix=f"t{uuid.uuid4().hex[:8]}:", cache_dir=cache_dir, connect_timeout_s=2, **extra,
    )
    return make_runtime(settings, installed=True)


def run_worker(rt: Runtime) -> None:
    """Drain the runtime's drift queue in this process (a real RQ worker, burst mode)."""
    SimpleWorker([queue(rt, DRIFT)], connection=rt.redis).work(burst=True, with_scheduler=False)
