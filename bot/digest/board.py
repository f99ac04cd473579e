"""The App Home board: the digest for one person, in their Home tab, always current.

Each person sees only the environments they may see ("Who may do what"): those they read (an approver
or a viewer, named or through a user group) and those tied to no channel (whose status answers
anywhere). For each: its state and since when, its last check, and the requests on it waiting for
this person; then every request waiting for their approval, the newest audit checkpoint, and a
button per environment to run a check. Pure data in (``compose`` reads it), a Home tab view out
(``render``), within the Home tab's limits (100 blocks, 3,000 characters a section) for any number
of environments.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Iterable
from zoneinfo import ZoneInfo

from sqlalchemy import select

from driftbot import audit, checks
from driftbot.digest.content import ORDER, EnvStatus, OpenRequest, status_from_check
from driftbot.engine import actions
from driftbot.requests.machine import approvers_of
from driftbot.settings import Settings, resolve_approvers
from driftbot.slack.mrkdwn import clip, code, escape, lines_within, middle
from driftbot.state.models import Check, Request
from driftbot.words import icon, listed

HOME_BLOCKS = 100  # Slack: "100 blocks in modals or Home tabs"
SECTION = 2900  # a section's text (Slack's limit is 3,000)
ATTENTION_SECTIONS = 4  # then "and N more"
IN_SYNC_NAMES = 1000  # a longer list of environments in sync is said as a count
BUTTONS_PER_ROW = 25  # Slack's limit for an actions block
BUTTON_ROWS = 10
CHECK_NOW = "home_check"  # action_id prefix of the "Check now" buttons; the value is the environment


@dataclass(frozen=True)
class Waiting:
    """A request waiting for this person's approval."""

    request: OpenRequest
    kind: str
    summary: str  # what it does, short (``ADD VALUE 'VIDEO'``)
    requester: str


@dataclass(frozen=True)
class BoardLine:
    status: EnvStatus
    checked_at: datetime | None = None


@dataclass(frozen=True)
class Board:
    user: str
    at: datetime
    lines: tuple[BoardLine, ...]
    waiting: tuple[Waiting, ...] = ()
    checkpoint: str | None = None
    tz: ZoneInfo = ZoneInfo("UTC")

    @property
    def attention(self) -> list[BoardLine]:
        return sorted((b for b in self.lines if b.status.state != "in_sync"),
                      key=lambda b: (ORDER.index(b.status.state), b.status.name))


def visible_environments(settings: Settings, user: str, members_of: Callable[[str], Iterable[str]]) -> list[str]:
    """The environments *user* may see on their board: readers' ones, and those tied to no channel. A
    user group whose members are not known yet counts as not including them (never waits for Slack)."""
    out = []
    for name, env in sorted(settings.environments.items()):
        if not settings.channels_of(env):
            out.append(name)
            continue
        named = settings.approvers_for(env) + settings.viewers_for(env)
        if user in named or _in_groups(user, named, members_of):
            out.append(name)
    return out


def _in_groups(user: str, named: list[str], members_of: Callable[[str], Iterable[str]]) -> bool:
    for group in (g for g in named if g.startswith("S")):
        try:
            if user in members_of(group):
                return True
        except Exception:  # members not known here yet: not counted, never guessed
            continue
    return False


def compose(settings: Settings, session, user: str, members_of: Callable[[str], Iterable[str]], now: datetime) -> Board:
    """*user*'s board from the state database."""
    envs = visible_environments(settings, user, members_of)
    latest = {}
    if envs:
        rows = session.execute(
            select(Check).distinct(Check.environment)
            .where(Check.environment.in_(envs), Check.status == "finished")
            .order_by(Check.environment, Check.finished_at.desc())).scalars()
        latest = {r.environment: r for r in rows}
    lines = []
    for env in envs:
        row = latest.get(env)
        state = row.state if row else None
        since = checks.streak_since(checks.history(session, env), unreachable=state == "error") if row else None
        status = status_from_check(env, state, row.result if row else None, row.error if row else "not checked yet",
                                   since, row.fingerprint if row else None)
        lines.append(BoardLine(status, row.finished_at if row else None))
    waiting = []
    for r in session.execute(select(Request).where(Request.status == "requested", Request.environment.in_(envs))
                             .order_by(Request.id)).scalars():
        env = settings.environments.get(r.environment)
        if env is None or r.requester == user or user in approvers_of(session, r.id, r.plan_hash):
            continue
        if user not in resolve_approvers(settings.approvers_for(env), _quiet(members_of)):
            continue
        waiting.append(Waiting(OpenRequest(r.id, r.environment, r.created_at, r.status, r.channel, r.thread_ts),
                               r.kind, _summary(r), r.requester))
    return Board(user=user, at=now, lines=tuple(lines), waiting=tuple(waiting), checkpoint=audit.checkpoint(session))


