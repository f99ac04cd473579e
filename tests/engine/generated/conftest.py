"""The convergence property over generated cases: a generated history (benchmarks/gen_history.py),
deployed in part, with what teams do to production mixed in at random (the round-trip
generator's drift statements, pending migrations run by hand, an applied migration edited
afterwards, an enum value schema.prisma has, a migration deployed from another branch, a
rolled-back migration, a failed one, a new empty database). Each case: check, carry the plan
out (tests/engine/converge.py), check again: in sync, no step refused, none undoing another;
or stopped where a person is needed, saying why. And in every result, the state invariant.

A case costs a database copied from a template and two checks sharing one replay cache.

The 200 cases are split over four files of 50 (``CHUNK``), so that pytest-xdist runs them on all its
workers; each file has its own target and scratch databases (``world``) and shares nothing else.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, timedelta

import psycopg
import pytest
from psycopg import sql

from benchmarks.gen_history import EXTENSIONS, generate
from driftbot.engine import replay
from driftbot.engine.inspect import introspect
from driftbot.engine.result import blind_spots
from driftbot.engine.sources import LocalMigration
from driftbot.settings import Settings
from tests.conftest import Databases, available_extensions
from tests.engine.converge import Team, carry_out
from tests.engine.live_drift import drift_statement
from tests.factory import write_migrations

CHUNK = 50  # cases a file: test_cases_000.py runs 0-49, ... test_cases_150.py 150-199
HISTORY = 10
PEOPLE = ("failed migration", "data check")  # the only reasons a generated plan may stop for a person
TALLY: Counter = Counter()


def assert_invariant(result) -> None:
    """in_sync exactly when no finding proposes an action and there is no blind spot."""
    if result.state == "error":
        return
    quiet = not result.findings and not blind_spots(result.history, result.schema)
    assert (result.state == "in_sync") == quiet, (result.state, [f.title for f in result.findings])


@pytest.fixture(scope="module")
def world(pg_url, tmp_path_factory):
    """The history; one target database and one scratch database, emptied for each case (emptying a
    schema costs far less than creating a database)."""
    usable = tuple(e for e in EXTENSIONS if e in available_extensions(pg_url))
    scripts = generate(HISTORY, seed=13, extensions=usable)
    dbs = Databases(pg_url)
    target, scratch = dbs.create("conv"), dbs.create("convbuilt")
    root = tmp_path_factory.mktemp("convergence")
    yield scripts, list(scripts), target, scratch, root
    dbs.drop_all()
    print(f"\nconvergence over {sum(TALLY.values())} generated cases so far: {dict(TALLY)}")


def emptied(url: str) -> str:
    """*url*'s database with nothing in it (as a new database has)."""
    with psycopg.connect(url, autocommit=True) as conn:
        schemas = [r[0] for r in conn.execute(
            "SELECT nspname FROM pg_catalog.pg_namespace WHERE nspname NOT LIKE 'pg\\_%' "
            "AND nspname <> 'information_schema'")]
        for schema in schemas:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
        for (ext,) in conn.execute("SELECT extname FROM pg_catalog.pg_extension WHERE extname <> 'plpgsql'").fetchall():
            conn.execute(sql.SQL("DROP EXTENSION IF EXISTS {} CASCADE").format(sql.Identifier(ext)))
        conn.execute("CREATE SCHEMA public")
        conn.execute("GRANT ALL ON SCHEMA public TO public")
    return url


def _run(url: str, statement: str, params=None) -> bool:
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(statement.encode() if params is None else statement, params)
        return True
    except psycopg.Error:
        return False


