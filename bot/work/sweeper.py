"""The sweeper: nothing is lost silently. Run by every worker in a process of its own.

It reports a check or an execution whose heartbeat stopped (its worker died),
re-queues approved requests whose job vanished, expires old requests, has check
results, request messages, their thread notes and updates Slack refused posted again,
releases clicks put off while Slack said wait, and keeps the user groups' members warm
(with a client that never waits for Retry-After: a rate-limited Slack delays
nothing here).
"""

from __future__ import annotations

import logging
import os
import time
from datetime import datetime, timedelta, timezone

from rq.registry import StartedJobRegistry
from sqlalchemy import select

from driftbot import checks, logs
from driftbot.metrics import instruments
from driftbot.requests import machine
from driftbot.runtime import Runtime, build, install
from driftbot.settings import Settings
from driftbot.slack.client import GroupMembers, make_client
from driftbot.slack import notify
from driftbot.slack.mrkdwn import escape
from driftbot.slack.posting import post_lost_check, refresh_request_message
from driftbot.state.models import Check, Execution, Request
from driftbot.work import acked
from driftbot.work.execute import mark_interrupted
from driftbot.work.fence import writer_gone
from driftbot.work import scrape
from driftbot.work.heartbeat import alive
from driftbot.work.queues import (DRIFT, EXECUTE, enqueue_acked, enqueue_execute, enqueue_repost, job_id, job_status,
                              queue_name, release_due, release_kept_posts)

log = logging.getLogger(__name__)


def sweep(rt: Runtime, now: datetime | None = None) -> dict[str, list[int]]:
    """Report lost checks and executions, re-queue orphaned approvals, expire old requests."""
    now = now or datetime.now(timezone.utc)
    # RQ's own detection of abandoned jobs (its failure callbacks report a dead propose job).
    for base in (DRIFT, EXECUTE):
        StartedJobRegistry(queue_name(rt.settings, base), connection=rt.redis).cleanup()
    grace = timedelta(seconds=rt.settings.heartbeat_s * 3)
    done: dict[str, list] = {"lost_checks": [], "interrupted": [], "requeued": [], "expired": [], "reposted": []}
    done["released"] = release_due(rt)  # clicks put off while Slack said wait
    kept = release_kept_posts(rt)  # request messages, thread notes and updates Slack refused
    if kept:
        done["kept_posts"] = [kept]

    with rt.sessions.begin() as s:
        expired = machine.expire_due(s, now)
        done["expired"] = [r.id for r in expired]
    for rid in done["expired"]:
        refresh_request_message(rt, rid)

    with rt.sessions() as s:
        active = s.execute(select(Check.id, Check.status, Check.job_id, Check.created_at, Check.started_at)
                           .where(Check.status.in_(checks.ACTIVE))).all()
        executing = s.execute(select(Execution.request_id, Execution.started_at).join(Request, Request.id == Execution.request_id)
                              .where(Request.status == "executing")).all()
        approved = s.execute(select(Request.id, Request.decided_at).where(Request.status == "approved")).all()
        unposted = s.execute(select(Check.id).where(Check.post_state == "failed")).scalars().all()
    for cid in unposted:
        if checks.claim_unposted(rt, cid):
            enqueue_repost(rt, cid)
            done["reposted"].append(cid)
    for cid, status, jid, created, started in active:
        if status == "running" and started and started < now - grace and not alive(rt, "check", cid):
            lost = True
        elif status == "queued" and created < now - grace:
            lost = job_status(rt, jid) in (None, "failed", "stopped", "canceled", "finished")
        else:
            lost = False
        row = checks.mark_lost(rt, cid) if lost else None
        if row is not None:
            instruments.check_lost(row.environment)
            post_lost_check(rt, row.environment, row.channel)
            done["lost_checks"].append(cid)
    for rid, started in executing:
        # A missing heartbeat alone proves nothing (Redis restarted, a paused worker): the writer's fence does.
        if started < now - grace and not alive(rt, "execute", rid) and writer_gone(rt, rid) and mark_interrupted(rt, rid):
            done["interrupted"].append(rid)
    done["acked_requeued"], done["acked_told"] = lost_acked_work(rt, now - grace)
    for rid, decided in approved:
        waiting = job_status(rt, job_id(rt, "execute", rid)) in ("queued", "scheduled", "deferred")
        if decided and decided < now - grace and not waiting and not alive(rt, "execute", rid):
            enqueue_execute(rt, rid)
            done["requeued"].append(rid)
    return {k: v for k, v in done.items() if v}


def lost_acked_work(rt: Runtime, before: datetime) -> tuple[list[int], list[int]]:
    """Acknowledged jobs Redis no longer knows (restarted without its data): queued again once, then
    their asker told once (driftbot.work.acked)."""
    requeued, told = [], []
    for row in acked.waiting(rt, before):
        if job_status(rt, job_id(rt, "acked", row.id)) is not None:
            continue  # still in Redis (queued, scheduled, running, or just ended)
        if acked.retry(rt, row.id):
            enqueue_acked(rt, row.id, row.job, dict(row.kwargs))
            requeued.append(row.id)
        elif (gone := acked.give_up(rt, row.id)) is not None:
            told.append(row.id)
            if gone.channel and gone.asker:
                notify.tell_quietly(rt.slack, gone.channel, gone.asker,
                                    f"Your {escape(gone.what)} was accepted but lost by driftbot's job queue, twice; "
                                    "nothing was done. Please ask again.")
    return requeued, told


def refresh_groups(rt: Runtime, members: GroupMembers) -> None:
    """Fetch the configured user groups whose shared copy is getting old; a refusal waits for the next round."""
    for group in rt.settings.user_groups():
        hit = members.cached(group)
        if hit is not None and time.time() - hit[0] < members.ttl_s / 2:
            continue
        try:
            members.refresh(group)
        except Exception as exc:  # 429 included: never slept on here
            log.info("user group %s not refreshed: %s", group, type(exc).__name__)


def run(settings: Settings, parent: int, metrics_port: int | None = None) -> None:
    """The sweeper's own process (spawned, not forked, and not a thread of the worker: RQ forks a
    work horse per job, and a fork taken while another thread holds a lock deadlocks the child).
    With *metrics_port*, it also answers Prometheus there (``driftbot.work.scrape``)."""
    logs.configure("sweeper", "%(asctime)s sweeper %(message)s", settings)
    rt = build(settings)
    install(rt)
    if metrics_port is not None:
        scrape.listen(settings, metrics_port)
    members = (GroupMembers(make_client(settings, patient=False), rt.redis, settings.queue_prefix)
               if settings.slack_bot_token is not None else None)
    while os.getppid() == parent:  # stop with the worker that started it
        try:
            if members is not None:
                refresh_groups(rt, members)
            done = sweep(rt)
            if done:
                log.info("sweep: %s", done)
        except Exception as exc:  # keep sweeping; one bad round must not stop the reports
            log.warning("sweep failed: %s", type(exc).__name__)
        time.sleep(rt.settings.sweep_interval_s)
