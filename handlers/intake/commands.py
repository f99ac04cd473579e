"""Intake of ``/drift``: what its listener hands the text to: parse, authorise, record, enqueue, answer.

Each function returns the short text for the person who asked. None touches a
target database: they read and write driftbot's state and the queue only, with
short timeouts, so Slack gets its answer within 3 seconds even when Redis or
the state database is down.
"""

from __future__ import annotations

import logging

from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from bot.engine import writers
from bot.errors import QUEUE_DOWN, STATE_DOWN, DriftbotError, GroupsUnknown
from bot.requests import machine, rules
from bot.runtime import Runtime
from bot.settings import EnvironmentSettings
from bot.slack.mrkdwn import code, error, escape
from bot.state.models import Request
from bot.work import queues
from bot.work.checking import request_check
from handlers.intake.audit import audit_command, digest_command, verify_command
from handlers.intake.compare import compare_command
from handlers.intake.grammar import HELP, Command, Usage, parse

log = logging.getLogger(__name__)


def on_command(rt: Runtime, text: str, user: str, channel: str, team: str | None = None) -> str:
    cmd = parse(text)
    if isinstance(cmd, Usage):
        return cmd.message
    try:
        return _dispatch(rt, cmd, user, channel, team)
    except DriftbotError as exc:
        return error(exc)
    except RedisError:
        return f"Cannot do that now: {QUEUE_DOWN}"
    except SQLAlchemyError:
        log.exception("state database error")
        return f"Cannot do that now: {STATE_DOWN}"
    except Exception:  # the asker gets one line, the log gets the details
        log.exception("command failed")
        return "Something went wrong on driftbot's side; nothing was changed. The details are in its logs."


def _reader(rt: Runtime, env: EnvironmentSettings, user: str, channel: str) -> bool:
    """An approver or viewer of *env* asking in a DM (membership from the shared copy: never waits for Slack)."""
    if not rules.is_dm(channel):
        return False
    if user in rt.settings.approvers_for(env) + rt.settings.viewers_for(env):  # named directly: no group to read
        return True
    try:
        return user in rt.readers(env)
    except GroupsUnknown:
        queues.enqueue_refresh_groups(rt)
        raise


def place_problem(rt: Runtime, env: EnvironmentSettings, user: str, channel: str, *, dm_ok: bool) -> str | None:
    """Why a command about *env* is not answered here, or None (README, "Who may do what")."""
    channels = rt.settings.channels_of(env)
    if channel in channels:
        return None
    return rules.place_problem(env=env.name, env_channels=channels, channel=channel, dm_ok=dm_ok,
                               reader=dm_ok and _reader(rt, env, user, channel))


def _audit_place(rt: Runtime, user: str, channel: str, verify: bool = False) -> str | None:
    """`/drift audit` of every environment (and `/drift audit verify`, which reads the whole trail): in a
    channel of each, or a DM to a reader of each."""
    envs = list(rt.settings.environments.values())
    if all(channel in rt.settings.channels_of(e) for e in envs):
        return None
    if rules.is_dm(channel) and all(_reader(rt, e, user, channel) for e in envs):
        return None
    if verify:
        return ("`/drift audit verify` checks the trail of every environment: it answers only in a channel of each, "
                "or in a DM to an approver or viewer of each.")
    return ("`/drift audit` of every environment answers only in a channel of each, or in a DM to an approver "
            "or viewer of each; name one environment: `/drift audit ENV`.")


def _dispatch(rt: Runtime, cmd: Command, user: str, channel: str, team: str | None = None) -> str:
    settings = rt.settings
    if cmd.name == "help":
        return HELP
    if cmd.name == "envs":
        if not settings.environments:
            return "No environments are configured."
        return "\n".join(
            f"• *{escape(n)}* · {'protected' if e.protected else 'unprotected'} · {rules.approvals_required(e)} approvals"
            for n, e in sorted(settings.environments.items()))
    if cmd.name == "requests":
        return open_requests(rt, [n for n, e in settings.environments.items()
                                  if place_problem(rt, e, user, channel, dm_ok=True) is None])
    if cmd.name == "digest":
        return digest_command(rt, user=user, channel=channel)
    if cmd.name == "audit":
        problem = (place_problem(rt, settings.environment(cmd.environment), user, channel, dm_ok=True)
                   if cmd.environment else _audit_place(rt, user, channel))
        if problem:
            return problem
        return audit_command(rt, environment=cmd.environment, days=int(cmd.args.get("days", 0)) or None,
                             user=user, channel=channel)
    if cmd.name == "audit_verify":
        return _audit_place(rt, user, channel, verify=True) or verify_command(
            rt, checkpoint=cmd.args.get("checkpoint"), user=user, channel=channel)
    if cmd.name == "compare":  # its SQL is read as `diff`'s is: only where both environments may be talked about
        pair = (settings.environment(cmd.environment or ""), settings.environment(cmd.args["to"]))
        problem = next((p for p in (place_problem(rt, e, user, channel, dm_ok=True) for e in pair) if p), None)
        if problem:
            return problem
        return compare_command(rt, from_env=pair[0].name, to_env=pair[1].name, user=user, channel=channel)
    env = settings.environment(cmd.environment or "")
    problem = place_problem(rt, env, user, channel, dm_ok=cmd.name == "diff")
    if problem:
        return problem
    if cmd.name in ("status", "diff"):
        return request_check(rt, env.name, user, channel)
    kind = cmd.args["kind"]
    if kind == "add_enum_value":
        writers.check_identifier(cmd.args["enum"], "enum")
        writers.check_enum_value(cmd.args["value"])
        args = {"enum": cmd.args["enum"], "value": cmd.args["value"]}
    else:
        args = {"migration": writers.check_migration_name(cmd.args["migration"])}
    queues.enqueue_propose(rt, environment=env.name, kind=kind, args=args, requester=user, channel=channel,
                           team_id=team)
    return f"Preparing the request on *{escape(env.name)}*… it will be posted in this channel for approval."


def open_requests(rt: Runtime, environments: list[str]) -> str:
    """Open requests of *environments* (those that may be talked about where it was asked)."""
    with rt.sessions() as s:
        rows = s.execute(select(Request).where(Request.status.in_(machine.ACTIVE), Request.environment.in_(environments))
                         .order_by(Request.id)).scalars().all()
    if not rows:
        return "No open requests."
    return "\n".join(
        f"• Request #{r.id} on *{escape(r.environment)}*: `{r.kind}` "
        + " ".join(f"{k}={code(v)}" for k, v in sorted(r.args.items()))
        + f" by <@{r.requester}> · {r.status} · expires <!date^{int(r.expires_at.timestamp())}^{{date_short_pretty}} {{time}}|soon>"
        for r in rows)
