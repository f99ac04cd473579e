"""The pull request asked for from a check's thread ("Open pull request"), run on a worker.

The check runs again first: the pull request must hold the SQL the thread shows, so a check
whose fingerprint moved since then is not turned into one (the person is told to check again).
The link goes to the thread; the audit event records who asked and where.
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from driftbot import audit
from driftbot.engine.actions import RESOLVE_APPLIED
from driftbot.engine.check import run_check
from driftbot.engine.result import CheckResult
from driftbot.errors import DriftbotError
from driftbot.pulls import flow
from driftbot.slack import mrkdwn, notify
from driftbot.state.models import AuditEvent, Check

log = logging.getLogger(__name__)


def open_from_thread(rt, *, check_id: int, finding: int, user: str, channel: str, thread_ts: str | None) -> str:
    """Open (or find) the pull request for finding *finding* of check *check_id*; say so in the thread.
    Any configured approver of the environment may ask. Returns what happened: ``opened``, ``existing``,
    ``changed``, ``gone``, ``refused`` or ``error``."""

    def say(text: str) -> None:
        notify.post(rt.slack, channel, text, thread_ts=thread_ts)

    with rt.sessions() as s:
        check = s.get(Check, check_id)
    findings = CheckResult.from_json(check.result).findings if check is not None and check.result else ()
    if not 0 <= finding < len(findings):
        say("That check result is gone; run `/drift status` again.")
        return "gone"
    migration = findings[finding].action.arguments.get("migration")
    env = rt.settings.environment(check.environment)
    try:
        allowed = user in rt.approvers(env)
    except DriftbotError as exc:  # the approver groups cannot be read now: refuse rather than guess
        notify.ephemeral(rt.slack, channel, user, f"Not opened: {mrkdwn.error(exc)}")
        return "refused"
    if not allowed:
        notify.ephemeral(rt.slack, channel, user, f"Only an approver of *{env.name}* can open its pull request.")
        return "refused"
    result = run_check(rt.settings, env)
    if result.fingerprint != check.fingerprint:
        say(f"The drift on *{env.name}* changed since this check, so a pull request would not hold the SQL shown "
            f"here. Run `/drift status {env.name}` again and open it from the new result.")
        return "changed"
    try:
        opened = flow.open_pull_request(rt.settings, env, result, migration)
    except DriftbotError as exc:
        say(f":warning: The pull request could not be opened: {mrkdwn.error(exc)}")
        return "error"
    with rt.sessions.begin() as s:
        flow.record_opened(s, opened, user, channel=channel, thread_ts=thread_ts)
    if opened.created:
        say(f":twisted_rightwards_arrows: <@{user}> opened pull request <{opened.url}|#{opened.number}> with "
            f"{mrkdwn.code(opened.migration)} on branch {mrkdwn.code(opened.branch)}. Review it there; once it is merged, "
            f"driftbot's next check proposes {mrkdwn.code('resolve --applied ' + opened.migration)} here.")
        return "opened"
    say(f"Pull request <{opened.url}|#{opened.number}> is already open for this drift (branch {mrkdwn.code(opened.branch)}).")
    return "existing"


def after_merge(rt, check_id: int, result: CheckResult) -> list[str]:
    """Once a driftbot pull request is merged, the check finds its migration pending with everything it
    creates already in the database: propose ``resolve --applied`` in the thread the pull request was
    asked from (the request itself is made from the check result's own button). Said once per migration (the audit event
    ``pull_request_merged`` remembers). Returns the migrations it posted about."""
    if result.history is None:
        return []
    env = rt.settings.environment(result.environment)
    posted = []
    for index, f in enumerate(result.findings):
        name = f.action.arguments.get("migration")
        if f.action.kind != RESOLVE_APPLIED or name not in result.history.applied_by_hand:
            continue
        with rt.sessions.begin() as s:
            pr = flow.opened_for(s, env.name, name)
            if pr is None or not pr.get("channel") or _noticed(s, env.name, name):
                continue
            audit.record(s, event="pull_request_merged", environment=env.name,
                         data={"migration": name, "number": pr.get("number"), "check_id": check_id})
        text = (f"Pull request <{pr['url']}|#{pr['number']}> is merged: {mrkdwn.code(name)} is on "
                f"{mrkdwn.code(env.ref)}, and *{env.name}* already has everything it creates. Record it as applied "
                f"instead of deploying it: the *Resolve --applied {mrkdwn.escape(name)}* button under the latest check "
                f"result, or {mrkdwn.code(f'/drift resolve {env.name} --applied {name}')}"
                + (" (two approvers approve it)." if env.protected else "."))
        notify.post(rt.slack, pr["channel"], text, thread_ts=pr.get("thread_ts"))
        posted.append(name)
    return posted


def _noticed(session, environment: str, migration: str) -> bool:
    return session.execute(
        select(AuditEvent.id).where(AuditEvent.event == "pull_request_merged", AuditEvent.environment == environment,
                                    AuditEvent.data["migration"].astext == migration).limit(1)
    ).first() is not None
