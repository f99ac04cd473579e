"""The RQ workers driftbot runs (``driftbot worker``, the demo's, the tests'): they stop as soon as their
work is done, never waiting out their pub/sub thread's poll (the intermittent 60-second stall)."""

from __future__ import annotations

import uuid
from pathlib import Path

from driftbot import processes
from driftbot.settings import Settings
from tests.support import child_pids


def test_a_burst_worker_stops_at_once_even_when_its_pubsub_thread_read_the_unsubscribe_first(
        databases, redis_url, tmp_path, unsubscribe_read_first):
    settings = Settings(environments={}, state_url=databases.create_state(), redis_url=redis_url,
                        queue_prefix=f"w{uuid.uuid4().hex[:8]}:", cache_dir=tmp_path / "cache")
    assert processes.run_worker(settings, burst=True) == 0
    (stopping,) = unsubscribe_read_first
    assert stopping < 10, f"`driftbot worker --burst` took {stopping:.1f} s to stop"


def test_a_burst_worker_leaves_no_sweeper_process_behind(databases, redis_url, tmp_path):
    """``driftbot worker`` runs the sweeper in a process of its own: when the worker returns, that
    process has ended and been waited for (no zombie in a caller that lives on, such as a test run)."""
    settings = Settings(environments={}, state_url=databases.create_state(), redis_url=redis_url,
                        queue_prefix=f"w{uuid.uuid4().hex[:8]}:", cache_dir=tmp_path / "cache")
    before = child_pids()
    assert processes.run_worker(settings, burst=True) == 0
    left = []
    for pid in child_pids() - before:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "resource_tracker" not in cmdline:  # multiprocessing's own, kept for the life of this process
            left.append(f"{pid} {cmdline or '(exited, not waited for)'}")
    assert left == []
