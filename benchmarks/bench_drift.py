"""Schema drift check on a generated 700-migration history (~300 tables): cold and warm.

    .venv/bin/python -m benchmarks.bench_drift [--pg URL] [--n 700] [--seed 1] [--prisma]

cold = replay into a scratch database + introspection + diff + render (empty cache);
warm = the same check with the replay cache hit (only the target is introspected).
With --prisma, also times `prisma migrate diff --from-migrations` (the real CLI 6.19.3,
as tests/conformance installs it) on the same history, which replays it in a shadow database.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from benchmarks.gen_history import generate, write
from benchmarks.common import drop_database, timed
from driftbot.engine import replay
from driftbot.engine.check import run_check
from driftbot.engine.sources import read_folder
from driftbot.settings import Settings

DRIFT = """
CREATE TABLE "staff" ("id" SERIAL NOT NULL, "email" TEXT, CONSTRAINT "staff_pkey" PRIMARY KEY ("id"));
CREATE UNIQUE INDEX "staff_email_key" ON "staff"("email");
"""


def _timed(fn, repeat: int = 1) -> tuple[float, object]:
    return timed(fn, repeat, scale=1000)  # milliseconds


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    p.add_argument("--n", type=int, default=700)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--prisma", action="store_true")
    args = p.parse_args()

    work = Path(tempfile.mkdtemp(prefix="driftbench-"))
    folder = write(work / "migrations", generate(args.n, args.seed))
    migrations = read_folder(folder)
    name = f"driftbench_{uuid.uuid4().hex[:8]}"
    url = urlunsplit(urlsplit(args.pg)._replace(path="/" + name))
    with psycopg.connect(args.pg, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            t = time.perf_counter()
            assert replay.deploy(conn, migrations.items) is None
            deploy_ms = (time.perf_counter() - t) * 1000
            conn.execute(DRIFT)
            tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()[0]
        settings = Settings(environments={"bench": {"database_url": url, "shadow_url": args.pg, "migrations": str(folder)}},
                            cache_dir=work / "cache")
        env = settings.environment("bench")
        history_ms, _ = _timed(lambda: run_check(settings, env, schema=False), 5)
        cold_ms, cold = _timed(lambda: run_check(settings, env))
        warm_ms, warm = _timed(lambda: run_check(settings, env), 7)
        assert cold.schema.checked and cold.schema.summary == warm.schema.summary
        cli = [sys.executable, "-m", "driftbot.cli", "status", "bench"]
        cli_env = {"DRIFTBOT_ENVIRONMENTS__BENCH__DATABASE_URL": url, "DRIFTBOT_ENVIRONMENTS__BENCH__SHADOW_URL": args.pg,
                   "DRIFTBOT_ENVIRONMENTS__BENCH__MIGRATIONS": str(folder), "DRIFTBOT_CACHE_DIR": str(work / "cache"),
                   "PATH": "/usr/bin:/bin"}
        cli_ms, _ = _timed(lambda: subprocess.run(cli, env=cli_env, capture_output=True, cwd=Path(__file__).parent.parent), 3)
        print(f"history: {args.n} migrations, {tables} tables (seed {args.seed}); deploy as Prisma does: {deploy_ms:.0f} ms")
        print(f"summary: {' | '.join(ln for ln in cold.schema.summary if ln)}")
        print(f"check without schema (history only): {history_ms:7.0f} ms")
        print(f"cold check (replay + introspect + diff): {cold_ms:7.0f} ms")
        print(f"warm check (replay cache hit):           {warm_ms:7.0f} ms   (target: < 300 ms)")
        print(f"`driftbot status` warm, whole process:   {cli_ms:7.0f} ms")
        if args.prisma:
            from tests.conformance.prisma_cli import PrismaProject, ensure_installed

            project = PrismaProject(ensure_installed(), work / "prisma", url)
            shutil.rmtree(project.migrations)
            shutil.copytree(folder, project.migrations)
            prisma_ms, run = _timed(project.diff_migrations_to_models)
            ok = "ok" if run.code in (0, 2) else f"failed (exit {run.code}): {run.output.strip().splitlines()[-1:]}"
            print(f"prisma migrate diff --from-migrations:   {prisma_ms:7.0f} ms   {ok}")
            print(f"ratio cold driftbot / prisma:            {cold_ms / prisma_ms:7.2f}")
    finally:
        drop_database(args.pg, name)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
