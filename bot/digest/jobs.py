"""The digest on the worker queue: claim, check every environment in parallel, post.

``start_digest`` claims a digest (a scheduled one once per period: a unique
row in ``digest_runs``), enqueues the checks on the ``drift`` queue (one job per
environment, or per share of them past ``MAX_CHECK_JOBS`` environments), and one
``post_digest`` job that depends on all of them, so no worker sits waiting and an
unreachable environment (connect timeout) holds up only its own job's share. ``post_digest`` reads what the checks recorded, compares the
configured pairs (top-level ``compare``), composes one message per channel and posts
it; run twice, it posts once.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timezone

from rq import get_current_job
from rq.timeouts import BaseTimeoutException
from rq.job import Dependency
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert

from driftbot import audit, checks
from driftbot.digest.content import Digest, OpenPullRequest, OpenRequest, PairLine, channels_for, render_full, status_from_check
from driftbot.digest.schedule import Schedule, utcnow
from driftbot.engine import phases
from driftbot.engine.check import run_check
from driftbot.engine.compare import compare
from driftbot.errors import DriftbotError
from driftbot.metrics import instruments
from driftbot.pulls.flow import open_for_digest
from driftbot.requests.machine import OPEN
from driftbot.runtime import Runtime, current
from driftbot.slack import notify
from driftbot.state.models import DigestRun, Request
from driftbot.work.queues import DRIFT, queue
from driftbot.work.slots import server_slot

log = logging.getLogger(__name__)
# RQ forks a work horse for every job, about 0.1 s of bookkeeping before any work on a 2-core machine,
# as long as a warm check itself: past this many environments each check job checks a share in turn.
MAX_CHECK_JOBS = 64


def start_digest(rt: Runtime, *, kind: str = "manual", period: datetime | None = None, requested_by: str | None = None,
                 channel: str | None = None, environments: list[str] | None = None) -> int | None:
    """Claim and enqueue a digest; its id, or None when this period's digest is already claimed.
    *environments*: only these are checked and shown (a digest on demand: those of the place asked in)."""
    envs = sorted(rt.settings.environments) if environments is None else sorted(environments)
    with rt.sessions.begin() as s:
        digest_id = s.execute(
            insert(DigestRun).values(kind=kind, period=period, requested_by=requested_by, status="checking",
                                     environments={}, posts={})
            .on_conflict_do_nothing(constraint="uq_digest_runs_period").returning(DigestRun.id)
        ).scalar()
        if digest_id is None:
            return None
        audit.record(s, event="digest_started", actor=requested_by or "clock",
                     data={"digest_id": digest_id, "kind": kind, "period": period, "environments": envs})
    q = queue(rt, DRIFT)
    timeout = rt.settings.check_job_timeout_s
    count = min(len(envs), MAX_CHECK_JOBS)
    checks = [q.enqueue(check_share_for_digest, digest_id, envs[i::count], job_timeout=timeout * len(envs[i::count]),
                        result_ttl=3600, failure_ttl=86400)
              for i in range(count)]
    q.enqueue(post_digest, digest_id, channel, environments=environments, job_timeout=300, result_ttl=3600, failure_ttl=7 * 86400,
              depends_on=Dependency(jobs=checks, allow_failure=True) if checks else None)
    return digest_id


def scheduled_digest(period: str, now: datetime | None = None) -> str:
    """The clock's job: one digest for *period*, whichever clock enqueued it and however often."""
    rt = current()
    at = datetime.fromisoformat(period)
    now = now or utcnow()
    if not Schedule.from_settings(rt.settings.digest).fresh(at, now):
        log.warning("digest for %s dropped: more than an hour late", period)
        return "late"
    digest_id = start_digest(rt, kind="scheduled", period=at)
    return "claimed" if digest_id is not None else "already claimed"


def check_for_digest(digest_id: int, environment: str) -> str:
    """Check one environment and record it in the check history (the digest reads it from there)."""
    rt = current()
    env = rt.settings.environment(environment)
    started = datetime.now(timezone.utc)
    with server_slot(rt, env.database_url), phases.recorded() as spent:
        result = run_check(rt.settings, env)
    instruments.checked(environment, result.state, result.duration_ms / 1000, spent)
    job = get_current_job()
    with rt.sessions.begin() as s:
        checks.record_check(s, result, requested_by="digest", started_at=started,
                            job_id=job.id if job else None, worker=rt.name)
    return result.state


def check_share_for_digest(digest_id: int, environments: list[str]) -> list[str]:
    """``check_for_digest`` of each of *environments* in turn. One that fails (an exception, not a
    check's result) is logged and left unchecked, as its own job failing would leave it."""
    states = []
    for environment in environments:
        try:
            states.append(check_for_digest(digest_id, environment))
        except BaseTimeoutException:  # the job's time limit: the rest are not checked either
            raise
        except Exception:
            log.exception("digest %s: the check of %s failed", digest_id, environment)
            states.append("failed")
    return states


def compose(rt: Runtime, session, run: DigestRun, now: datetime) -> Digest:
    """The digest over every configured environment, from the checks finished since it started."""
    envs = sorted(rt.settings.environments)
    latest = checks.latest_since(session, envs, run.started_at)
    statuses = []
    for env in envs:
        row = latest.get(env)
        state = row.state if row else None
        since = checks.streak_since(checks.history(session, env), unreachable=state == "error")
        statuses.append(status_from_check(env, state, row.result if row else None, row.error if row else None, since,
                                          row.fingerprint if row else None))
    previous = session.execute(
        select(DigestRun).where(DigestRun.status == "posted", DigestRun.id != run.id)
        .order_by(DigestRun.finished_at.desc()).limit(1)
    ).scalar()
    requests = [
        OpenRequest(r.id, r.environment, r.created_at, r.status, r.channel, r.thread_ts)
        for r in session.execute(select(Request).where(Request.status.in_(OPEN)).order_by(Request.id)).scalars()
    ]
    return Digest(at=now, statuses=tuple(statuses), requests=tuple(requests),
                  previous=previous.environments if previous else None,
                  previous_at=previous.finished_at if previous else None,
                  tz=Schedule.from_settings(rt.settings.digest).tz)


