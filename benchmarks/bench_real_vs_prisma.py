"""Issue #17's Must show, in one run on a real public history: driftbot against Prisma's pair.

    .venv/bin/python -m benchmarks.bench_real_vs_prisma [--server URL] [--redis URL] [--rounds 5] [--no-slack]

The history: trigger.dev's migrations at a pinned commit (560 migrations; extracted from the local
git mirror into a temporary folder, never committed). Its newest commit (820 migrations, in
benchmarks/real_histories.py) makes Prisma 6.19.3's WebAssembly engine crash ("RuntimeError:
unreachable") in every command that replays or introspects it, so Prisma cannot be timed there.
The history is deployed to a fresh database (driftbot's deploy, row for row what
``prisma migrate deploy`` records), then each round times, one after the other so the machine's
load falls on all alike:

- the floor: ``python -c 'import psycopg, pydantic_settings'``;
- ``driftbot status --json``, warm (the whole process; nothing changed since the last status);
- the same with its memo removed (the engine runs: replay cache and cached target schema hit);
  these three alternate, ``--repeat`` times per round;
- Prisma's pair: ``prisma migrate status`` + the drift summary of ``prisma migrate dev
  --create-only`` (the schema.prisma is the pulled live schema, so it creates nothing; where
  ``migrate dev`` fails, ``prisma migrate diff --from-migrations ... --to-schema-datamodel``);
- after a change: a new last migration added and deployed, then ``driftbot status --json`` (the
  whole process: the memo, the replay cache and the cached target schema all miss; the replay
  starts from the template the previous replay kept);
- Slack: a signed ``/drift status`` into the real ``driftbot web`` (gunicorn) until the result is
  posted at the Slack Web API stand-in, by a warm ``driftbot worker`` (RQ, Redis, PostgreSQL state).

Timed subprocesses run with bytecode caching on (``PYTHONDONTWRITEBYTECODE`` removed), as an
installed driftbot does. Prints medians and minimums and the four ratios with issue #17's targets.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import psycopg

from benchmarks.common import as_installed, cli_env, load, machine, pg_default, prisma_cli, prisma_copy, redis_default, scratch_database
from benchmarks.real_histories import History, extract
from driftbot.engine import replay, templates
from driftbot.engine.sources import read_folder

HISTORY = History("trigger.dev", "triggerdotdev+trigger.dev", "f2babbf6373822004c3557faa7fa1eda0218f872",
                  "internal-packages/database/prisma/migrations")
ENV = "bench"
FLOOR = "import psycopg, pydantic_settings"
TARGETS = {"warm status / floor": ("<=", 1.2), "Prisma's pair / warm status": (">=", 15.0),
           "Prisma's pair / after a change": (">=", 6.0), "Prisma's pair / Slack answer": (">=", 20.0)}


class Slack:
    """The real web and worker processes on the Slack stand-in, configured for the benchmark's target."""

    def __init__(self, server: str, redis: str, url: str, migrations: Path, tmp: Path) -> None:
        from benchmarks.common import bot_env
        from tests.conftest import Databases
        from tests.slack.conftest import Bot, write_config
        from tests.slack_stub import SlackStub
        from tests.slack.conftest import GROUPS, TOKEN

        self.dbs = Databases(server)
        self.stub = SlackStub(token=TOKEN, groups=GROUPS).start()
        state = self.dbs.create("bench_state")
        config = write_config(tmp / "driftbot.toml", url, migrations, tmp / "slack-cache", shadow_url=server)
        self.bot = Bot(env=as_installed(bot_env(config, state, self.stub.base_url, redis, tmp, "b17")), tmp=tmp)
        self.url = self.bot.start_web(workers=2)
        self.bot.start_worker()

    def answer(self) -> float:
        """Seconds from sending a signed /drift status to the result posted in the channel."""
        from tests.slack.conftest import CHANNEL, command

        seen = len(self.stub.calls)
        started = time.monotonic()
        status, body, _ = command(self.url, "status prod")
        assert status == 200, body

        def posted():
            for call in list(self.stub.calls)[seen:]:
                text = call.params.get("text") or ""
                if (call.method in ("chat.postMessage", "chat.update") and call.params.get("channel") == CHANNEL
                        and "prod" in text and "Checking" not in text and not call.params.get("thread_ts")):
                    return call
            return None

        call = self.stub.wait_for(posted, timeout=120, what="the check result")
        return call.at - started

    def close(self) -> None:
        self.bot.stop_all()
        self.stub.stop()
        self.dbs.drop_all()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--server", default=pg_default())
    ap.add_argument("--redis", default=redis_default())
    ap.add_argument("--rounds", type=int, default=5, help="at most 5: each after-a-change round keeps a template "
                    "and the server keeps the newest 6")
    ap.add_argument("--repeat", type=int, default=3, help="runs of the floor and both warm statuses per round "
                    "(alternating; each about a second, so their medians can have more samples)")
    ap.add_argument("--no-slack", action="store_true")
    args = ap.parse_args(argv)

    install = prisma_cli()
    if install is None:
        return 2
    work = Path(tempfile.mkdtemp(prefix="driftbot-bench17-"))
    slack = None
    try:
        src = extract(HISTORY, work / "src")
        if src is None:
            print(f"the mirror of {HISTORY.name} is absent: nothing measured", file=sys.stderr)
            return 2
        migrations = read_folder(src)
        with scratch_database(args.server) as (url, server_version):
            t = time.perf_counter()
            with psycopg.connect(url, autocommit=True) as conn:
                assert replay.deploy(conn, migrations.items) is None
            built = time.perf_counter() - t
            project = prisma_copy(install, work / "prisma", url, src)
            drift_name, prisma_drift = _prisma_drift(project)
            env = cli_env(ENV, url, args.server, src, DRIFTBOT_CACHE_DIR=str(work / "cache"))

            def floor():
                subprocess.run([sys.executable, "-c", FLOOR], env=env, capture_output=True, check=True)

            def status(expect: str = "in_sync"):
                done = subprocess.run([sys.executable, "-m", "driftbot.cli", "status", ENV, "--json"], env=env,
                                      capture_output=True, text=True, cwd=work)
                assert done.returncode == 0 and f'"{expect}"' in done.stdout, (done.returncode, done.stderr[-800:])
                return done

            def status_engine():
                for memo in (work / "cache" / "status").glob("*.json"):
                    memo.unlink()
                status()

            def prisma_status():
                done = project.status()
                assert done.code == 0, done.output[-800:]

            t = time.perf_counter()
            status()  # cold: replays the history, keeps its template
            cold = time.perf_counter() - t
            time.sleep(2.1)  # past the memo's racy window for the files just extracted
            status()  # fills the memo
            if not args.no_slack:
                slack = Slack(args.server, args.redis, url, src, work)
                slack.answer()  # the worker's first check fills its caches: every timed one is warm
            for fn in (floor, status, prisma_status):
                fn()  # one untimed run each: the page cache, Node's compile cache
            times: dict[str, list[float]] = {k: [] for k in (
                "floor", "warm status", "warm status, memo removed (engine)", "prisma migrate status",
                f"prisma {drift_name}", "Prisma's pair", "after a change", "Slack answer")}
            load_before, reused = load(), []
            quick = (("floor", floor), ("warm status", status), ("warm status, memo removed (engine)", status_engine))
            for i in range(args.rounds):
                for name, fn in quick * args.repeat + (("prisma migrate status", prisma_status),
                                                       (f"prisma {drift_name}", prisma_drift)):
                    t = time.perf_counter()
                    fn()
                    times[name].append(time.perf_counter() - t)
                times["Prisma's pair"].append(times["prisma migrate status"][-1] + times[f"prisma {drift_name}"][-1])
                seconds, kept = _after_a_change(url, args.server, src, i, status)
                times["after a change"].append(seconds)
                reused.append(kept)
                if slack is not None:
                    times["Slack answer"].append(slack.answer())
                status()  # back to warm after the change was undone (fills the memo again)
            load_after = load()
    finally:
        if slack is not None:
            slack.close()
        shutil.rmtree(work, ignore_errors=True)

    print(f"\nmachine: {machine()}; PostgreSQL {server_version}; Prisma 6.19.3 (WebAssembly engine, pg adapter)")
    print(f"date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; {load_before} before, {load_after} after")
    print(f"history: {HISTORY.name} @ {HISTORY.commit[:12]}, {len(migrations.items)} migrations, deployed in "
          f"{built:.1f} s; the cold status took {cold * 1000:.0f} ms; {args.rounds} rounds "
          f"(floor and warm statuses: {args.repeat} alternating runs each per round)\n")
    print(f"  {'':<44} {'min':>9} {'median':>9}")
    for name, ts in times.items():
        if ts:
            print(f"  {name:<44} {min(ts) * 1000:7.0f}ms {statistics.median(ts) * 1000:7.0f}ms")
    print(f"  (after a change: migrations a kept template held when the status started, per round: {reused})")
    med = {k: statistics.median(v) for k, v in times.items() if v}
    ratios = {"warm status / floor": med["warm status"] / med["floor"],
              "Prisma's pair / warm status": med["Prisma's pair"] / med["warm status"],
              "Prisma's pair / after a change": med["Prisma's pair"] / med["after a change"]}
    if "Slack answer" in med:
        ratios["Prisma's pair / Slack answer"] = med["Prisma's pair"] / med["Slack answer"]
    print("\n  ratios of medians (issue #17 targets):")
    failed = 0
    for name, value in ratios.items():
        op, goal = TARGETS[name]
        ok = value <= goal if op == "<=" else value >= goal
        failed += not ok
        print(f"  {name:<44} {value:7.2f}  target {op} {goal:g}: {'met' if ok else 'NOT MET'}")
    print(f"  warm status / floor, minimums: {min(times['warm status']) / min(times['floor']):.2f}; "
          f"warm status (engine) / floor: {med['warm status, memo removed (engine)'] / med['floor']:.2f}")
    return 1 if failed else 0


