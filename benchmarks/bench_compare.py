"""`driftbot compare` of two ~1,500-table databases, warm (target: under 1 s).

    .venv/bin/python -m benchmarks.bench_compare [--pg URL] [--n 3500] [--seed 1] [--gap 3]

A generated history of N migrations (3,500: about 1,500 tables, benchmarks/gen_history.py).
staging has all but the last --gap migrations applied, prod all of them plus a hand-made
index, qa all of them and nothing else. Timed, each the median of 7 runs after a first
(cold) one filled the replay cache:

- staging -> prod: a history gap and drift (both sides' replayed schemas from the cache);
- qa -> prod: the histories agree, drift in prod (nothing replayed; the cache names prod);
- one warm `status` check of prod, and the two environments read one after the other
  instead of in two threads, as yardsticks: the figures are printed as ratios to them.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from queue import SimpleQueue
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from benchmarks.gen_history import project, write, write_schema
from benchmarks.common import timed
from driftbot.engine import replay
from driftbot.engine.check import run_check
from driftbot.engine.compare import _read, compare
from driftbot.engine.sources import read_folder
from driftbot.settings import Settings

DRIFT = 'CREATE INDEX "bench_drift_idx" ON "{table}"("id")'


def _timed(fn, repeat: int = 7) -> tuple[float, object]:
    return timed(fn, repeat, scale=1000)  # milliseconds


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    p.add_argument("--n", type=int, default=3500)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--gap", type=int, default=3)
    args = p.parse_args()

    work = Path(tempfile.mkdtemp(prefix="driftbench-compare-"))
    scripts, schema_files = project(args.n, args.seed)
    schema = write_schema(work / "schema", schema_files)
    names = list(scripts)
    full = write(work / "prod", scripts)
    behind = write(work / "staging", {k: scripts[k] for k in names[: args.n - args.gap]})
    tag = uuid.uuid4().hex[:8]
    dbs = {env: f"driftbench_{env}_{tag}" for env in ("staging", "prod", "qa")}
    url = {env: urlunsplit(urlsplit(args.pg)._replace(path="/" + name)) for env, name in dbs.items()}
    try:
        with psycopg.connect(args.pg, autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbs["staging"])))
            t = time.perf_counter()
            with psycopg.connect(url["staging"], autocommit=True) as conn:
                assert replay.deploy(conn, read_folder(behind).items) is None
            deploy_s = time.perf_counter() - t
            for env in ("prod", "qa"):
                admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(dbs[env]), sql.Identifier(dbs["staging"])))
        for env in ("prod", "qa"):
            with psycopg.connect(url[env], autocommit=True) as conn:
                assert replay.deploy(conn, read_folder(full).items) is None
        with psycopg.connect(url["prod"], autocommit=True) as conn:
            table = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1 LIMIT 1").fetchone()[0]
            conn.execute(DRIFT.format(table=table.replace('"', '""')))
            tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname IN ('public', 'billing')").fetchone()[0]
        folder = {"staging": behind, "prod": full, "qa": full}
        settings = Settings(environments={env: {"database_url": url[env], "shadow_url": args.pg,
                                                "migrations": str(folder[env]), "schema": str(schema)} for env in dbs},
                            cache_dir=work / "cache")

        t = time.perf_counter()
        cold = compare(settings, "staging", "prod")
        cold_ms = (time.perf_counter() - t) * 1000
        gap_ms, gap = _timed(lambda: compare(settings, "staging", "prod"))
        agree_ms, agree = _timed(lambda: compare(settings, "qa", "prod"))
        status_ms, status = _timed(lambda: run_check(settings, settings.environment("prod")))
        scopes = ("public", "billing")

        def sequential():
            return [_read(settings, settings.environment(env), scopes, "public", SimpleQueue()) for env in ("staging", "prod")]

        def parallel():
            with ThreadPoolExecutor(max_workers=2) as pool:
                return list(pool.map(lambda env: _read(settings, settings.environment(env), scopes, "public", SimpleQueue()),
                                     ("staging", "prod")))

        seq_ms, _ = _timed(sequential)
        par_ms, _ = _timed(parallel)

        assert cold.to_json()["schema"] == gap.to_json()["schema"] and gap.exit_code == 1
        assert len(gap.history.applied_only_in_to) == args.gap
        assert [u.environment for u in gap.schema.unexplained] == ["prod"]
        assert [u.environment for u in agree.schema.unexplained] == ["prod"] and agree.history.equal
        print(f"history: {args.n} migrations, {tables} tables (seed {args.seed}); staging {args.gap} behind; "
              f"deploy of staging: {deploy_s:.0f} s")
        print(f"headline: {gap.headline}")
        print(f"cold compare (two replays, kept templates):  {cold_ms:7.0f} ms")
        print(f"warm compare, history gap + drift:          {gap_ms:7.0f} ms   (target: < 1000 ms; "
              f"{gap_ms / 1000:.2f} of it)")
        print(f"warm compare, histories agree + drift:      {agree_ms:7.0f} ms   ({agree_ms / 1000:.2f} of the target)")
        print(f"warm status check of prod alone:            {status_ms:7.0f} ms   "
              f"(compare / status: {gap_ms / status_ms:.2f})")
        print(f"reading both, one after the other:          {seq_ms:7.0f} ms")
        print(f"reading both, two threads:                  {par_ms:7.0f} ms   (parallel / sequential: "
              f"{par_ms / seq_ms:.2f})")
    finally:
        with psycopg.connect(args.pg, autocommit=True) as admin:
            for name in dbs.values():
                admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
