"""Functions and triggers: drift Prisma never compares, found and fixed like the rest.

Each test deploys a small history with a function and a trigger to a real database,
changes the live database as a person would, and checks what driftbot reports, the
SQL it proposes, and that the SQL really closes the gap (applied to a replay of
the migrations, it leaves nothing to report).
"""

from __future__ import annotations

import psycopg
import pytest

from driftbot.engine import diff as d
from driftbot.engine.inspect import introspect
from driftbot.engine.render import render_sql
from driftbot.slack.views import finding_lines
from driftbot.cli.views import status_text
from tests.conftest import available_extensions, server_major
from tests.factory import INIT, check_prod, deploy, execute, write_migrations

M1, M2 = "20250101000000_init", "20250102000000_touch"
TOUCH = """-- CreateFunction
CREATE OR REPLACE FUNCTION "set_updated"() RETURNS trigger AS $$
BEGIN
  NEW."email" := lower(NEW."email");  -- a semicolon; inside the body
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER "user_set_updated" BEFORE UPDATE ON "User" FOR EACH ROW EXECUTE FUNCTION "set_updated"();

CREATE FUNCTION "user_count"() RETURNS bigint LANGUAGE sql STABLE AS $$ SELECT count(*) FROM "User" $$;
CREATE FUNCTION "user_count"(min_id integer) RETURNS bigint LANGUAGE sql STABLE AS $$ SELECT count(*) FROM "User" WHERE "id" >= min_id $$;
CREATE PROCEDURE "touch_all"() LANGUAGE sql AS $$ UPDATE "User" SET "email" = "email" $$;
"""


@pytest.fixture
def deployed(db, tmp_path):
    folder = write_migrations(tmp_path / "m", {M1: INIT, M2: TOUCH})
    assert deploy(db, folder) is None
    return folder


def replay_then(databases, folder, sql: str) -> psycopg.Connection:
    """A new database with the migrations deployed and then *sql* applied (a committed catch-up)."""
    url = databases.create("replay")
    assert deploy(url, folder) is None
    execute(url, sql)
    return url


def snapshot(url: str):
    with psycopg.connect(url) as conn:
        return introspect(conn, ("public",))


def test_clean_history_with_functions_overloads_procedures_and_triggers_is_in_sync(db, tmp_path, deployed):
    result = check_prod(db, tmp_path, deployed)
    assert result.state == "in_sync", result.to_json()
    live = snapshot(db)
    assert {f.signature for f in live.functions} == {
        "set_updated()", "user_count()", "user_count(min_id integer)", "touch_all()"}
    assert [(t.table, t.name, t.enabled) for t in live.triggers] == [("User", "user_set_updated", "O")]
    assert not result.schema.prisma_blind_spots


def test_function_body_edited_in_production_is_drift_prisma_cannot_see(db, databases, tmp_path, deployed):
    execute(db, """CREATE OR REPLACE FUNCTION "set_updated"() RETURNS trigger AS $$
BEGIN
  RETURN NEW;
END;
$$ LANGUAGE plpgsql""")
    result = check_prod(db, tmp_path, deployed)
    assert result.state == "drifted" and result.exit_code == 1
    assert list(result.schema.summary) == ["[*] Changed functions", "  - set_updated()"]
    (note,) = result.schema.prisma_blind_spots
    assert "compare no functions, triggers, row-level security, extensions" in note and "function set_updated() differs" in note
    assert result.to_json()["schema"]["prisma_blind_spots"] == [note]
    assert f"Prisma does not say:\n  {note}" in status_text(result)  # the terminal
    assert f"• _Prisma does not say:_ {note}" in finding_lines(result)  # the Slack thread
    catch_up = next(f for f in result.findings if f.action.kind == "catch_up_migration")
    assert catch_up.case == "A" and "function set_updated()" in catch_up.title
    assert "CREATE OR REPLACE FUNCTION public.set_updated()" in catch_up.action.sql
    assert 'lower(NEW."email")' not in catch_up.action.sql  # the live body, not the migration's
    assert not [f for f in result.findings if f.case == "B"]  # a changed function is not a missing one
    # committed after the history, the catch-up rebuilds the live schema exactly
    assert snapshot(replay_then(databases, deployed, catch_up.action.sql)) == snapshot(db)


