"""Check history for trends: since when an environment has been out of sync, shown by /drift status."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from driftbot import checks
from driftbot.engine.check import run_check
from driftbot.slack.views import check_message
from driftbot.state.db import make_engine, sessions, upgrade
from driftbot.state.models import Check
from tests.support import build_environments


def test_drifted_since_is_the_first_check_of_the_current_spell_and_status_shows_it(databases, tmp_path):
    from driftbot.settings import Settings

    envs = build_environments(databases, tmp_path / "envs", {"prod": "failed"})
    settings = Settings(environments=envs, cache_dir=tmp_path / "cache")
    engine = make_engine(databases.create_state())
    upgrade(engine)
    state = sessions(engine)
    t = datetime(2026, 11, 20, 9, 12, tzinfo=timezone.utc)
    with state.begin() as s:  # history: in sync, then out of sync from the 20th, one unreachable check in between
        for at, st in ((t - timedelta(days=1), "in_sync"), (t, "pending"), (t + timedelta(days=1), "error"),
                       (t + timedelta(days=2), "failed")):
            s.add(Check(environment="prod", status="finished", watchers=[], state=st, finished_at=at))
        s.add(Check(environment="prod", status="running", watchers=[], state=None))
    result = run_check(settings, settings.environment("prod"))
    with state.begin() as s:
        checks.record_check(s, result, requested_by="UANA", started_at=datetime.now(timezone.utc))
    with state() as s:
        since = checks.drifted_since(s, "prod")
        assert since == t
        assert checks.streak_since(checks.history(s, "prod"), unreachable=True) is None
    text, _, _ = check_message(result, 1, "UANA", since=since)
    assert text.splitlines()[0].endswith("* · since 20 Nov 09:12 · checked by <@UANA>")
    with state.begin() as s:
        s.add(Check(environment="prod", status="finished", watchers=[], state="in_sync", finished_at=datetime.now(timezone.utc)))
    with state() as s:
        assert checks.drifted_since(s, "prod") is None
    engine.dispose()


def test_latest_since_is_each_environments_newest_finished_check_in_the_window(databases):
    engine = make_engine(databases.create_state())
    upgrade(engine)
    state = sessions(engine)
    t = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)
    with state.begin() as s:
        for env, minutes, st, status in (
            ("prod", -90, "in_sync", "finished"),    # before the window
            ("prod", 10, "pending", "finished"),
            ("prod", 30, "drifted", "finished"),     # prod's newest
            ("prod", 40, None, "running"),           # not finished
            ("staging", 20, "in_sync", "finished"),  # staging's only one
            ("dev", -10, "failed", "finished"),      # only before the window
            ("other", 50, "failed", "finished"),     # not asked for
        ):
            s.add(Check(environment=env, status=status, watchers=[], state=st,
                        finished_at=t + timedelta(minutes=minutes) if status == "finished" else None))
    with state() as s:
        latest = checks.latest_since(s, ["prod", "staging", "dev"], t)
    assert {env: (c.state, c.finished_at) for env, c in latest.items()} == {
        "prod": ("drifted", t + timedelta(minutes=30)), "staging": ("in_sync", t + timedelta(minutes=20))}
    engine.dispose()


def test_streaks_are_pure():
    t = [datetime(2026, 11, day, 9, tzinfo=timezone.utc) for day in range(20, 27)]
    newest_first = [("drifted", t[6]), ("error", t[5]), ("drifted", t[4]), ("pending", t[3]), ("in_sync", t[2])]
    assert checks.streak_since(newest_first) == t[3]
    assert checks.streak_since([("in_sync", t[6]), ("drifted", t[5])]) is None
    assert checks.streak_since([("error", t[6]), ("error", t[5]), ("in_sync", t[4])], unreachable=True) == t[5]


def test_joining_the_running_check_from_a_channel_already_told_takes_no_row_lock(databases, redis_url, tmp_path):
    """At 50 `/drift status` a second, each one joins the active check. A join from a channel the result
    goes to anyway changes nothing on the check's row, so it must not queue for the row's lock (held by
    the worker claiming or finishing it, or by the other joins): that was a lock convoy in the listeners
    (benchmarks/bench_slow_slack.py: p50 0.3-0.7 s). The web's lock_timeout is 1 s."""
    import time
    import uuid

    import psycopg

    from driftbot.runtime import build
    from driftbot.settings import Settings
    from driftbot.work import checking as checks  # asking for a check: record and enqueue

    settings = Settings(environments={"prod": {"database_url": "postgresql://nobody@127.0.0.1:1/gone",
                                               "migrations": str(tmp_path), "channel": "C1"}},
                        state_url=databases.create_state(), redis_url=redis_url, queue_prefix=f"t{uuid.uuid4().hex[:8]}:")
    rt = build(settings, interactive=True)
    upgrade(rt.engine)
    assert checks.request_check(rt, "prod", "U1", "C1").startswith("Checking *prod*")
    with psycopg.connect(settings.state_url) as holder:
        holder.execute("SELECT 1 FROM checks FOR UPDATE")  # the worker claiming it, or a join adding a channel
        started = time.monotonic()
        answer = checks.request_check(rt, "prod", "U2", "C1")
        took = time.monotonic() - started
    assert answer.startswith("A check of *prod* is already running") and took < 0.5, (answer, took)
    with psycopg.connect(settings.state_url) as conn:  # a join from another channel is still recorded
        checks.request_check(rt, "prod", "U3", "C2")
        assert conn.execute("SELECT watchers FROM checks").fetchone()[0] == [{"user": "U3", "channel": "C2"}]
    rt.engine.dispose()
