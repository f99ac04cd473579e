"""Posting to Slack through the Web API (``chat.postMessage``, ``chat.update``, snippets).

Messages are posted and updated with the bot token, never through
``response_url`` (valid 30 minutes, 5 uses). Secrets are masked in the client
itself (``bot.slack.client.RedactingWebClient``), whatever path posts.
"""

from __future__ import annotations

import logging

from slack_sdk import WebClient

log = logging.getLogger(__name__)


def post(client: WebClient | None, channel: str, text: str, blocks: list[dict] | None = None,
         thread_ts: str | None = None) -> str | None:
    """Post a message (in a thread when *thread_ts*); returns its ``ts``. Without a client (no
    Slack configured, as in ``driftbot demo``) nothing is posted."""
    if client is None:
        return None
    resp = client.chat_postMessage(channel=channel, text=text, blocks=blocks, thread_ts=thread_ts,
                                   unfurl_links=False)
    return resp["ts"]


def update(client: WebClient | None, channel: str, ts: str, text: str, blocks: list[dict] | None = None) -> None:
    if client is None:
        return
    client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)


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
