"""What driftbot posts by itself, from the worker: check results with their thread, notices of
lost checks, request messages (posted, then re-rendered from the database) and notes in a
request's thread. Everything goes through ``notify``, so everything is redacted.

A request message, a note in its thread or its update that Slack will not take even after the
client's retries is kept (``keep_post``) and posted again by the sweeper's ``repost_post_job``; the
requester is told. (Check results are posted again from their row: ``driftbot.checks.mark_unposted``.)"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import select, update

from slack_sdk.errors import SlackApiError, SlackClientError

from driftbot.engine.result import CheckResult
from driftbot.errors import DriftbotError
from driftbot.requests.machine import approvers_of
from driftbot.requests.plans import Plan, request_lint, schema_gap
from driftbot.slack import gate, notify, views
from driftbot.settings import EnvironmentSettings, Settings
from driftbot.slack.mrkdwn import escape
from driftbot.state import keys
from driftbot.state.models import AuditEvent, Check, Execution, Request


class Runtime(Protocol):
    """What posting uses of a process's runtime (``driftbot.runtime.Runtime``, which builds the Slack client
    and so sits above output: named here, never imported)."""

    settings: Settings
    sessions: Any
    slack: Any
    redis: Any

    def request_approvers(self, env: EnvironmentSettings, at_request: list[str] | None) -> frozenset[str]: ...

    def readers(self, env: EnvironmentSettings) -> frozenset[str]: ...


log = logging.getLogger(__name__)
REFUSED = (SlackApiError, SlackClientError, notify.NotPosted)  # once the client's and notify's retries are spent
KEEP_ATTEMPTS = 20  # then a kept post is given up (logged): about two hours of sweeps with retries


def post_check(rt: Runtime, check: Check, result: CheckResult, since: datetime | None = None,
               progress: dict | None = None) -> None:
    """The result in every channel that asked; findings and the SQL snippet in its thread.
    *since*: when the environment's current out-of-sync spell began (shown in the headline).
    *progress*: what earlier attempts posted, ``{channel: {"ts", "done"}}``, filled in as each part is
    taken: when a part fails, the caller keeps it and a repost posts only what is missing (a thread reply
    as a thread reply), never the headline again."""
    progress = {} if progress is None else progress
    askers = {check.channel: check.requested_by}
    for w in check.watchers or []:
        askers.setdefault(w.get("channel"), w.get("user"))
    env = rt.settings.environments.get(result.environment)
    pull_requests = env is not None and env.pull_requests is not None
    for channel, asker in askers.items():
        if not channel:
            continue
        mine = progress.setdefault(channel, {"ts": None, "done": []})
        text, blocks, notes = views.check_message(result, check.id, check.requested_by, since, pull_requests)
        if mine["ts"] is None:
            mine["ts"] = notify.post(rt.slack, channel, text, blocks)
            if mine["ts"] is None:  # no Slack configured: nothing to thread under
                continue
        ts = mine["ts"]

        def part(name: str, send) -> None:
            if name not in mine["done"]:
                send()
                mine["done"].append(name)

        note, full = views.thread_note(result)
        if note:
            part("note", lambda: notify.post(rt.slack, channel, note, thread_ts=ts))
        if full:
            part("findings", lambda: notify.snippet(rt.slack, channel, ts, views.snippet_name(result.environment, "findings.txt"),
                                                    full + "\n", f"Every finding for {result.environment}"))
        names = views.history_lists(result)
        if names:
            part("history", lambda: notify.snippet(rt.slack, channel, ts, views.snippet_name(result.environment, "migrations.txt"),
                                                   names, f"Migrations of {result.environment}, by state"))
        if "summary" in notes:
            part("summary", lambda: notify.snippet(rt.slack, channel, ts, f"drift-{result.environment}-summary.txt",
                                                   "\n".join(result.schema.summary) + "\n",
                                                   f"Drift summary for {result.environment}"))
        if "buttons" in notes:
            part("buttons", lambda: notify.post(rt.slack, channel, "More fixes than buttons: use `/drift resolve` or "
                                                "`/drift enum` for the rest.", thread_ts=ts))
        if result.schema.sql and not _may_show_sql(rt, env, channel, asker):
            part("sql", lambda: notify.post(rt.slack, channel, f"The catch-up SQL is shown where *{escape(result.environment)}*'s "
                                            f"diff may be read: `/drift diff {escape(result.environment)}` in a DM with "
                                            "driftbot, for its approvers and viewers.", thread_ts=ts))
        elif result.schema.sql:
            part("sql", lambda: notify.snippet(rt.slack, channel, ts, f"drift-{result.environment}-catch-up.sql",
                                               result.schema.sql, f"Catch-up SQL for {result.environment}",
                                               comment="Catch-up migration: commit it as a new migration, then resolve it --applied."))
    first_ts = next((p["ts"] for p in progress.values() if p["ts"]), None)
    with rt.sessions.begin() as s:
        s.execute(update(Check).where(Check.id == check.id).values(message_ts=first_ts, post_state=None))


def _may_show_sql(rt: Runtime, env, channel: str, asker: str | None) -> bool:
    """The gate's answer for a check's SQL snippet (driftbot.slack.gate): a user group's members that cannot be
    read now count as no reader (refuse rather than guess)."""
    if env is None:
        return False

    def reader() -> bool:
        try:
            return bool(asker) and asker in rt.readers(env)
        except DriftbotError:
            return False

    return gate.allowed(rt.settings, env, gate.SQL, channel, reader)


def post_lost_check(rt: Runtime, environment: str, channel: str | None) -> None:
    if channel:
        notify.post(rt.slack, channel,
                    f":warning: The check of *{escape(environment)}* was interrupted: its worker stopped before it finished. "
                    f"Nothing was changed. Run `/drift status {escape(environment)}` again.")


def post_request(rt: Runtime, req: Request, plan: Plan, thread_ts: str | None) -> None:
    """A new request's message (in the thread of the check it came from, when there is one); kept for
    the sweeper when Slack will not take it, and the requester told."""
    try:
        _post_request(rt, req, plan.sql, thread_ts)
    except REFUSED:
        keep_post(rt, {"kind": "request", "request": req.id, "thread_ts": thread_ts})
        notify.tell_quietly(rt.slack, req.channel, req.requester,
                            f"Slack did not take the message of request #{req.id} on *{escape(req.environment)}*; "
                            "driftbot will post it again shortly. Nothing is lost.")


def _post_request(rt: Runtime, req: Request, sql: str, thread_ts: str | None) -> None:
    env = rt.settings.environment(req.environment)
    with rt.sessions() as s:
        lint = _lint(s, req)
    text, blocks = views.request_message(req, [], groups=rt.settings.approvers_for(env),
                                         schema_gap=schema_gap(env, req.kind, req.args or {}), lint=lint)
    ts = notify.post(rt.slack, req.channel, text, blocks, thread_ts=thread_ts)
    with rt.sessions.begin() as s:
        s.execute(update(Request).where(Request.id == req.id).values(message_ts=ts, thread_ts=thread_ts or ts))
    if views.request_sql_cut(sql):
        notify.snippet(rt.slack, req.channel, thread_ts or ts, f"request-{req.id}.sql", sql, f"Request #{req.id}")


def refresh_request_message(rt: Runtime, request_id: int) -> None:
    """Re-render the request message from the database (buttons, who approved, what ran); kept for the
    sweeper when Slack will not take the update."""
    try:
        _refresh_request_message(rt, request_id)
    except REFUSED:
        keep_post(rt, {"kind": "update", "request": request_id})


def _refresh_request_message(rt: Runtime, request_id: int) -> None:
    with rt.sessions() as s:
        req = s.get(Request, request_id)
        if req is None or not req.message_ts or not req.channel:
            return
        env = rt.settings.environment(req.environment)
        who = [u for u in approvers_of(s, req.id, req.plan_hash) if u != req.requester]
        try:  # only approvals that still count: never a stale "(2 of 2)"
            allowed = rt.request_approvers(env, req.approvers)
            who = [u for u in dict.fromkeys(who) if u in allowed]
        except (DriftbotError, SlackApiError):
            pass
        ex = s.execute(select(Execution).where(Execution.request_id == req.id)).scalar_one_or_none()
        lint = _lint(s, req)
        newest = s.execute(select(AuditEvent.id, AuditEvent.hash).where(AuditEvent.request_id == req.id)
                           .order_by(AuditEvent.id.desc()).limit(1)).first()
    mark = f"{newest.id}:{newest.hash}" if newest is not None and ex is not None else None
    text, blocks = views.request_message(req, who, ex, groups=rt.settings.approvers_for(env),
                                         audit_id=newest.id if newest is not None else None, audit_mark=mark,
                                         schema_gap=schema_gap(env, req.kind, req.args or {}), lint=lint)
    notify.update(rt.slack, req.channel, req.message_ts, text, blocks)


def _lint(session, req: Request) -> tuple:
    """The lint findings of the check *req* came from, for the migration it touches."""
    check = session.get(Check, req.check_id) if req.check_id is not None else None
    return request_lint(check.result if check is not None else None, req.args or {})


def in_thread(rt: Runtime, req: Request, text: str) -> None:
    """A note in the request's thread (an outcome, a refusal); kept for the sweeper when Slack will not
    take it, and the requester told."""
    if not req.channel:
        return
    where = req.thread_ts or req.message_ts
    try:
        notify.post(rt.slack, req.channel, text, thread_ts=where)
    except REFUSED:
        keep_post(rt, {"kind": "thread", "request": req.id, "channel": req.channel, "thread_ts": where, "text": text})
        notify.tell_quietly(rt.slack, req.channel, req.requester,
                            f"Slack did not take the outcome of request #{req.id} on *{escape(req.environment)}* "
                            "for its thread; driftbot will post it again shortly. Nothing is lost.")


def keep_post(rt: Runtime, item: dict) -> None:
    """Keep a post Slack refused (Redis, a day) for the sweeper to have it posted again."""
    item = {**item, "attempts": item.get("attempts", 0) + 1}
    if item["attempts"] > KEEP_ATTEMPTS:
        log.warning("gave up posting %s for request %s", item["kind"], item.get("request"))
        return
    key = keys.kept_posts(rt.settings.queue_prefix)
    rt.redis.rpush(key, json.dumps(item))
    rt.redis.expire(key, 86400)


def post_kept(rt: Runtime, item: dict) -> bool:
    """Post again what ``keep_post`` kept (the sweeper's job); kept once more when Slack still refuses.
    A request message is posted only while it has none; an update re-renders from the database."""
    try:
        if item["kind"] == "request":
            with rt.sessions() as s:
                req = s.get(Request, item["request"])
            if req is not None and not req.message_ts:
                _post_request(rt, req, req.sql, item.get("thread_ts"))
        elif item["kind"] == "update":
            _refresh_request_message(rt, item["request"])
        else:
            notify.post(rt.slack, item["channel"], item["text"], thread_ts=item.get("thread_ts"))
    except REFUSED:
        keep_post(rt, item)
        return False
    return True
