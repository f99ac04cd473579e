"""Posting to Slack through the Web API (``chat.postMessage``, ``chat.update``, snippets).

Messages are posted and updated with the bot token, never through
``response_url`` (valid 30 minutes, 5 uses). Secrets are masked in the client
itself (``driftbot.slack.client.RedactingWebClient``), whatever path posts.

A refused post is handled here, once, and never repeated as it was:

- Slack refuses it by its rules (``msg_too_long``, ``invalid_blocks``, ...): the log names Slack's
  error code and the rule it broke, and the message is posted once more in its fallback form, a
  short plain text, with everything it said in a snippet in its thread. That one is not retried.
- Slack fails for a moment (``internal_error``, ``fatal_error``, ...: the client itself already
  retries 429 and 5xx answers): the same post, and only it, is tried again a few times, a thread
  reply as a thread reply. Then ``NotPosted`` is raised for the caller to keep what is left.
"""

from __future__ import annotations

import json
import logging
import time

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

log = logging.getLogger(__name__)
# Slack's answers that say the payload breaks a documented rule: sending it again cannot help.
RULE_ERRORS = frozenset({"msg_too_long", "invalid_blocks", "invalid_blocks_format", "too_many_attachments",
                         "invalid_attachments", "no_text", "invalid_arguments", "msg_blocks_too_long"})
# Slack's answers that say it failed for a moment (its error tables: "the server could not complete your
# operation(s) without encountering an error"): the same post may be tried again.
TRANSIENT_ERRORS = frozenset({"internal_error", "fatal_error", "service_unavailable", "request_timeout",
                              "ratelimited", "team_added_to_org"})
TRANSIENT_RETRIES = 3  # after the client's own retries of 429 and 5xx
RETRY_BACKOFF_S = 0.2
FALLBACK_TEXT = 2900  # the fallback's plain text: short, and within any limit


class NotPosted(Exception):
    """Slack did not take a post even after its retries (or its fallback form): *reason* says why,
    Slack's error code when it gave one."""

    def __init__(self, reason: str, refused_by_rule: bool = False) -> None:
        super().__init__(reason)
        self.reason, self.refused_by_rule = reason, refused_by_rule


def error_code(exc: BaseException) -> str:
    """Slack's error code of a failed call (``msg_too_long``), or what kind of failure it was."""
    if isinstance(exc, NotPosted):
        return exc.reason
    if isinstance(exc, SlackApiError):
        data = getattr(exc.response, "data", None)
        if isinstance(data, dict) and data.get("error"):
            return str(data["error"])
        return f"HTTP {exc.response.status_code}"
    return type(exc).__name__


def _rules(exc: SlackApiError) -> str:
    data = getattr(exc.response, "data", None) or {}
    said = data.get("errors") or (data.get("response_metadata") or {}).get("messages") or []
    return "; ".join(str(m) for m in said[:5]) or "no details given"


def post(client: WebClient | None, channel: str, text: str, blocks: list[dict] | None = None,
         thread_ts: str | None = None) -> str | None:
    """Post a message (in a thread when *thread_ts*); returns its ``ts``. Without a client (no
    Slack configured, as in ``driftbot demo``) nothing is posted. Refused by Slack's rules: posted once
    in its fallback form (``fallback``); failing for a moment: tried again alone; then ``NotPosted``."""
    return post_message(client, channel, text, blocks, thread_ts)[0]


def post_message(client: WebClient | None, channel: str, text: str, blocks: list[dict] | None = None,
                 thread_ts: str | None = None) -> tuple[str | None, str | None]:
    """``post``, saying also whether Slack refused the message as composed: ``(ts, refused)``, *refused*
    being Slack's error code when what was posted is the fallback form."""
    if client is None:
        return None, None
    try:
        return _posted(client, channel, text, blocks, thread_ts), None
    except SlackApiError as exc:
        code = error_code(exc)
        if code not in RULE_ERRORS:
            raise NotPosted(code) from exc
        log.warning("Slack refused a message to %s: %s (%s); posting its short form once instead",
                    channel, code, _rules(exc))
    return fallback(client, channel, text, blocks, thread_ts, code), code


