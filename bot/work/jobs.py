"""RQ entry points, enqueued by reference from ``driftbot.work.queues``. Thin: each takes
identifiers, finds this process's runtime, calls the domain and hands its outcome to output
(``driftbot.slack``). Each is safe to run twice. The digest's jobs live with the digest
(``driftbot.digest.jobs``). These dotted names are what Redis holds for queued jobs: keep them.
"""

from __future__ import annotations

import json
import logging

from slack_sdk.errors import SlackApiError, SlackClientError

from driftbot import checks, logs
from driftbot.engine import phases
from driftbot.engine.check import run_check
from driftbot.engine.result import CheckResult
from driftbot.errors import GroupsDeferred
from driftbot.metrics import instruments
from driftbot.ops import tracing
from driftbot.requests import proposal
from driftbot.requests.clicks import Click
from driftbot.runtime import current
from driftbot.slack import mrkdwn, notify, posting
from driftbot.work import acked, clicks, execute, reports
from driftbot.work import pull_requests as pull_threads
from driftbot.work.heartbeat import heartbeat
from driftbot.work.queues import unposted_key, worker_name
from driftbot.work.slots import server_slot

log = logging.getLogger(__name__)


def check_job(check_id: int) -> str:
    """Run a queued check and post it in every channel that asked."""
    with logs.context(check_id=check_id):  # every line it logs names the check (and, once read, its environment)
        return _check(check_id)


def _check(check_id: int) -> str:
    rt = current()
    environment, status = checks.claim(rt, check_id, worker_name(rt))
    if environment is None:
        return status
    env = rt.settings.environment(environment)
    with logs.context(environment=environment):
        with heartbeat(rt, "check", check_id):
            with (server_slot(rt, env.database_url), phases.recorded() as spent,
                  tracing.span("check", environment=environment, check_id=check_id) as traced):
                result = run_check(rt.settings, env)
                traced.set(state=result.state, **{f"{name}_s": round(s, 4) for name, s in spent.items()})  # its phases
            instruments.checked(environment, result.state, result.duration_ms / 1000, spent)
            # Recorded while the heartbeat still beats: between the two the sweeper would read a running check
            # without a heartbeat as lost, and the finished result would be dropped as superseded (seen under load).
            finished = checks.finish(rt, check_id, result)
        if finished is None:
            return "superseded"
        check, since = finished
        if not _post_or_keep(rt, check, result, since):  # told once, here; the sweeper's reposts are silent
            notify.tell_quietly(rt.slack, check.channel, check.requested_by,
                                f"Slack did not take the result of the check of *{environment}*; driftbot will "
                                f"post what is missing in the next minutes. If nothing arrives, run `/drift status "
                                f"{environment}` again.")
        return result.state


REPOST_ATTEMPTS = 5  # then a result Slack keeps refusing is given up (logged): never posted for a day


def _post_or_keep(rt, check, result, since, progress: dict | None = None) -> bool:
    """Post a check result; when Slack will not take a part of it even after the retries, keep what was
    posted of it (Redis, a day) and mark its row, so the sweeper posts only the missing parts (the result
    is read back from the row). True when all of it is posted."""
    progress = {} if progress is None else progress
    try:
        posting.post_check(rt, check, result, since, progress)
    except (SlackApiError, SlackClientError, notify.NotPosted) as exc:
        posted = {c: p["done"] + (["headline"] if p["ts"] else []) for c, p in progress.items()}
        log.warning("check %s not posted in full: Slack said %s; posted so far: %s", check.id, notify.error_code(exc), posted)
    else:
        _after_merge(rt, check.id, result)
        return True
    rt.redis.set(unposted_key(rt, check.id), json.dumps(progress), ex=86400)
    checks.mark_unposted(rt, check.id)
    return False


def _after_merge(rt, check_id: int, result) -> None:
    """A merged driftbot pull request: its thread hears that resolve --applied is next."""
    env = rt.settings.environments.get(result.environment)
    if env is None or env.pull_requests is None:
        return
    try:
        pull_threads.after_merge(rt, check_id, result)
    except Exception:  # the check is posted; a missed note in the pull request's thread must not undo that
        log.warning("check %s: could not tell the pull request's thread", check_id, exc_info=True)


def repost_check_job(check_id: int) -> str:
    """Post what is missing of a check result Slack refused (queued by the sweeper), read back from its row."""
    rt = current()
    check = checks.unposted_check(rt, check_id)
    if check is None:
        return "gone"
    progress = _progress(rt.redis.get(unposted_key(rt, check_id)))
    stored = check.result or {}
    if "typed" not in stored:
        # A row from before results were kept whole: the asker is told to ask again rather than left waiting.
        checks.give_up_post(rt, check_id)
        notify.tell_quietly(rt.slack, check.channel, check.requested_by,
                            f"The result of the check of *{check.environment}* could not be posted; run "
                            f"`/drift status {check.environment}` again.")
        return "lost"
    if check.post_attempts > REPOST_ATTEMPTS:
        log.error("check %s: Slack refused its result %s times; given up", check_id, check.post_attempts)
        checks.give_up_post(rt, check_id)
        rt.redis.delete(unposted_key(rt, check_id))
        return "given up"
    result = CheckResult.from_json(stored)
    with rt.sessions() as s:
        since = checks.drifted_since(s, check.environment)
    if _post_or_keep(rt, check, result, since, progress):
        rt.redis.delete(unposted_key(rt, check_id))
        return "posted"
    return "failed"


