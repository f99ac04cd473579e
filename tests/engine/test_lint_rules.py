"""The lint's pure rules: each statement's lock as PostgreSQL's documentation gives it, rewrites and scans,
and the findings the text alone gives (no database)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from driftbot.engine.lint import lint_text
from driftbot.engine.lint.locks import effect
from driftbot.engine.lint.parse import statements
from driftbot.engine.sources import LocalMigration


def _effect(sql: str):
    [st] = statements(sql)
    return effect(st.node, "public")


@pytest.mark.parametrize("sql, kind, lock, rewrites, scans", [
    ('CREATE INDEX "i" ON "T"("a")', "CREATE INDEX", "SHARE", False, True),
    ('CREATE UNIQUE INDEX CONCURRENTLY "i" ON "T"("a")', "CREATE INDEX CONCURRENTLY", "SHARE UPDATE EXCLUSIVE", False, True),
    ('DROP INDEX CONCURRENTLY "i"', "DROP INDEX CONCURRENTLY", "SHARE UPDATE EXCLUSIVE", False, False),
    ('ALTER TABLE "T" ADD COLUMN "b" TEXT', "ALTER TABLE", "ACCESS EXCLUSIVE", False, False),
    ('ALTER TABLE "T" ADD COLUMN "b" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP', "ALTER TABLE", "ACCESS EXCLUSIVE", False, False),
    ('ALTER TABLE "T" ADD COLUMN "b" UUID NOT NULL DEFAULT gen_random_uuid()', "ALTER TABLE", "ACCESS EXCLUSIVE", True, False),
    ('ALTER TABLE "T" ADD COLUMN "b" SERIAL', "ALTER TABLE", "ACCESS EXCLUSIVE", True, False),
    ('ALTER TABLE "T" ALTER COLUMN "a" SET NOT NULL', "ALTER TABLE", "ACCESS EXCLUSIVE", False, True),
    ('ALTER TABLE "T" ALTER COLUMN "a" SET DATA TYPE BIGINT', "ALTER TABLE", "ACCESS EXCLUSIVE", True, True),
    ('ALTER TABLE "T" ADD CONSTRAINT "f" FOREIGN KEY ("a") REFERENCES "U"("id")', "ALTER TABLE", "SHARE ROW EXCLUSIVE", False, True),
    ('ALTER TABLE "T" ADD CONSTRAINT "f" FOREIGN KEY ("a") REFERENCES "U"("id") NOT VALID', "ALTER TABLE", "SHARE ROW EXCLUSIVE", False, False),
    ('ALTER TABLE "T" VALIDATE CONSTRAINT "f"', "ALTER TABLE", "SHARE UPDATE EXCLUSIVE", False, True),
    ('ALTER TABLE "T" ADD CONSTRAINT "c" CHECK ("a" > 0)', "ALTER TABLE", "ACCESS EXCLUSIVE", False, True),
    ('ALTER TABLE "T" SET LOGGED', "ALTER TABLE", "ACCESS EXCLUSIVE", True, False),
    ('ALTER INDEX "i" RENAME TO "j"', "ALTER INDEX RENAME", "SHARE UPDATE EXCLUSIVE", False, False),
    ('CREATE TRIGGER t AFTER INSERT ON "T" FOR EACH ROW EXECUTE FUNCTION f()', "CREATE TRIGGER", "SHARE ROW EXCLUSIVE", False, False),
    ('DROP TABLE "T"', "DROP TABLE", "ACCESS EXCLUSIVE", False, False),
    ('UPDATE "T" SET "a" = 1', "UPDATE", "ROW EXCLUSIVE", False, True),
    ('LOCK TABLE "T" IN SHARE MODE', "LOCK", "SHARE", False, False),
    ("ALTER TYPE \"E\" ADD VALUE 'V'", "ALTER TYPE", None, False, False),
])
def test_each_statements_lock_rewrite_and_scan(sql, kind, lock, rewrites, scans):
    e = _effect(sql)
    assert (e.kind, e.lock, e.rewrites, e.scans) == (kind, lock, rewrites, scans)


def test_a_foreign_key_locks_the_referenced_table_too():
    e = _effect('ALTER TABLE "Post" ADD CONSTRAINT "f" FOREIGN KEY ("a") REFERENCES "app"."User"("id")')
    assert e.table == ("public", "Post") and e.others == ((("app", "User"), "SHARE ROW EXCLUSIVE"),)


def _rules(*scripts: str, together: bool = False):
    report = lint_text([LocalMigration(f"2026010{i}000000_m", s, "") for i, s in enumerate(scripts, 1)], together=together)
    return [(f.severity, f.rule) for f in report.findings]


def test_semicolons_in_quoted_names_and_dollar_bodies_do_not_split_statements():
    script = ('CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW."a;b" := 1; RETURN NEW; END $$;\n'
              'CREATE INDEX CONCURRENTLY "x;y" ON "T"("a")')
    assert len(statements(script)) == 2
    assert ("will_fail", "concurrently_in_transaction") in _rules(script)
    assert not [r for r in _rules("-- a comment; with a semicolon\nCREATE INDEX CONCURRENTLY i ON t(a);") if r[0] == "will_fail"]


def test_an_enum_value_used_after_a_commit_is_fine_and_a_cast_one_is_not():
    add = "ALTER TYPE \"Role\" ADD VALUE 'OWNER';\n"
    assert ("will_fail", "enum_value_used_in_same_migration") in _rules(add + "SELECT 'OWNER'::\"Role\";")
    assert ("risky", "enum_value_used_in_same_migration") in _rules(add + "UPDATE \"User\" SET role = 'OWNER';")
    assert not [r for r in _rules(add + "COMMIT;\nUPDATE \"User\" SET role = 'OWNER';") if r[1].startswith("enum")]
    assert not [r for r in _rules(add + "UPDATE \"User\" SET name = 'OTHER';") if r[1].startswith("enum")]
    created = "CREATE TYPE \"Kind\" AS ENUM ('A');\nALTER TYPE \"Kind\" ADD VALUE 'B';\nSELECT 'B'::\"Kind\";"
    assert not [r for r in _rules(created) if r[1].startswith("enum")]  # a type made in the same transaction


def test_tables_a_migration_creates_are_empty_and_a_folder_is_read_migration_by_migration():
    create = 'CREATE TABLE "T" ("a" INTEGER);\n'
    required = 'ALTER TABLE "T" ADD COLUMN "b" TEXT NOT NULL;\n'
    assert _rules(create + required) == []  # same migration: the table is new and empty
    assert ("risky", "required_column_over_rows") in _rules(create, required)  # a later day: it may have rows
    assert _rules(create, required, together=True) == []  # one deploy runs both: still empty


def test_a_do_block_and_a_syntax_error():
    assert ("note", "not_analysed") in _rules("DO $$ BEGIN PERFORM 1; END $$;")
    assert _rules("ALTER TABL x;") == [("will_fail", "syntax_error")]


SQL_WORDS = ["ALTER TABLE", '"T"', "ADD", "COLUMN", "DROP", "CREATE", "UNIQUE", "INDEX", "CONCURRENTLY", "ON", "(",
             ")", '"a"', "TYPE", "SET", "NOT NULL", "DEFAULT", "'v'", "::", "CHECK", "REFERENCES", ";", "$$", "--", "\n",
             "RENAME TO", "VALUE", "UPDATE", "WHERE", "=", "1", "BEGIN", "COMMIT", "DO", "USING", "VARCHAR(3)", "ENUM"]


@given(st.lists(st.sampled_from(SQL_WORDS) | st.text(max_size=8), max_size=40))
@settings(max_examples=300, deadline=None)
def test_any_text_gives_a_report_never_an_exception(words):
    report = lint_text([LocalMigration("20260101000000_m", " ".join(words), "")])
    assert report.exit_code in (0, 1)
    assert all(f.migration == "20260101000000_m" for f in report.findings)
