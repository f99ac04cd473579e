"""The digest schedule on RQ's cron scheduler, run by the ``clock`` process.

RQ's ``CronJob`` reads cron fields in the process's local time zone and always
asks the wall clock; ``DigestCronJob`` reads them in the configured zone and
takes an injectable clock, so tests freeze time instead of sleeping. Each
enqueued job carries its period (the scheduled instant); the worker claims the
period in the state database, so several clock processes still post one digest
per period. A clock that slept through several periods enqueues only the latest
one, never a flood, and a period older than ``LATE_LIMIT`` is dropped.
"""

from __future__ import annotations

from datetime import datetime, timezone

from rq.cron import CronJob, CronScheduler

from driftbot.digest.jobs import scheduled_digest
from driftbot.digest.schedule import LATE_LIMIT, Clock, Schedule, utcnow
from driftbot.settings import Settings
from driftbot.work.queues import DRIFT, queue_name


class DigestCronJob(CronJob):
    """The digest's entry in RQ's ``CronScheduler``, in the configured time zone, with an injectable clock."""

    def __init__(self, schedule: Schedule, *, queue_name: str, clock: Clock = utcnow) -> None:
        self.schedule, self.clock = schedule, clock
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
    scheduler = CronScheduler(connection=connection)
    job = DigestCronJob(Schedule.from_settings(settings.digest), queue_name=queue_name(settings, DRIFT), clock=clock)
    scheduler.get_jobs().append(job)
    return scheduler, job
