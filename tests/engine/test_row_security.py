"""Row-level security and policies: drift Prisma never compares, found and fixed like the rest.

A history that switches row-level security on and writes policies is deployed to a
real database; each test changes the live database as a person would (switches it
off, drops or loosens a policy, adds one) and checks what driftbot reports, the SQL
it proposes, and that the SQL really closes the gap.
"""

from __future__ import annotations

import uuid

import psycopg
import pytest

from driftbot.engine.check import run_check
from driftbot.engine.inspect import introspect
from driftbot.settings import Settings
from tests.factory import INIT, check_prod, deploy, execute, write_migrations

M1, M2 = "20250101000000_init", "20250102000000_rls"
RLS = """ALTER TABLE "User" ENABLE ROW LEVEL SECURITY;
CREATE POLICY "user_self" ON "User" FOR SELECT USING ("id" = current_setting('app.user_id')::integer);
CREATE POLICY "user_insert" ON "User" AS RESTRICTIVE FOR INSERT TO CURRENT_USER WITH CHECK ("email" LIKE '%@%');
"""


def snapshot(url: str):
    with psycopg.connect(url) as conn:
        return introspect(conn, ("public",))


@pytest.fixture
def deployed(db, tmp_path):
    folder = write_migrations(tmp_path / "m", {M1: INIT, M2: RLS})
    assert deploy(db, folder) is None
    return folder


def replayed_with(databases, folder, sql: str) -> str:
    url = databases.create("replay")
    assert deploy(url, folder) is None
    execute(url, sql)
    return url


def test_policies_and_switches_as_the_migrations_made_them_are_in_sync(db, tmp_path, deployed):
    assert check_prod(db, tmp_path, deployed).state == "in_sync"
    live = snapshot(db)
    assert [(r.table, r.enabled, r.forced) for r in live.row_security] == [("User", True, False)]
    by_name = {p.name: p for p in live.policies}
    assert (by_name["user_self"].command, by_name["user_self"].permissive, by_name["user_self"].roles) == ("r", True, ("public",))
    assert (by_name["user_insert"].command, by_name["user_insert"].permissive) == ("a", False)
    assert by_name["user_insert"].using is None and "~~" in by_name["user_insert"].with_check  # LIKE, as stored


def test_row_security_switched_off_in_production_is_restored_by_a_migration(db, tmp_path, deployed):
    execute(db, 'ALTER TABLE "User" DISABLE ROW LEVEL SECURITY')
    result = check_prod(db, tmp_path, deployed)
    assert result.state == "drifted"
    assert list(result.schema.summary) == ["[*] Changed row-level security", "  - User (now off)"]
    (note,) = result.schema.prisma_blind_spots
    assert "row-level security on User is off in the database" in note
    (b,) = [f for f in result.findings if f.case == "B"]
    assert b.action.sql.strip().endswith('ALTER TABLE "User" ENABLE ROW LEVEL SECURITY;')
    execute(db, b.action.sql)
    assert check_prod(db, tmp_path, deployed).state == "in_sync"


def test_dropped_policy_is_restored_with_its_exact_definition(db, tmp_path, deployed):
    execute(db, 'DROP POLICY "user_insert" ON "User"')
    result = check_prod(db, tmp_path, deployed)
    assert list(result.schema.summary) == ["[-] Removed policies", "  - user_insert on User"]
    (b,) = [f for f in result.findings if f.case == "B"]
    with psycopg.connect(db) as conn:
        me = conn.execute("SELECT current_user").fetchone()[0]
    assert f'CREATE POLICY "user_insert" ON "User" AS RESTRICTIVE FOR INSERT TO "{me}" WITH CHECK' in b.action.sql
    before = snapshot(db)
    execute(db, b.action.sql)
    assert check_prod(db, tmp_path, deployed).state == "in_sync"
    assert snapshot(db) != before


def test_loosened_policy_forced_security_and_a_new_policy_get_a_catch_up(db, databases, tmp_path, deployed):
    execute(db, """ALTER POLICY "user_self" ON "User" USING (true);
ALTER TABLE "User" FORCE ROW LEVEL SECURITY;
CREATE POLICY "user_delete" ON "User" FOR DELETE TO PUBLIC USING (false)""")
    result = check_prod(db, tmp_path, deployed)
    assert list(result.schema.summary) == [
        "[+] Added policies", "  - user_delete on User", "",
        "[*] Changed policies", "  - user_self on User", "",
        "[*] Changed row-level security", "  - User (now on, forced)",
    ]
    (note,) = result.schema.prisma_blind_spots
    assert "policy user_self on User differs from the migrations'" in note
    (a,) = [f for f in result.findings if f.action.kind == "catch_up_migration"]
    assert 'DROP POLICY "user_self" ON "User";\nCREATE POLICY "user_self" ON "User" FOR SELECT TO PUBLIC USING (true);' \
        in a.action.sql
    assert not [f for f in result.findings if f.case == "B"]
    assert snapshot(replayed_with(databases, deployed, a.action.sql)) == snapshot(db)


