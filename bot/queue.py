"""The worker queue on Redis (RQ): names, enqueueing, heartbeats and the sweeper.

``drift`` holds checks and request preparation, ``execute`` the approved
changes. Every job has a time limit and a deterministic id. A running job keeps
a heartbeat key alive; the sweeper (run by every worker) reports a check or an
execution whose heartbeat stopped (its worker died), re-queues approved
requests whose job vanished, and expires old requests: nothing is lost silently.
"""

from __future__ import annotations

import logging
import re
import threading
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Iterator

from rq import Callback, Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.registry import StartedJobRegistry
from sqlalchemy import select

from bot.runtime import Runtime
from bot.settings import Settings

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


def enqueue_check(rt: Runtime, check_id: int) -> str:
    jid = job_id(rt, "check", check_id)
    queue(rt, DRIFT).enqueue("bot.jobs.check_job", check_id, job_id=jid,
                             job_timeout=rt.settings.check_job_timeout_s, result_ttl=3600, failure_ttl=7 * 86400)
    return jid


def enqueue_propose(rt: Runtime, **kwargs) -> str:
    job = queue(rt, DRIFT).enqueue("bot.jobs.propose_job", kwargs=kwargs, on_failure=Callback("bot.jobs.propose_failed"),
                                   job_timeout=rt.settings.check_job_timeout_s, result_ttl=3600, failure_ttl=7 * 86400)
    return job.id


def enqueue_execute(rt: Runtime, request_id: int) -> str:
    jid = job_id(rt, "execute", request_id)
    queue(rt, EXECUTE).enqueue("bot.jobs.execute_job", request_id, job_id=jid,
                               job_timeout=rt.settings.execute_job_timeout_s, result_ttl=3600, failure_ttl=7 * 86400)
    return jid


def _hb_key(rt: Runtime, kind: str, ident: int) -> str:
    return f"driftbot:{rt.settings.queue_prefix}hb:{kind}:{ident}"


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
        rt.redis.delete(key)


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


def sweep(rt: Runtime, now: datetime | None = None) -> dict[str, list[int]]:
    """Report lost checks and executions, re-queue orphaned approvals, expire old requests."""
    from bot import approvals, jobs
    from bot.state.models import Check, Execution, Request

    now = now or datetime.now(timezone.utc)
    # RQ's own detection of abandoned jobs (its failure callbacks report a dead propose job).
    for base in (DRIFT, EXECUTE):
        StartedJobRegistry(queue_name(rt.settings, base), connection=rt.redis).cleanup()
    grace = timedelta(seconds=rt.settings.heartbeat_s * 3)
    done: dict[str, list[int]] = {"lost_checks": [], "interrupted": [], "requeued": [], "expired": []}

    with rt.sessions.begin() as s:
        expired = approvals.expire_due(s, now)
        done["expired"] = [r.id for r in expired]
    for rid in done["expired"]:
        jobs.refresh_request_message(rt, rid)

    with rt.sessions() as s:
        active = s.execute(select(Check.id, Check.status, Check.job_id, Check.created_at, Check.started_at)
                           .where(Check.status.in_(("queued", "running")))).all()
        executing = s.execute(select(Execution.request_id, Execution.started_at).join(Request, Request.id == Execution.request_id)
                              .where(Request.status == "executing")).all()
        approved = s.execute(select(Request.id, Request.decided_at).where(Request.status == "approved")).all()
    for cid, status, jid, created, started in active:
        if status == "running" and started and started < now - grace and not alive(rt, "check", cid):
            lost = True
        elif status == "queued" and created < now - grace:
            lost = job_status(rt, jid) in (None, "failed", "stopped", "canceled", "finished")
        else:
            lost = False
        if lost and jobs.mark_check_lost(rt, cid):
            done["lost_checks"].append(cid)
    for rid, started in executing:
        if started < now - grace and not alive(rt, "execute", rid) and jobs.mark_interrupted(rt, rid):
            done["interrupted"].append(rid)
    for rid, decided in approved:
        waiting = job_status(rt, job_id(rt, "execute", rid)) in ("queued", "scheduled", "deferred")
        if decided and decided < now - grace and not waiting and not alive(rt, "execute", rid):
            enqueue_execute(rt, rid)
            done["requeued"].append(rid)
    return {k: v for k, v in done.items() if v}
