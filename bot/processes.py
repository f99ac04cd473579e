"""The processes of the Procfile: ``web`` (Bolt over HTTP, or Socket Mode), ``worker`` (RQ)
and ``clock`` (the digest schedule).

All three start the same way (``start``): bring the state schema to the current
Alembic revision, audit the configuration if it changed, and install this
process's runtime.

Readiness (``/readyz``, ``driftbot check-ready``): Redis answers, the state database answers
and its schema is at the newest revision; each failing part is named with a reason safe to
show (no URL, no password).
"""

from __future__ import annotations

import io
import logging
import multiprocessing
import os
import re
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from functools import lru_cache

from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError, SQLAlchemyError
from sqlalchemy.pool import NullPool

# RQ forks a work horse per job and the horse imports the job's function. The job modules are
# imported here, once, so every horse inherits them instead of paying the drift engine's,
# psycopg's and slack_sdk's imports again per job (benchmarks/bench_digest.py: the digest).
from driftbot.audit import record_start
from driftbot.digest import jobs as digest_jobs  # noqa: F401 - see above
from driftbot.digest.clock import make_scheduler
from driftbot.digest.schedule import Schedule
from driftbot import logs
from driftbot.errors import ConfigError, DriftbotError, redact
from driftbot.runtime import Runtime, build, current, install
from driftbot.settings import Settings
from driftbot.state.db import alembic_config, make_engine, upgrade
from driftbot.work import jobs, sweeper  # noqa: F401 - jobs: see above
from driftbot.work.queues import DRIFT, EXECUTE, queue
from driftbot.work.workers import Worker
from driftbot.metrics import instruments, multiproc
from driftbot.work import scrape
from driftbot.handlers.app import create_app  # the door: the web process is the one place above it
from driftbot.handlers import screen

log = logging.getLogger(__name__)
EVENTS_PATH = "/slack/events"


@dataclass(frozen=True)
class Problem:
    """One part that keeps a process from being ready."""

    part: str  # "redis", "state database", "state schema"
    reason: str  # for anyone: /readyz is as public as the Slack endpoint beside it
    error: str = ""  # the exception's type (public), and its own first line (for the operator only)
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.part}: {self.reason}" + (f" ({self.error})" if self.error else "")

    @property
    def explained(self) -> str:
        """With the error's own words, redacted: for check-ready and start-up, not for /readyz."""
        missing = missing_database(self.detail)
        if missing:  # it answered: the database named in the URL is not there
            return f'{self.part}: database "{missing}" does not exist: create it, or correct DRIFTBOT_STATE_URL'
        return f"{self.part}: {self.reason}" + (f" ({self.error}: {self.detail})" if self.detail else
                                                 f" ({self.error})" if self.error else "")


def missing_database(text: str) -> str | None:
    """The database name in libpq's 'database "X" does not exist' (SQLSTATE 3D000), else None."""
    found = re.search(r'database "([^"]+)" does not exist', text or "")
    return found.group(1) if found else None


def _failed(part: str, exc: BaseException) -> Problem:
    cause = getattr(exc, "orig", None) or exc  # SQLAlchemy wraps the driver's error
    first = (str(cause).strip().splitlines() or [""])[0]
    reason = "does not exist" if missing_database(first) else "does not answer"
    return Problem(part, reason, type(cause).__name__, redact(first))


@lru_cache(maxsize=1)
def newest_revision() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(None)).get_current_head()


def redis_problem(settings: Settings, timeout: float = 2.0) -> Problem | None:
    if not settings.redis_url:
        return Problem("redis", "REDIS_URL is not set")
    conn = Redis.from_url(settings.redis_url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        conn.ping()
    except RedisError as exc:
        return _failed("redis", exc)
    finally:
        conn.close()
    return None


def state_problem(settings: Settings, timeout: int = 2) -> Problem | None:
    if not settings.state_url:
        return Problem("state database", "DRIFTBOT_STATE_URL is not set")
    engine = make_engine(settings.state_url, poolclass=NullPool,
                         connect_args={"connect_timeout": timeout, "application_name": "driftbot-ready"})
    try:
        with engine.connect() as conn:
            current = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except ProgrammingError:
        return Problem("state schema", "not created yet (web, worker and clock create it at start)")
    except SQLAlchemyError as exc:
        return _failed("state database", exc)
    finally:
        engine.dispose()
    if current != newest_revision():
        return Problem("state schema", f"at revision {current}, the newest is {newest_revision()} "
                                       "(web, worker and clock upgrade it at start)")
    return None


def problems(settings: Settings, within: float = 3.0) -> list[Problem]:
    """What keeps this process from being ready; empty when it is. Answers within *within* seconds
    (a host name that does not resolve can take longer than any connect timeout): a part still
    being checked then is reported as not answering in time."""
    pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="driftbot-ready")
    checks = {"redis": pool.submit(redis_problem, settings), "state database": pool.submit(state_problem, settings)}
    wait(checks.values(), timeout=within)
    pool.shutdown(wait=False)
    found = []
    for part, future in checks.items():
        if not future.done():
            found.append(Problem(part, f"no answer within {within:g} s"))
        elif future.result() is not None:
            found.append(future.result())
    return found


def require_redis(settings: Settings) -> None:
    """Worker and clock need Redis from their first second: say so in one line, before any log line."""
    found = redis_problem(settings)
    if found:
        raise DriftbotError(f"Redis {found.explained.removeprefix('redis: ')}: check REDIS_URL and that Redis is up.")


