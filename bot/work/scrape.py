"""What ``/metrics`` answers, on web's port and on each worker's ``worker_metrics_port``.

The counts of this process group (``driftbot.metrics``: added up from the multiprocess directory), and
the state read at scrape time (``StateCollector``): each queue's depth and its oldest job's age (Redis),
results and messages waiting to be posted again, approvals waiting and the oldest's age, each
environment's drift state and since when, the digest's last success (the state database).

A scrape never waits long and never fails for a part that is away: Redis and the state database are
asked side by side on connections of their own with short timeouts, within ``SCRAPE_BUDGET_S``; a part
that does not answer leaves its metrics out and says so in ``driftbot_dependency_up``.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterator

from prometheus_client import CollectorRegistry, make_wsgi_app, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from redis import Redis
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from driftbot import checks
from driftbot.metrics import instruments, multiproc
from driftbot.settings import Settings
from driftbot.state import keys
from driftbot.state.db import make_engine
from driftbot.state.models import Check, DigestRun, Request
from driftbot.work.queues import DRIFT, EXECUTE, queue_name

log = logging.getLogger(__name__)
SCRAPE_BUDGET_S = 2.0  # Prometheus' default scrape timeout is 10 s; a scrape answers well within it
FRESH_S = 5.0  # shorter than any sensible scrape interval (Prometheus' default: 1 min)
CONNECT_TIMEOUT_S = 1
STATEMENT_TIMEOUT_MS = 1000
IN_SYNC, ERROR = 0, 2  # driftbot_drift_state; every other state is out of sync (1)
DEPENDENCIES = ("redis", "state_database")


def drift_code(state: str) -> int:
    """0 in sync, 2 the check could not tell (error), 1 any other state (pending, drifted, failed, not managed)."""
    return IN_SYNC if state == "in_sync" else ERROR if state == "error" else 1


def _age(then: datetime | None, now: float) -> float:
    if then is None:
        return 0.0
    if then.tzinfo is None:
        then = then.replace(tzinfo=timezone.utc)
    return max(0.0, now - then.timestamp())


class StateCollector:
    """The state metrics, read from Redis and the state database when scraped; a reading serves the scrapes
    of the next ``FRESH_S`` seconds (web's port is public: a flood of /metrics requests reads the state
    database once per interval and process, not once per request)."""

    def __init__(self, settings: Settings, budget_s: float = SCRAPE_BUDGET_S) -> None:
        self.settings, self.budget_s = settings, budget_s
        self._engine = None
        self._lock = threading.Lock()
        self._last: tuple[float, dict, dict] | None = None  # (when, what was read, which parts answered)

    def describe(self) -> list[Metric]:
        return described()

    def collect(self) -> Iterator[Metric]:
        with self._lock:  # one reading at a time; the scrapes waiting for it take it
            if self._last is None or time.monotonic() - self._last[0] >= FRESH_S:
                self._last = (time.monotonic(), *self._read())
            _, known, answered = self._last
        up = _up()
        for part, ok in answered.items():
            up.add_metric([part], 1 if ok else 0)
        yield up
        yield from families(known)

    def _read(self) -> tuple[dict, dict]:
        pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="driftbot-scrape")
        parts = {"redis": pool.submit(self._redis), "state_database": pool.submit(self._database)}
        wait(parts.values(), timeout=self.budget_s)
        pool.shutdown(wait=False)
        known, answered = {}, {}
        for part, future in parts.items():
            answered[part] = ok = future.done() and future.exception() is None
            if ok:
                known.update(future.result())
            elif future.done():
                log.warning("metrics: %s not read: %s", part, type(future.exception()).__name__)
            else:
                log.warning("metrics: %s did not answer within %g s", part, self.budget_s)
        return known, answered

    def _redis(self) -> dict:
        conn = Redis.from_url(self.settings.redis_url or "", socket_connect_timeout=CONNECT_TIMEOUT_S,
                              socket_timeout=CONNECT_TIMEOUT_S)
        try:
            now, depth, oldest = time.time(), {}, {}
            for base in (DRIFT, EXECUTE):
                q = Queue(queue_name(self.settings, base), connection=conn)
                depth[base] = q.count
                first = q.get_job_ids(0, 1)
                try:
                    oldest[base] = _age(Job.fetch(first[0], connection=conn).enqueued_at, now) if first else 0.0
                except NoSuchJobError:  # taken meanwhile
                    oldest[base] = 0.0
            kept = conn.llen(keys.kept_posts(self.settings.queue_prefix))
        finally:
            conn.close()
        return {"queue_depth": depth, "queue_oldest": oldest, "reposts_message": kept}

    def _database(self) -> dict:
        if self._engine is None:
            self._engine = make_engine(self.settings.state_url or "", poolclass=NullPool, connect_args={
                "connect_timeout": CONNECT_TIMEOUT_S, "application_name": "driftbot-metrics",
                "options": f"-c statement_timeout={STATEMENT_TIMEOUT_MS}"})
        names = list(self.settings.environments)
        now = time.time()
        with Session(self._engine) as s:
            latest = s.execute(
                select(Check.environment, Check.state).distinct(Check.environment)
                .where(Check.environment.in_(names), Check.status == "finished", Check.state.is_not(None))
                .order_by(Check.environment, Check.finished_at.desc())).all()
            since = checks.drifted_since_each(s, names)
            unposted = s.execute(select(func.count()).select_from(Check)
                                 .where(Check.post_state.in_(("failed", "queued")))).scalar()
            waiting = s.execute(select(Request.environment, func.count(), func.min(Request.created_at))
                                .where(Request.status == "requested", Request.environment.in_(names))
                                .group_by(Request.environment)).all()
            digest = s.execute(select(func.max(DigestRun.finished_at)).where(DigestRun.status == "posted")).scalar()
        return {
            "drift": {env: drift_code(state) for env, state in latest},
            "since": {env: at.timestamp() for env, at in since.items()},
            "reposts_check": unposted,
            "approvals": {env: (n, _age(oldest, now)) for env, n, oldest in waiting},
            "digest": digest.timestamp() if digest is not None else None,
        }


def _up() -> GaugeMetricFamily:
    return GaugeMetricFamily("driftbot_dependency_up", "Whether the scrape read a dependency (redis, state_database) "
                             f"within {SCRAPE_BUDGET_S:g} s: 1 yes, 0 no (its state metrics are then left out).",
                             labels=["dependency"])


# What StateCollector's parts return, with nothing in it: every family, no sample (describe, the docs).
EVERY = {"queue_depth": {}, "queue_oldest": {}, "reposts_message": 0, "reposts_check": 0, "drift": {}, "since": {},
         "approvals": {}, "digest": 0.0}


def described() -> list[Metric]:
    """Every metric ``StateCollector`` may answer, read from nothing (the parts may be away)."""
    return [_up(), *families(EVERY)]


def families(known: dict) -> Iterator[Metric]:
    """The state metrics of what the scrape could read (*known*: ``StateCollector``'s parts, merged)."""
    if "queue_depth" in known:
        depth = GaugeMetricFamily("driftbot_queue_depth", "Jobs waiting on each queue (drift, execute).",
                                  labels=["queue"])
        oldest = GaugeMetricFamily("driftbot_queue_oldest_job_age_seconds", "How long the job at the head of "
                                   "each queue has waited (0 when the queue is empty).", labels=["queue"])
        for base, n in known["queue_depth"].items():
            depth.add_metric([base], n)
            oldest.add_metric([base], known["queue_oldest"][base])
        yield depth
        yield oldest
    if "reposts_message" in known or "reposts_check" in known:
        reposts = GaugeMetricFamily("driftbot_reposts_pending", "What Slack refused and driftbot will post again: "
                                    "check results (state database) and request messages, thread notes and "
                                    "updates (Redis).", labels=["kind"])
        if "reposts_check" in known:
            reposts.add_metric(["check_result"], known["reposts_check"])
        if "reposts_message" in known:
            reposts.add_metric(["message"], known["reposts_message"])
        yield reposts
    if "drift" in known:
        drift = GaugeMetricFamily("driftbot_drift_state", "Each environment's state at its latest finished check: "
                                  "0 in sync, 1 out of sync (drifted, pending, failed, not managed), 2 error "
                                  "(the check could not tell). Environments never checked are left out.",
                                  labels=["environment"])
        for env, code in sorted(known["drift"].items()):
            drift.add_metric([env], code)
        yield drift
        since = GaugeMetricFamily("driftbot_drift_since_timestamp_seconds", "When each out-of-sync environment's "
                                  "current spell began (its first out-of-sync check; checks that could not "
                                  "tell neither start nor end it).", labels=["environment"])
        for env, at in sorted(known["since"].items()):
            since.add_metric([env], at)
        yield since
    if "approvals" in known:
        approvals = GaugeMetricFamily("driftbot_approvals_waiting", "Requests waiting for approval, by "
                                      "environment.", labels=["environment"])
        age = GaugeMetricFamily("driftbot_approvals_oldest_age_seconds", "How long the oldest request waiting "
                                "for approval has waited, by environment.", labels=["environment"])
        for env, (n, oldest) in sorted(known["approvals"].items()):
            approvals.add_metric([env], n)
            age.add_metric([env], oldest)
        yield approvals
        yield age
    if known.get("digest") is not None:
        digest = GaugeMetricFamily("driftbot_digest_last_success_timestamp_seconds", "When the latest digest was "
                                   "posted in full.")
        digest.add_metric([], known["digest"])
        yield digest


class GroupCounts:
    """The counts of the processes of this group, added up from the multiprocess directory; when it cannot be
    read (removed, a file cut short), they are left out and logged: the answer is still the state, never a 500."""

    def collect(self) -> list[Metric]:
        try:
            return list(MultiProcessCollector(None, multiproc.directory()).collect())
        except Exception as exc:
            log.warning("metrics: the counts in %s not read: %s", multiproc.directory(), exc)
            return []


@dataclass(frozen=True)
class Described:
    """One metric as /metrics names it (docs/metrics.md)."""

    name: str  # as exposed: a counter with _total
    type: str  # counter, gauge, histogram
    labels: tuple[str, ...]
    help: str
    read_at_scrape: bool  # state read when scraped (the same from every process), else counted where it happened


def catalog() -> list[Described]:
    """Every metric driftbot exposes, in a stable order."""
    out = []
    for metric in instruments.COUNTED:
        (family,) = metric.describe()
        name = family.name + "_total" if family.type == "counter" else family.name
        out.append(Described(name, family.type, tuple(metric._labelnames), family.documentation, False))
    for family in described():
        out.append(Described(family.name, family.type, tuple(family._labelnames), family.documentation, True))
    return out


def registry(settings: Settings) -> CollectorRegistry:
    """The registry ``/metrics`` reads: the group's counts (or this process's, outside multiprocess mode)
    and the state read at scrape time."""
    reg = CollectorRegistry(auto_describe=False)
    if multiproc.directory() is not None:
        reg.register(GroupCounts())
    else:
        reg.register(instruments.REGISTRY)
    reg.register(StateCollector(settings))
    return reg


def wsgi(settings: Settings):
    """The WSGI answer to ``GET /metrics`` (text format, or OpenMetrics when the scraper asks for it)."""
    return make_wsgi_app(registry(settings))


def listen(settings: Settings, port: int) -> bool:
    """The worker's metrics listener, a thread of its sweeper's process (spawned: a thread of the worker
    itself would be forked into every work horse, and a process of its own would cost another 90 MB)."""
    try:
        start_http_server(port, registry=registry(settings))
    except OSError as exc:
        log.error("metrics: cannot listen on port %s (%s): set worker_metrics_port to a free port", port, exc)
        return False
    log.info("metrics at http://0.0.0.0:%s/metrics", port)
    return True
