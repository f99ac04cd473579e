"""``driftbot demo``'s second half: the check recorded and queued as /drift does it, run by a worker."""

from __future__ import annotations

import uuid

from bot.cli.demo import run_through_queue
from bot.engine.check import run_check
from bot.settings import Settings


def test_the_queued_check_agrees_with_the_direct_one(project, db, databases, redis_url, tmp_path):
    settings = Settings(
        environments={"prod": {"database_url": db, "migrations": str(project)}}, cache_dir=tmp_path / "cache",
        redis_url=redis_url, state_url=databases.create("demo_state"), queue_prefix=f"demo{uuid.uuid4().hex[:6]}-",
    )
    direct = run_check(settings, settings.environment("prod"))
    state, said = run_through_queue(settings)
    assert state == direct.state == "failed"
    assert f"fingerprint {direct.fingerprint[:12]}" in said and "check #1 finished" in said
