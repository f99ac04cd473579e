"""`ignore` patterns: drift a team has decided is not drift (a platform's extension, a replication
tool's triggers, scratch tables) is left out of the summary, the SQL and the findings."""

from __future__ import annotations

import pytest

from driftbot.errors import ConfigError
from driftbot.settings import load_settings
from tests.factory import INIT, POSTS, check_prod, deploy, execute, write_migrations

M1, M2 = "20250101000000_init", "20250102000000_posts"
EXTRA = """CREATE EXTENSION IF NOT EXISTS "pg_trgm";
CREATE TABLE "tmp_import" ("id" INTEGER NOT NULL, "raw" TEXT, CONSTRAINT "tmp_import_pkey" PRIMARY KEY ("id"));
CREATE INDEX "tmp_import_raw_idx" ON "tmp_import"("raw");
CREATE FUNCTION "_repl_capture"() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER "_repl_user" AFTER INSERT ON "User" FOR EACH ROW EXECUTE FUNCTION "_repl_capture"();
ALTER TABLE "User" ADD COLUMN "nickname" TEXT;
"""


def test_ignored_drift_is_left_out_and_the_rest_reported(db, tmp_path, pg_url):
    folder = write_migrations(tmp_path / "m", {M1: INIT, M2: POSTS})
    assert deploy(db, folder) is None
    execute(db, EXTRA)
    execute(db, 'DROP TABLE "Post"')
    everything = check_prod(db, tmp_path, folder, ignore=[])
    assert {"[+] Added extensions", "[+] Added tables", "[+] Added triggers", "[-] Removed tables"} <= set(
        everything.schema.summary)
    result = check_prod(db, tmp_path, folder, ignore=["extension:pg_trgm", "table:tmp_*", "trigger:_repl_*", "function:_repl_*",
                                        "table:Post"])
    assert list(result.schema.summary) == ["[*] Changed the `User` table", "  [+] Added column `nickname`"]
    assert "pg_trgm" not in result.schema.sql and "tmp_import" not in result.schema.sql
    assert [f.case for f in result.findings] == ["A", "A"]  # the catch-up and its resolve; no B for Post
    assert not result.schema.prisma_blind_spots


def test_ignoring_the_only_drift_leaves_the_database_in_sync(db, tmp_path):
    folder = write_migrations(tmp_path / "m", {M1: INIT})
    assert deploy(db, folder) is None
    execute(db, 'CREATE INDEX "User_email_idx" ON "User"("email")')
    assert check_prod(db, tmp_path, folder, ignore=["index:User_email_idx"]).state == "in_sync"
    assert check_prod(db, tmp_path, folder, ignore=["index:Other_*"]).state == "drifted"


@pytest.mark.parametrize("pattern", ["pg_trgm", "extension:", "extensions:pg_trgm", ":x"])
def test_a_bad_pattern_is_one_clear_line(tmp_path, pattern):
    (tmp_path / "driftbot.toml").write_text(
        f'[environments.prod]\ndatabase_url = "postgresql://u@h/db"\nmigrations = "m"\nignore = ["{pattern}"]\n')
    with pytest.raises(ConfigError) as err:
        load_settings(tmp_path / "driftbot.toml")
    message = str(err.value)
    assert "ignore" in message and "kind:glob" in message and "\n" not in message.strip()
