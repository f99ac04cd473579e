"""``driftbot demo``: the whole job on a fresh machine.

Builds the example project's "production" on a real PostgreSQL server (an
embedded one unless a URL is given) with the problems teams meet: a migration
that failed on real data, one still pending behind it, one edited after it was
applied, tables added by ``db push``, a trigger made by hand (which Prisma never
sees), and an enum value schema.prisma has but the database lacks. Then runs
the real check and prints the report.

Then the same check through the real worker queue: where no Redis is configured
an embedded Valkey starts; driftbot's state lives in a database next to the
demo's production. The check is recorded and queued exactly as ``/drift status
prod`` does it, and an RQ worker (burst mode: it stops when the queue is empty)
runs it.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql
from redis import Redis
from redis.exceptions import RedisError

from driftbot import embedded
from driftbot.work.checking import request_check
from driftbot.cli.views import status_text
from driftbot.engine import replay
from driftbot.engine.check import run_check
from driftbot.engine.db import parse_url
from driftbot.engine.sources import read_folder
from driftbot.errors import DriftbotError
from driftbot.runtime import build, install
from driftbot.settings import Settings
from driftbot.state.db import upgrade
from driftbot.state.models import Check
from driftbot.work.queues import DRIFT, queue
from driftbot.work.workers import SimpleWorker
from driftbot.words import STATES, said

# Package data (pyproject.toml), so the demo runs from a wheel as from a checkout.
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "shop"
DEMO_DB = "driftbot_demo_prod"
STATE_DB = "driftbot_demo_state"

# What `prisma db push` left in production: objects no migration creates.
DB_PUSH_DRIFT = """
CREATE TABLE "staff" ("id" SERIAL NOT NULL, "name" TEXT NOT NULL, "email" TEXT,
    CONSTRAINT "staff_pkey" PRIMARY KEY ("id"));
CREATE UNIQUE INDEX "staff_email_key" ON "staff"("email");
CREATE TABLE "case_milestones" ("id" SERIAL NOT NULL, "caseId" INTEGER NOT NULL, "title" TEXT NOT NULL,
    "dueAt" TIMESTAMP(3), CONSTRAINT "case_milestones_pkey" PRIMARY KEY ("id"));
ALTER TABLE "case_milestones" ADD CONSTRAINT "case_milestones_caseId_fkey" FOREIGN KEY ("caseId")
    REFERENCES "Case"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
CREATE TABLE "vendor_candidates" ("id" SERIAL NOT NULL, "name" TEXT NOT NULL, "score" INTEGER NOT NULL DEFAULT 0,
    CONSTRAINT "vendor_candidates_pkey" PRIMARY KEY ("id"));
"""

# A hotfix made by hand in production. Prisma compares no functions or triggers, so
# `prisma migrate status` and `migrate dev` would never mention it.
HAND_MADE_TRIGGER = """
CREATE FUNCTION "case_ref_upper"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW."ref" := upper(NEW."ref");
  RETURN NEW;
END $$;
CREATE TRIGGER "case_ref_upper" BEFORE INSERT OR UPDATE ON "Case" FOR EACH ROW EXECUTE FUNCTION "case_ref_upper"();
"""


# What build_production breaks, said before the report so that the report reads as the answer.
BROKEN_ON_PURPOSE = """and broke it on purpose, the way production databases drift:
  - a deploy failed on duplicate rows in 20250120000000_unique_case_ref, so 20250125000000_vendors never ran
  - the applied migration 20250115000000_user_nickname was edited afterwards (it now adds an index)
  - someone ran `prisma db push`: the tables staff, case_milestones and vendor_candidates
  - someone fixed case refs by hand with a function and a trigger (case_ref_upper)
  - schema.prisma has the enum value MediaKind.VIDEO, which no migration adds
