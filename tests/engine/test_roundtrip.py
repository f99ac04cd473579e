"""The round-trip property: for random drift over a generated history of 60 migrations,
the rendered catch-up SQL, applied to a fresh replay, yields a schema whose
introspection equals the live one (so nothing is left to do).

Each case runs in a transaction on one replayed database and is rolled back, so
a case costs a few catalog queries rather than a database: 200 cases in seconds.
"""

from __future__ import annotations

import random

import psycopg
import pytest

from benchmarks.gen_history import EXTENSIONS, SECOND_SCHEMA, generate
from driftbot.engine.diff import diff
from driftbot.engine.inspect import introspect
from driftbot.engine.render import render_sql
from tests.conftest import Databases, available_extensions
from tests.engine.live_drift import drift_statement

CASES = 200
# The history also has a second schema with a foreign key into public: a table dropped in public
# drops that key too, so both schemas are compared (as a multiSchema project's are).
SCHEMAS = ("public", SECOND_SCHEMA)


@pytest.fixture(scope="module")
def replayed(pg_url):
    """A database holding a generated 60-migration history (plus row-level security and policies on two
    tables), and its snapshot."""
    dbs = Databases(pg_url)
    url = dbs.create("roundtrip")
    with psycopg.connect(url, autocommit=True) as conn:
        usable = tuple(e for e in EXTENSIONS if e in available_extensions(pg_url))
        for script in generate(60, seed=7, extensions=usable).values():
            conn.execute(script.encode())
        # Policies to drop and change (the history has functions and triggers, not row-level security).
        for table in [t for t in introspect(conn, SCHEMAS).tables if t.schema == "public" and t.column("id")][:2]:
            name = table.name.replace('"', '""')
            conn.execute(f'ALTER TABLE "{name}" ENABLE ROW LEVEL SECURITY; '
                         f'CREATE POLICY "{name}_read" ON "{name}" FOR SELECT USING ("id" > 0); '
                         f'CREATE POLICY "{name}_write" ON "{name}" FOR INSERT WITH CHECK (true)')
    conn = psycopg.connect(url)
    base = introspect(conn, SCHEMAS)
    conn.commit()
    yield conn, base
    conn.close()
    dbs.drop_all()


def _in_transaction(script: str) -> str:
    # The renderer wraps an enum recreation in its own BEGIN/COMMIT; the test's
    # transaction already holds the whole script, and must stay open to roll back.
    return "\n".join(ln for ln in script.splitlines() if ln.strip() not in ("BEGIN;", "COMMIT;"))


@pytest.mark.parametrize("case", range(CASES))
def test_rendered_sql_takes_the_replay_to_the_live_schema(replayed, case):
    conn, base = replayed
    r = random.Random(case)
    fresh: set[str] = set()
    applied = []
    try:
        snap = base
        for n in range(r.randint(1, 6)):
            statement = drift_statement(r, snap, case * 100 + n, fresh)
            if statement is None:
                continue
            conn.execute(statement.encode())
            applied.append(statement)
            snap = introspect(conn, SCHEMAS)
        live = snap
    finally:
        conn.rollback()
    ops = diff(base, live)
    assert bool(ops) == (live != base)
    script = render_sql(ops)
    try:
        if ops:
            conn.execute(_in_transaction(script).encode())
        again = introspect(conn, SCHEMAS)
    except psycopg.Error as exc:
        pytest.fail(f"rendered SQL failed: {exc}\n--- drift:\n" + ";\n".join(applied) + f"\n--- rendered:\n{script}")
    finally:
        conn.rollback()
    assert diff(again, live) == (), "drift:\n" + ";\n".join(applied) + f"\n--- rendered:\n{script}"
    assert again == live
