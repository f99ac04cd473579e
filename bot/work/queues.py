"""The worker queue on Redis (RQ): names, and the one way a job is enqueued (``enqueue``, ``JOBS``).

``drift`` holds checks, comparisons, request preparation, audit summaries and digests;
``execute`` the approved changes and the Approve / Reject / Cancel clicks that
decide them (short jobs, ahead of any check). Both names carry the deployment's
``queue_prefix``. Jobs are enqueued by reference (``driftbot.work.jobs.*``), so
nothing here imports what the jobs do. Every job has a time limit and a
deterministic id where the state row must find it again. Heartbeats: ``driftbot.work.heartbeat``.
"""

from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Callable

from rq import Callback, Queue, get_current_job
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.registry import ScheduledJobRegistry

from driftbot.ops import tracing
from driftbot.runtime import Runtime
from driftbot.settings import Settings
from driftbot.state import keys
from driftbot.work import acked

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


@dataclass(frozen=True)
class JobSpec:
    """How one kind of job is enqueued: its entry point (by dotted name: what Redis keeps for a queued
    job, so a name here is never renamed), its queue, its time limit and how long RQ keeps its outcome."""

    func: str
    queue: str
    timeout: int | Callable[[Settings], int]
    result_ttl: int = 600
    failure_ttl: int | None = 7 * 86400
    on_failure: str | None = None


def _check_limit(settings: Settings) -> int:
    return settings.check_job_timeout_s


JOBS: dict[str, JobSpec] = {
    "check": JobSpec("driftbot.work.jobs.check_job", DRIFT, _check_limit, 3600),
    "propose": JobSpec("driftbot.work.jobs.propose_job", DRIFT, _check_limit, 3600, on_failure="driftbot.work.jobs.propose_failed"),
    # a check, a push, two API calls (driftbot.work.pull_requests)
    "pull_request": JobSpec("driftbot.work.jobs.pull_request_job", DRIFT, _check_limit, 3600,
                            on_failure="driftbot.work.jobs.pull_request_failed"),
    "decision": JobSpec("driftbot.work.jobs.decision_job", EXECUTE, 120),
    "refresh_groups": JobSpec("driftbot.work.jobs.refresh_groups_job", DRIFT, 120, result_ttl=30, failure_ttl=None),
    "execute": JobSpec("driftbot.work.jobs.execute_job", EXECUTE, lambda s: s.execute_job_timeout_s, 3600),
    "audit": JobSpec("driftbot.work.jobs.audit_job", DRIFT, 120, failure_ttl=None),
    "audit_verify": JobSpec("driftbot.work.jobs.audit_verify_job", DRIFT, 300, failure_ttl=None),
    "compare": JobSpec("driftbot.work.jobs.compare_job", DRIFT, _check_limit, failure_ttl=None),
    "repost_check": JobSpec("driftbot.work.jobs.repost_check_job", DRIFT, 300),
    "repost_post": JobSpec("driftbot.work.jobs.repost_post_job", DRIFT, 300),
}


def enqueue(rt: Runtime, name: str, *args, job_id: str | None = None, delay: float | None = None,
            kwargs: dict | None = None, func: str | None = None) -> str:
    """The one way a job is queued: *name* of ``JOBS`` with its time limit and keeping times; *delay*:
    put off that many seconds (the sweeper releases it); *func*: another entry point that runs it (the
    ledger's ``acked_job``). Returns the job's id."""
    spec = JOBS[name]
    options: dict = {"job_timeout": spec.timeout(rt.settings) if callable(spec.timeout) else spec.timeout,
                     "result_ttl": spec.result_ttl}
    if spec.failure_ttl is not None:
        options["failure_ttl"] = spec.failure_ttl
    if spec.on_failure is not None:
        options["on_failure"] = Callback(spec.on_failure)
    if job_id is not None:
        options["job_id"] = job_id
    if kwargs is not None:
        options["kwargs"] = kwargs
    q = queue(rt, spec.queue)
    with tracing.span(f"enqueue {name}", job=name, queue=q.name) as span:
        options["meta"] = tracing.job_meta()  # the job continues this trace (empty without traces)
        job = q.enqueue_in(timedelta(seconds=delay), func or spec.func, *args, **options) if delay else \
            q.enqueue(func or spec.func, *args, **options)
        span.set(job_id=job.id)
    return job.id


def enqueue_check(rt: Runtime, check_id: int) -> str:
    return enqueue(rt, "check", check_id, job_id=job_id(rt, "check", check_id))


