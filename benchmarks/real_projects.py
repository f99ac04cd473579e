"""Real public Prisma 7 projects read through ``project = "DIR"`` alone, judged by the real Prisma CLI.

    python -m benchmarks.real_projects [--target URL] [--only NAME] [--json OUT]

For each pinned project below: extract, at the pinned commit, the project's folder
and the repository root's package.json and lockfile from the local git mirror
into a temporary folder (their files never enter this repository); deploy the
migrations with the real Prisma CLI of the version the lockfile pins, run by the
project's OWN prisma.config.ts (Node evaluates it: ``path.join(__dirname, ...)``,
``env(...)``, dotenv) through the engine stand-in of tests/conformance/; ask
``prisma migrate status``; then run ``driftbot status --json`` configured with
nothing but ``database_url`` and ``project`` (driftbot reads the same config
without Node), cold and warm. Then a column is added by hand and both are asked
again: Prisma's ``migrate dev --create-only`` drift summary against driftbot's.

Expected, per project: driftbot finds the same migrations folder (as many
migrations as Prisma deployed), the version the lockfile pins, ``in_sync`` and
Prisma's own ``migrate status`` exit code; after the hand edit, ``drifted`` with
Prisma's summary lines. A project whose mirror is absent is skipped, saying so.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import asdict, dataclass, field
from io import BytesIO
from pathlib import Path

import psycopg
from psycopg import sql

from benchmarks.common import drop_database, pg_default, with_db
from benchmarks.real_histories import MIRRORS, create_db
from tests.conformance.prisma7_cli import ensure_installed, run_cli
from tests.conformance.prisma_cli import PrismaUnavailable, cache_root, npm_install
from tests.conformance.scenario import drift_summary, parse_status


@dataclass(frozen=True)
class Project:
    name: str
    mirror: str  # folder under MIRRORS holding the bare repository ("repo")
    commit: str
    folder: str  # the Prisma project inside the repository: where its prisma.config.ts lies
    lockfile: str  # the repository's lockfile, which pins the Prisma version
    prisma: str  # the version that lockfile pins (what driftbot must find)
    url_env: str  # the variable the project's own config reads its url from
    table: str  # a table to add a column to by hand ("schema.table" outside public)
    config_form: str  # how its config computes the paths (for the README's table)


PROJECTS = (
    Project("inbox-zero", "elie222+inbox-zero", "4f70dcefc55c65f2664ec27a19e118003138fb5f", "apps/web",
            "pnpm-lock.yaml", "7.9.1", "DATABASE_URL", "User", "literal `./prisma/...` paths"),
    Project("hoppscotch", "hoppscotch+hoppscotch", "afc2cf181c16e56647b099e5d18cfe55710c6cdd",
            "packages/hoppscotch-backend", "pnpm-lock.yaml", "7.8.0", "DATABASE_URL", "User", "literal paths"),
    Project("bilan-carbone", "ABC-TransitionBasCarbone+bilan-carbone", "aa834fa15af7abbbd3aacc75c0d8fa6057960d91",
            "packages/db-common", "yarn.lock", "7.8.0", "POSTGRES_PRISMA_URL", "common.users",
            "`path.join(__dirname, ...)` (`__dirname` from `fileURLToPath(import.meta.url)`), a schema folder, "
            "three PostgreSQL schemas"),
)


@dataclass
class Row:
    project: str
    commit: str
    skipped: str | None = None
    migrations_deployed: int | None = None
    deploy_s: float | None = None
    prisma_status_exit: int | None = None
    driftbot: dict = field(default_factory=dict)
    drift: dict = field(default_factory=dict)
    problems: list = field(default_factory=list)


def extract(p: Project, into: Path) -> Path | None:
    """The repository at the pinned commit, limited to the project folder, root package.json and lockfile."""
    git_dir = MIRRORS / p.mirror / "repo"
    if not git_dir.is_dir():
        return None
    proc = subprocess.run(["git", "--git-dir", str(git_dir), "archive", p.commit, p.folder, "package.json", p.lockfile],
                          capture_output=True, check=True)
    with tarfile.open(fileobj=BytesIO(proc.stdout)) as tar:
        tar.extractall(into, filter="data")
    return into


def dotenv_modules() -> Path:
    """node_modules holding dotenv, which the projects' configs import (``import 'dotenv/config'``)."""
    root = cache_root("dotenv").with_name("dotenv-16")
    if not (root / "node_modules" / "dotenv").is_dir():
        root.mkdir(parents=True, exist_ok=True)
        (root / "package.json").write_text(json.dumps({"name": "driftbot-bench-dotenv", "private": True}))
        npm_install(root, ("dotenv@16",))
    return root / "node_modules"


