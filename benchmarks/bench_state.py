"""The bot's own state after a year: the queries the digest and every check result run.

    .venv/bin/python -m benchmarks.bench_state [--pg URL] [--envs 50] [--per-day 6] [--days 365]

Fills a fresh state database (the Alembic head) with a year of finished checks,
each holding a check result of realistic size, then times, medians of 20:

- ``checks.history``: one environment's recent states (every check result's
  "since" line and the digest's trend);
- ``checks.latest_since``: every environment's newest check of the last day
  (the digest).

Not a test: nothing is asserted. Prints the figures and the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from datetime import datetime, timedelta, timezone

from sqlalchemy import text
from sqlalchemy.orm import Session

from benchmarks.bench_vs_prisma import machine
from driftbot import checks
from driftbot.state.db import make_engine, upgrade
from tests.conftest import Databases

STATES = ("in_sync", "in_sync", "in_sync", "drifted", "pending", "failed")


def _result(env: str, state: str) -> str:
    """A check result about the size real ones have (a few KB: summary, SQL, findings)."""
    sql = "\n".join(f'ALTER TABLE "T{i}" ADD COLUMN "c{i}" TEXT;' for i in range(40))
    return json.dumps({"environment": env, "state": state, "schema": {"checked": True, "summary": ["[+] Added tables"] * 20,
                                                                        "sql": sql}, "findings": []})


def fill(engine, envs: int, per_day: int, days: int) -> int:
    now = datetime.now(timezone.utc)
    rows = 0
    with engine.begin() as conn:
        for day in range(days, -1, -1):
            batch = []
            for e in range(envs):
                env = f"env{e:02d}"
                for k in range(per_day):
                    at = now - timedelta(days=day, minutes=k * 7 + e)
                    state = STATES[(day + e + k) % len(STATES)]
                    batch.append({"env": env, "state": state, "at": at, "result": _result(env, state)})
            conn.execute(text(
                "INSERT INTO checks (environment, status, state, result, created_at, started_at, finished_at, watchers) "
                "VALUES (:env, 'finished', :state, CAST(:result AS jsonb), :at, :at, :at, '[]'::jsonb)"), batch)
            rows += len(batch)
        conn.execute(text("ANALYZE checks"))
    return rows


def timed(fn, repeat: int = 20) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--pg", default=os.environ.get("DRIFTBOT_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    p.add_argument("--envs", type=int, default=50)
    p.add_argument("--per-day", type=int, default=6)
    p.add_argument("--days", type=int, default=365)
    args = p.parse_args(argv)
    dbs = Databases(args.pg)
    try:
        engine = make_engine(dbs.create("benchstate"))
        upgrade(engine)
        t = time.perf_counter()
        rows = fill(engine, args.envs, args.per_day, args.days)
        print(f"{rows} finished checks over {args.days} days, {args.envs} environments, "
              f"filled in {time.perf_counter() - t:.1f} s")
        envs = [f"env{e:02d}" for e in range(args.envs)]
        day_ago = datetime.now(timezone.utc) - timedelta(days=1)
        with Session(engine) as s:
            size = s.execute(text("SELECT pg_size_pretty(pg_total_relation_size('checks'))")).scalar()
            history = timed(lambda: checks.history(s, "env07"))
            latest = timed(lambda: checks.latest_since(s, envs, day_ago))
            found = checks.latest_since(s, envs, day_ago)
        assert len(found) == args.envs
        print(f"machine: {machine()}; checks table {size}")
        print(f"  checks.history (one environment)            {history * 1000:8.2f} ms")
        print(f"  checks.latest_since ({args.envs} environments, 1 day) {latest * 1000:8.2f} ms")
        engine.dispose()
    finally:
        dbs.drop_all()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
