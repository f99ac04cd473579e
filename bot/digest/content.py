"""The daily digest's content: pure data in, Block Kit and a text fallback out.

The first line tells the reader whether to worry; each environment that needs
attention gets one line (state, since when, open requests with their age and a
link to their thread); the ones in sync share a line; driftbot's open pull
requests follow, with their age; what changed since the previous digest closes the message.
Each configured pair of environments (top-level ``compare``) gets its comparison's line
("staging and prod differ by ..."). When all is in sync and every pair equal it is one short line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping
from zoneinfo import ZoneInfo

from driftbot.slack.mrkdwn import checkpoint_line, clip, code, escape, lines_within
from driftbot.words import COMPARISON_ICONS, icon, listed

# Headline state per environment, most urgent first.
ORDER = ("failed", "drifted", "unreachable", "not_checked", "pending", "not_managed", "in_sync")
_CONNECT_PREFIX = "Cannot connect to the target database: "


@dataclass(frozen=True)
class EnvStatus:
    name: str
    state: str  # one of ORDER
    detail: str = ""
    since: datetime | None = None
    fingerprint: str | None = None


@dataclass(frozen=True)
class OpenRequest:
    id: int
    environment: str
    created_at: datetime
    status: str = "requested"
    channel: str | None = None
    thread_ts: str | None = None

    @property
    def link(self) -> str | None:
        """The thread's archive link, which Slack resolves in the workspace; no API call needed."""
        if not (self.channel and self.thread_ts):
            return None
        return f"https://slack.com/archives/{self.channel}/p{self.thread_ts.replace('.', '')}"


@dataclass(frozen=True)
class PairLine:
    """A configured pair (top-level ``compare``): its state and the comparison's one line."""

    from_env: str
    to_env: str
    state: str  # equal | different | error
    headline: str


@dataclass(frozen=True)
class OpenPullRequest:
    """A pull request driftbot opened that is still open (read from GitHub when the digest is composed)."""

    environment: str
    number: int
    url: str
    created_at: datetime | None = None


@dataclass(frozen=True)
class Digest:
    at: datetime
    statuses: tuple[EnvStatus, ...]
    requests: tuple[OpenRequest, ...] = ()
    pairs: tuple[PairLine, ...] = ()
    pull_requests: tuple[OpenPullRequest, ...] = ()
    pull_request_problems: tuple[tuple[str, str], ...] = ()  # (environment, why its pull requests are not listed)
    previous: Mapping[str, Any] | None = None  # the last digest's snapshot: {env: {"state", "fingerprint"}}
    previous_at: datetime | None = None
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    checkpoint: str | None = None  # the audit trail's N:HASH when the digest was composed: a copy in Slack

    @property
    def pairs_differ(self) -> bool:
        return any(p.state != "equal" for p in self.pairs)

    @property
    def quiet(self) -> bool:
        """Nothing to say beyond "all in sync": the short form."""
        return not (self.attention or self.requests or self.pull_requests or self.pull_request_problems or self.pairs_differ)

    @property
    def attention(self) -> list[EnvStatus]:
        return sorted((s for s in self.statuses if s.state != "in_sync"), key=lambda s: (ORDER.index(s.state), s.name))

    def snapshot(self) -> dict[str, Any]:
        """What the next digest compares against."""
        return {s.name: {"state": s.state, "fingerprint": s.fingerprint, "detail": s.detail} for s in self.statuses}


def short_reason(error: str | None) -> str:
    """``Cannot connect ...: connection refused (check ...)`` -> ``connection refused``."""
    text = (error or "").strip()
    if text.startswith(_CONNECT_PREFIX):
        text = text[len(_CONNECT_PREFIX):]
    if text.endswith(")") and " (" in text:
        text = text[: text.rindex(" (")]
    if "failed: " in text:  # libpq: 'connection to server at "h", port 1 failed: Connection refused'
        text = text.rsplit("failed: ", 1)[-1]
        text = text[:1].lower() + text[1:]
    return text if len(text) <= 60 else text[:59] + "…"


