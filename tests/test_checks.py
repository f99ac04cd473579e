"""Check history for trends: since when an environment has been out of sync, shown by /drift status."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from bot import checks
from bot.engine.check import run_check
from bot.slack.views import check_message
from bot.state.db import make_engine, sessions, upgrade
from bot.state.models import Check
from tests.support import build_environments


def test_drifted_since_is_the_first_check_of_the_current_spell_and_status_shows_it(databases, tmp_path):
    from bot.settings import Settings

    envs = build_environments(databases, tmp_path / "envs", {"prod": "failed"})
    settings = Settings(environments=envs, cache_dir=tmp_path / "cache")
    engine = make_engine(databases.create("state"))
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
    engine = make_engine(databases.create("state"))
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