def converges(world, pg_url: str, case: int) -> None:
    """Case *case* (its own random seed): built, checked, its plan carried out, checked again."""
    scripts, names, url, scratch, root = world
    r = random.Random(1000 + case)
    local = dict(scripts)
    empty = r.random() < 0.05
    k = 0 if empty else HISTORY - r.choice((0, 0, 0, 1, 2, 3))
    with psycopg.connect(emptied(url), autocommit=True) as conn:
        if k:
            replay.deploy(conn, tuple(LocalMigration.from_bytes(n, scripts[n].encode(), "gen") for n in names[:k]))
    pending = names[k:]
    originals, branches, schema_file, said = {}, {}, None, []

    if not empty:
        if r.random() < 0.15:  # the last applied migration edited afterwards: a new index appended
            last = names[k - 1]
            with psycopg.connect(url) as conn:
                snap = introspect(conn, ("public",))
            table = r.choice([t for t in snap.tables if t.schema == "public" and t.column("id")] or [None])
            if table is not None:
                originals[last] = local[last].encode()
                local[last] += f'\n-- CreateIndex\nCREATE INDEX "edited_{case}" ON "{table.name}"("id");\n'
                said.append(f"edited {last}")
        if pending and r.random() < 0.3:  # someone pasted the next migration into psql
            if _run(url, scripts[pending[0]]):
                said.append(f"ran {pending[0]} by hand")
        if r.random() < 0.7:
            with psycopg.connect(url) as conn:
                snap = introspect(conn, ("public", "billing"))
            fresh: set[str] = set()
            for n in range(r.randint(1, 3)):
                statement = drift_statement(r, snap, case * 10 + n, fresh)
                if statement and _run(url, statement):
                    said.append(statement.splitlines()[0][:80])
                    with psycopg.connect(url) as conn:
                        snap = introspect(conn, ("public", "billing"))
        if r.random() < 0.1:  # schema.prisma has an enum value the database lacks
            with psycopg.connect(url) as conn:
                enums = [e for e in introspect(conn, ("public",)).enums if e.schema == "public"]
            if enums:
                e = r.choice(enums)
                schema_file = root / f"schema{case}.prisma"
                values = "\n".join(f"  {v}" for v in (*e.values, f"NEW{case}"))
                schema_file.write_text(f"enum {e.name} {{\n{values}\n}}\n")
                said.append(f"schema.prisma has {e.name}.NEW{case}")
        if r.random() < 0.1:  # a hotfix deployed from another branch
            # made on its branch a minute after the last migration deployed here
            hotfix = (datetime.strptime(names[k - 1][:14], "%Y%m%d%H%M%S") + timedelta(minutes=1)).strftime(
                "%Y%m%d%H%M%S") + f"_hotfix_{case}"
            script = f'CREATE TABLE "hotfix_{case}" ("id" INTEGER);\n'
            with psycopg.connect(url, autocommit=True) as conn:
                replay.deploy(conn, (LocalMigration.from_bytes(hotfix, script.encode(), "branch"),))
            branches[hotfix] = script
            said.append(f"deployed {hotfix} from a branch")
        if pending and r.random() < 0.08:  # the next migration failed (or was failed and rolled back)
            rolled = r.random() < 0.5
            _run(url, 'INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at, logs, rolled_back_at) '
                      "VALUES (gen_random_uuid()::text, 'x', %s, now(), 'ERROR: boom', " + ("now()" if rolled else "NULL") + ")",
                 (pending[-1],))
            said.append(("rolled back " if rolled else "failed ") + pending[-1])

    folder = write_migrations(root / f"m{case}", local)
    env = {"database_url": url, "admin_url": url, "shadow_url": pg_url, "migrations": str(folder)}
    if schema_file is not None:
        env["schema"] = str(schema_file)
    settings = Settings(environments={"prod": env}, cache_dir=root / "cache")
    team = Team(settings, "prod", url, folder, scratch=lambda _: emptied(scratch), schemas=("public", "billing"),
                originals=originals, branches=branches)
    before = team.check()
    assert before.state != "error", (before.error, said)
    assert_invariant(before)
    if before.state == "in_sync":
        TALLY["nothing to do"] += 1
        return
    outcome = carry_out(team, before)
    if outcome.human is not None:
        assert outcome.human.startswith(PEOPLE), f"{outcome.human}\n{said}\n{outcome.explain()}"
        TALLY[f"stopped: {outcome.human.split(':')[0]}"] += 1
        return
    assert_invariant(outcome.after)
    assert outcome.converged, f"{said}\n{outcome.explain()}"
    TALLY["converged"] += 1
