"""What the benchmarks share: the machine they ran on, timing, scratch databases, the CLI's
environment, a copy of Prisma's project, and the real Slack-side processes."""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


def pg_default() -> str:
    return os.environ.get("DRIFTBOT_TEST_PG_URL", DEFAULT_PG)


def redis_default() -> str:
    return os.environ.get("DRIFTBOT_TEST_REDIS_URL", DEFAULT_REDIS)


def with_db(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


def machine() -> str:
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else platform.processor()
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()} {platform.release()}"


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.1f} / {five:.1f} / {fifteen:.1f} on {os.cpu_count()} cores"


def timed(fn, repeat: int, scale: float = 1.0) -> tuple[float, object]:
    """Median wall-clock time of *repeat* calls (seconds times *scale*), and the last call's result."""
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - t) * scale)
    return statistics.median(times), out


def drop_database(server: str, name: str) -> None:
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def create_database(server: str, prefix: str = "drifttest_bench") -> tuple[str, str, str]:
    """(name, URL, server version) of a new empty database on *server*; the caller drops it."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        version = conn.execute("SHOW server_version").fetchone()[0]
    return name, with_db(server, name), version


@contextmanager
def scratch_database(server: str, prefix: str = "drifttest_bench") -> Iterator[tuple[str, str]]:
    """(URL, server version) of a new empty database on *server*, dropped on the way out."""
    name, url, version = create_database(server, prefix)
    try:
        yield url, version
    finally:
        drop_database(server, name)


def as_installed(env: dict[str, str]) -> dict[str, str]:
    """*env* with bytecode caching on, as an installed driftbot runs (pip compiles its modules): these
    machines' shells set PYTHONDONTWRITEBYTECODE, which makes every command compile driftbot's own
    sources again (the floor's site-packages are compiled, so it would not pay the same)."""
    return {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}


def cli_env(env: str, url: str, shadow: str, migrations: Path, **extra: str) -> dict[str, str]:
    """The process environment of a ``driftbot`` command configured by environment variables alone
    (no driftbot.toml), with this process's other DRIFTBOT_* settings removed, bytecode caching on."""
    out = {k: v for k, v in as_installed(dict(os.environ)).items() if not k.startswith("DRIFTBOT_")}
    prefix = f"DRIFTBOT_ENVIRONMENTS__{env.upper()}__"
    out.update({prefix + "DATABASE_URL": url, prefix + "SHADOW_URL": shadow, prefix + "MIGRATIONS": str(migrations)})
    out.update(extra)
    return out


def prisma_copy(install: Path, folder: Path, url: str, migrations: Path):
    """A Prisma project (tests/conformance/prisma_cli.py) on *url* holding a copy of *migrations*."""
    from tests.conformance.prisma_cli import PrismaProject  # only the benchmarks that run Prisma need it

    project = PrismaProject(install, folder, url)
    shutil.rmtree(project.migrations)
    shutil.copytree(migrations, project.migrations)
    return project


def bot_env(config: Path, state_url: str, stub_url: str, redis: str, tmp: Path, prefix: str, **extra: str) -> dict[str, str]:
    """The environment of the real ``driftbot web`` and ``driftbot worker`` against the Slack stand-in."""
    from tests.slack.conftest import SECRET, TOKEN  # the stand-in's credentials

    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", str(tmp)),
           "DRIFTBOT_CONFIG": str(config), "SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET,
           "DRIFTBOT_SLACK_API_URL": stub_url, "REDIS_URL": redis, "DRIFTBOT_STATE_URL": state_url,
           "DRIFTBOT_QUEUE_PREFIX": f"{prefix}{uuid.uuid4().hex[:6]}:"}
    env.update(extra)
    return env


class SlackRig:
    """A target deployed with two migrations, a state database, the Slack stand-in and the real
    ``driftbot web`` (gunicorn) and ``driftbot worker`` wired to them (bench_ack, bench_slow_slack)."""

    def __init__(self, pg: str, redis: str, prefix: str, web_workers: int, **env_extra: str) -> None:
        import tempfile

        from tests import factory
        from tests.conftest import MIGRATIONS, Databases
        from tests.slack.conftest import TOKEN, Bot, write_config
        from tests.slack_stub import SlackStub

        self.tmp = Path(tempfile.mkdtemp(prefix=f"bench-{prefix}-"))
        self.dbs = Databases(pg)
        self.stub = SlackStub(token=TOKEN, groups={"S0DBAS": ["UBO", "UCY"]}).start()
        self.bot = None
        try:
            target, self.state = self.dbs.create(f"{prefix}_target"), self.dbs.create(f"{prefix}_state")
            folder = factory.write_migrations(self.tmp / "migrations", dict(list(MIGRATIONS.items())[:2]))
            factory.deploy(target, folder)
            config = write_config(self.tmp / "driftbot.toml", target, folder, self.tmp / "cache")
            self.bot = Bot(env=bot_env(config, self.state, self.stub.base_url, redis, self.tmp, prefix, **env_extra),
                           tmp=self.tmp)
            self.url = self.bot.start_web(workers=web_workers)
            self.bot.start_worker()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self.bot is not None:
            self.bot.stop_all()
        self.stub.stop()
        self.dbs.drop_all()


def prisma_cli():
    """The real Prisma CLI's install (tests/conformance/prisma_cli.py), or None with the reason on stderr:
    a benchmark then measures nothing and exits 2."""
    import sys

    from tests.conformance.prisma_cli import PrismaUnavailable, ensure_installed

    try:
        return ensure_installed()
    except PrismaUnavailable as exc:
        print(f"real Prisma CLI unavailable, nothing measured: {exc}", file=sys.stderr)
        return None
