"""Who may approve on an environment and how many approvals it takes. Pure: settings in, answers out."""

from __future__ import annotations

from driftbot.settings import EnvironmentSettings, resolve_approvers  # noqa: F401 - the list's expansion, kept with the settings


def approvals_required(env: EnvironmentSettings) -> int:
    """Distinct approvals a request on *env* needs. Unprotected environments still need one
    approval from someone other than the requester."""
    return env.approvals_required if env.protected else 1


def required_now(at_request: int, env: EnvironmentSettings) -> int:
    """Approvals a request needs now: the stricter of what it was asked with and what is configured."""
    return max(at_request, approvals_required(env))


def click_problem(*, team: str | None, channel: str | None, message_ts: str | None, request_team: str | None,
                  request_channel: str | None, request_message_ts: str | None, env_channels: list[str]) -> str | None:
    """Why a click on a request's button must not count, or None. A click counts only from the
    request's workspace, in the request's channel (one of its environment's), on its own message."""
    if request_team and team != request_team:
        return "That click came from another Slack workspace than the request's."
    if not channel or channel != request_channel or (env_channels and channel not in env_channels):
        where = f" in <#{request_channel}>" if request_channel else ""
        return f"Click the buttons on the request's own message{where}."
    if not message_ts or message_ts != request_message_ts:
        return "That button is not on this request's message; use the buttons on the request itself."
    return None


def is_dm(channel: str | None) -> bool:
    """A direct message with the bot (Slack's IDs of DMs start with D)."""
    return bool(channel) and channel.startswith("D")


def place_problem(*, env: str, env_channels: list[str], channel: str | None, reader: bool, dm_ok: bool) -> str | None:
    """Why a command about *env* is not answered in *channel*, or None.

    Everything about an environment happens in its channels (an environment without any is not
    tied to one); `/drift diff` and `/drift audit` (*dm_ok*) also answer in a DM to one of its
    approvers or viewers (*reader*), and, for an environment without channels, only there.
    """
    if channel in env_channels:
        return None
    if dm_ok and reader and is_dm(channel):
        return None
    if not env_channels and not dm_ok:
        return None
    if env_channels:
        also = " (or in a DM with driftbot, if you are one of its approvers or viewers)" if dm_ok else ""
        return f"Ask about *{env}* in <#{env_channels[0]}>{also}."
    return f"That answers only in a DM with driftbot, to one of *{env}*'s approvers or viewers."
