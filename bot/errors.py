"""The error hierarchy.

Every message is written for the person reading it in Slack or a terminal:
what went wrong and what to do. Exceptions are converted to these at the edge;
a user never sees a traceback.
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any, Iterable
from urllib.parse import quote, unquote

_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^@\s]*)(?P<tail>@)", re.I)
_KV_PASSWORD = re.compile(r"(?P<head>\bpassword\s*=\s*)(?P<pw>'[^']*'|\S+)", re.I)
SECRET_PARAM = re.compile(r"(password|passwd|secret|token)", re.I)
MASK = "***"

# The values of every configured secret, masked wherever their text appears. Shorter values are
# left to the patterns above: masking every "abc" in every message would make them unreadable.
MIN_SECRET = 4
# Characters that end a URL's password for libpq: a password holding one is echoed in pieces
# (``p@ss@word`` gives ``failed to resolve host 'ss@word@...'``), so the pieces are secrets too.
_URL_DELIMITERS = re.compile(r"[@:/?#&=\s]")
_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None
_lock = threading.Lock()


def _forms(value: str) -> set[str]:
    """*value* as it may be echoed: as typed, percent-decoded and -encoded, JSON- and repr-escaped."""
    forms = {value, unquote(value), quote(value, safe="")}
    for v in list(forms):
        forms |= {json.dumps(v)[1:-1], json.dumps(v, ensure_ascii=False)[1:-1], repr(v)[1:-1]}
    return {f for f in forms if len(f) >= MIN_SECRET}


def register_secret(value: str | None, *, pieces: bool = False) -> None:
    """Mask *value* (and, with *pieces*, its parts between URL delimiters) in every ``redact`` from now on."""
    global _pattern
    if not value:
        return
    found = _forms(value)
    if pieces:
        for text in (value, unquote(value)):
            for m in _URL_DELIMITERS.finditer(text):
                found |= _forms(text[: m.start()]) | _forms(text[m.end():])
    with _lock:
        if found - _secrets:
            _secrets.update(found)
            _pattern = None


def register_url(url: str | None) -> None:
    """The secrets of a URL: its password and every ``password=`` (or token/secret) query parameter."""
    if not url or "://" not in url:
        return
    # libpq ends the userinfo at the first '@' or '/', Python's urlsplit at the last '@' of the
    # authority; an unencoded '@', '/' or '?' in a password makes them disagree. The widest reading
    # (up to the last '@') holds the password as the operator meant it; its pieces cover the rest.
    rest = url.split("://", 1)[1]
    main, sep, query = rest.partition("?")
    if sep and "=" in query:  # parameters: an '@' in one of them is not the end of the userinfo
        rest = main
    if "@" in rest:
        userinfo = rest.rsplit("@", 1)[0]
        if ":" in userinfo:
            register_secret(userinfo.split(":", 1)[1], pieces=True)
    for key, value in re.findall(r"[?&]([^=&#?]+)=([^&#]*)", url):
        if SECRET_PARAM.search(unquote(key)):
            register_secret(value, pieces=True)


def registered(values: Iterable[str]) -> bool:
    """True when every value given is masked by ``redact`` (for tests and start-up checks)."""
    return all(v in _secrets for v in values)


def _value_pattern() -> re.Pattern[str] | None:
    global _pattern
    with _lock:
        if _pattern is None and _secrets:
            # Longest first, so a whole password is masked before any of its pieces.
            _pattern = re.compile("|".join(re.escape(s) for s in sorted(_secrets, key=len, reverse=True)))
        return _pattern


def redact(text: str) -> str:
    """Return *text* with every configured secret, and every password in a URL or ``password=`` pair, masked."""
    pattern = _value_pattern()
    if pattern is not None:
        text = pattern.sub(MASK, text)
    text = _URL_PASSWORD.sub(lambda m: f"{m['head']}{MASK}{m['tail']}" if m["pw"] else m[0], text)
    return _KV_PASSWORD.sub(lambda m: f"{m['head']}{MASK}", text)


def redact_data(value: Any) -> Any:
    """*value* (JSON-like: dicts, lists, strings) with ``redact`` applied to every string in it, keys included."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact_data(k): redact_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact_data(v) for v in value)
    return value


class DriftbotError(Exception):
    """Base class: a problem driftbot explains to a person. ``str()`` is safe to show."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(redact(message))

    @property
    def message(self) -> str:
        return str(self)


class ConfigError(DriftbotError):
    """A setting is missing or wrong; names the setting."""


class UnknownEnvironment(DriftbotError):
    def __init__(self, name: str, known: list[str]) -> None:
        shown = ", ".join(sorted(known)) or "none configured"
        example = f" Try `status {sorted(known)[0]}`." if known else ""
        super().__init__(f"Unknown environment `{_short(name)}`. Known: {shown}.{example}")
        self.name = name


class DatabaseUnreachable(DriftbotError):
    """The target (or shadow) database could not be reached or refused us."""


class CannotConnect(DatabaseUnreachable):
    """The database could not be connected to at all (a result's ``error_kind`` "unreachable")."""


class MigrationsNotFound(DriftbotError):
    """A migration applied on an environment that neither environment's source has (``compare``)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"migration {name} is applied but in neither environment's migrations source")


class ShadowUnavailable(DriftbotError):
    """No server where a scratch database may be created: schema drift is "not checked"."""


class UnsupportedPrisma(DriftbotError):
    """The database is managed by a Prisma whose migration state driftbot cannot read."""


class EmbeddedError(DriftbotError):
    """An embedded server could not be found, started or stopped (exit 2, one line)."""


class MigrationsSourceError(DriftbotError):
    """The migrations folder or git repository cannot be read."""


class PullRequestError(DriftbotError):
    """A pull request could not be proposed: no token, the API refused, the push was rejected."""


class InvalidName(DriftbotError):
    """A migration, enum or value name that is not acceptable."""


class Refused(DriftbotError):
    """A change that driftbot (like Prisma) refuses to make; nothing was changed."""

    exit_code = 1


class Busy(DriftbotError):
    """Another change holds the lock on this database."""

    exit_code = 1


class GroupsUnknown(DriftbotError):
    """The members of a user group are not known here yet (the web process never waits for Slack)."""

    def __init__(self, group: str) -> None:
        super().__init__(f"driftbot is still reading the members of <!subteam^{group}>; try again in a minute.")
        self.group = group
        self.mrkdwn = str(self)  # the group's mention is driftbot's own markup (driftbot.slack.mrkdwn.error)


class GroupsDeferred(GroupsUnknown):
    """Slack answered 429 for a user group's members: whoever asked puts its work off by *retry_after*
    seconds (a worker is never held for Retry-After)."""

    def __init__(self, group: str, retry_after: float) -> None:
        DriftbotError.__init__(self, f"Slack asked driftbot to wait {retry_after:.0f} s before reading the members "
                                     f"of <!subteam^{group}>.")
        self.group, self.retry_after = group, retry_after
        self.mrkdwn = str(self)


# What the asker is told when driftbot's own services are away (the one edge: ``outage_note``).
QUEUE_DOWN = ("the job queue (Redis) is unreachable. Nothing was queued; try again in a minute, "
              "and tell whoever runs driftbot if it persists.")
STATE_DOWN = "driftbot's state database is unreachable. Nothing was recorded; try again in a minute."


def _short(text: str, limit: int = 60) -> str:
    text = text.replace("`", "'").replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"