def compare_pairs(rt: Runtime) -> tuple[PairLine, ...]:
    """Each configured pair compared now (read-only; a pair that cannot be read is its own line)."""
    out = []
    for a, b in rt.settings.compare:
        try:
            result = compare(rt.settings, a, b)
            out.append(PairLine(a, b, result.state, result.headline))
        except DriftbotError as exc:
            out.append(PairLine(a, b, "error", f"Cannot compare {a} and {b}: {exc}"))
    return tuple(out)


def with_pull_requests(rt: Runtime, digest: Digest) -> Digest:
    """The digest with driftbot's open pull requests, read from GitHub (outside any transaction: it
    takes a network call per environment that opens pull requests)."""
    found, problems = open_for_digest(rt.settings)
    return replace(
        digest,
        pull_requests=tuple(OpenPullRequest(env, pr.number, pr.url, pr.created_at) for env, pr in found),
        pull_request_problems=tuple(problems),
    )


def _only(digest: Digest, envs: list[str], both: bool = False) -> Digest:
    """The digest of *envs* only; a compared pair with one of them (*both*: on demand, only a pair of two
    of them, as `/drift compare` answers only where both may be talked about)."""
    keep = set(envs)
    return Digest(at=digest.at, statuses=tuple(s for s in digest.statuses if s.name in keep),
                  requests=tuple(r for r in digest.requests if r.environment in keep),
                  pairs=tuple(p for p in digest.pairs
                              if ({p.from_env, p.to_env} <= keep if both else keep & {p.from_env, p.to_env})),
                  pull_requests=tuple(p for p in digest.pull_requests if p.environment in keep),
                  pull_request_problems=tuple(p for p in digest.pull_request_problems if p[0] in keep),
                  previous=digest.previous, previous_at=digest.previous_at, tz=digest.tz, checkpoint=digest.checkpoint)


def post_digest(digest_id: int, channel: str | None = None, now: datetime | None = None,
                environments: list[str] | None = None) -> dict:
    """Compose and post; safe to run twice (the second run finds the digest already taken)."""
    rt = current()
    now = now or utcnow()
    with rt.sessions.begin() as s:
        taken = s.execute(update(DigestRun).where(DigestRun.id == digest_id, DigestRun.status == "checking")
                          .values(status="posting").returning(DigestRun.id)).scalar()
        if taken is None:
            return {}
        run = s.get(DigestRun, digest_id)
        digest = replace(compose(rt, s, run, now), checkpoint=audit.checkpoint(s))
    digest = replace(digest, pairs=compare_pairs(rt))
    digest = with_pull_requests(rt, digest)
    settings = rt.settings
    targets = ({channel: sorted(settings.environments) if environments is None else sorted(environments)} if channel else
               channels_for(list(settings.digest.channels), {n: e.channel for n, e in settings.environments.items()}))
    posts: dict[str, dict] = {}
    for target, envs in targets.items():
        text, blocks, table = render_full(_only(digest, envs, both=environments is not None))
        try:  # refused by Slack's rules: notify posts its short form once; never more
            ts, refused = notify.post_message(rt.slack, target, text, blocks)
            posts[target] = {"ts": ts} if refused is None else {"ts": ts, "error": refused, "short_form": True}
            if refused is not None:
                log.error("digest %s: Slack refused it in %s (%s); its short form was posted instead",
                          digest_id, target, refused)
        except Exception as exc:  # one channel's failure must not stop the others; said in the run's record
            posts[target] = {"error": notify.error_code(exc)}
            log.error("digest %s: not posted to %s: Slack said %s", digest_id, target, posts[target]["error"])
            continue
        if table and ts and "error" not in posts[target]:
            try:
                notify.snippet(rt.slack, target, ts, f"drift-digest-{now:%Y-%m-%d}.txt", table, "The whole digest")
            except Exception as exc:  # the digest is posted; its long form is a courtesy
                log.warning("digest %s: its snippet in %s was not taken: %s", digest_id, target, notify.error_code(exc))
    failed = any("error" in p for p in posts.values())
    with rt.sessions.begin() as s:
        s.execute(update(DigestRun).where(DigestRun.id == digest_id)
                  .values(status="failed" if failed else "posted", environments=digest.snapshot(), posts=posts,
                          finished_at=now))
        audit.record(s, event="digest_posted", actor=run.requested_by or "clock",
                     data={"digest_id": digest_id, "channels": posts,
                           "states": {n: v["state"] for n, v in digest.snapshot().items()},
                           "pairs": [[p.from_env, p.to_env, p.state] for p in digest.pairs]})
    if failed:  # the job says so (RQ records it failed), after the run's record says where and why
        raise DigestNotPosted(f"digest {digest_id} not posted as composed: "
                              + ", ".join(f"{c}: {p['error']}" for c, p in posts.items() if "error" in p))
    return posts


class DigestNotPosted(DriftbotError):
    """Slack refused the digest in at least one channel (posted there in its short form, or not at all)."""