def test_trigger_dropped_by_hand_is_restored_by_a_migration(db, databases, tmp_path, deployed):
    execute(db, 'DROP TRIGGER "user_set_updated" ON "User"')
    result = check_prod(db, tmp_path, deployed)
    assert list(result.schema.summary) == ["[-] Removed triggers", "  - user_set_updated on User"]
    assert result.schema.sql.strip() == '-- DropTrigger\nDROP TRIGGER "user_set_updated" ON "User";'
    (b,) = [f for f in result.findings if f.case == "B"]
    assert b.action.kind == "deploy" and "trigger user_set_updated on User" in b.title
    assert 'CREATE TRIGGER user_set_updated BEFORE UPDATE ON public."User"' in b.action.sql
    # the restoring migration, run on the live database, brings back what the migrations made
    execute(db, b.action.sql)
    assert check_prod(db, tmp_path, deployed).state == "in_sync"


def test_disabled_trigger_is_a_change_and_the_sql_disables_it(db, databases, tmp_path, deployed):
    execute(db, 'ALTER TABLE "User" DISABLE TRIGGER "user_set_updated"')
    result = check_prod(db, tmp_path, deployed)
    assert list(result.schema.summary) == ["[*] Changed triggers", "  - user_set_updated on User (now disabled)"]
    assert result.schema.sql.strip() == '-- CreateTrigger\nALTER TABLE "User" DISABLE TRIGGER "user_set_updated";'
    assert snapshot(replay_then(databases, deployed, result.schema.sql)) == snapshot(db)


def test_functions_and_triggers_added_by_hand_get_a_catch_up(db, databases, tmp_path, deployed):
    execute(db, """CREATE TABLE "audit" ("id" SERIAL PRIMARY KEY, "at" TIMESTAMP(3) NOT NULL DEFAULT now());
CREATE FUNCTION "audit_user"() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = public AS $$
BEGIN INSERT INTO "audit" DEFAULT VALUES; RETURN NULL; END $$;
CREATE TRIGGER "user_audit" AFTER INSERT OR DELETE ON "User" FOR EACH STATEMENT EXECUTE FUNCTION "audit_user"();
CREATE TRIGGER "audit_self" AFTER INSERT ON "audit" FOR EACH ROW WHEN (NEW."id" < 0) EXECUTE FUNCTION "audit_user"()""")
    result = check_prod(db, tmp_path, deployed)
    summary = list(result.schema.summary)
    assert summary[:2] == ["[+] Added tables", "  - audit"]
    assert summary[-6:] == ["[+] Added functions", "  - audit_user()", "",  # byte order, as Prisma sorts
                            "[+] Added triggers", "  - user_audit on User", "  - audit_self on audit"]
    sql = result.schema.sql
    # the table, then the function, then the triggers that use both
    assert sql.index('CREATE TABLE "audit"') < sql.index("CREATE OR REPLACE FUNCTION public.audit_user()") \
        < sql.index("CREATE TRIGGER user_audit") < sql.index("CREATE TRIGGER audit_self")
    assert "SECURITY DEFINER" in sql and "SET search_path TO 'public'" in sql
    assert snapshot(replay_then(databases, deployed, sql)) == snapshot(db)


def test_function_dropped_with_its_trigger_and_a_changed_result_type(db, databases, tmp_path, deployed):
    execute(db, """DROP FUNCTION "set_updated"() CASCADE;
DROP FUNCTION "user_count"(integer);
CREATE FUNCTION "user_count"(min_id integer) RETURNS integer LANGUAGE sql STABLE AS $$ SELECT 1 $$""")
    before = snapshot(replay_then(databases, deployed, "SELECT 1"))
    live = snapshot(db)
    ops = d.diff(before, live)
    assert {type(op).__name__ for op in ops} == {"DropTrigger", "DropFunction", "CreateFunction"}
    sql = render_sql(ops)
    assert sql.index('DROP TRIGGER "user_set_updated"') < sql.index('DROP FUNCTION "set_updated"()')
    assert 'DROP FUNCTION "user_count"(min_id integer);' in sql  # CREATE OR REPLACE cannot change a result type
    assert snapshot(replay_then(databases, deployed, sql)) == live
    result = check_prod(db, tmp_path, deployed)
    assert "[-] Removed functions" in result.schema.summary and "[*] Changed functions" in result.schema.summary


def test_extension_functions_are_not_the_projects(db, tmp_path, pg_url):
    if "citext" not in available_extensions(pg_url):
        pytest.skip("this server has no citext extension")
    folder = write_migrations(tmp_path / "m", {M1: 'CREATE EXTENSION IF NOT EXISTS "citext";\n' + INIT})
    assert deploy(db, folder) is None
    assert snapshot(db).functions == ()
    assert check_prod(db, tmp_path, folder).state == "in_sync"