def _posted(client: WebClient, channel: str, text: str, blocks: list[dict] | None, thread_ts: str | None) -> str:
    for attempt in range(TRANSIENT_RETRIES + 1):
        try:
            return client.chat_postMessage(channel=channel, text=text, blocks=blocks, thread_ts=thread_ts,
                                           unfurl_links=False)["ts"]
        except SlackApiError as exc:
            code = error_code(exc)
            if code not in TRANSIENT_ERRORS or attempt == TRANSIENT_RETRIES:  # 429 and 5xx: the client retried
                raise
            log.info("Slack failed a message to %s for a moment (%s); trying it again", channel, code)
        except SlackClientError as exc:
            if attempt == TRANSIENT_RETRIES:
                raise NotPosted(type(exc).__name__) from exc
        time.sleep(RETRY_BACKOFF_S * 2 ** attempt)
    raise AssertionError("unreachable")


def readable(text: str, blocks: list[dict] | None) -> str:
    """Everything a message says, as plain text: its text, then the text of its blocks."""
    out = [text] if text else []
    for b in blocks or []:
        parts = [b.get("text")] + list(b.get("fields") or []) + list(b.get("elements") or [])
        for part in parts:
            if isinstance(part, dict) and isinstance(part.get("text"), str) and part.get("type") != "button":
                if part["text"] not in out:
                    out.append(part["text"])
            elif isinstance(part, dict) and isinstance(part.get("text"), dict):
                out.append("[" + str(part["text"].get("text")) + "]")
    return "\n".join(out)


def fallback(client: WebClient, channel: str, text: str, blocks: list[dict] | None, thread_ts: str | None,
             why: str) -> str:
    """The fallback form of a refused message, posted once: its first line and a pointer to a snippet in
    its thread that holds everything it said. Refused again: ``NotPosted`` (never tried a third time)."""
    whole = readable(text, blocks)
    first = (text or whole).splitlines()[0] if (text or whole) else "driftbot"
    short = (first[:FALLBACK_TEXT] + f"\n_Slack refused this message as composed ({why}); "
             "all of it is in the snippet in the thread._")
    try:
        ts = client.chat_postMessage(channel=channel, text=short, thread_ts=thread_ts, unfurl_links=False)["ts"]
    except (SlackApiError, SlackClientError) as exc:
        log.error("Slack refused the short form of a message to %s too: %s", channel, error_code(exc))
        raise NotPosted(error_code(exc), refused_by_rule=True) from exc
    try:
        snippet(client, channel, thread_ts or ts, "driftbot-message.txt", whole + "\n", "The whole message")
    except (SlackApiError, SlackClientError) as exc:  # the message is posted; its long form is a courtesy
        log.warning("the snippet of a refused message to %s was not taken: %s", channel, error_code(exc))
    return ts


def update(client: WebClient | None, channel: str, ts: str, text: str, blocks: list[dict] | None = None) -> None:
    if client is None:
        return
    client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)


def publish_home(client: WebClient | None, user: str, view: dict) -> None:
    """Publish *view* as *user*'s Home tab (``views.publish``)."""
    if client is None:
        return
    client.views_publish(user_id=user, view=view)


def ephemeral(client: WebClient | None, channel: str, user: str, text: str) -> None:
    if client is None:
        return
    client.chat_postEphemeral(channel=channel, user=user, text=text)


def tell_quietly(client: WebClient | None, channel: str | None, user: str | None, text: str) -> None:
    """An ephemeral that must never raise (the caller is already reporting a failure)."""
    if not channel or not user:
        return
    try:
        ephemeral(client, channel, user, text)
    except Exception:
        log.warning("could not tell %s", user)


def snippet(client: WebClient | None, channel: str, thread_ts: str | None, filename: str, content: str, title: str,
            comment: str | None = None) -> None:
    """Upload *content* as a snippet in the thread (``files_upload_v2``; SQL highlighted)."""
    if client is None:
        return
    client.files_upload_v2(
        channel=channel, thread_ts=thread_ts, filename=filename, title=title, content=content,
        snippet_type="sql" if filename.endswith(".sql") else "text", initial_comment=comment,
    )
