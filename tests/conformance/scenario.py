"""One real database judged twice: by the real Prisma CLI and by driftbot.

A ``Scenario`` owns a fresh database, a Prisma project folder bound to it, and
driftbot settings naming the same database and folder. ``PrismaStatus`` reads
what ``prisma migrate status`` printed into the names it listed.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg.rows import dict_row

from driftbot.engine import history
from driftbot.engine.check import run_check
from driftbot.engine.project import LocalTree, detect_version
from driftbot.engine.sources import read_folder
from driftbot.settings import Settings
from tests.conformance.prisma7_cli import Installed, project_for
from tests.conformance.prisma_cli import DEFAULT_MODELS, Run

ROOT = Path(__file__).resolve().parents[2]

UP_TO_DATE = "Database schema is up to date!"
NOT_MANAGED = "The current database is not managed by Prisma Migrate."
DIVERGED = "Your local migration history and the migrations table from your database are different"


@dataclass(frozen=True)
class PrismaStatus:
    """What ``prisma migrate status`` said, as data."""

    code: int
    up_to_date: bool
    not_managed: bool
    diverged: bool
    unapplied: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()
    unpersisted: tuple[str, ...] = ()
    last_common: str | None = None
    text: str = field(default="", repr=False)

    @property
    def headline(self) -> str:
        if self.not_managed:
            return NOT_MANAGED
        if self.diverged:
            return DIVERGED
        if self.unapplied:
            return "not yet applied"
        if self.failed:
            return "failed"
        return UP_TO_DATE if self.up_to_date else "?"


def _names_after(lines: list[str], starts: tuple[str, ...]) -> tuple[str, ...]:
    for i, line in enumerate(lines):
        if line.startswith(starts):
            names = []
            for name in lines[i + 1 :]:
                if not name.strip():
                    break
                names.append(name.strip())
            return tuple(names)
    return ()


def parse_status(run: Run) -> PrismaStatus:
    lines = run.output.splitlines()
    diverged = any(line.startswith(DIVERGED) for line in lines)
    common = next((ln.split(": ", 1)[1].strip() for ln in lines if ln.startswith("The last common migration is:")), None)
    if diverged:
        unapplied = _names_after(lines, ("The migration have not yet been applied:", "The migrations have not yet been applied:"))
    else:
        unapplied = _names_after(lines, ("Following migration have not yet been applied:", "Following migrations have not yet been applied:"))
    return PrismaStatus(
        code=run.code,
        up_to_date=UP_TO_DATE in run.output,
        not_managed=NOT_MANAGED in run.output,
        diverged=diverged,
        unapplied=unapplied,
        failed=_names_after(lines, ("Following migration have failed:", "Following migrations have failed:")),
        unpersisted=_names_after(lines, ("The migration from the database are not found", "The migrations from the database are not found")),
        last_common=common,
        text=run.output,
    )


def drift_summary(run: Run) -> tuple[str, ...] | None:
    """The drift summary lines ``migrate dev`` printed (without its header and reset prompt);
    None when it reported no drift."""
    lines = run.output.splitlines()
    start = next((i for i, ln in enumerate(lines) if ln.startswith("It should be understood as the set of changes")), None)
    if start is None:
        return None
    end = next(i for i in range(start, len(lines)) if lines[i].startswith("We need to reset"))
    body = lines[start + 1 : end]
    while body and not body[0].strip():
        body.pop(0)
    while body and not body[-1].strip():
        body.pop()
    return tuple(body)


def headline_names(headline: str) -> tuple[str, ...]:
    """The migration names driftbot's ``prisma_status()`` headline lists after its colon."""
    if ": " not in headline:
        return ()
    return tuple(n.strip() for n in headline.split(": ", 1)[1].split(",") if n.strip())


class Scenario:
    """A fresh database, a Prisma project on it, and driftbot settings for the same pair: driftbot is
    given the project folder alone (it reads prisma.config.ts and the pinned version itself)."""

    ENV = "conf"

    def __init__(self, install: Installed, url: str, tmp: Path, server_url: str, models: str = DEFAULT_MODELS) -> None:
        self.url, self.tmp, self.server_url = url, tmp, server_url
        self.install = install
        self.prisma = project_for(install, tmp / "project", url, models)
        self.cache = tmp / "driftbot-cache"

    # --- building the database -------------------------------------------------------
    def add(self, name: str, script: str | bytes) -> None:
        self.prisma.add(name, script)

    def execute(self, statement: str) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(statement.encode())  # a whole script, as a person pastes it into psql

    def rows(self) -> list[dict]:
        with psycopg.connect(self.url) as conn, conn.cursor(row_factory=dict_row) as cur:
            return cur.execute('SELECT * FROM "_prisma_migrations" ORDER BY started_at, finished_at NULLS FIRST').fetchall()

    # --- Prisma's answers ------------------------------------------------------------
    def deploy(self) -> Run:
        return self.prisma.deploy()

    def status(self) -> PrismaStatus:
        return parse_status(self.prisma.status())

    # --- driftbot's answers ----------------------------------------------------------
    @property
    def migrations(self):
        return read_folder(self.prisma.migrations)

    def verdict(self) -> history.HistoryVerdict:
        version = detect_version(LocalTree(), str(self.prisma.folder))
        assert version.version == self.install.version, version  # read from the project's package.json
        with psycopg.connect(self.url) as conn:
            verdict = history.classify(self.migrations, history.read_rows(conn))
        return dataclasses.replace(verdict, prisma_version=version)

    def settings(self) -> Settings:
        env = {
            "database_url": self.url,
            "admin_url": self.url,
            "shadow_url": self.server_url,
            "project": str(self.prisma.folder),
            "protected": False,
        }
        return Settings(environments={self.ENV: env}, cache_dir=self.cache)

    def check(self, **kwargs):
        settings = self.settings()
        return run_check(settings, settings.environment(self.ENV), **kwargs)

    def cli_status(self) -> tuple[int, dict]:
        """``driftbot status conf --json`` as a separate process, configured from the environment only."""
        return driftbot_status(self.prisma.folder, self.url, self.server_url, self.cache, self.tmp)


def driftbot_status(project: Path, url: str, server_url: str, cache: Path, cwd: Path, env_name: str = Scenario.ENV) -> tuple[int, dict]:
    """``driftbot status ENV --json`` as its own process, given the project folder alone (and the databases)."""
    prefix = f"DRIFTBOT_ENVIRONMENTS__{env_name.upper()}__"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTBOT_")}
    env.update({
        prefix + "DATABASE_URL": url,
        prefix + "SHADOW_URL": server_url,
        prefix + "PROJECT": str(project),
        "XDG_CACHE_HOME": str(cache),
    })
    proc = subprocess.run(
        [sys.executable, "-m", "driftbot.cli", "status", env_name, "--json"],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.stdout.strip(), f"driftbot status printed nothing (exit {proc.returncode}): {proc.stderr[-500:]}"
    return proc.returncode, json.loads(proc.stdout)
