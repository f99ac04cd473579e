"""The RQ workers driftbot runs (``driftbot worker``, the demo's, the tests'): they stop as soon as their
work is done, never waiting out their pub/sub thread's poll (the intermittent 60-second stall)."""

from __future__ import annotations

import time
import uuid

from bot import processes
from bot.settings import Settings


def test_a_burst_worker_stops_at_once_even_when_its_pubsub_thread_read_the_unsubscribe_first(
        databases, redis_url, tmp_path, unsubscribe_read_first):
    settings = Settings(environments={}, state_url=databases.create_state(), redis_url=redis_url,
                        queue_prefix=f"w{uuid.uuid4().hex[:8]}:", cache_dir=tmp_path / "cache")
    started = time.monotonic()
    assert processes.run_worker(settings, burst=True) == 0
    took = time.monotonic() - started
    assert took < 20, f"`driftbot worker --burst` on empty queues took {took:.1f} s to stop"
