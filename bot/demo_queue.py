"""``driftbot demo``, second half: the same check through the real worker queue.

Where no Redis is configured an embedded Valkey starts; driftbot's state lives
in a database next to the demo's production. The check is recorded and queued
exactly as ``/drift status prod`` does it, and an RQ worker (burst mode: it
stops when the queue is empty) runs it.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql
from rq import SimpleWorker

from bot import embedded
from bot.errors import DriftbotError
from bot.engine.db import parse_url
from bot.settings import Settings

STATE_DB = "driftbot_demo_state"


def _redis_url(cache: Path) -> str:
    url = os.environ.get("REDIS_URL")
    if url:
        return url
    print("Starting an embedded Valkey (no REDIS_URL given)…", file=sys.stderr)
    return embedded.valkey(cache)


def _state_url(server_url: str) -> str:
    with psycopg.connect(parse_url(server_url).conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(STATE_DB)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(STATE_DB)))
    return urlunsplit(urlsplit(server_url)._replace(path="/" + STATE_DB))


def demo_settings(settings: Settings, server_url: str, cache: Path) -> Settings:
    """The demo's settings with a queue (configured or embedded) and a fresh state database."""
    return settings.model_copy(update={"redis_url": settings.redis_url or _redis_url(cache),
                                       "state_url": _state_url(server_url), "queue_prefix": "demo-"})


class _DemoWorker(SimpleWorker):
    """Keeps the demo's signal handling: Ctrl-C, SIGTERM and SIGHUP end the demo at once, its
    servers stopped on the way out (RQ's own handlers would wait for the check to finish)."""

    def _install_signal_handlers(self) -> None:
        pass


def run_through_queue(settings: Settings) -> tuple[str, str]:
    """Queue a check of prod and run it on a worker; returns (state, what to print)."""
    from redis import Redis
    from redis.exceptions import RedisError

    from bot import intake
    from bot.queue import DRIFT, queue
    from bot.runtime import build, install
    from bot.state.db import upgrade
    from bot.state.models import Check

    conn = Redis.from_url(settings.redis_url, socket_connect_timeout=5)
    try:
        conn.ping()
    except RedisError as exc:
        raise DriftbotError(f"The demo's Redis ({settings.redis_url}) does not answer ({exc}); "
                            "unset REDIS_URL to use an embedded Valkey.") from exc
    rt = build(settings)
    upgrade(rt.engine)
    install(rt)
    started = time.perf_counter()
    intake.request_check(rt, "prod", user="demo", channel=None)
    # SimpleWorker runs the job in this process: the demo's embedded servers belong to it.
    _DemoWorker([queue(rt, DRIFT, conn)], connection=conn).work(burst=True, with_scheduler=False,
                                                                logging_level="WARNING")
    took = time.perf_counter() - started
    with rt.sessions() as s:
        check = s.query(Check).order_by(Check.id.desc()).first()
    rt.engine.dispose()
    return check.state or check.status, (
        f"Through the worker queue ({settings.redis_url}, queue `{settings.queue_prefix}drift`): check #{check.id} "
        f"{check.status} in {took:.1f} s on {check.worker}: state {check.state}, fingerprint {check.fingerprint[:12]}…\n")