def _quiet(members_of: Callable[[str], Iterable[str]]) -> Callable[[str], Iterable[str]]:
    def members(group: str) -> Iterable[str]:
        try:
            return members_of(group)
        except Exception:
            return ()
    return members


def _summary(r: Request) -> str:
    found = actions.executable(r.kind)
    try:
        return found.short(found.picked(r.args or {})) if found else r.kind
    except KeyError:  # a stored request missing an argument: its kind says enough
        return r.kind


# --- the view -------------------------------------------------------------------------------------

def _when(at: datetime, tz: ZoneInfo) -> str:
    local = at.astimezone(tz)
    return f"{local.day} {local:%b %H:%M}"


def _age(created: datetime, now: datetime) -> str:
    minutes = max(0, int((now - created).total_seconds() // 60))
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60} h" if minutes < 48 * 60 else f"{minutes // 1440} days"


def _line(b: BoardLine, board: Board, waits: dict[str, list[Waiting]]) -> str:
    s = b.status
    text = f"{icon(s.state)} *{escape(middle(s.name, 80))}* {listed(s.state)}"
    if s.detail:
        text += f" ({clip(s.detail, 120)})"
    if s.since:
        text += f" since {_when(s.since, board.tz)}"
    if b.checked_at:
        text += f" · checked {_when(b.checked_at, board.tz)}"
    for w in waits.get(s.name, [])[:3]:
        ref = f"<{w.request.link}|request #{w.request.id}>" if w.request.link else f"request #{w.request.id}"
        text += f" · {ref} waits for you"
    return text


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _chunks(lines: list[str], limit: int = SECTION) -> list[str]:
    out, current = [], ""
    for line in lines:
        if current and len(current) + 1 + len(line) > limit:
            out.append(current)
            current = ""
        current = f"{current}\n{line}" if current else clip(line, limit)
    return out + ([current] if current else [])


def render(board: Board) -> dict[str, Any]:
    """The Home tab view (``views.publish``)."""
    waits: dict[str, list[Waiting]] = {}
    for w in board.waiting:
        waits.setdefault(w.request.environment, []).append(w)
    attention = board.attention
    n = len(board.lines)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "Your environments"}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text":
            f"{n} environment{'s' if n != 1 else ''} you may see · {len(attention)} need{'s' if len(attention) == 1 else ''} "
            f"attention · updated {_when(board.at, board.tz)}"}]},
    ]
    if not board.lines:
        blocks.append(_section("No environment to show: you read none (ask to be made a viewer), and every one "
                               "answers only in its channels."))
    lines = [_line(b, board, waits) for b in attention]
    shown = lines_within(lines, ATTENTION_SECTIONS * (SECTION - 100),
                         lambda k: f"… and {k} more need attention: `/drift status ENV` in their channels.")
    blocks += [_section(c) for c in _chunks(shown)]
    in_sync = [escape(b.status.name) for b in board.lines if b.status.state == "in_sync"]
    if in_sync:
        names = ", ".join(in_sync)
        blocks.append(_section(f"{icon('in_sync')} {names if len(names) <= IN_SYNC_NAMES else len(in_sync)} {listed('in_sync')}"))
    if board.waiting:
        blocks.append({"type": "header", "text": {"type": "plain_text", "text": "Waiting for your approval"}})
        waiting = [f"• {_ref(w)} {code(clip(w.summary, 200))} on *{escape(middle(w.request.environment, 80))}*, "
                   f"by <@{w.requester}>, {_age(w.request.created_at, board.at)} ago" for w in board.waiting]
        blocks.append(_section("\n".join(lines_within(waiting, SECTION - 100, lambda k: f"… and {k} more waiting: `/drift requests`."))))
    buttons = [{"type": "button", "action_id": f"{CHECK_NOW}_{i}", "value": b.status.name,
                "text": {"type": "plain_text", "text": "Check " + middle(b.status.name, 60)}}
               for i, b in enumerate(attention + [b for b in board.lines if b.status.state == "in_sync"])]
    if buttons:
        blocks.append(_section("*Check now* (the result is posted in the environment's channel)"))
        rows = [buttons[i:i + BUTTONS_PER_ROW] for i in range(0, len(buttons), BUTTONS_PER_ROW)][:BUTTON_ROWS]
        blocks += [{"type": "actions", "block_id": f"home-check-{i}", "elements": row} for i, row in enumerate(rows)]
        if len(buttons) > BUTTONS_PER_ROW * BUTTON_ROWS:
            blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text":
                f"{len(buttons) - BUTTONS_PER_ROW * BUTTON_ROWS} more: `/drift status ENV` in their channels."}]})
    if board.checkpoint:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"Audit checkpoint {code(board.checkpoint)}"}]})
    return {"type": "home", "callback_id": "driftbot_home", "blocks": blocks[:HOME_BLOCKS]}


def _ref(w: Waiting) -> str:
    return f"<{w.request.link}|#{w.request.id}>" if w.request.link else f"#{w.request.id}"
