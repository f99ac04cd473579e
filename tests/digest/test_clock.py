"""The digest schedule with a frozen clock: RQ's cron scheduler, real Redis, real state database."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from redis import Redis
from rq import Queue
from sqlalchemy import select

from driftbot.digest.clock import DigestCronJob, make_scheduler
from driftbot.digest.schedule import Schedule
from driftbot.errors import ConfigError
from driftbot.work.queues import DRIFT
from driftbot.settings import DigestSettings
from driftbot.state.models import DigestRun

UTC = timezone.utc
PARIS = Schedule("0 9 * * 1-5", ZoneInfo("Europe/Paris"))


class FrozenClock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **kw) -> None:
        self.at += timedelta(**kw)


def test_schedule_reads_cron_fields_in_its_time_zone():
    mon_0730_utc = datetime(2026, 11, 30, 7, 30, tzinfo=UTC)
    assert PARIS.next_after(mon_0730_utc) == datetime(2026, 11, 30, 8, 0, tzinfo=UTC)  # 09:00 in Paris
    assert PARIS.latest(mon_0730_utc) == datetime(2026, 11, 27, 8, 0, tzinfo=UTC)  # the Friday before
    assert PARIS.latest(datetime(2026, 11, 30, 8, 0, tzinfo=UTC)) == datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    summer = datetime(2026, 7, 1, 6, 59, tzinfo=UTC)
    assert PARIS.next_after(summer) == datetime(2026, 7, 1, 7, 0, tzinfo=UTC)  # CEST


def test_bad_schedule_settings_are_refused_with_the_setting_named():
    with pytest.raises(ConfigError, match="digest.cron"):
        Schedule.from_settings(DigestSettings(cron="every morning"))
    with pytest.raises(ConfigError, match="digest.timezone"):
        Schedule.from_settings(DigestSettings(timezone="Mars/Olympus"))


@pytest.fixture
def redis(redis_url):
    conn = Redis.from_url(redis_url)
    yield conn
    conn.close()


def _enqueued(redis, name: str) -> list[dict]:
    return [job.kwargs for job in Queue(name, connection=redis).get_jobs()]


def _scheduler(redis, settings_cron, clock, prefix):
    from driftbot.settings import Settings

    settings = Settings(digest={"cron": settings_cron, "timezone": "Europe/Paris"}, queue_prefix=prefix)
    scheduler, job = make_scheduler(redis, settings, clock=clock)
    return scheduler, job


def test_fires_once_per_period_over_a_week(redis):
    prefix = f"clocktest-{datetime.now().timestamp()}-"
    name = prefix + DRIFT
    clock = FrozenClock(datetime(2026, 11, 29, 12, 0, tzinfo=UTC))  # a Sunday
    scheduler, _ = _scheduler(redis, "0 9 * * 1-5", clock, prefix)
    fired = 0
    for _ in range(7 * 24 * 6):  # every ten minutes for a week
        clock.advance(minutes=10)
        fired += len(scheduler.enqueue_jobs())
    periods = [k["period"] for k in _enqueued(redis, name)]
    assert fired == 5
    assert periods == [f"2026-{m:02d}-{d:02d}T08:00:00+00:00" for m, d in ((11, 30), (12, 1), (12, 2), (12, 3), (12, 4))]
    Queue(name, connection=redis).empty()


def test_missed_periods_are_not_replayed_as_a_flood(redis):
    prefix = f"clocktest-{datetime.now().timestamp()}-"
    name = prefix + DRIFT
    clock = FrozenClock(datetime(2026, 11, 30, 7, 0, tzinfo=UTC))  # Monday, before the digest
    scheduler, job = _scheduler(redis, "0 9 * * 1-5", clock, prefix)
    clock.advance(days=3, hours=4)  # the host slept until Thursday 11:00 UTC: four periods passed
    assert len(scheduler.enqueue_jobs()) == 1
    for _ in range(30):
        clock.advance(minutes=1)
        assert scheduler.enqueue_jobs() == []
    assert [k["period"] for k in _enqueued(redis, name)] == ["2026-12-03T08:00:00+00:00"]
    assert job.next_enqueue_time == datetime(2026, 12, 4, 8, 0, tzinfo=UTC)
    Queue(name, connection=redis).empty()


def test_a_clock_started_just_after_the_hour_still_sends_that_digest_but_not_an_old_one():
    assert DigestCronJob(PARIS, queue_name=DRIFT, clock=FrozenClock(datetime(2026, 11, 30, 8, 5, tzinfo=UTC))).next_enqueue_time \
        == datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    assert DigestCronJob(PARIS, queue_name=DRIFT, clock=FrozenClock(datetime(2026, 11, 30, 11, 0, tzinfo=UTC))).next_enqueue_time \
        == datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def test_two_clock_processes_one_digest_per_period(databases, redis_url, tmp_path, monkeypatch):
    from driftbot.work.queues import queue_name
    from tests.support import SlackStandIn, build_environments, runtime_on, run_worker

    slack = SlackStandIn()
    envs = build_environments(databases, tmp_path / "envs", {"prod": "in_sync"})
    rt = runtime_on(state_url=databases.create_state(), redis_url=redis_url, slack_url=slack.url,
                    environments=envs, cache_dir=tmp_path / "cache", timezone="Europe/Paris")
    clock = FrozenClock(datetime(2026, 11, 30, 7, 58, tzinfo=UTC))
    monkeypatch.setattr("driftbot.digest.jobs.utcnow", clock)
    redis = Redis.from_url(redis_url)
    clocks = [make_scheduler(redis, rt.settings, clock=clock)[0] for _ in range(2)]
    for _ in range(10):  # 07:58 .. 08:07 UTC, 09:00 in Paris falls inside
        clock.advance(minutes=1)
        for scheduler in clocks:
            scheduler.enqueue_jobs()
    assert len(Queue(queue_name(rt.settings, DRIFT), connection=redis).get_jobs()) == 2  # each clock enqueued its own
    run_worker(rt)
    with rt.sessions() as s:
        runs = s.execute(select(DigestRun)).scalars().all()
    assert [(r.kind, r.period, r.status) for r in runs] == [("scheduled", datetime(2026, 11, 30, 8, 0, tzinfo=UTC), "posted")]
    assert [p["channel"] for p in slack.posts] == ["CDIGEST"]
    slack.close()
    slack.stub.assert_clean()
    redis.close()
    rt.engine.dispose()


def test_the_clock_enqueues_the_digest_where_the_workers_listen(databases, redis_url, tmp_path, monkeypatch):
    """The clock process calls make_scheduler with the settings alone: its jobs must land on the
    prefixed drift queue that `driftbot worker` drains, not on a bare `drift` nobody listens on."""
    from tests.support import SlackStandIn, build_environments, runtime_on, run_worker

    slack = SlackStandIn()
    envs = build_environments(databases, tmp_path / "envs", {"prod": "in_sync"})
    rt = runtime_on(state_url=databases.create_state(), redis_url=redis_url, slack_url=slack.url,
                    environments=envs, cache_dir=tmp_path / "cache", timezone="Europe/Paris")
    assert rt.settings.queue_prefix  # the case that matters: a deployment with a prefix
    clock = FrozenClock(datetime(2026, 11, 30, 7, 58, tzinfo=UTC))
    monkeypatch.setattr("driftbot.digest.jobs.utcnow", clock)
    redis = Redis.from_url(redis_url)
    scheduler, cron = make_scheduler(redis, rt.settings, clock=clock)  # as run_clock calls it
    enqueued = []  # the RQ jobs themselves, wherever they went, so none is left behind
    cron.enqueue = lambda connection, enqueue=cron.enqueue: enqueued.append(enqueue(connection)) or enqueued[-1]
    try:
        for _ in range(5):
            clock.advance(minutes=1)
            scheduler.enqueue_jobs()
        assert len(enqueued) == 1
        run_worker(rt)
        with rt.sessions() as s:
            runs = s.execute(select(DigestRun)).scalars().all()
        assert [(r.kind, r.status) for r in runs] == [("scheduled", "posted")]
    finally:
        for job in enqueued:
            job.delete()
        slack.close()
        redis.close()
        rt.engine.dispose()


def test_a_digest_job_run_too_late_posts_nothing(databases, redis_url, tmp_path, monkeypatch):
    from driftbot.digest.jobs import scheduled_digest
    from tests.support import build_environments, runtime_on

    envs = build_environments(databases, tmp_path / "envs", {"prod": "in_sync"})
    rt = runtime_on(state_url=databases.create_state(), redis_url=redis_url, slack_url="http://127.0.0.1:9/",
                    environments=envs, cache_dir=tmp_path / "cache")
    period = "2026-11-30T09:00:00+00:00"
    assert scheduled_digest(period, now=datetime(2026, 11, 30, 12, 0, tzinfo=UTC)) == "late"
    assert scheduled_digest(period, now=datetime(2026, 11, 30, 9, 20, tzinfo=UTC)) == "claimed"
    assert scheduled_digest(period, now=datetime(2026, 11, 30, 9, 21, tzinfo=UTC)) == "already claimed"
    from driftbot.work.queues import DRIFT, queue

    queue(rt, DRIFT).empty()
    rt.engine.dispose()
