"""Checks against one target server are bounded across workers (max_checks_per_server), on real Redis
and real target databases."""

from __future__ import annotations

import threading
import time

from driftbot.digest.jobs import check_for_digest, start_digest
from driftbot.work.slots import server_of, server_slot, slots_key
from tests.support import build_environments, runtime_on


def make_runtime(databases, redis_url, slack, tmp_path, states, **extra):
    envs = build_environments(databases, tmp_path / "envs", states)
    return runtime_on(state_url=databases.create_state(), redis_url=redis_url, slack_url=slack.url,
                      environments=envs, cache_dir=tmp_path / "cache", **extra)


def test_checks_on_one_server_never_exceed_the_bound_and_other_servers_do_not_wait(databases, redis_url, slack, tmp_path):
    rt = make_runtime(databases, redis_url, slack, tmp_path, {"prod": "in_sync"}, max_checks_per_server=2)
    url = rt.settings.environments["prod"].database_url
    inside, most, lock = 0, 0, threading.Lock()

    def hold():
        nonlocal inside, most
        with server_slot(rt, url):
            with lock:
                inside += 1
                most = max(most, inside)
            time.sleep(0.3)
            with lock:
                inside -= 1

    threads = [threading.Thread(target=hold) for _ in range(6)]
    for t in threads:
        t.start()
    time.sleep(0.1)
    started = time.perf_counter()
    with server_slot(rt, "postgresql://ro@elsewhere.internal:6543/app"):  # another server: no wait
        waited = time.perf_counter() - started
    for t in threads:
        t.join(timeout=30)
    assert most == 2
    assert waited < 0.2
    assert rt.redis.zcard(slots_key(rt, server_of(url))) == 0  # every slot given back
    rt.engine.dispose()


def test_a_digest_check_waits_for_a_free_slot_on_its_server(databases, redis_url, slack, tmp_path):
    rt = make_runtime(databases, redis_url, slack, tmp_path, {"prod": "in_sync"}, max_checks_per_server=1)
    digest_id = start_digest(rt, requested_by="U1")
    finished = []
    with server_slot(rt, rt.settings.environments["prod"].database_url):  # another worker's check holds it
        job = threading.Thread(target=lambda: finished.append(check_for_digest(digest_id, "prod")))
        job.start()
        job.join(timeout=1.5)
        assert job.is_alive() and finished == []
    job.join(timeout=60)
    assert finished == ["in_sync"]
    rt.engine.dispose()


def test_a_slot_left_by_a_killed_check_expires_with_the_job_time_limit(databases, redis_url, slack, tmp_path):
    rt = make_runtime(databases, redis_url, slack, tmp_path, {"prod": "in_sync"}, max_checks_per_server=1)
    url = rt.settings.environments["prod"].database_url
    now = float(rt.redis.time()[0])
    rt.redis.zadd(slots_key(rt, server_of(url)), {"killed-holder": now - rt.settings.check_job_timeout_s - 61})
    started = time.perf_counter()
    with server_slot(rt, url):
        assert time.perf_counter() - started < 1
    rt.engine.dispose()


def test_the_server_is_host_and_port_only():
    assert server_of("postgresql://ro:s3cret@db.internal:5433/app?schema=x") == "db.internal:5433"
    assert server_of("postgresql://ro@db.internal/app") == "db.internal:5432"
    assert server_of("postgresql://ro@/app?host=/var/run/postgresql") == "/var/run/postgresql:5432"