def test_hostile_names_round_trip_through_the_rendered_sql(db, databases, tmp_path):
    """Quotes, spaces, unicode and a semicolon in the names of a table, function, trigger and policy:
    dropped, changed and added by hand, the rendered SQL rebuilds the live schema exactly."""
    table, fn, trg, pol = '"Tab""le ü"', '"fn; ""x"""', '"tr""g ü"', '"po""l; 1"'
    made = f"""CREATE TABLE {table} ("id" INTEGER NOT NULL, CONSTRAINT "t_pkey" PRIMARY KEY ("id"));
CREATE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER {trg} BEFORE INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION {fn}();
"""
    made += f'ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;\nCREATE POLICY {pol} ON {table} USING ("id" > 0);\n'
    folder = write_migrations(tmp_path / "m", {M1: made})
    assert deploy(db, folder) is None
    assert check_prod(db, tmp_path, folder).state == "in_sync"
    execute(db, f"""DROP POLICY {pol} ON {table};
CREATE POLICY "{{po}}l" ON {table} AS RESTRICTIVE FOR UPDATE TO PUBLIC USING (true) WITH CHECK ("id" <> 7);
ALTER TABLE {table} DISABLE TRIGGER {trg};
CREATE OR REPLACE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
CREATE FUNCTION "ü""2"(x text, "y z" integer DEFAULT 3) RETURNS text LANGUAGE sql AS $$ SELECT x || 'it''s' $$""")
    result = check_prod(db, tmp_path, folder)
    assert result.state == "drifted"
    assert snapshot(replayed_with(databases, folder, result.schema.sql)) == snapshot(db)


@pytest.fixture
def role(db, pg_url, other_pg_url):
    """A role on the target's server only (roles belong to a server, not a database)."""
    name = f"driftbot_role_{uuid.uuid4().hex[:8]}"
    execute(pg_url, f'CREATE ROLE "{name}" NOLOGIN')
    yield name
    execute(db, f'DROP OWNED BY "{name}"')  # its grants and policies in the target database
    with psycopg.connect(other_pg_url, autocommit=True) as conn:  # replay templates kept its policy there
        kept = conn.execute("SELECT DISTINCT d.datname FROM pg_shdepend s JOIN pg_database d ON d.oid = s.dbid "
                            "JOIN pg_roles r ON r.oid = s.refobjid WHERE r.rolname = %s", (name,)).fetchall()
        for (template,) in kept:
            conn.execute(psycopg.sql.SQL("DROP DATABASE {} WITH (FORCE)").format(psycopg.sql.Identifier(template)))
    for url in (pg_url, other_pg_url):
        execute(url, f'DROP ROLE IF EXISTS "{name}"')


def test_a_role_the_shadow_server_lacks_means_not_checked_not_drift(db, tmp_path, other_pg_url, role):
    """A policy for an application role (Supabase's `authenticated`, say): deployed where the role
    exists, replayed on a shadow server that lacks it. That is the shadow's gap, not drift."""
    folder = write_migrations(tmp_path / "m", {M1: INIT + f'ALTER TABLE "User" ENABLE ROW LEVEL SECURITY;\n'
                                                      f'CREATE POLICY "own" ON "User" TO "{role}" USING (true);\n'})
    assert deploy(db, folder) is None
    s = Settings(environments={"prod": {"database_url": db, "shadow_url": other_pg_url, "migrations": str(folder)}},
                 cache_dir=tmp_path / "cache")
    result = run_check(s, s.environment("prod"))
    assert (result.state, result.exit_code, result.findings) == ("error", 2, ())
    assert not result.schema.checked
    assert f"the shadow server lacks role {role}, which migration {M1} uses" in result.schema.reason
    execute(other_pg_url, f'CREATE ROLE "{role}" NOLOGIN')
    result = run_check(s, s.environment("prod"))
    assert result.state == "in_sync", result.to_json()


def test_a_pending_migration_using_a_role_the_shadow_lacks_leaves_the_preview_unavailable(db, tmp_path, other_pg_url,
                                                                                       role):
    folder = write_migrations(tmp_path / "m", {M1: INIT})
    assert deploy(db, folder) is None
    write_migrations(folder, {M2: f'GRANT SELECT ON "User" TO "{role}";\n'})
    s = Settings(environments={"prod": {"database_url": db, "shadow_url": other_pg_url, "migrations": str(folder)}},
                 cache_dir=tmp_path / "cache")
    result = run_check(s, s.environment("prod"))
    p = result.deploy_preview
    assert (p.ok, p.available) == (False, False), p
    assert p.error == f"preview unavailable: {M2} uses role {role}, which the shadow server lacks"
    assert not any("would fail now" in f.title for f in result.findings)


def test_row_security_on_prismas_own_table_is_not_the_projects(db, tmp_path, deployed):
    """Supabase's advisor asks for RLS on every public table, _prisma_migrations included."""
    execute(db, 'ALTER TABLE "_prisma_migrations" ENABLE ROW LEVEL SECURITY;\n'
                'CREATE POLICY "service" ON "_prisma_migrations" USING (true)')
    assert check_prod(db, tmp_path, deployed).state == "in_sync"
