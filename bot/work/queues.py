"""The worker queue on Redis (RQ): names, enqueueing and heartbeats.

``drift`` holds checks, comparisons, request preparation, audit summaries and digests;
``execute`` the approved changes and the Approve / Reject / Cancel clicks that
decide them (short jobs, ahead of any check). Both names carry the deployment's
``queue_prefix``. Jobs are enqueued by reference (``bot.work.jobs.*``), so
nothing here imports what the jobs do. Every job has a time limit and a
deterministic id where the state row must find it again. A running job keeps a
heartbeat key alive; the sweeper (``bot.work.sweeper``) reports a job whose
heartbeat stopped.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from contextlib import contextmanager
from datetime import timedelta
from typing import Iterator

from rq import Callback, Queue, get_current_job
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.registry import ScheduledJobRegistry

from bot.runtime import Runtime
from bot.settings import Settings
from bot.state import keys

log = logging.getLogger(__name__)
DRIFT = "drift"
EXECUTE = "execute"


def queue_name(settings: Settings, base: str) -> str:
    """The name workers listen on: every process that enqueues or dequeues asks here."""
    return f"{settings.queue_prefix}{base}"


def queue(rt: Runtime, base: str, connection=None) -> Queue:
    return Queue(queue_name(rt.settings, base), connection=connection or rt.redis)


def job_id(rt: Runtime, kind: str, ident: int | str) -> str:
    """Deterministic, so a job can be found again from the state row (RQ ids: letters, digits, _ and -)."""
    prefix = re.sub(r"[^A-Za-z0-9_-]", "-", rt.settings.queue_prefix)
    return f"{prefix}{kind}-{ident}"


def worker_name(rt: Runtime) -> str:
    """The RQ worker running the current job, else this process's name."""
    job = get_current_job()
    return getattr(job, "worker_name", None) or rt.name


def enqueue_check(rt: Runtime, check_id: int) -> str:
    jid = job_id(rt, "check", check_id)
    queue(rt, DRIFT).enqueue("bot.work.jobs.check_job", check_id, job_id=jid,
                             job_timeout=rt.settings.check_job_timeout_s, result_ttl=3600, failure_ttl=7 * 86400)
    return jid


def enqueue_propose(rt: Runtime, **kwargs) -> str:
    job = queue(rt, DRIFT).enqueue("bot.work.jobs.propose_job", kwargs=kwargs, on_failure=Callback("bot.work.jobs.propose_failed"),
                                   job_timeout=rt.settings.check_job_timeout_s, result_ttl=3600, failure_ttl=7 * 86400)
    return job.id


def enqueue_pull_request(rt: Runtime, **kwargs) -> str:
    """The pull request asked for from a check's thread (``bot.work.pull_requests``): a check, a push, two API calls."""
    job = queue(rt, DRIFT).enqueue("bot.work.jobs.pull_request_job", kwargs=kwargs,
                                   on_failure=Callback("bot.work.jobs.pull_request_failed"),
                                   job_timeout=rt.settings.check_job_timeout_s, result_ttl=3600, failure_ttl=7 * 86400)
    return job.id


def enqueue_decision(rt: Runtime, click: dict, delay: float | None = None) -> str:
    """A click for a worker to decide; *delay*: put off that many seconds (the sweeper releases it)."""
    q, kwargs = queue(rt, EXECUTE), {"kwargs": click, "job_timeout": 120, "result_ttl": 600, "failure_ttl": 7 * 86400}
    if delay:
        return q.enqueue_in(timedelta(seconds=delay), "bot.work.jobs.decision_job", **kwargs).id
    return q.enqueue("bot.work.jobs.decision_job", **kwargs).id


def release_due(rt: Runtime) -> list[str]:
    """Put jobs enqueued with a delay whose time has come on their queue (workers run without RQ's
    scheduler; each sweeper does this, and a job is released once: whoever removes it enqueues it)."""
    released = []
    for base in (EXECUTE, DRIFT):
        q = queue(rt, base)
        registry = ScheduledJobRegistry(queue=q)
        for jid in registry.get_jobs_to_schedule(int(time.time())):
            if registry.remove(jid):
                try:
                    q.enqueue_job(Job.fetch(jid, connection=rt.redis))
                except NoSuchJobError:
                    continue
                released.append(jid)
    return released


