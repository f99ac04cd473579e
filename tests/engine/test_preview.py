"""The deploy preview rebuilds what the live database really has (issue 27): extensions and their
schemas before what uses them, operator classes and collations as the catalog names them; and when a
rebuild still fails, it says what could not be rebuilt and why, in words."""

from __future__ import annotations

import psycopg
import pytest

from driftbot.cli.views import status_text
from driftbot.engine.result import CheckResult, DeployPreview, SchemaReport
from tests.conftest import available_extensions
from tests.factory import check_prod, deploy, write_migrations

M1, M2, M3 = "20250101000000_init", "20250102000000_summary", "20250103000000_again"


def needs_pg_trgm(*urls: str) -> None:
    for url in urls:
        if "pg_trgm" not in available_extensions(url):
            pytest.skip("pg_trgm is not in pg_available_extensions of this server (the embedded one lacks some contrib)")


def docs(ext_schema: str | None) -> str:
    """A table with pg_trgm gin indexes over a varchar and a text column; pg_trgm in *ext_schema*
    (None: public, unqualified as most histories write it)."""
    where = f' WITH SCHEMA "{ext_schema}"' if ext_schema else ""
    ops = f'"{ext_schema}".gin_trgm_ops' if ext_schema else "gin_trgm_ops"
    make = f'CREATE SCHEMA IF NOT EXISTS "{ext_schema}";\n' if ext_schema else ""
    return (f'{make}CREATE EXTENSION IF NOT EXISTS "pg_trgm"{where};\n'
            'CREATE TABLE "Doc" ("id" SERIAL NOT NULL, "title" VARCHAR(200) NOT NULL, "body" TEXT, '
            'CONSTRAINT "Doc_pkey" PRIMARY KEY ("id"));\n'
            f'CREATE INDEX "Doc_title_trgm_idx" ON "Doc" USING GIN ("title" {ops});\n'
            f'CREATE INDEX "Doc_body_trgm_idx" ON "Doc" USING GIN ("body" {ops});\n')


@pytest.mark.parametrize("ext_schema", [None, "extensions"])
def test_a_live_schema_with_pg_trgm_gin_indexes_over_varchar_and_text_is_previewed(db, pg_url, tmp_path, ext_schema):
    """The preview is available, and right: the pending migration applies, as `migrate deploy` then
    shows on the real database; one that makes an index twice fails there, as the preview said."""
    needs_pg_trgm(db, pg_url)
    ops = f'"{ext_schema}".gin_trgm_ops' if ext_schema else "gin_trgm_ops"
    summary = (f'ALTER TABLE "Doc" ADD COLUMN "summary" VARCHAR(100);\n'
               f'CREATE INDEX "Doc_summary_trgm_idx" ON "Doc" USING GIN ("summary" {ops});\n')
    deploy(db, write_migrations(tmp_path / "deployed", {M1: docs(ext_schema)}))
    folder = write_migrations(tmp_path / "m", {M1: docs(ext_schema), M2: summary})
    result = check_prod(db, tmp_path, folder, shadow=pg_url)
    p = result.deploy_preview
    assert p is not None and p.available, p
    assert p.ok, p
    assert "None" not in status_text(result)

    twice = f'CREATE INDEX "Doc_title_trgm_idx" ON "Doc" USING GIN ("title" {ops});\n'
    folder = write_migrations(tmp_path / "m", {M1: docs(ext_schema), M2: summary, M3: twice})
    failing = check_prod(db, tmp_path, folder, shadow=pg_url).deploy_preview
    assert failing.available and not failing.ok
    assert failing.migration == M3 and "already exists" in failing.error
    error = deploy(db, folder)  # what `migrate deploy` really does
    assert error is not None and error.migration == M3 and "already exists" in error.message


RICH = """
CREATE SCHEMA IF NOT EXISTS "extensions";
CREATE EXTENSION IF NOT EXISTS "citext" WITH SCHEMA "extensions";
CREATE TYPE "Mood" AS ENUM ('HAPPY', 'SAD');
CREATE SEQUENCE "ticket_no" AS integer INCREMENT BY 5 START WITH 100;
CREATE FUNCTION next_code() RETURNS text LANGUAGE sql AS $$ SELECT 'c' || nextval('ticket_no')::text $$;
CREATE TABLE "T" ("id" INTEGER NOT NULL, "a" TEXT, "b" VARCHAR(20), "mail" "extensions".citext,
  "code" TEXT NOT NULL DEFAULT next_code(), "mood" "Mood" NOT NULL DEFAULT 'HAPPY',
  CONSTRAINT "T_pkey" PRIMARY KEY ("id"), CONSTRAINT "T_a_check" CHECK (length("a") < 100));
CREATE TABLE "U" ("id" INTEGER NOT NULL, "t" INTEGER, CONSTRAINT "U_pkey" PRIMARY KEY ("id"));
ALTER TABLE "U" ADD CONSTRAINT "U_t_fkey" FOREIGN KEY ("t") REFERENCES "T"("id") ON DELETE CASCADE ON UPDATE CASCADE;
CREATE INDEX "T_a_idx" ON "T"("a" COLLATE "C");
CREATE INDEX "T_b_idx" ON "T"("b" varchar_pattern_ops);
CREATE UNIQUE INDEX "T_mail_key" ON "T"("mail");
CREATE INDEX "T_lower_idx" ON "T"(lower("a")) WHERE "b" IS NOT NULL;
CREATE VIEW "happy" AS SELECT "id", "a" FROM "T" WHERE "mood" = 'HAPPY';
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER "T_touch" BEFORE UPDATE ON "T" FOR EACH ROW EXECUTE FUNCTION touch();
ALTER TABLE "T" ENABLE ROW LEVEL SECURITY;
CREATE POLICY "T_own" ON "T" USING ("id" > 0);
"""


def test_the_rebuilt_live_schema_is_the_live_schema(db, pg_url, databases):
    """Every kind of object the introspection reads, rebuilt on the shadow server the way the preview
    rebuilds it, introspects as the live schema: extensions in their own schema (and the types that
    come from them), collations and operator classes other than the default, functions a default
    uses, views, triggers, row-level security and policies."""
    if "citext" not in available_extensions(pg_url) or "citext" not in available_extensions(db):
        pytest.skip("citext is not in pg_available_extensions of this server")
    from driftbot.engine import preview
    from driftbot.engine.inspect import introspect
    from driftbot.engine import diff as d

    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute(RICH)
        live = introspect(conn, ("public",))
    scratch = databases.create("rebuilt")
    with psycopg.connect(scratch, autocommit=True) as conn:
        error = preview.rebuild(conn, live)
        assert error is None, error
        rebuilt = introspect(conn, ("public",))
    assert d.diff(rebuilt, live) == ()


def test_an_unavailable_preview_says_why_in_words_never_none():
    """"Deploy preview: None would fail" was the text of a preview that could not run."""
    result = CheckResult("prod", "pending", None, SchemaReport(checked=False, reason="x"), deploy_preview=DeployPreview(
        ok=False, available=False,
        error="preview unavailable: the live schema could not be rebuilt on the shadow server: index X: ERROR: boom"))
    text = status_text(result)
    assert "None" not in text
    assert "Deploy preview: unavailable: the live schema could not be rebuilt" in text