def start(settings: Settings, process: str) -> Runtime:
    """The one start-up of every process: schema upgrade, configuration audit, runtime."""
    engine = make_engine(settings.state_url or "")  # the upgrade may wait for another process's lock
    try:
        upgrade(engine)
        record_start(engine, settings, process)
    finally:
        engine.dispose()
    rt = build(settings, interactive=process == "web")
    install(rt)
    return rt


def wsgi_app(rt: Runtime):
    """A WSGI callable serving Slack's requests at /slack/events (and /healthz, /readyz, /metrics)."""
    from slack_bolt.adapter.wsgi import SlackRequestHandler

    bolt = SlackRequestHandler(create_app(rt))
    secret = rt.settings.slack_signing_secret.get_secret_value() if rt.settings.slack_signing_secret else ""
    metrics = scrape.wsgi(rt.settings)

    def app(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == EVENTS_PATH:
            refused = _screened(environ, secret)
            if refused is not None:
                start_response(refused[0], [("Content-Type", "text/plain")])
                return [refused[1]]
            return bolt(environ, start_response)
        if path == "/healthz":  # alive: this process answers
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok\n"]
        if path == "/readyz":  # ready: Redis and the state database too
            found = problems(rt.settings)
            start_response("503 Service Unavailable" if found else "200 OK", [("Content-Type", "text/plain")])
            return [("not ready\n" + "".join(f"{p}\n" for p in found) if found else "ready\n").encode()]
        if path == "/metrics":  # Prometheus: this group's counts and the state read now (docs/metrics.md)
            return metrics(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found\n"]

    return app


def _screened(environ, secret: str) -> tuple[str, bytes] | None:
    """401 for a body Slack did not sign, 400 (one log line) for a signed one of the wrong shape, before
    Bolt parses it (driftbot.handlers.screen); None lets Bolt have it, the body put back for it to read."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    chunked = environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked"  # gunicorn de-chunks on read()
    body = environ["wsgi.input"].read(length) if length > 0 else environ["wsgi.input"].read() if chunked else b""
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    if not screen.signed(body, environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP"), environ.get("HTTP_X_SLACK_SIGNATURE"),
                         secret):
        return "401 Unauthorized", b"invalid request signature\n"
    problem = screen.malformed(body, environ.get("CONTENT_TYPE"))
    if problem:
        log.warning("refused a signed Slack request: %s", problem)
        return "400 Bad Request", b"malformed request\n"
    return None


def run_web(settings: Settings, workers: int = 2, threads: int = 8) -> int:
    logs.configure("web")
    multiproc.prepare("web")  # before anything is counted: gunicorn's workers count into the same directory
    rt = start(settings, "web")
    create_app(rt)  # a missing Slack setting stops the start here, in one line, not in gunicorn's workers
    if settings.slack_app_token is not None:
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        log.info("Socket Mode (SLACK_APP_TOKEN is set)")
        SocketModeHandler(create_app(rt), settings.slack_app_token.get_secret_value()).start()
        return 0
    from gunicorn.app.base import BaseApplication

    class _Gunicorn(BaseApplication):
        def load_config(self) -> None:
            self.cfg.set("bind", f"0.0.0.0:{settings.port}")
            self.cfg.set("workers", workers)
            self.cfg.set("worker_class", "gthread")  # Bolt finishes listeners on threads after ack()
            self.cfg.set("threads", threads)
            self.cfg.set("timeout", 30)
            self.cfg.set("post_fork", lambda server, worker: instruments.process_started("web"))
            self.cfg.set("child_exit", multiproc.worker_exited)
            if logs.gunicorn_logconfig() is not None:  # DRIFTBOT_LOG_FORMAT=json: gunicorn's own lines too
                self.cfg.set("logconfig_dict", logs.gunicorn_logconfig())

        def load(self):
            return wsgi_app(current())  # in the forked worker: its own database pool

    _Gunicorn().run()
    return 0


def run_worker(settings: Settings, burst: bool = False) -> int:
    logs.configure("worker")  # in json, RQ's own lines go through the root's JSON handler (it adds none then)
    require_redis(settings)
    multiproc.prepare("worker")  # before anything is counted: the sweeper and the work horses count there too
    rt = start(settings, "worker")
    rt.engine.dispose()  # nothing pooled across the work horses' forks
    instruments.process_started("worker")
    # The worker's own connection: blocking dequeues outlast the web's short socket timeouts.
    conn = Redis.from_url(settings.redis_url or "")
    sweeping = multiprocessing.get_context("spawn").Process(  # with the metrics listener, when its port is set
        target=sweeper.run, args=(settings, os.getpid(), settings.worker_metrics_port), name="driftbot-sweeper",
        daemon=True)
    sweeping.start()
    worker = Worker([queue(rt, EXECUTE, conn), queue(rt, DRIFT, conn)], connection=conn)
    try:
        worker.work(burst=burst, with_scheduler=False)
    finally:
        sweeping.terminate()
        sweeping.join(10)  # waited for: no zombie in a caller that lives on
    return 0


def run_clock(settings: Settings) -> int:
    """The ``clock`` process: start up like the others, then run the digest schedule until stopped."""
    if not settings.redis_url:
        raise ConfigError("Setting `redis_url` is missing: set REDIS_URL.")
    schedule = Schedule.from_settings(settings.digest)
    require_redis(settings)
    start(settings, "clock")
    logs.configure("clock", "%(asctime)s clock %(levelname)s %(message)s")
    scheduler, job = make_scheduler(Redis.from_url(settings.redis_url), settings)
    log.info("digest schedule %r in %s; next at %s", schedule.cron, schedule.tz.key, job.next_enqueue_time.isoformat())
    scheduler.start()
    return 0
