"""driftbot vs the real Prisma CLI 6.19.3, timed in one run on the same database.

    .venv/bin/python -m benchmarks.bench_vs_prisma [--server URL] [--migrations 700] [--repeat 5]

Builds a database from a generated history (benchmarks/gen_history.py, seeded),
adds some db-push style drift, and times:

- ``driftbot status ENV --json`` (the whole CLI process, full check with a warm
  shadow cache) and the check itself in-process (history only, and full)
  against ``prisma migrate status``;
- driftbot's drift check cold (no cached snapshot and no kept template: the
  700 migrations are replayed into a scratch database), after one new
  migration (the 699 before it are copied from the template the previous
  replay kept) and warm (cached snapshot) against
  ``prisma migrate diff --from-migrations ... --to-schema-datamodel LIVE``
  (LIVE: ``prisma db pull --print`` of the database), which replays the history
  in its own shadow database every time.

It also times the floor of any Python command built on our chosen parts: the
interpreter alone, and the interpreter importing psycopg and pydantic-settings,
which ``driftbot status`` cannot avoid (it reads its settings, then a database).
``prisma migrate status`` divided by that floor is the best ratio a Python
``driftbot status`` process could reach, whatever its own work costs.

Prints medians and the ratios Prisma / driftbot. Not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from psycopg import sql

from benchmarks.common import cli_env, create_database, drop_database, machine, pg_default, timed
from benchmarks.gen_history import generate, write
from driftbot.engine import replay, templates
from driftbot.engine.check import run_check
from driftbot.engine.sources import read_folder
from driftbot.settings import Settings
from tests.conformance.prisma_cli import PrismaProject, ensure_installed

ENV = "bench"
DRIFT = (
    'CREATE TABLE "bench_staff" ("id" SERIAL NOT NULL, "email" TEXT, CONSTRAINT "bench_staff_pkey" PRIMARY KEY ("id"));\n'
    'CREATE UNIQUE INDEX "bench_staff_email_key" ON "bench_staff"("email");\n'
)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--server", default=pg_default())
    ap.add_argument("--migrations", type=int, default=700)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--slow-repeat", type=int, default=2, help="repeats of the cold check and Prisma's diff")
    args = ap.parse_args()

    install = ensure_installed()
    work = Path(tempfile.mkdtemp(prefix="driftbot-bench-"))
    dbname, url, server_version = create_database(args.server)
    try:
        project = PrismaProject(install, work / "project", url)
        write(project.migrations, generate(args.migrations, args.seed))
        migrations = read_folder(project.migrations)
        t = time.perf_counter()
        with psycopg.connect(url, autocommit=True) as conn:
            assert replay.deploy(conn, migrations.items) is None
            conn.execute(DRIFT.encode())
        print(f"built {dbname}: {len(migrations.items)} migrations deployed in {time.perf_counter() - t:.1f} s, plus drift")
        live = project.folder / "live.prisma"
        live.write_text(project.pull())

        cache = work / "cache"
        settings = Settings(
            environments={ENV: {"database_url": url, "shadow_url": args.server, "migrations": str(project.migrations),
                                "protected": False}},
            cache_dir=cache,
        )
        env_settings = settings.environment(ENV)
        status_env = cli_env(ENV, url, args.server, project.migrations, XDG_CACHE_HOME=str(work / "xdg"))

        def drop_templates():
            """Drop the replay templates this history left on the server (only this history's)."""
            ours = {d[:24] for d in templates.chain(migrations.items, "public")}
            with psycopg.connect(args.server, autocommit=True) as conn:
                for name, digest, _, _ in templates._existing(conn):
                    if digest in ours:
                        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))

        def cold_check():
            shutil.rmtree(cache, ignore_errors=True)
            drop_templates()
            return run_check(settings, env_settings)

        extra = project.migrations / "99990101000000_bench_one_more"

        def one_more_check():
            """A migration added and deployed since the last replay, which kept its template."""
            shutil.rmtree(cache, ignore_errors=True)
            drop_templates()
            run_check(settings, env_settings)  # the 700: replayed and kept as a template
            extra.mkdir()
            (extra / "migration.sql").write_text('CREATE TABLE "bench_one_more" ("id" INTEGER NOT NULL);\n')
            try:
                with psycopg.connect(url, autocommit=True) as conn:
                    assert replay.deploy(conn, read_folder(project.migrations).items) is None
                t = time.perf_counter()
                result = run_check(settings, env_settings)
                seconds = time.perf_counter() - t
            finally:
                shutil.rmtree(extra)
                with psycopg.connect(url, autocommit=True) as conn:
                    conn.execute('DROP TABLE IF EXISTS "bench_one_more"')
                    conn.execute("DELETE FROM _prisma_migrations WHERE migration_name = %s", (extra.name,))
            return seconds, result

        def floor(code: str):
            return lambda: subprocess.run([sys.executable, "-c", code], capture_output=True, check=True)

        def warm_check():
            return run_check(settings, env_settings)

        def cli_status():
            return subprocess.run([sys.executable, "-m", "driftbot.cli", "status", ENV, "--json"], env=status_env,
                                  capture_output=True, text=True, cwd=work)

        def prisma_status():
            return project.status()

        def prisma_diff():
            return project.diff_migrations_to_models(live)

        results = {}
        results["prisma migrate status"], p_status = timed(prisma_status, args.repeat)
        assert p_status.code == 0, p_status.output
        cli_status()  # fills the CLI's own replay cache, so the timed runs are warm
        results["driftbot status (CLI process, full check, warm)"], d_cli = timed(cli_status, args.repeat)
        assert d_cli.returncode == 1 and '"drifted"' in d_cli.stdout, d_cli.stderr
        results["driftbot check, history only (in-process)"], _ = timed(lambda: run_check(settings, env_settings, schema=False), args.repeat)
        results["driftbot drift check, cold (in-process)"], cold = timed(cold_check, args.slow_repeat)
        assert cold.schema.checked and cold.schema.summary, cold.schema.reason
        one_more = [one_more_check() for _ in range(args.slow_repeat)]
        results["driftbot drift check, one new migration (in-process)"] = statistics.median(s for s, _ in one_more)
        assert one_more[-1][1].schema.checked and one_more[-1][1].schema.summary == cold.schema.summary
        results["driftbot drift check, warm (in-process)"], warm = timed(warm_check, args.repeat)
        assert warm.schema.summary == cold.schema.summary
        results["prisma migrate diff --from-migrations"], p_diff = timed(prisma_diff, args.slow_repeat)
        assert p_diff.code == 2, p_diff.output  # Prisma sees the same drift
        results["floor: python -c pass"], _ = timed(floor("pass"), args.repeat)
        results["floor: python -c 'import psycopg, pydantic_settings'"], _ = timed(
            floor("import psycopg, pydantic_settings"), args.repeat)

        print(f"\nmachine: {machine()}; PostgreSQL {server_version}; Prisma 6.19.3 (WebAssembly engine, pg adapter)")
        print(f"history: {args.migrations} generated migrations (seed {args.seed}); medians of {args.repeat} "
              f"(cold check and Prisma diff: {args.slow_repeat})\n")
        for name, seconds in results.items():
            print(f"  {name:<58} {seconds * 1000:9.1f} ms")
        ratios = [
            ("prisma migrate status / driftbot status CLI", results["prisma migrate status"], results["driftbot status (CLI process, full check, warm)"]),
            ("prisma migrate status / driftbot history check", results["prisma migrate status"], results["driftbot check, history only (in-process)"]),
            ("prisma migrate diff / driftbot cold drift check", results["prisma migrate diff --from-migrations"], results["driftbot drift check, cold (in-process)"]),
            ("prisma migrate diff / driftbot after one new migration", results["prisma migrate diff --from-migrations"], results["driftbot drift check, one new migration (in-process)"]),
            ("prisma migrate diff / driftbot warm drift check", results["prisma migrate diff --from-migrations"], results["driftbot drift check, warm (in-process)"]),
            ("prisma migrate status / floor (best a Python CLI can do)", results["prisma migrate status"], results["floor: python -c 'import psycopg, pydantic_settings'"]),
        ]
        print()
        for name, theirs, ours in ratios:
            print(f"  {name:<58} {theirs / ours:7.1f}x")
    finally:
        drop_database(args.server, dbname)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
