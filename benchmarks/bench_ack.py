"""Acknowledgement latency of `/drift status` over HTTP: 1,000 signed requests at 50 per second.

    .venv/bin/python -m benchmarks.bench_ack [--pg URL] [--redis URL] [--n 1000] [--rate 50] [--web-workers 2]

Starts the real `driftbot web` (gunicorn) and one `driftbot worker` against a
local Slack Web API stand-in, a real PostgreSQL (state and a target) and Redis
(a private queue prefix), then sends signed slash commands on a fixed schedule
(open loop: a slow answer does not delay the next request) and prints the
p50/p99/max time from sending a request to receiving its ack. Target: p99
under 200 ms. Each command records a check or joins the running one (state
database + audit event + Redis enqueue) before it is answered.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg

from benchmarks.common import DEFAULT_PG, DEFAULT_REDIS, SlackRig
from tests.slack.conftest import command

TARGET_P99_MS = 200.0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pg", default=DEFAULT_PG)
    ap.add_argument("--redis", default=DEFAULT_REDIS)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--rate", type=float, default=50.0)
    ap.add_argument("--web-workers", type=int, default=2)
    args = ap.parse_args(argv)

    rig = SlackRig(args.pg, args.redis, "ack", args.web_workers)
    try:
        url, state = rig.url, rig.state
        for _ in range(20):  # warm up connections in every gunicorn worker
            command(url, "status prod")

        latencies: list[float] = []
        failures: list[str] = []
        lock = threading.Lock()

        def one(i: int) -> None:
            status, body, took = command(url, "status prod", user=f"U{i % 40:04d}")
            ok = status == 200 and "prod" in json.loads(body or "{}").get("text", "")
            with lock:
                latencies.append(took * 1000)
                if not ok:
                    failures.append(f"{status} {body[:80]}")

        interval = 1.0 / args.rate
        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=64) as pool:
            for i in range(args.n):
                delay = start + i * interval - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                pool.submit(one, i)
        wall = time.perf_counter() - start
        latencies.sort()
        p = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]  # noqa: E731
        print(f"/drift status acks: {len(latencies)} requests in {wall:.1f} s ({len(latencies) / wall:.1f}/s), "
              f"{len(failures)} failed")
        print(f"p50 {statistics.median(latencies):.1f} ms · p90 {p(0.90):.1f} ms · p99 {p(0.99):.1f} ms · "
              f"max {latencies[-1]:.1f} ms  (target p99 < {TARGET_P99_MS:.0f} ms)")
        with psycopg.connect(state) as conn:
            checks, events = conn.execute(
                "SELECT (SELECT count(*) FROM checks), (SELECT count(*) FROM audit_events WHERE event = 'check_requested')"
            ).fetchone()
        print(f"state: {checks} checks run, {events} check_requested audit events")
        if failures:
            print("first failures:", failures[:3], file=sys.stderr)
        return 0 if not failures and p(0.99) < TARGET_P99_MS else 1
    finally:
        rig.close()


if __name__ == "__main__":
    raise SystemExit(main())