def enqueue_refresh_groups(rt: Runtime) -> None:
    """Fetch the configured user groups' members on a worker (the web process never waits for Slack)."""
    try:
        queue(rt, DRIFT).enqueue("bot.work.jobs.refresh_groups_job", job_id=job_id(rt, "groups", "all"),
                                 job_timeout=120, result_ttl=30)
    except Exception:  # already queued, or Redis away: the sweeper refreshes them anyway
        log.debug("group refresh not queued")


def enqueue_execute(rt: Runtime, request_id: int) -> str:
    jid = job_id(rt, "execute", request_id)
    queue(rt, EXECUTE).enqueue("bot.work.jobs.execute_job", request_id, job_id=jid,
                               job_timeout=rt.settings.execute_job_timeout_s, result_ttl=3600, failure_ttl=7 * 86400)
    return jid


def enqueue_audit(rt: Runtime, environment: str | None, days: int, user: str, channel: str) -> str:
    job = queue(rt, DRIFT).enqueue("bot.work.jobs.audit_job", environment, days, user, channel,
                                   job_timeout=120, result_ttl=600)
    return job.id


def enqueue_audit_verify(rt: Runtime, checkpoint: str | None, user: str, channel: str) -> str:
    job = queue(rt, DRIFT).enqueue("bot.work.jobs.audit_verify_job", checkpoint, user, channel,
                                   job_timeout=300, result_ttl=600)
    return job.id


def enqueue_compare(rt: Runtime, from_env: str, to_env: str, user: str, channel: str) -> str:
    job = queue(rt, DRIFT).enqueue("bot.work.jobs.compare_job", from_env, to_env, user, channel,
                                   job_timeout=rt.settings.check_job_timeout_s, result_ttl=600)
    return job.id


def unposted_key(rt: Runtime, check_id: int) -> str:
    """Where a check result Slack refused waits to be posted again."""
    return keys.unposted(rt.settings.queue_prefix, check_id)


def enqueue_repost(rt: Runtime, check_id: int) -> str:
    job = queue(rt, DRIFT).enqueue("bot.work.jobs.repost_check_job", check_id, job_timeout=300, result_ttl=600,
                                   failure_ttl=7 * 86400)
    return job.id


def kept_posts_key(rt: Runtime) -> str:
    """Request messages, their thread notes and updates Slack refused (``bot.slack.posting.keep_post``)."""
    return keys.kept_posts(rt.settings.queue_prefix)


def release_kept_posts(rt: Runtime, limit: int = 50) -> int:
    """One repost job per kept post (the sweeper); the job keeps it again if Slack still refuses."""
    n = 0
    while n < limit and (raw := rt.redis.lpop(kept_posts_key(rt))) is not None:
        queue(rt, DRIFT).enqueue("bot.work.jobs.repost_post_job", json.loads(raw), job_timeout=300, result_ttl=600,
                                 failure_ttl=7 * 86400)
        n += 1
    return n


def _hb_key(rt: Runtime, kind: str, ident: int) -> str:
    return keys.heartbeat(rt.settings.queue_prefix, kind, ident)


@contextmanager
def heartbeat(rt: Runtime, kind: str, ident: int) -> Iterator[None]:
    """Keep ``driftbot:hb:KIND:ID`` alive while the body runs; it lapses within 3 beats of a death."""
    key, beat = _hb_key(rt, kind, ident), rt.settings.heartbeat_s
    ttl_ms = int(beat * 3000)
    stop = threading.Event()
    rt.redis.set(key, rt.name, px=ttl_ms)

    def _beat() -> None:
        while not stop.wait(beat):
            try:
                rt.redis.set(key, rt.name, px=ttl_ms)
            except Exception:  # a missed beat is reported by the sweeper if it lasts
                log.warning("heartbeat for %s %s missed", kind, ident)

    thread = threading.Thread(target=_beat, name=f"heartbeat-{kind}-{ident}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=beat)
        try:
            rt.redis.delete(key)
        except Exception:  # Redis away: the key lapses by itself; the outcome is already recorded
            log.warning("heartbeat for %s %s not removed", kind, ident)


def alive(rt: Runtime, kind: str, ident: int) -> bool:
    return bool(rt.redis.exists(_hb_key(rt, kind, ident)))


def job_status(rt: Runtime, jid: str | None) -> str | None:
    """RQ's status of a job, or None when Redis no longer knows it."""
    if not jid:
        return None
    try:
        return Job.fetch(jid, connection=rt.redis).get_status(refresh=True)
    except NoSuchJobError:
        return None
