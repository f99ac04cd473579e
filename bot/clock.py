"""The digest schedule, run by the ``clock`` process on RQ's cron scheduler.

RQ's ``CronJob`` reads cron fields in the process's local time zone and always
asks the wall clock; ``DigestCronJob`` reads them in the configured zone and
takes an injectable clock, so tests freeze time instead of sleeping. Each
enqueued job carries its period (the scheduled instant); the worker claims the
period in the state database, so several clock processes still post one digest
per period. A clock that slept through several periods enqueues only the latest
one, never a flood, and a period older than ``LATE_LIMIT`` is dropped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from rq.cron import CronJob

from bot.errors import ConfigError
from bot.settings import DigestSettings, Settings

log = logging.getLogger(__name__)

# A digest later than this is not worth posting: the next period is nearer than the missed one.
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


class DigestCronJob(CronJob):
    """The digest's entry in RQ's ``CronScheduler``, in the configured time zone, with an injectable clock."""

    def __init__(self, schedule: Schedule, *, queue_name: str, clock: Clock = utcnow) -> None:
        self.schedule, self.clock = schedule, clock
        from bot.digest_jobs import scheduled_digest

        super().__init__(queue_name=queue_name, func=scheduled_digest, cron=schedule.cron,
                         ttl=int(LATE_LIMIT.total_seconds()), job_timeout=600, name="driftbot-digest")
        # At start-up, a period that began moments ago (a deploy at 9:00) still gets its digest;
        # anything older is in the past for good.
        now = self.clock()
        latest = schedule.latest(now)
        self.next_enqueue_time = latest if schedule.fresh(latest, now) else schedule.next_after(now)

    def get_next_enqueue_time(self) -> datetime:
        if not hasattr(self, "schedule"):  # called by CronJob.__init__ before ours has run
            return datetime.max.replace(tzinfo=timezone.utc)
        return self.schedule.next_after(self.clock())

    def should_run(self) -> bool:
        return self.next_enqueue_time is not None and self.clock() >= self.next_enqueue_time

    def enqueue(self, connection):
        # Only the latest period is due, however many were slept through.
        period = self.schedule.latest(self.clock())
        self.kwargs = {"period": period.isoformat()}
        return super().enqueue(connection)


def make_scheduler(connection, settings: Settings, *, clock: Clock = utcnow):
    """RQ's ``CronScheduler`` with the digest registered on the workers' drift queue; ``start()`` runs it."""
    from rq.cron import CronScheduler

    from bot.queue import DRIFT, queue_name

    scheduler = CronScheduler(connection=connection)
    job = DigestCronJob(Schedule.from_settings(settings.digest), queue_name=queue_name(settings, DRIFT), clock=clock)
    scheduler.get_jobs().append(job)
    return scheduler, job


def run_clock(settings: Settings) -> int:
    """The ``clock`` process: bring the state schema up to date, then run the schedule until stopped."""
    from redis import Redis

    from bot.audit import record_start
    from bot.state.db import make_engine, upgrade

    if not settings.redis_url:
        raise ConfigError("Setting `redis_url` is missing: set REDIS_URL.")
    schedule = Schedule.from_settings(settings.digest)
    engine = make_engine(settings.state_url or "")
    upgrade(engine)
    record_start(engine, settings, "clock")
    engine.dispose()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s clock %(levelname)s %(message)s")
    scheduler, job = make_scheduler(Redis.from_url(settings.redis_url), settings)
    log.info("digest schedule %r in %s; next at %s", schedule.cron, schedule.tz.key, job.next_enqueue_time.isoformat())
    scheduler.start()
    return 0