def driftbot_status(url: str, project: Path, cache: Path) -> tuple[float, int, dict]:
    """``driftbot status real --json`` configured by two variables: the database and the project folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTBOT_")}
    env.update({
        "DRIFTBOT_CACHE_DIR": str(cache),
        "DRIFTBOT_ENVIRONMENTS__REAL__DATABASE_URL": url,
        "DRIFTBOT_ENVIRONMENTS__REAL__PROJECT": str(project),
    })
    cache.mkdir(parents=True, exist_ok=True)  # also the working directory: no driftbot.toml there
    exe = Path(sys.executable).with_name("driftbot")
    started = time.perf_counter()
    proc = subprocess.run([str(exe), "status", "real", "--json"], capture_output=True, text=True, env=env,
                          cwd=cache, timeout=900)
    elapsed = time.perf_counter() - started
    try:
        return elapsed, proc.returncode, json.loads(proc.stdout)
    except ValueError:
        return elapsed, proc.returncode, {"state": "error", "reason": proc.stderr.strip()[-500:]}


def run_project(p: Project, server: str, work: Path) -> Row:
    row = Row(p.name, p.commit[:12])
    repo = extract(p, work / "src" / p.name)
    if repo is None:
        row.skipped = f"mirror {MIRRORS / p.mirror / 'repo'} is absent"
        return row
    install = ensure_installed(p.prisma)
    (repo / "node_modules").symlink_to(dotenv_modules(), target_is_directory=True)
    folder = repo / p.folder
    dbname = create_db(server, "realproj")
    url = with_db(server, dbname)
    (folder / ".env").write_text(f"{p.url_env}={url}\n")  # read by the project's own config through dotenv
    try:
        started = time.perf_counter()
        deployed = run_cli(install, folder, url, "migrate", "deploy", timeout=900)
        row.deploy_s = round(time.perf_counter() - started, 2)
        if deployed.code != 0:
            row.problems.append(f"prisma migrate deploy exited {deployed.code}: {deployed.output[-3000:]}")
            return row
        with psycopg.connect(url) as conn:
            row.migrations_deployed = conn.execute("SELECT count(*) FROM _prisma_migrations").fetchone()[0]
        real = parse_status(run_cli(install, folder, url, "migrate", "status"))
        row.prisma_status_exit = real.code

        cold, code, body = driftbot_status(url, folder, work / "cache" / p.name)
        warm, code, body = driftbot_status(url, folder, work / "cache" / p.name)
        h = body.get("history", {})
        row.driftbot = {"cold_s": round(cold, 2), "warm_s": round(warm, 2), "exit": code, "state": body.get("state"),
                        "local": h.get("local"), "prisma_version": h.get("prisma_version"),
                        "prisma_version_source": h.get("prisma_version_source"),
                        "prisma_status_exit": (h.get("prisma_status") or {}).get("exit_code"),
                        "reason": body.get("reason")}
        expected = {"state": "in_sync", "exit": 0, "local": row.migrations_deployed, "prisma_version": p.prisma,
                    "prisma_status_exit": real.code}
        for key, want in expected.items():
            if row.driftbot[key] != want:
                row.problems.append(f"driftbot {key} = {row.driftbot[key]!r}, expected {want!r}")

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql.SQL("ALTER TABLE {} ADD COLUMN driftbot_by_hand text")
                         .format(sql.Identifier(*p.table.split(".")) if "." in p.table else sql.Identifier(p.table)))
        after = parse_status(run_cli(install, folder, url, "migrate", "status"))
        before = set(folder.rglob("migration.sql"))
        dev = run_cli(install, folder, url, "migrate", "dev", "--create-only", "--name", "probe", timeout=900)
        for created in set(folder.rglob("migration.sql")) - before:  # migrate dev may have written a probe
            created.unlink()
            created.parent.rmdir()
        prisma_lines = drift_summary(dev)
        _, code, body = driftbot_status(url, folder, work / "cache" / p.name)
        summary = tuple((body.get("schema") or {}).get("summary") or ())
        row.drift = {"exit": code, "state": body.get("state"), "driftbot_summary": list(summary),
                     "prisma_status_exit": after.code, "prisma_status_up_to_date": after.up_to_date,
                     "prisma_summary": list(prisma_lines) if prisma_lines is not None else None,
                     "same": summary == prisma_lines if prisma_lines is not None else None}
        if prisma_lines is None:  # the engine stand-in could not answer: say so, compare nothing
            row.drift["prisma_dev_error"] = " ".join(dev.output.split())[-300:]
        elif summary != prisma_lines:
            row.problems.append("driftbot's drift summary differs from Prisma's")
        if (code, body.get("state")) != (1, "drifted"):
            row.problems.append(f"after the hand edit driftbot said {body.get('state')!r} (exit {code})")
    finally:
        drop_database(server, dbname)
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", default=pg_default(),
                    help="a PostgreSQL server URL to create the databases on")
    ap.add_argument("--only", action="append", help="run only these projects (by name)")
    ap.add_argument("--json", help="write the rows as JSON here")
    args = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="driftbot-realproj-") as tmp:
        for p in PROJECTS:
            if args.only and p.name not in args.only:
                continue
            try:
                row = run_project(p, args.target, Path(tmp))
            except PrismaUnavailable as exc:
                row = Row(p.name, p.commit[:12], skipped=f"the real Prisma {p.prisma} CLI is unavailable: {exc}")
            rows.append(row)
            print(json.dumps(asdict(row), indent=1), flush=True)
    print()
    print("| project (commit) | `project` | its prisma.config.ts | Prisma found | migrations | real `migrate deploy` "
          "| driftbot cold | warm | state | after a column added by hand |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for p, row in zip((p for p in PROJECTS if not args.only or p.name in args.only), rows):
        if row.skipped:
            print(f"| {p.name} | skipped: {row.skipped} |")
            continue
        d = row.driftbot
        drift = "-"
        if row.drift:
            same = {True: "equal to Prisma's `migrate dev` summary", False: "NOT equal to Prisma's summary",
                    None: "Prisma's `migrate dev` summary not available (engine stand-in failed)"}[row.drift["same"]]
            drift = (f"driftbot {row.drift['state']} (exit {row.drift['exit']}), {same}; Prisma's `migrate status`: "
                     f"{'up to date' if row.drift['prisma_status_up_to_date'] else 'not up to date'} "
                     f"(exit {row.drift['prisma_status_exit']})")
        print(f"| {p.name} ({row.commit}) | `{p.folder}` | {p.config_form} | {d.get('prisma_version')} "
              f"({d.get('prisma_version_source')}) | {row.migrations_deployed} | {row.deploy_s} s ({p.prisma}) "
              f"| {d.get('cold_s')} s | {d.get('warm_s')} s | {d.get('state')} | {drift} |")
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(r) for r in rows], indent=1))
    bad = [r for r in rows if r.problems]
    for r in bad:
        print(f"{r.project}: " + "; ".join(r.problems))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
