"""A Slack Web API client that survives rate limits and Slack's bad minutes.

Built with ``base_url`` from ``DRIFTBOT_SLACK_API_URL`` when set (tests point it
at a local stand-in). 429 answers are retried after their ``Retry-After``;
5xx answers and dropped connections are retried with exponential back-off.

The web process gets an impatient client instead: a short timeout, no sleeping
for ``Retry-After``, one retry at most, so no listener holds a thread on a slow
Slack; whatever must wait for Slack runs on a worker. User-group members are
cached in Redis for every process (``GroupMembers``): the web only reads them,
workers fetch when the copy is old, and the sweeper keeps them warm.

Every call leaves through ``RedactingWebClient``: the one place where a
configured secret is masked before anything reaches Slack (messages, blocks,
ephemerals, uploaded files, their titles and comments), and where invisible
control, format and bidi characters are shown as ``[U+XXXX]`` (``mrkdwn.visible``;
a snippet's content is the SQL itself and keeps them).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Iterable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.http_retry.handler import RetryHandler

from driftbot.errors import ConfigError, GroupsDeferred, GroupsUnknown, redact, redact_data  # noqa: F401 - the Groups* errors re-exported
from driftbot.metrics import instruments
from driftbot.ops import tracing
from driftbot.settings import Settings
from driftbot.slack.mrkdwn import visible
from driftbot.state import keys

log = logging.getLogger(__name__)
RATE_LIMIT_RETRIES = 6
SERVER_ERROR_RETRIES = 5
GROUP_CACHE_S = 60.0  # a copy older than this is fetched again by whoever may wait for Slack
GROUP_KEEP_S = 3600  # after this a copy is gone: the web then knows no member of the group
IMPATIENT_TIMEOUT_S = 2.0  # a listener's Slack call after ack(): then it gives up (bench_slow_slack.py)


class RedactingWebClient(WebClient):
    """A ``WebClient`` that masks every configured secret in what it sends."""

    def api_call(self, api_method: str, *, data: dict | None = None, params: dict | None = None,
                 json: dict | None = None, **kwargs) -> SlackResponse:
        try:
            with tracing.span(f"slack {api_method}", slack_method=api_method):
                response = super().api_call(api_method, data=_clean(data), params=_clean(params), json=_clean(json),
                                            **kwargs)
        except SlackApiError as exc:
            status = getattr(exc.response, "status_code", 200)
            if status != 429:  # each 429 was counted as it came (RateLimitsCounted)
                code = "server_error" if status >= 500 else exc.response.get("error") if exc.response is not None else None
                instruments.slack_answered(api_method, code or "other_error")
            raise
        except Exception:
            instruments.slack_answered(api_method, "unreachable")
            raise
        instruments.slack_answered(api_method, "ok")
        return response

    def files_upload_v2(self, *, content: str | bytes | None = None, title: str | None = None,
                        initial_comment: str | None = None, **kwargs) -> SlackResponse:
        # The content goes to the upload URL, not through api_call; it is masked before its length is taken.
        if isinstance(content, bytes):
            content = redact(content.decode("utf-8", "replace"))
        elif content is not None:
            content = redact(content)
        with tracing.span("slack files_upload_v2", slack_method="files_upload_v2"):
            return super().files_upload_v2(content=content, title=visible(redact(title)) if title else title,
                                           initial_comment=visible(redact(initial_comment)) if initial_comment else initial_comment,
                                           **_shown(kwargs))


class RateLimitsCounted(RetryHandler):
    """First of a client's retry handlers: counts every 429 of the Web API, retried or not, and retries
    nothing itself (the handlers after it decide)."""

    def __init__(self, base_url: str) -> None:
        super().__init__(max_retry_count=0)
        self.base_url = base_url

    def can_retry(self, *, state, request, response=None, error=None) -> bool:
        if response is not None and response.status_code == 429 and request.url.startswith(self.base_url):
            instruments.slack_answered(request.url[len(self.base_url):].split("?")[0], "ratelimited")
        return False


def _clean(args: dict | None) -> dict | None:
    # The token is sent as itself (when a caller passes one explicitly); everything else is masked.
    if args is None:
        return None
    return {k: (v if k == "token" else _shown(redact_data(v))) for k, v in args.items()}


def _shown(value):
    """Every string in *value* through ``mrkdwn.visible``."""
    if isinstance(value, str):
        return visible(value)
    if isinstance(value, dict):
        return {k: _shown(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_shown(v) for v in value]
    return value


def make_client(settings: Settings, *, patient: bool = True) -> WebClient:
    """The Web API client. *patient* False (the web process, the sweeper's group refresh): a short
    timeout and no waiting for Retry-After, so the caller's thread is never held by a slow Slack."""
    if settings.slack_bot_token is None:
        raise ConfigError("Setting `slack_bot_token` is missing: set SLACK_BOT_TOKEN.")
    kwargs = {}
    if settings.slack_api_url:
        kwargs["base_url"] = settings.slack_api_url.rstrip("/") + "/"
    backoff = BackoffRetryIntervalCalculator(backoff_factor=0.2)
    counted = RateLimitsCounted(kwargs.get("base_url", WebClient.BASE_URL))
    if patient:
        handlers = [
            counted,
            ConnectionErrorRetryHandler(max_retry_count=2, interval_calculator=backoff),
            RateLimitErrorRetryHandler(max_retry_count=RATE_LIMIT_RETRIES),
            ServerErrorRetryHandler(max_retry_count=SERVER_ERROR_RETRIES, interval_calculator=backoff),
        ]
    else:
        handlers = [counted, ConnectionErrorRetryHandler(max_retry_count=1, interval_calculator=backoff)]
    return RedactingWebClient(
        token=settings.slack_bot_token.get_secret_value(),
        timeout=10 if patient else IMPATIENT_TIMEOUT_S,
        retry_handlers=handlers,
        **kwargs,
    )


def retry_after(exc: SlackApiError, default: float = 10.0) -> float:
    """The Retry-After of a 429, in seconds, kept between 1 and 60."""
    headers = getattr(exc.response, "headers", None) or {}
    raw = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    value = raw[0] if isinstance(raw, list) and raw else raw
    try:
        return min(max(float(value), 1.0), 60.0)
    except (TypeError, ValueError):
        return default


class GroupMembers:
    """``usergroups.users.list`` through a copy in Redis shared by every process.

    *fetch* False (the web process): only the copy is read, however old, and a group without one
    raises ``GroupsUnknown``. *fetch* True (workers): a copy older than *ttl_s* is fetched again, with a
    client that never waits for Retry-After (``make_client(patient=False)``): a 429 raises ``GroupsDeferred``.
    """

    def __init__(self, client: WebClient | None, redis, prefix: str = "", *, fetch: bool = True,
                 ttl_s: float = GROUP_CACHE_S) -> None:
        self.client, self.redis, self.fetch, self.ttl_s = client, redis, fetch, ttl_s
        self.prefix = prefix

    def _key(self, group: str) -> str:
        return keys.group(self.prefix, group)

    def cached(self, group: str) -> tuple[float, tuple[str, ...]] | None:
        try:
            raw = self.redis.get(self._key(group))
        except Exception:  # Redis away: as if never read; the caller refuses rather than guesses
            log.warning("group cache unreachable")
            return None
        if not raw:
            return None
        data = json.loads(raw)
        return float(data["at"]), tuple(data["users"])

    def refresh(self, group: str) -> tuple[str, ...]:
        if self.client is None:
            raise GroupsUnknown(group)
        try:
            users = tuple(self.client.usergroups_users_list(usergroup=group).get("users", []))
        except SlackApiError as exc:
            if exc.response.status_code == 429:
                raise GroupsDeferred(group, retry_after(exc)) from exc
            raise
        try:
            self.redis.set(self._key(group), json.dumps({"at": time.time(), "users": list(users)}), ex=GROUP_KEEP_S)
        except Exception:
            log.warning("group cache unreachable")
        return users

    def __call__(self, group: str) -> Iterable[str]:
        hit = self.cached(group)
        if hit is not None and (not self.fetch or time.time() - hit[0] < self.ttl_s):
            return hit[1]
        if not self.fetch:
            raise GroupsUnknown(group)
        return self.refresh(group)