def _progress(kept: bytes | None) -> dict:
    """What an earlier attempt posted of a result (``_post_or_keep``); {} when nothing readable is kept
    (versions before kept the whole result there as a Python object dump)."""
    try:
        found = json.loads(kept) if kept else {}
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def repost_post_job(item: dict) -> bool:
    """Post again a request message, thread note or update Slack refused (queued by the sweeper)."""
    return posting.post_kept(current(), item)


def propose_job(*, environment: str, kind: str, args: dict, requester: str, channel: str,
                thread_ts: str | None = None, check_id: int | None = None, team_id: str | None = None) -> int | None:
    """Turn a fix into a request message in the thread."""
    rt = current()
    made = proposal.propose(rt, environment=environment, kind=kind, args=args, requester=requester,
                            channel=channel, thread_ts=thread_ts, check_id=check_id, team_id=team_id)
    if made.error is not None:
        notify.ephemeral(rt.slack, channel, requester, f"No request was created: {mrkdwn.error(made.error)}")
    elif made.existing is not None:
        notify.ephemeral(rt.slack, channel, requester,
                         f"Request #{made.existing.id} for this exact change is already open ({made.existing.status}).")
    else:
        posting.post_request(rt, made.request, made.plan, thread_ts)
    return made.request_id


def decision_job(**click) -> str | None:
    """Decide one Approve / Reject / Cancel click and tell the clicker."""
    return clicks.decide_and_tell(current(), Click(**click))


def refresh_groups_job() -> int:
    """Fetch every configured user group's members into the shared copy."""
    rt = current()
    for group in rt.settings.user_groups():
        try:
            rt.group_members.refresh(group)
        except GroupsDeferred:  # Slack said wait: the sweeper's next rounds fetch it; never slept on
            log.info("user group %s not refreshed: Slack said wait", group)
    return len(rt.settings.user_groups())


def propose_failed(job, connection, exc_type, exc_value, tb) -> None:
    """RQ's failure callback for a propose job (an error, or its worker died): the requester is told."""
    kw = job.kwargs or {}
    try:
        rt = current()
        notify.ephemeral(rt.slack, kw.get("channel"), kw.get("requester"),
                         f"Your request on {kw.get('environment')} could not be prepared "
                         f"({'its worker stopped' if exc_type and exc_type.__name__ == 'AbandonedJobError' else 'an error on driftbot’s side'}). "
                         "Nothing was created; try again.")
    except Exception:  # reporting must never raise inside RQ's failure handling
        log.warning("could not report failed propose job %s", job.id)


def pull_request_job(*, check_id: int, finding: int, user: str, channel: str, thread_ts: str | None = None) -> str:
    """Open (or find) the pull request for a finding of a check; its link goes to the thread."""
    return pull_threads.open_from_thread(current(), check_id=check_id, finding=finding, user=user, channel=channel,
                                         thread_ts=thread_ts)


def pull_request_failed(job, connection, exc_type, exc_value, tb) -> None:
    """RQ's failure callback for a pull request job: the thread is told, nothing is retried by itself."""
    kw = job.kwargs or {}
    try:
        notify.post(current().slack, kw.get("channel"), ":warning: The pull request could not be opened (an error on "
                    "driftbot's side, or its worker stopped). Press the button again: a branch already pushed is reused.",
                    thread_ts=kw.get("thread_ts"))
    except Exception:  # reporting must never raise inside RQ's failure handling
        log.warning("could not report failed pull request job %s", job.id)


ACKED = {"propose_job", "pull_request_job", "decision_job", "audit_job", "audit_verify_job", "compare_job"}


def acked_job(*, acked_id: int, acked_job: str, **kwargs):
    """Run one acknowledged job (``driftbot.work.acked``): claim its row first, so a copy queued again by the
    sweeper, or twice, runs once; the row says how it ended."""
    if acked_job not in ACKED:
        raise ValueError(f"not an acknowledged job: {acked_job}")
    rt = current()
    if not acked.claim(rt, acked_id):
        return "already run"
    try:
        out = globals()[acked_job](**kwargs)
    except BaseException:
        acked.finish(rt, acked_id, "failed")
        raise
    acked.finish(rt, acked_id, "done")
    return out


def execute_job(request_id: int) -> str:
    """Run one approved request, at most once."""
    rt = current()
    with logs.context(request_id=request_id):
        return execute.execute_request(rt, request_id, worker=worker_name(rt))


def audit_job(environment: str | None, days: int, user: str, channel: str) -> int:
    """Post the audit summary asked for with ``/drift audit``."""
    return reports.post_audit(current(), environment, days, user, channel)


def audit_verify_job(checkpoint: str | None, user: str, channel: str) -> bool:
    """Post the verification asked for with ``/drift audit verify``."""
    return reports.post_verify(current(), checkpoint, user, channel)


def compare_job(from_env: str, to_env: str, user: str, channel: str) -> str:
    """Post the comparison asked for with ``/drift compare``."""
    return reports.post_compare(current(), from_env, to_env, user, channel)