# Jobs whose asker was told they are coming: recorded in the state database first (driftbot.work.acked).
ACKED = ("propose", "pull_request", "decision", "audit", "audit_verify", "compare")


def enqueue_acked(rt: Runtime, work_id: int, name: str, kwargs: dict, delay: float | None = None) -> str:
    """Queue the recorded job *work_id* (again): ``driftbot.work.jobs.acked_job`` claims its row, then runs
    *name*'s entry point, with *name*'s time limit, keeping times and failure callback."""
    entry = JOBS[name].func.rsplit(".", 1)[1]
    return enqueue(rt, name, job_id=job_id(rt, "acked", work_id), delay=delay, func="driftbot.work.jobs.acked_job",
                   kwargs={**kwargs, "acked_id": work_id, "acked_job": entry})


def _acked(rt: Runtime, name: str, kwargs: dict, *, asker: str | None, channel: str | None, what: str,
           delay: float | None = None) -> str:
    """Record, then queue: the row is in the state database before the asker is told anything."""
    work_id = acked.record(rt, job=name, queue=JOBS[name].queue, kwargs=kwargs, asker=asker, channel=channel,
                           what=what)
    try:
        return enqueue_acked(rt, work_id, name, kwargs, delay)
    except Exception:  # not queued, and the asker is told so: nothing is owed
        acked.drop(rt, work_id)
        raise


def enqueue_propose(rt: Runtime, **kwargs) -> str:
    return _acked(rt, "propose", kwargs, asker=kwargs.get("requester"), channel=kwargs.get("channel"),
                  what=f"request on {kwargs.get('environment')}")


def enqueue_pull_request(rt: Runtime, **kwargs) -> str:
    """The pull request asked for from a check's thread (``driftbot.work.pull_requests``): a check, a push, two API calls."""
    return _acked(rt, "pull_request", kwargs, asker=kwargs.get("user"), channel=kwargs.get("channel"),
                  what="pull request")


def enqueue_decision(rt: Runtime, click: dict, delay: float | None = None) -> str:
    """A click for a worker to decide; *delay*: put off that many seconds (the sweeper releases it)."""
    return _acked(rt, "decision", click, asker=click.get("user"), channel=click.get("channel"),
                  what=f"{click.get('action')} click", delay=delay)


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
        enqueue(rt, "refresh_groups", job_id=job_id(rt, "groups", "all"))
    except Exception:  # already queued, or Redis away: the sweeper refreshes them anyway
        log.debug("group refresh not queued")


def enqueue_execute(rt: Runtime, request_id: int) -> str:
    return enqueue(rt, "execute", request_id, job_id=job_id(rt, "execute", request_id))


def enqueue_audit(rt: Runtime, environment: str | None, days: int, user: str, channel: str) -> str:
    return _acked(rt, "audit", {"environment": environment, "days": days, "user": user, "channel": channel},
                  asker=user, channel=channel, what="audit export")


def enqueue_audit_verify(rt: Runtime, checkpoint: str | None, user: str, channel: str) -> str:
    return _acked(rt, "audit_verify", {"checkpoint": checkpoint, "user": user, "channel": channel},
                  asker=user, channel=channel, what="audit verification")


def enqueue_compare(rt: Runtime, from_env: str, to_env: str, user: str, channel: str) -> str:
    return _acked(rt, "compare", {"from_env": from_env, "to_env": to_env, "user": user, "channel": channel},
                  asker=user, channel=channel, what=f"comparison of {from_env} and {to_env}")


def unposted_key(rt: Runtime, check_id: int) -> str:
    """Where a check result Slack refused waits to be posted again."""
    return keys.unposted(rt.settings.queue_prefix, check_id)


def enqueue_repost(rt: Runtime, check_id: int) -> str:
    return enqueue(rt, "repost_check", check_id)


def kept_posts_key(rt: Runtime) -> str:
    """Request messages, their thread notes and updates Slack refused (``driftbot.slack.posting.keep_post``)."""
    return keys.kept_posts(rt.settings.queue_prefix)


def release_kept_posts(rt: Runtime, limit: int = 50) -> int:
    """One repost job per kept post (the sweeper); the job keeps it again if Slack still refuses."""
    n = 0
    while n < limit and (raw := rt.redis.lpop(kept_posts_key(rt))) is not None:
        enqueue(rt, "repost_post", json.loads(raw))
        n += 1
    return n


def job_status(rt: Runtime, jid: str | None) -> str | None:
    """RQ's status of a job, or None when Redis no longer knows it."""
    if not jid:
        return None
    try:
        return Job.fetch(jid, connection=rt.redis).get_status(refresh=True)
    except NoSuchJobError:
        return None