def _prisma_drift(project):
    """(name, timed function) of Prisma's drift summary: ``migrate dev --create-only`` on the pulled schema,
    else (where the WebAssembly engine cannot run it) ``migrate diff --from-migrations``."""
    from _pytest.outcomes import Skipped  # how the conformance harness reports a crash of Prisma's engine

    try:
        live = project.pull()
        project.write_models(live.split("datasource db", 1)[1].split("}", 1)[1])  # its models, after our header
        run = project.dev_create_only()
        if run.code == 0 and "Drift detected" not in run.output:
            def dev():
                done = project.dev_create_only()
                assert done.code == 0, done.output[-800:]
            return "migrate dev --create-only (drift summary)", dev
        why = f"exit {run.code}: {(run.output.strip().splitlines() or [''])[-1][:200]}"
    except (Skipped, AssertionError) as exc:
        why = str(exc).splitlines()[0][:200]
    print(f"prisma migrate dev --create-only cannot be timed here ({why}); timing migrate diff instead", file=sys.stderr)

    def diff():
        done = project.diff_migrations_to_models()
        assert done.code in (0, 2), done.output[-800:]
    return "migrate diff --from-migrations", diff


def _after_a_change(url: str, server: str, src: Path, i: int, status) -> tuple[float, int]:
    """A new last migration, added and deployed; the seconds of the whole ``driftbot status`` that follows,
    and how many migrations the longest template kept on the server held (another process on a shared
    server may have pruned it)."""
    name = f"99990101{i:06d}_bench_change"
    folder = src / name
    folder.mkdir()
    (folder / "migration.sql").write_text(f'CREATE TABLE "bench_change_{i}" ("id" INTEGER NOT NULL);\n')
    try:
        items = read_folder(src).items
        with psycopg.connect(url, autocommit=True) as conn:
            assert replay.deploy(conn, items) is None
        with psycopg.connect(server, autocommit=True) as admin:
            kept = (templates.longest_prefix(admin, templates.chain(items, "public")) or (0, None))[0]
        t = time.perf_counter()
        done = status()
        seconds = time.perf_counter() - t
    finally:
        shutil.rmtree(folder)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP TABLE IF EXISTS "bench_change_{i}"'.encode())
            conn.execute("DELETE FROM _prisma_migrations WHERE migration_name = %s", (name,))
    assert json.loads(done.stdout)["state"] == "in_sync"
    return seconds, kept


if __name__ == "__main__":
    raise SystemExit(main())
