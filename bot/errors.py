"""The error hierarchy.

Every message is written for the person reading it in Slack or a terminal:
what went wrong and what to do. Exceptions are converted to these at the edge;
a user never sees a traceback.
"""

from __future__ import annotations

import re

_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^@\s]*)(?P<tail>@)", re.I)
_KV_PASSWORD = re.compile(r"(?P<head>\bpassword\s*=\s*)(?P<pw>'[^']*'|\S+)", re.I)


def redact(text: str) -> str:
    """Return *text* with every password in a URL or ``password=`` pair masked."""
    text = _URL_PASSWORD.sub(lambda m: f"{m['head']}***{m['tail']}" if m["pw"] else m[0], text)
    return _KV_PASSWORD.sub(lambda m: f"{m['head']}***", text)


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


def _short(text: str, limit: int = 60) -> str:
    text = text.replace("`", "'").replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"
