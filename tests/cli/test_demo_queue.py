"""``driftbot demo``'s second half: the check recorded and queued as /drift does it, run by a worker."""

from __future__ import annotations

import uuid

from driftbot.cli.demo import run_through_queue
from driftbot.engine.check import run_check
from driftbot.settings import Settings
from driftbot.state.db import make_engine, sessions
from driftbot.state.models import Check


def test_the_queued_check_agrees_with_the_direct_one(project, db, databases, redis_url, tmp_path):
    settings = Settings(
        environments={"prod": {"database_url": db, "migrations": str(project)}}, cache_dir=tmp_path / "cache",
        redis_url=redis_url, state_url=databases.create_state("demo_state"), queue_prefix=f"demo{uuid.uuid4().hex[:6]}-",
    )
    direct = run_check(settings, settings.environment("prod"))
    state, said = run_through_queue(settings)
    assert state == direct.state == "failed"
    assert "prod has a failed migration" in said and "fingerprint" not in said  # the words, not the ids
    engine = make_engine(settings.state_url)
    with sessions(engine)() as s:
        (queued,) = s.query(Check).all()
    engine.dispose()
    assert queued.status == "finished" and queued.fingerprint == direct.fingerprint


def test_the_worker_queue_step_never_waits_a_minute_for_the_worker_to_stop(project, db, databases, redis_url, tmp_path,
                                                                            unsubscribe_read_first):
    """The demo's worker-queue step took 60.2 s in 2 of 17 demos: RQ's worker stops its pub/sub thread
    on the way out, and that thread, having read the UNSUBSCRIBE reply first, waits 60 s for a message."""
    settings = Settings(
        environments={"prod": {"database_url": db, "migrations": str(project)}}, cache_dir=tmp_path / "cache",
        redis_url=redis_url, state_url=databases.create_state("demo_state"), queue_prefix=f"demo{uuid.uuid4().hex[:6]}-",
    )
    state, said = run_through_queue(settings)
    assert state == "failed" and "prod has a failed migration" in said
    (stopping,) = unsubscribe_read_first
    assert stopping < 10, f"the demo's worker took {stopping:.1f} s to stop after the check"