"""

NEXT_STEPS = """What to do next:
  - Read the plan above from step 1 (its commands are what you would run on your own database; the
    demo's stops with it); docs/runbook.md explains each case.
  - Check your own database: write a driftbot.toml (docs/getting-started.md), then `driftbot status ENV`.
  - Bring it to Slack, with two approvers for every change: docs/slack-app.md, then docs/deploying.md.
  - `driftbot demo --clean` removes the demo's data.
"""


def _server_url(explicit: str | None, work: Path) -> str:
    url = explicit or os.environ.get("DRIFTBOT_DEMO_DATABASE_URL")
    if url:
        _require_server(url, "--database-url" if explicit else "DRIFTBOT_DEMO_DATABASE_URL")
        return url
    print("Starting an embedded PostgreSQL (no --database-url given)…", file=sys.stderr)
    server = embedded.postgres_server(work)
    print(f"Embedded PostgreSQL {server.version} ready; it stops when the demo ends (data: {server.folder}).",
          file=sys.stderr)
    return server.url


def _require_server(url: str, given_by: str) -> None:
    """A server the person named that cannot be used is their mistake to fix: say which and why."""
    try:
        psycopg.connect(parse_url(url).conninfo, autocommit=True, connect_timeout=5).close()
    except psycopg.OperationalError as exc:
        parts = urlsplit(url)
        where = f"{parts.hostname or 'localhost'}:{parts.port or 5432}"
        first = (str(exc).strip().splitlines() or ["no answer"])[0]
        reason = first.rsplit(" failed: ", 1)[-1].removeprefix("FATAL:").strip()  # libpq's own words
        silent = any(w in reason.lower() for w in ("refused", "timeout", "timed out", "no such file", "could not translate"))
        raise DriftbotError(
            f"The PostgreSQL given by {given_by} ({where}) " + ("does not answer" if silent else "refused the demo")
            + f" ({reason}). Start it or correct the URL (a superuser's: the demo creates databases), "
            f"or leave out {given_by} to use an embedded PostgreSQL.") from None


def demo_folder() -> Path:
    """Where the demo keeps its data: the project copy and the embedded servers' folders."""
    return Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")).expanduser() / "driftbot" / "demo"


def clean() -> int:
    """``driftbot demo --clean``: remove the demo's data (a server another demo holds is left alone)."""
    folder = demo_folder()
    if not folder.exists():
        print(f"Nothing to remove: {folder} does not exist.")
        return 0
    kept = embedded.remove_folders(folder)
    for path in folder.iterdir():
        if path not in kept:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    if kept:
        print(f"Removed the demo data in {folder}, except the folders of servers a running demo holds: "
              + ", ".join(p.name for p in kept))
        return 1
    folder.rmdir()
    print(f"Removed the demo data ({folder}).")
    return 0


def build_production(server_url: str, work: Path) -> tuple[str, Path]:
    """Create the demo's production database and project copy; return (database URL, project folder)."""
    project = work / "shop"
    if project.exists():
        shutil.rmtree(project)
    shutil.copytree(EXAMPLE, project)
    migrations_dir = project / "prisma" / "migrations"
    with psycopg.connect(parse_url(server_url).conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DEMO_DB)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DEMO_DB)))
    parts = urlsplit(server_url)
    prod_url = urlunsplit(parts._replace(path="/" + DEMO_DB))
    all_migrations = read_folder(migrations_dir).items
    with psycopg.connect(parse_url(prod_url).conninfo, autocommit=True) as conn:
        # Deployed up to the nickname migration, then real data arrived: two cases share a ref.
        replay.deploy(conn, all_migrations[:3])
        conn.execute("INSERT INTO \"User\" (email) VALUES ('ana@example.com')")
        conn.execute("INSERT INTO \"Case\" (ref, \"ownerId\") VALUES ('C-1', 1), ('C-1', 1)")
        # The next deploy fails on the unique index and leaves the vendors migration pending.
        replay.deploy(conn, all_migrations)
        # Someone ran `prisma db push` against production.
        conn.execute(DB_PUSH_DRIFT)
        # And someone fixed case refs by hand with a trigger.
        conn.execute(HAND_MADE_TRIGGER)
    # Someone edited an applied migration afterwards.
    edited = migrations_dir / "20250115000000_user_nickname" / "migration.sql"
    edited.write_text(edited.read_text() + '\n-- CreateIndex\nCREATE INDEX "User_nickname_idx" ON "User"("nickname");\n')
    return prod_url, project


