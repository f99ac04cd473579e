"""The digest schedule: a cron expression read in the configured time zone. Pure.

A digest later than ``LATE_LIMIT`` is not worth posting: the next period is
nearer than the missed one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from driftbot.errors import ConfigError
from driftbot.settings import DigestSettings

LATE_LIMIT = timedelta(hours=1)

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Schedule:
    """A cron expression read in a time zone. Pure: every answer is an aware UTC datetime."""

    cron: str
    tz: ZoneInfo

    @classmethod
    def from_settings(cls, digest: DigestSettings) -> "Schedule":
        if not croniter.is_valid(digest.cron):
            raise ConfigError(f"Setting `digest.cron` is invalid: {digest.cron!r} is not a cron expression (like \"0 9 * * 1-5\").")
        try:
            tz = ZoneInfo(digest.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"Setting `digest.timezone` is invalid: {digest.timezone!r} is not a time zone (like \"Europe/Paris\").") from None
        return cls(digest.cron, tz)

    def next_after(self, at: datetime) -> datetime:
        """The first scheduled instant strictly after *at*."""
        return croniter(self.cron, at.astimezone(self.tz)).get_next(datetime).astimezone(timezone.utc)

    def latest(self, at: datetime) -> datetime:
        """The last scheduled instant at or before *at* (the period *at* belongs to)."""
        nxt = self.next_after(at - timedelta(seconds=1))
        if nxt <= at:
            return nxt
        return croniter(self.cron, at.astimezone(self.tz)).get_prev(datetime).astimezone(timezone.utc)

    def fresh(self, period: datetime, now: datetime) -> bool:
        return timedelta(0) <= now - period <= LATE_LIMIT
