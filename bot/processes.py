"""The processes of the Procfile: ``web`` (Bolt over HTTP, or Socket Mode) and ``worker`` (RQ).

Each brings the state schema to the current Alembic revision at start.
"""

from __future__ import annotations

import logging

from bot.runtime import Runtime, build, install
from bot.settings import Settings

log = logging.getLogger(__name__)
EVENTS_PATH = "/slack/events"


def start(settings: Settings, process: str) -> Runtime:
    from bot.audit import record_start
    from bot.state.db import upgrade

    from bot.state.db import make_engine

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

    from bot.slack.app import create_app

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

        from bot.slack.app import create_app

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
            from bot.runtime import current

            return wsgi_app(current())  # in the forked worker: its own database pool

    _Gunicorn().run()
    return 0


def sweeper_main(settings: Settings, parent: int) -> None:
    """The sweeper's own process (spawned, not forked, and not a thread of the worker: RQ forks a
    work horse per job, and a fork taken while another thread holds a lock deadlocks the child)."""
    import os
    import time

    from bot.queue import sweep

    logging.basicConfig(level=logging.INFO, format="%(asctime)s sweeper %(message)s")
    rt = build(settings)
    install(rt)
    while os.getppid() == parent:  # stop with the worker that started it
        try:
            done = sweep(rt)
            if done:
                log.info("sweep: %s", done)
        except Exception as exc:  # keep sweeping; one bad round must not stop the reports
            log.warning("sweep failed: %s", type(exc).__name__)
        time.sleep(rt.settings.sweep_interval_s)


def run_worker(settings: Settings, burst: bool = False) -> int:
    from redis import Redis
    from rq import Worker

    from bot.queue import DRIFT, EXECUTE, queue

    import multiprocessing
    import os

    rt = start(settings, "worker")
    # RQ forks a work horse per job and the horse imports the job's function. Importing the job
    # modules here, once, lets every horse inherit them instead of paying the drift engine's,
    # psycopg's and slack_sdk's imports again per job (benchmarks/bench_digest.py: the digest).
    import bot.audit_slack  # noqa: F401
    import bot.digest_jobs  # noqa: F401
    import bot.jobs  # noqa: F401

    rt.engine.dispose()  # nothing pooled across the work horses' forks
    # The worker's own connection: blocking dequeues outlast the web's short socket timeouts.
    conn = Redis.from_url(settings.redis_url or "")
    sweeper = multiprocessing.get_context("spawn").Process(
        target=sweeper_main, args=(settings, os.getpid()), name="driftbot-sweeper", daemon=True)
    sweeper.start()
    worker = Worker([queue(rt, EXECUTE, conn), queue(rt, DRIFT, conn)], connection=conn)
    try:
        worker.work(burst=burst, with_scheduler=False)
    finally:
        sweeper.terminate()
    return 0