def status_from_check(name: str, state: str | None, result: Mapping[str, Any] | None, error: str | None,
                      since: datetime | None, fingerprint: str | None = None) -> EnvStatus:
    """One environment's line from its latest check (``state`` None: no check came back)."""
    result = result or {}
    if state is None:
        return EnvStatus(name, "not_checked", escape(short_reason(error)) or "the check did not finish")
    if state == "error":
        reason = error or result.get("error") or ""
        kind = "unreachable" if result.get("error_kind") == "unreachable" else "not_checked"
        return EnvStatus(name, kind, escape(short_reason(reason)), since, fingerprint)
    history = result.get("history") or {}
    if state == "failed":
        failed = history.get("failed") or []
        detail = code(failed[0]) if failed else ""
    elif state == "pending":
        n = len(history.get("pending") or [])
        detail = f"{n} pending" if n else ""
    elif state == "drifted":
        n = len(result.get("findings") or [])
        detail = f"{n} finding{'s' if n != 1 else ''}" if n else ""
    else:
        detail = ""
    return EnvStatus(name, state, detail, since if state != "in_sync" else None, fingerprint)


def _day(at: datetime, tz: ZoneInfo) -> str:
    local = at.astimezone(tz)
    return f"{local.day} {local:%b}"


def _age(created: datetime, now: datetime) -> str:
    minutes = max(0, int((now - created).total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h"
    return f"{minutes // (24 * 60)} days"


def _request_ref(r: OpenRequest, now: datetime) -> str:
    name = f"<{r.link}|request #{r.id}>" if r.link else f"request #{r.id}"
    verb = "approved, waiting to run" if r.status == "approved" else "waiting"
    return f"{name} {verb} {_age(r.created_at, now)}"


def changes(digest: Digest) -> list[str]:
    """What changed since the previous digest, one phrase per environment."""
    if digest.previous is None:
        return []
    out = []
    for s in sorted(digest.statuses, key=lambda s: s.name):
        before = digest.previous.get(s.name)
        name = escape(s.name)
        if before is None:
            out.append(f"{name} is new")
        elif before.get("state") != s.state:
            out.append(f"{name} back in sync" if s.state == "in_sync"
                       else f"{name} {listed(before.get('state'))} → {listed(s.state)}")
        elif s.state != "in_sync" and s.fingerprint and before.get("fingerprint") not in (None, s.fingerprint):
            out.append(f"{name}: what it found changed")
    return out


def lines(digest: Digest) -> list[str]:
    """The body: one line per environment needing attention, then the ones in sync together."""
    by_env: dict[str, list[OpenRequest]] = {}
    for r in sorted(digest.requests, key=lambda r: r.created_at):
        by_env.setdefault(r.environment, []).append(r)
    out = []
    for s in digest.attention:
        line = f"{icon(s.state)} *{escape(s.name)}* {listed(s.state)}"
        if s.detail:
            line += f" ({s.detail})"
        if s.since:
            line += f" since {_day(s.since, digest.tz)}"
        refs = [_request_ref(r, digest.at) for r in by_env.pop(s.name, [])]
        if refs:
            line += " · " + " · ".join(refs)
        out.append(line)
    in_sync = sorted(escape(s.name) for s in digest.statuses if s.state == "in_sync")
    if in_sync:
        out.append(f"{icon('in_sync')} {', '.join(in_sync)} {listed('in_sync')}")
    for env, reqs in sorted(by_env.items()):  # requests on environments that are (now) in sync
        out.append(f":hourglass: {escape(env)}: " + " · ".join(_request_ref(r, digest.at) for r in reqs))
    out += [f"{COMPARISON_ICONS[p.state]} {escape(p.headline)}" for p in digest.pairs]  # "staging and prod differ by ..."
    out += pull_request_lines(digest)
    return out


def pull_request_lines(digest: Digest) -> list[str]:
    """One line per environment with driftbot pull requests waiting for review, oldest first, with their age."""
    by_env: dict[str, list[OpenPullRequest]] = {}
    for p in digest.pull_requests:
        by_env.setdefault(p.environment, []).append(p)
    out = []
    for env, pulls in sorted(by_env.items()):
        refs = [f"<{p.url}|#{p.number}>" + (f" open {_age(p.created_at, digest.at)}" if p.created_at else "")
                for p in sorted(pulls, key=lambda p: (p.created_at is None, p.created_at, p.number))]
        out.append(f":twisted_rightwards_arrows: *{escape(env)}* driftbot pull request{'s' if len(refs) != 1 else ''} "
                   "waiting for review: " + " · ".join(refs))
    out += [f":warning: *{escape(env)}* pull requests could not be listed: {escape(why)}"
            for env, why in sorted(digest.pull_request_problems)]
    return out


def headline(digest: Digest) -> str:
    n = len(digest.statuses)
    title = f"*Drift digest, {_day(digest.at, digest.tz)}*"
    if digest.quiet:
        return f"{title} · all {n} environment{'s' if n != 1 else ''} in sync {icon('in_sync')}"
    need = len(digest.attention)
    return f"{title} · {n} environment{'s' if n != 1 else ''} · {need} need{'s' if need == 1 else ''} attention"


MAIN_BUDGET = 2800  # the body's section (Slack's limit for a section is 3,000 characters)
IN_SYNC_NAMES = 300  # a longer list of environments in sync is said as a count
SINCE_BUDGET = 500


def render(digest: Digest) -> tuple[str, list[dict[str, Any]]]:
    """``(text, blocks)``: the text is the notification and fallback; the blocks are what people see."""
    text, blocks, _ = render_full(digest)
    return text, blocks


def render_full(digest: Digest) -> tuple[str, list[dict[str, Any]], str | None]:
    """``(text, blocks, table)``: *table* is the whole digest as plain text, for a snippet in the thread, when
    the message had to leave lines out (None when it says everything). Whatever the number of
    environments the message stays within Slack's limits: one line per environment needing attention
    while they fit, then "and N more"; the ones in sync as a count when their names are too many."""
    head = headline(digest)
    diff = changes(digest)
    since_last = ""
    if digest.previous is not None:
        when = f" ({_day(digest.previous_at, digest.tz)})" if digest.previous_at else ""
        since_last = (f"Since the last digest{when}: " + " · ".join(diff)) if diff else f"No change since the last digest{when}."
    full = lines(digest)
    body = [] if digest.quiet else full
    table = None
    main = [_in_sync_count(digest, line) if len(line) > IN_SYNC_NAMES and line.startswith(icon("in_sync")) else line
            for line in body]
    shown = lines_within(main, MAIN_BUDGET, lambda n: f"… and {n} more lines: the full digest is in the snippet in the thread.")
    if shown != body:
        table = "\n".join([_plain(head), *full, *([since_last] if since_last else [])]) + "\n"
    said = clip(since_last, SINCE_BUDGET, "… (the full list is in the snippet)") if since_last else ""
    if said != since_last and table is None:
        table = "\n".join([_plain(head), *full, since_last]) + "\n"
    text = "\n".join([head, *shown, *([said] if said and (diff or not digest.quiet) else [])])
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": head}}]
    if shown:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(shown)}})
    if said and (diff or shown):
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": said}]})
    if digest.checkpoint:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": checkpoint_line(digest.checkpoint)}]})
    return text, blocks, table


def _in_sync_count(digest: Digest, line: str) -> str:
    n = sum(1 for s in digest.statuses if s.state == "in_sync")
    return f"{icon('in_sync')} {n} {listed('in_sync')} (named in the snippet)"


def _plain(text: str) -> str:
    return text.replace("*", "")


def channels_for(settings_digest_channels: list[str], env_channels: Mapping[str, str | None]) -> dict[str, list[str]]:
    """Which environments each channel's digest covers: the digest channels get all of them; an
    environment's own channel (when it is not a digest channel) gets the environments posted there."""
    everyone = sorted(env_channels)
    out: dict[str, list[str]] = {c: everyone for c in settings_digest_channels}
    for env, channel in sorted(env_channels.items()):
        if channel and channel not in settings_digest_channels:
            out.setdefault(channel, []).append(env)
    return out
