"""The check's phases timed for a caller that asks (driftbot.engine.phases): replay, introspection and
diff, each within the check's total; nothing recorded when nobody asks (#30)."""

from __future__ import annotations

import pytest

from driftbot.engine import phases
from driftbot.engine.check import run_check
from driftbot.settings import Settings
from tests.factory import INIT, POSTS, deploy, write_migrations


@pytest.mark.slow  # a cold replay on the shadow server: 7 s at load average 9
def test_a_check_inside_recorded_says_how_long_each_phase_took(db, tmp_path):
    folder = write_migrations(tmp_path / "migrations", {"20250101000000_init": INIT, "20250102000000_posts": POSTS})
    deploy(db, folder)
    settings = Settings(environments={"prod": {"database_url": db, "migrations": str(folder)}}, cache_dir=tmp_path / "c")
    with phases.recorded() as spent:
        result = run_check(settings, settings.environment("prod"))
    assert result.state == "in_sync"
    assert set(spent) == {"replay", "introspection", "diff"}
    assert all(0 < seconds <= result.duration_ms / 1000 for seconds in spent.values())
    with phases.recorded() as warm:  # the replayed and the live schema come from their caches now
        run_check(settings, settings.environment("prod"))
    assert set(warm) == {"replay", "introspection", "diff"} and warm["replay"] < spent["replay"]
    run_check(settings, settings.environment("prod"))  # nobody asks: nothing kept anywhere
    assert phases._spent.get() is None
