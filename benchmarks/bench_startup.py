"""A warm ``driftbot status --json`` against its interpreter's floor (issue #17, item 1), in one run.

    .venv/bin/python -m benchmarks.bench_startup [--server URL] [--migrations 434] [--repeat 15] [--no-prisma]

Builds a database from a generated history (benchmarks/gen_history.py, seeded; 434
migrations by default, the size of the issue's public history), fills the CLI's replay
cache once, then times, alternating one of each per round so the machine's load falls
on all of them alike:

- the floor: ``python -c 'import psycopg, pydantic_settings'`` (what any Python
  ``driftbot status`` must import before it reads a setting or a row);
- ``driftbot status ENV --json``, warm (replay cache hit), the whole process;
- ``prisma migrate status`` on the same database, when the Prisma CLI installed by
  tests/conformance/prisma_cli.py is in ~/.cache/driftbot (skipped otherwise).

Prints min and median of each and the ratios. Not a test: nothing is asserted
beyond each command giving its expected answer.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import psycopg

from benchmarks.common import cli_env, create_database, drop_database, load, machine, pg_default, prisma_copy
from benchmarks.gen_history import generate, write
from driftbot.engine import replay
from driftbot.engine.sources import read_folder

ENV = "bench"
FLOOR = "import psycopg, pydantic_settings"


def _prisma(folder: Path, url: str):
    """A ``prisma migrate status`` runner on *folder*'s migrations, or None when Prisma is not installed."""
    from tests.conformance.prisma_cli import cache_root  # only when Prisma is timed

    install = cache_root()
    if not (install / ".installed").exists():
        return None
    return prisma_copy(install, folder / "prisma-project", url, folder / "migrations").status


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", default=pg_default())
    ap.add_argument("--migrations", type=int, default=434)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--no-prisma", action="store_true", help="do not time `prisma migrate status`")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="driftbot-bench-startup-"))
    dbname, url, server_version = create_database(args.server)
    try:
        folder = work / "migrations"
        write(folder, generate(args.migrations, args.seed))
        migrations = read_folder(folder)
        with psycopg.connect(url, autocommit=True) as conn:
            assert replay.deploy(conn, migrations.items) is None
        env = cli_env(ENV, url, args.server, folder, DRIFTBOT_CACHE_DIR=str(work / "cache"))

        def floor():
            return subprocess.run([sys.executable, "-c", FLOOR], env=env, capture_output=True, check=True)

        def status():
            done = subprocess.run([sys.executable, "-m", "driftbot.cli", "status", ENV, "--json"], env=env,
                                  capture_output=True, text=True, cwd=work)
            assert done.returncode == 0 and '"in_sync"' in done.stdout, (done.returncode, done.stderr[-500:])
            return done

        runs = {"floor: python -c 'import psycopg, pydantic_settings'": floor,
                "driftbot status --json, warm (replay cache hit)": status}
        prisma = None if args.no_prisma else _prisma(work, url)
        if prisma is not None:
            def prisma_status():
                done = prisma()
                assert done.code == 0, done.output
                return done
            runs["prisma migrate status"] = prisma_status
        t = time.perf_counter()
        status()  # the first status replays the history and fills the cache; every timed one is warm
        cold = time.perf_counter() - t
        for fn in runs.values():
            fn()  # one untimed run each: the page cache, Node's compile cache
        load_before = load()
        times: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(args.repeat):
            for name, fn in runs.items():
                t = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t)
        load_after = load()

        print(f"\nmachine: {machine()}; PostgreSQL {server_version}; {date.today().isoformat()}")
        print(f"history: {args.migrations} generated migrations (seed {args.seed}), deployed, in sync; "
              f"the cache-filling first status took {cold * 1000:.0f} ms")
        print(f"{args.repeat} rounds, one run of each per round; {load_before} before, {load_after} after\n")
        print(f"  {'':<52} {'min':>9} {'median':>9}")
        for name, ts in times.items():
            print(f"  {name:<52} {min(ts) * 1000:7.1f}ms {statistics.median(ts) * 1000:7.1f}ms")
        names = list(times)
        floor_t, status_t = times[names[0]], times[names[1]]
        print()
        print(f"  warm status / floor: min {min(status_t) / min(floor_t):.2f}, "
              f"median {statistics.median(status_t) / statistics.median(floor_t):.2f}  (issue #17 goal: <= 1.2)")
        if prisma is not None:
            p = times["prisma migrate status"]
            print(f"  prisma migrate status / warm status: min {min(p) / min(status_t):.2f}, "
                  f"median {statistics.median(p) / statistics.median(status_t):.2f}")
        return 0
    finally:
        drop_database(args.server, dbname)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
