"""A Slack Web API client that survives rate limits and Slack's bad minutes.

Built with ``base_url`` from ``DRIFTBOT_SLACK_API_URL`` when set (tests point it
at a local stand-in). 429 answers are retried after their ``Retry-After``;
5xx answers and dropped connections are retried with exponential back-off.
"""

from __future__ import annotations

import threading
import time
from typing import Iterable

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator

from bot.errors import ConfigError
from bot.settings import Settings

RATE_LIMIT_RETRIES = 6
SERVER_ERROR_RETRIES = 5
GROUP_CACHE_S = 60.0


def make_client(settings: Settings) -> WebClient:
    if settings.slack_bot_token is None:
        raise ConfigError("Setting `slack_bot_token` is missing: set SLACK_BOT_TOKEN.")
    kwargs = {}
    if settings.slack_api_url:
        kwargs["base_url"] = settings.slack_api_url.rstrip("/") + "/"
    backoff = BackoffRetryIntervalCalculator(backoff_factor=0.2)
    return WebClient(
        token=settings.slack_bot_token.get_secret_value(),
        timeout=10,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=2, interval_calculator=backoff),
            RateLimitErrorRetryHandler(max_retry_count=RATE_LIMIT_RETRIES),
            ServerErrorRetryHandler(max_retry_count=SERVER_ERROR_RETRIES, interval_calculator=backoff),
        ],
        **kwargs,
    )


class GroupMembers:
    """``usergroups.users.list`` with a short cache, so a burst of clicks costs one call."""

    def __init__(self, client: WebClient, ttl_s: float = GROUP_CACHE_S) -> None:
        self.client, self.ttl_s = client, ttl_s
        self._cache: dict[str, tuple[float, tuple[str, ...]]] = {}
        self._lock = threading.Lock()

    def __call__(self, group: str) -> Iterable[str]:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(group)
            if hit and now - hit[0] < self.ttl_s:
                return hit[1]
        users = tuple(self.client.usergroups_users_list(usergroup=group).get("users", []))
        with self._lock:
            self._cache[group] = (now, users)
        return users
