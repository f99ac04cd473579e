"""Helpers shared across the tests: the Slack stand-in as the digest and audit tests read it,
environments in real databases, a runtime on a real state database, and an in-process RQ worker."""

from __future__ import annotations

import io
import json
import logging
import uuid
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from driftbot import logs
from driftbot.runtime import Runtime, build, install
from driftbot.settings import Settings
from driftbot.state.db import upgrade
from driftbot.work.queues import DRIFT, queue
from driftbot.work.workers import SimpleWorker
from tests.factory import INIT, POSTS, deploy, execute, write_migrations
from tests.slack_stub import SlackStub

UNREACHABLE = "postgresql://nobody@127.0.0.1:1/gone"


class SlackStandIn:
    """The suite's one Slack stand-in (tests/slack_stub.py, as strict as Slack) seen as the digest and audit
    tests read it: ``posts`` (the accepted ``chat.postMessage`` arguments) and ``files`` (the snippets, content
    included), in order. ``stub`` is the stand-in itself, for faults and ``assert_clean``."""

    def __init__(self, token: str = "xoxb-test") -> None:
        self.stub = SlackStub(token=token).start()
        self.url = self.stub.base_url

    @property
    def posts(self) -> list[dict]:
        return [{**c.params, "blocks": _decoded(c.params.get("blocks"))}
                for c in self.stub.called("chat.postMessage") if c.ok]

    @property
    def files(self) -> list[dict]:
        with self.stub._lock:
            stored = list(self.stub.files.values())
        return [{"filename": f["name"], "content": f["content"], "title": f.get("title"),
                 "channel_id": f.get("channel"), "thread_ts": f.get("thread_ts"),
                 "initial_comment": f.get("initial_comment")} for f in stored]

    def close(self) -> None:
        self.stub.stop()


def _decoded(value):
    return json.loads(value) if isinstance(value, str) else value


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


def child_pids() -> set[int]:
    """The pids of this process's children (any thread's), alive or exited and not yet waited for."""
    pids: set[int] = set()
    for children in Path("/proc/self/task").glob("*/children"):
        try:
            pids.update(int(p) for p in children.read_text().split())
        except OSError:
            continue
    return pids


def default_signals() -> None:
    """``preexec_fn`` of a command a test signals: the dispositions a terminal gives it (default,
    unblocked), not the test run's own (``nohup`` ignores SIGHUP, a background job SIGINT)."""
    import signal

    for sig in (signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
