"""What each ``/drift`` verb does once parsed, and where it may be answered: the handler and place
rule columns of the verb table (``driftbot.handlers.intake.grammar.VERBS``).

A place rule takes ``(rt, cmd, user, channel)`` and returns why the command is not answered there, or
None; a handler takes ``(rt, cmd, user, channel, team)`` and returns the asker's answer. None touches a
target database: they read and write driftbot's state and the queue only.
"""

from __future__ import annotations

from sqlalchemy import select

from driftbot.engine import actions
from driftbot.errors import GroupsUnknown
from driftbot.requests import machine, rules
from driftbot.runtime import Runtime
from driftbot.settings import EnvironmentSettings
from driftbot.slack import gate
from driftbot.slack.mrkdwn import clip, code, escape, lines_within
from driftbot.state.models import Request
from driftbot.work import queues
from driftbot.work.checking import request_check
from driftbot.handlers.intake.audit import audit_command, digest_command, verify_command
from driftbot.handlers.intake.compare import compare_command

# --- where ------------------------------------------------------------------------------------------


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


def _every_environment(rt: Runtime, user: str, channel: str, verify: bool = False) -> str | None:
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


def anywhere(rt: Runtime, cmd, user: str, channel: str) -> None:
    """Says nothing about an environment (or filters what it says: ``requests``)."""
    return None


def env_channel(rt: Runtime, cmd, user: str, channel: str) -> str | None:
    """In a channel of the environment only (what it posts carries buttons or starts a change)."""
    return place_problem(rt, rt.settings.environment(cmd.environment or ""), user, channel, dm_ok=False)


def env_or_reader_dm(rt: Runtime, cmd, user: str, channel: str) -> str | None:
    """In a channel of the environment, or a DM to one of its approvers or viewers (it shows its SQL)."""
    return place_problem(rt, rt.settings.environment(cmd.environment or ""), user, channel, dm_ok=True)


def audit_scope(rt: Runtime, cmd, user: str, channel: str) -> str | None:
    """One environment's trail as ``env_or_reader_dm``; every environment's where each may be read."""
    if cmd.environment:
        return env_or_reader_dm(rt, cmd, user, channel)
    return _every_environment(rt, user, channel)


def whole_trail(rt: Runtime, cmd, user: str, channel: str) -> str | None:
    return _every_environment(rt, user, channel, verify=True)


def both_environments(rt: Runtime, cmd, user: str, channel: str) -> str | None:
    """Its SQL is read as `diff`'s is: only where both environments may be talked about."""
    pair = (rt.settings.environment(cmd.environment or ""), rt.settings.environment(cmd.args["to"]))
    return next((p for p in (place_problem(rt, e, user, channel, dm_ok=True) for e in pair) if p), None)


# --- what -------------------------------------------------------------------------------------------


def envs(rt: Runtime, cmd, user: str, channel: str, team: str | None) -> str:
    settings = rt.settings
    if not settings.environments:
        return "No environments are configured."
    return "\n".join(
        f"• *{escape(n)}* · {'protected' if e.protected else 'unprotected'} · {rules.approvals_required(e)} approvals"
        for n, e in sorted(settings.environments.items()))


def requests(rt: Runtime, cmd, user: str, channel: str, team: str | None) -> str:
    return open_requests(rt, [n for n, e in rt.settings.environments.items()
                              if place_problem(rt, e, user, channel, dm_ok=True) is None])


def digest(rt: Runtime, cmd, user: str, channel: str, team: str | None) -> str:
    """On demand: only the environments whose place this is (driftbot.slack.gate)."""
    shown = gate.environments(rt.settings, gate.DIGEST, channel, lambda e: _reader(rt, e, user, channel))
    return digest_command(rt, user=user, channel=channel, environments=shown)


def audit(rt: Runtime, cmd, user: str, channel: str, team: str | None) -> str:
    return audit_command(rt, environment=cmd.environment, days=int(cmd.args.get("days", 0)) or None,
                         user=user, channel=channel)


def verify(rt: Runtime, cmd, user: str, channel: str, team: str | None) -> str:
    return verify_command(rt, checkpoint=cmd.args.get("checkpoint"), user=user, channel=channel)


def compare(rt: Runtime, cmd, user: str, channel: str, team: str | None) -> str:
    return compare_command(rt, from_env=rt.settings.environment(cmd.environment or "").name,
                           to_env=rt.settings.environment(cmd.args["to"]).name, user=user, channel=channel)


def check(rt: Runtime, cmd, user: str, channel: str, team: str | None) -> str:
    return request_check(rt, rt.settings.environment(cmd.environment or "").name, user, channel)


def change(rt: Runtime, cmd, user: str, channel: str, team: str | None) -> str:
    """A request for an executable action (``driftbot.engine.actions``), prepared on a worker."""
    env = rt.settings.environment(cmd.environment or "")
    kind = cmd.args["kind"]
    args = actions.get(kind).clean(cmd.args)
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
    lines = [f"• Request #{r.id} on *{escape(r.environment)}*: `{r.kind}` "
             + " ".join(f"{k}={code(clip(str(v), 120))}" for k, v in sorted(r.args.items()))
             + f" by <@{r.requester}> · {r.status} · expires <!date^{int(r.expires_at.timestamp())}^{{date_short_pretty}} {{time}}|soon>"
             for r in rows]
    # An answer is read, not scrolled: the oldest first while they fit, then how many more.
    return "\n".join(lines_within(lines, 3500, lambda n: f"… and {n} more open requests: each is in its thread."))
