"""The one gate for what driftbot posts about an environment: where each kind of thing may go.

Three kinds, from the table "Who may do what" (docs/trust.md):

- ``STATE`` (a check's headline, findings and fix lines, a digest line, request links): in the
  environment's channels, in a DM to one of its readers (approvers and viewers); an environment
  without channels is not tied to a place, so its state goes where it is asked;
- ``SQL`` (the catch-up SQL snippet, a diff, audit rows): in its channels, or in a DM to a reader only;
- ``DIGEST`` (a line in a digest asked for on demand): in its channels, or in a DM to a reader; an
  environment without channels only in a reader's DM, since a digest is not asked about it by name.

Every check post, repost and digest asks ``allowed``; *reader* is called only when the answer depends
on it (it may read a user group's members).
"""

from __future__ import annotations

from collections.abc import Callable

from driftbot.requests.rules import is_dm
from driftbot.settings import EnvironmentSettings, Settings

STATE, SQL, DIGEST = "state", "sql", "digest"


def allowed(settings: Settings, env: EnvironmentSettings, what: str, channel: str | None,
            reader: Callable[[], bool]) -> bool:
    """Whether *what* about *env* may be posted in *channel* (for the person *reader* asks about)."""
    if not channel:
        return False
    channels = settings.channels_of(env)
    if channel in channels:
        return True
    if is_dm(channel) and reader():
        return True
    return what == STATE and not channels


def environments(settings: Settings, what: str, channel: str | None,
                 reader_of: Callable[[EnvironmentSettings], bool]) -> list[str]:
    """The environments *what* may be shown about in *channel*, in name order."""
    return [name for name, env in sorted(settings.environments.items())
            if allowed(settings, env, what, channel, lambda env=env: reader_of(env))]