def run_demo(database_url: str | None = None) -> int:
    """Build the demo's production, check it directly and through the queue; the embedded servers
    it started stop when it returns, or when it is interrupted (Ctrl-C, SIGTERM, SIGHUP)."""
    embedded.install_signal_handlers()
    try:
        return _run_demo(database_url)
    finally:
        embedded.release_all()


def _run_demo(database_url: str | None) -> int:
    cache = demo_folder()
    cache.mkdir(parents=True, exist_ok=True)
    print(f"Demo data: {cache} (`driftbot demo --clean` removes it).", file=sys.stderr)
    server = _server_url(database_url, cache)
    prod_url, project = build_production(server, cache)
    settings = Settings(
        environments={
            "prod": {
                "database_url": prod_url,
                "shadow_url": server,
                "migrations": str(project / "prisma" / "migrations"),
                "schema": str(project / "prisma" / "schema.prisma"),
                "protected": True,
            }
        },
        cache_dir=cache,
    )
    print(f"Built the demo's production database ({DEMO_DB}) from the example project (bot/examples/shop)\n"
          + BROKEN_ON_PURPOSE + "\ndriftbot's report, as `driftbot status prod` prints it:\n")
    result = run_check(settings, settings.environment("prod"))
    sys.stdout.write(status_text(result, folder=settings.environment("prod").migrations))
    catch_up = next((f.action for f in result.findings if f.action.kind == "catch_up_migration"), None)
    if catch_up is not None:
        name = catch_up.arguments["migration"]
        sys.stdout.write(f"\nThe catch-up migration {name} (in Slack, a snippet in the thread): only what the "
                         "database has beyond the migrations.\n\n")
        sys.stdout.write(catch_up.sql.rstrip("\n") + "\n")
    queued_state, said = run_through_queue(demo_settings(settings, server, cache))
    sys.stdout.write("\n" + said + "\n" + NEXT_STEPS)
    return 0 if result.state != "error" and queued_state == result.state else 2


def _redis_url(cache: Path) -> str:
    url = os.environ.get("REDIS_URL")
    if url:
        return url
    print("Starting an embedded Valkey (no REDIS_URL given)…", file=sys.stderr)
    return embedded.valkey(cache)


def _state_url(server_url: str) -> str:
    with psycopg.connect(parse_url(server_url).conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(STATE_DB)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(STATE_DB)))
    return urlunsplit(urlsplit(server_url)._replace(path="/" + STATE_DB))


def demo_settings(settings: Settings, server_url: str, cache: Path) -> Settings:
    """The demo's settings with a queue (configured or embedded) and a fresh state database."""
    return settings.model_copy(update={"redis_url": settings.redis_url or _redis_url(cache),
                                       "state_url": _state_url(server_url), "queue_prefix": "demo-"})


class _DemoWorker(SimpleWorker):
    """Keeps the demo's signal handling: Ctrl-C, SIGTERM and SIGHUP end the demo at once, its
    servers stopped on the way out (RQ's own handlers would wait for the check to finish)."""

    def _install_signal_handlers(self) -> None:
        pass


def run_through_queue(settings: Settings) -> tuple[str, str]:
    """Queue a check of prod and run it on a worker; returns (state, what to print)."""
    conn = Redis.from_url(settings.redis_url, socket_connect_timeout=5)
    try:
        conn.ping()
    except RedisError as exc:
        raise DriftbotError(f"The demo's Redis ({settings.redis_url}) does not answer ({exc}); "
                            "unset REDIS_URL to use an embedded Valkey.") from exc
    rt = build(settings)
    upgrade(rt.engine)
    install(rt)
    started = time.perf_counter()
    request_check(rt, "prod", user="demo", channel=None)
    # SimpleWorker runs the job in this process: the demo's embedded servers belong to it.
    _DemoWorker([queue(rt, DRIFT, conn)], connection=conn).work(burst=True, with_scheduler=False,
                                                                logging_level="WARNING")
    took = time.perf_counter() - started
    with rt.sessions() as s:
        check = s.query(Check).order_by(Check.id.desc()).first()
    rt.engine.dispose()
    found = f"prod {said(check.state)}" if check.state in STATES else f"no result (the check {check.status})"
    return check.state or check.status, (
        f"Through the worker queue, as `/drift status prod` runs in Slack: {found}, in {took:.1f} s.\n")