def test_sql_standard_body_change_is_seen(db, databases, tmp_path, pg_url):
    if server_major(pg_url) < 14:
        pytest.skip("SQL-standard function bodies need PostgreSQL 14")
    body = 'CREATE FUNCTION "twice"(x integer) RETURNS integer LANGUAGE sql IMMUTABLE RETURN x * 2;\n'
    folder = write_migrations(tmp_path / "m", {M1: INIT + body})
    assert deploy(db, folder) is None
    assert check_prod(db, tmp_path, folder).state == "in_sync"
    execute(db, 'CREATE OR REPLACE FUNCTION "twice"(x integer) RETURNS integer LANGUAGE sql IMMUTABLE RETURN x * 3')
    result = check_prod(db, tmp_path, folder)
    assert list(result.schema.summary) == ["[*] Changed functions", "  - twice(x integer)"]
    assert snapshot(replay_then(databases, folder, result.schema.sql)) == snapshot(db)


def test_a_pending_migration_of_functions_and_triggers_run_by_hand_is_recognised(db, tmp_path):
    """Someone pasted the pending migration into psql instead of deploying it: its function and trigger
    are in the database, so it is 'run by hand' (resolve --applied), not drift plus a pending migration."""
    folder = write_migrations(tmp_path / "m", {M1: INIT})
    assert deploy(db, folder) is None
    write_migrations(folder, {M2: TOUCH})
    execute(db, TOUCH)
    result = check_prod(db, tmp_path, folder)
    assert result.history.applied_by_hand == (M2,), result.to_json()
    assert any(f.case == "B'" and f.action.kind == "resolve_applied" for f in result.findings)
    assert not [f for f in result.findings if f.case == "A"]  # explained by the migration: no catch-up


def test_a_view_with_an_instead_of_trigger_added_by_hand_is_created_before_its_trigger(db, databases, tmp_path,
                                                                                      deployed):
    execute(db, """CREATE VIEW "user_emails" AS SELECT "id", "email" FROM "User";
CREATE FUNCTION "user_emails_insert"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO "User" ("email") VALUES (NEW."email"); RETURN NEW; END $$;
CREATE TRIGGER "user_emails_insert" INSTEAD OF INSERT ON "user_emails" FOR EACH ROW EXECUTE FUNCTION "user_emails_insert"()""")
    result = check_prod(db, tmp_path, deployed)
    sql = result.schema.sql
    assert sql.index('CREATE VIEW "user_emails"') < sql.index("CREATE TRIGGER user_emails_insert INSTEAD OF INSERT")
    assert snapshot(replay_then(databases, deployed, sql)) == snapshot(db)


def test_a_view_changed_by_hand_keeps_its_trigger_through_the_rebuild(db, databases, tmp_path):
    view = """CREATE VIEW "user_emails" AS SELECT "id", "email" FROM "User";
CREATE FUNCTION "user_emails_insert"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO "User" ("email") VALUES (NEW."email"); RETURN NEW; END $$;
CREATE TRIGGER "user_emails_insert" INSTEAD OF INSERT ON "user_emails" FOR EACH ROW EXECUTE FUNCTION "user_emails_insert"();
"""
    folder = write_migrations(tmp_path / "m", {M1: INIT + view})
    assert deploy(db, folder) is None
    execute(db, 'CREATE OR REPLACE VIEW "user_emails" AS SELECT "id", "email" FROM "User" WHERE "id" > 0')
    result = check_prod(db, tmp_path, folder)
    assert result.state == "drifted"
    assert "triggers" not in "\n".join(result.schema.summary)  # the trigger itself did not change
    assert snapshot(replay_then(databases, folder, result.schema.sql)) == snapshot(db)
    # the trigger changed too: shown as changed, and rebuilt with the view (no DROP TRIGGER of its own)
    execute(db, 'DROP TRIGGER "user_emails_insert" ON "user_emails"; CREATE TRIGGER "user_emails_insert" INSTEAD OF '
                'INSERT OR UPDATE ON "user_emails" FOR EACH ROW EXECUTE FUNCTION "user_emails_insert"()')
    result = check_prod(db, tmp_path, folder)
    assert result.schema.summary[-2:] == ("[*] Changed triggers", "  - user_emails_insert on user_emails")
    assert "DROP TRIGGER" not in result.schema.sql
    assert snapshot(replay_then(databases, folder, result.schema.sql)) == snapshot(db)
