"""What real Prisma histories contain (prisma-facts.md) replays, introspects and checks clean:
a database deployed from such a history is "in sync" with schema drift checked."""

from __future__ import annotations

import psycopg
import pytest

from driftbot.engine.check import run_check
from driftbot.settings import Settings
from tests.factory import INIT, deploy, execute, write_migrations

M1, M2, M3 = "20250101000000_init", "20250102000000_second", "20250103000000_third"


def check(db, tmp_path, scripts, schema_file=None, url_suffix=""):
    folder = write_migrations(tmp_path / "migrations", scripts)
    # Prisma works in the URL's schema: its connection's search_path is that schema.
    joiner = "&" if "?" in db else "?"  # the embedded server's URL already has ?host=/socket/dir
    deploy(db + (f"{joiner}options=-csearch_path%3D{url_suffix}" if url_suffix else ""), folder, schema=url_suffix or "public")
    env = {"database_url": db + (f"{joiner}schema={url_suffix}" if url_suffix else ""), "migrations": str(folder)}
    if schema_file:
        env["schema"] = str(schema_file)
    s = Settings(environments={"prod": env}, cache_dir=tmp_path / "cache")
    return run_check(s, s.environment("prod"))


def assert_clean(result):
    assert result.error is None, result.error
    assert result.schema.checked, result.schema.reason
    assert result.schema.summary == () and result.schema.sql == ""
    assert result.state == "in_sync" and result.findings == ()


def test_concurrent_index_alone_in_its_migration(db, tmp_path):
    assert_clean(check(db, tmp_path, {M1: INIT, M2: 'CREATE INDEX CONCURRENTLY "User_email_idx" ON "User"("email");\n'}))


def test_begin_commit_inside_a_file(db, tmp_path):
    assert_clean(check(db, tmp_path, {M1: INIT, M2: 'BEGIN;\nALTER TABLE "User" ADD COLUMN "a" TEXT;\nCOMMIT;\n'}))


def test_do_blocks_functions_and_triggers(db, tmp_path):
    script = '''DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_type WHERE typname = 'Mood') THEN
    CREATE TYPE "Mood" AS ENUM ('HAPPY', 'SAD');
  END IF;
END
$$;

CREATE OR REPLACE FUNCTION set_updated() RETURNS trigger AS $$
BEGIN
  NEW."email" := lower(NEW."email"); -- a semicolon inside the body
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER "User_lower" BEFORE INSERT ON "User" FOR EACH ROW EXECUTE FUNCTION set_updated();
'''
    result = check(db, tmp_path, {M1: INIT, M2: script})
    assert_clean(result)


def test_extensions(db, tmp_path):
    with psycopg.connect(db) as conn:
        available = {r[0] for r in conn.execute("SELECT name FROM pg_available_extensions")}
    wanted = [e for e in ("pgcrypto", "pg_trgm", "citext", "btree_gist", "uuid-ossp") if e in available]
    if not wanted:
        pytest.skip("no contrib extensions on this server")
    script = "".join(f'CREATE EXTENSION IF NOT EXISTS "{e}";\n' for e in wanted)
    if "pg_trgm" in wanted:
        script += 'CREATE INDEX "User_email_trgm" ON "User" USING GIN ("email" gin_trgm_ops);\n'
    assert_clean(check(db, tmp_path, {M1: INIT, M2: script}))


def test_folder_names_with_spaces_sort_by_bytes(db, tmp_path):
    assert_clean(check(db, tmp_path, {M1: INIT, "20250126184148_new_models copy": 'ALTER TABLE "T" ADD COLUMN "b" TEXT;\n',
                                      "20250126184148_new_models": 'CREATE TABLE "T" ("id" INTEGER);\n'}))


def test_identifiers_longer_than_63_bytes(db, tmp_path):
    long = "a_table_with_a_really_long_name_that_postgres_truncates_to_sixty_three_bytes_x"
    script = f'CREATE TABLE "{long}" ("id" SERIAL NOT NULL, "{long}" TEXT, CONSTRAINT "pk_{long}" PRIMARY KEY ("id"));\n'
    script += f'CREATE INDEX "idx_{long}" ON "{long}"("id");\n'
    assert_clean(check(db, tmp_path, {M1: script}))


def test_enum_value_renames(db, tmp_path):
    result = check(db, tmp_path, {M1: "CREATE TYPE \"Kind\" AS ENUM ('A', 'B');\n",
                                  M2: "ALTER TYPE \"Kind\" RENAME VALUE 'A' TO 'ALPHA';\nALTER TYPE \"Kind\" ADD VALUE 'C';\n"})
    assert_clean(result)
    execute(db, "ALTER TYPE \"Kind\" RENAME VALUE 'B' TO 'BETA'")  # a rename by hand: drift
    s = Settings(environments={"prod": {"database_url": db, "migrations": str(tmp_path / "migrations")}}, cache_dir=tmp_path / "cache")
    drifted = run_check(s, s.environment("prod"))
    assert list(drifted.schema.summary) == ["[*] Changed the `Kind` enum", "  [+] Added variant `BETA`", "  [-] Removed variant `B`"]


def test_a_second_schema_from_the_datasource(db, tmp_path):
    schema_file = tmp_path / "schema.prisma"
    schema_file.write_text('datasource db {\n  provider = "postgresql"\n  url = env("DATABASE_URL")\n  schemas = ["public", "billing"]\n}\n'
                           'enum Plan {\n  FREE\n  PRO\n  @@schema("billing")\n}\n')
    scripts = {M1: INIT + 'CREATE SCHEMA IF NOT EXISTS "billing";\nCREATE TYPE "billing"."Plan" AS ENUM (\'FREE\');\n'
                      'CREATE TABLE "billing"."Invoice" ("id" SERIAL NOT NULL, "plan" "billing"."Plan" NOT NULL DEFAULT \'FREE\', '
                      'CONSTRAINT "Invoice_pkey" PRIMARY KEY ("id"));\n'}
    result = check(db, tmp_path, scripts, schema_file)
    assert result.schema.checked and result.schema.summary == ()
    (c,) = result.findings
    assert (c.case, c.action.arguments["enum"], c.action.arguments["value"]) == ("C", "Plan", "PRO")
    assert c.action.sql == 'ALTER TYPE "billing"."Plan" ADD VALUE IF NOT EXISTS \'PRO\';'
    execute(db, 'CREATE TABLE "billing"."extra" ("id" INTEGER)')
    s = Settings(environments={"prod": {"database_url": db, "migrations": str(tmp_path / "migrations"), "schema": str(schema_file)}},
                 cache_dir=tmp_path / "cache")
    assert list(run_check(s, s.environment("prod")).schema.summary) == ["[+] Added tables", "  - extra"]


def test_a_schema_prisma_folder(db, tmp_path):
    folder = tmp_path / "schema"
    folder.mkdir()
    (folder / "main.prisma").write_text('datasource db {\n  provider = "postgresql"\n  url = env("DATABASE_URL")\n}\n')
    (folder / "media.prisma").write_text("enum MediaKind {\n  IMAGE\n  VIDEO @map(\"video\")\n}\n")
    result = check(db, tmp_path, {M1: "CREATE TYPE \"MediaKind\" AS ENUM ('IMAGE');\n"}, folder)
    (c,) = result.findings
    assert c.case == "C" and c.action.arguments["value"] == "video"


def test_prisma_url_schema_parameter(db, tmp_path):
    execute(db, 'CREATE SCHEMA "app"')
    assert_clean(check(db, tmp_path, {M1: INIT}, url_suffix="app"))
