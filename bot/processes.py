"""The processes of the Procfile: ``web`` (Bolt over HTTP, or Socket Mode), ``worker`` (RQ)
and ``clock`` (the digest schedule).

All three start the same way (``start``): bring the state schema to the current
Alembic revision, audit the configuration if it changed, and install this
process's runtime.
"""

from __future__ import annotations

import logging
import multiprocessing
import os

from redis import Redis
from rq import Worker

# RQ forks a work horse per job and the horse imports the job's function. The job modules are
# imported here, once, so every horse inherits them instead of paying the drift engine's,
# psycopg's and slack_sdk's imports again per job (benchmarks/bench_digest.py: the digest).
from bot.audit import record_start
from bot.digest import jobs as digest_jobs  # noqa: F401 - see above
from bot.digest.clock import make_scheduler
from bot.digest.schedule import Schedule
from bot.errors import ConfigError
from bot.runtime import Runtime, build, current, install
from bot.settings import Settings
from bot.slack.app import create_app
from bot.state.db import make_engine, upgrade
from bot.work import jobs, sweeper  # noqa: F401 - jobs: see above
from bot.work.queues import DRIFT, EXECUTE, queue

log = logging.getLogger(__name__)
EVENTS_PATH = "/slack/events"


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
    """A WSGI callable serving Slack's requests at /slack/events (and a health check at /healthz)."""
    from slack_bolt.adapter.wsgi import SlackRequestHandler

    bolt = SlackRequestHandler(create_app(rt))

    def app(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == EVENTS_PATH:
            return bolt(environ, start_response)
        if path == "/healthz":
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok\n"]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"not found\n"]

    return app


def run_web(settings: Settings, workers: int = 2, threads: int = 8) -> int:
    rt = start(settings, "web")
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

        def load(self):
            return wsgi_app(current())  # in the forked worker: its own database pool

    _Gunicorn().run()
    return 0


def run_worker(settings: Settings, burst: bool = False) -> int:
    rt = start(settings, "worker")
    rt.engine.dispose()  # nothing pooled across the work horses' forks
    # The worker's own connection: blocking dequeues outlast the web's short socket timeouts.
    conn = Redis.from_url(settings.redis_url or "")
    sweeping = multiprocessing.get_context("spawn").Process(
        target=sweeper.run, args=(settings, os.getpid()), name="driftbot-sweeper", daemon=True)
    sweeping.start()
    worker = Worker([queue(rt, EXECUTE, conn), queue(rt, DRIFT, conn)], connection=conn)
    try:
        worker.work(burst=burst, with_scheduler=False)
    finally:
        sweeping.terminate()
    return 0


def run_clock(settings: Settings) -> int:
    """The ``clock`` process: start up like the others, then run the digest schedule until stopped."""
    if not settings.redis_url:
        raise ConfigError("Setting `redis_url` is missing: set REDIS_URL.")
    schedule = Schedule.from_settings(settings.digest)
    start(settings, "clock")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s clock %(levelname)s %(message)s")
    scheduler, job = make_scheduler(Redis.from_url(settings.redis_url), settings)
    log.info("digest schedule %r in %s; next at %s", schedule.cron, schedule.tz.key, job.next_enqueue_time.isoformat())
    scheduler.start()
    return 0
