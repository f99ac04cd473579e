"""driftbot's schema drift check against ``prisma migrate dev`` and ``prisma migrate diff`` 6.19.3.

- driftbot's drift summary equals the one ``prisma migrate dev --create-only``
  prints (Prisma replays the applied migrations in a shadow database, as
  driftbot does);
- driftbot's catch-up SQL, committed as a migration after the applied ones,
  makes ``prisma migrate diff --from-migrations ... --to-schema-datamodel LIVE``
  empty, where LIVE is ``prisma db pull --print`` of the database: replaying the
  history plus the catch-up rebuilds the live schema, as Prisma sees it.
"""

from __future__ import annotations

import psycopg
import pytest

from driftbot.engine.writers import render_add_enum_value
from tests.conformance.scenario import Scenario, drift_summary

pytestmark = pytest.mark.conformance

INIT = "20250101000000_init"
CATCH_UP = "20991231000000_sync_schema_drift"

MODELS = """
enum MediaKind {
  IMAGE
  AUDIO
}

model User {
  id    Int     @id @default(autoincrement())
  email String
  name  String?
  kind  MediaKind @default(IMAGE)
}
"""
INIT_SQL = """-- CreateEnum
CREATE TYPE "MediaKind" AS ENUM ('IMAGE', 'AUDIO');

-- CreateTable
CREATE TABLE "User" (
    "id" SERIAL NOT NULL,
    "email" TEXT NOT NULL,
    "name" TEXT,
    "kind" "MediaKind" NOT NULL DEFAULT 'IMAGE',

    CONSTRAINT "User_pkey" PRIMARY KEY ("id")
);
"""


@pytest.fixture
def deployed(make_scenario) -> Scenario:
    s = make_scenario(models=MODELS)
    s.add(INIT, INIT_SQL)
    run = s.deploy()
    assert run.code == 0, run.output
    return s


def prisma_summary(s: Scenario) -> tuple[str, ...] | None:
    run = s.prisma.dev_create_only()
    summary = drift_summary(run)
    if summary is None:
        assert "Drift detected" not in run.output, run.output
    return summary


def assert_catch_up_rebuilds_live(s: Scenario, catch_up_sql: str) -> None:
    """Prisma's own diff from (history + catch-up) to the live schema is empty, and was not before."""
    live = s.prisma.folder / "live.prisma"
    live.write_text(s.prisma.pull())
    before = s.prisma.diff_migrations_to_models(live)
    assert before.code == 2, before.output  # the drift is real for Prisma too
    s.add(CATCH_UP, catch_up_sql)
    after = s.prisma.diff_migrations_to_models(live)
    assert after.code == 0, f"Prisma still sees a difference after driftbot's catch-up SQL:\n{after.stdout}"
    s.prisma.remove(CATCH_UP)


def test_no_drift(deployed):
    assert prisma_summary(deployed) is None
    result = deployed.check()
    assert result.schema.checked and result.schema.summary == () and result.state == "in_sync"


def test_db_push_extras(deployed):
    """Extra table with a unique index, extra column, extra index, extra enum value (case A)."""
    deployed.execute(
        'CREATE TABLE "staff" ("id" SERIAL NOT NULL, "name" TEXT NOT NULL, "email" TEXT, CONSTRAINT "staff_pkey" PRIMARY KEY ("id"));\n'
        'CREATE UNIQUE INDEX "staff_email_key" ON "staff"("email");\n'
        'ALTER TABLE "User" ADD COLUMN "nickname" TEXT;\n'
        'CREATE INDEX "User_email_idx" ON "User"("email");\n'
        "ALTER TYPE \"MediaKind\" ADD VALUE 'VIDEO';\n"
    )
    theirs = prisma_summary(deployed)
    assert theirs and "[+] Added tables" in theirs

    result = deployed.check()
    assert result.schema.checked, result.schema.reason
    assert result.schema.summary == theirs
    assert result.state == "drifted" and "A" in {f.case for f in result.findings}
    code, body = deployed.cli_status()
    assert code == 1 and tuple(body["schema"]["summary"]) == theirs
    assert_catch_up_rebuilds_live(deployed, result.schema.sql)


def test_hand_dropped_column(deployed):
    deployed.execute('ALTER TABLE "User" DROP COLUMN "name";')
    theirs = prisma_summary(deployed)
    assert theirs and any("[-] Removed column `name`" in line for line in theirs)

    result = deployed.check()
    assert result.schema.summary == theirs
    assert result.state == "drifted"
    assert_catch_up_rebuilds_live(deployed, result.schema.sql)


def test_enum_value_in_migration_missing_from_database(deployed):
    """Case C, from the history: a migration adding a value was recorded but never run."""
    name = "20250102000000_media_video"
    deployed.add(name, "-- AlterEnum\nALTER TYPE \"MediaKind\" ADD VALUE 'VIDEO';\n")
    assert deployed.prisma.resolve("--applied", name).code == 0
    theirs = prisma_summary(deployed)
    assert theirs and any("[-] Removed variant `VIDEO`" in line for line in theirs)

    result = deployed.check()
    assert result.schema.summary == theirs
    c = [f for f in result.findings if f.case == "C"]
    assert c and c[0].action.kind == "add_enum_value"


def test_enum_value_in_schema_missing_from_database(deployed):
    """Case C, from schema.prisma: the model has a value the database's enum lacks. Prisma sees no
    drift (the database matches the migrations); both see the missing value, and driftbot's
    statement, shipped as a tracking migration, is exactly what closes the gap for Prisma."""
    deployed.prisma.write_models(MODELS.replace("  AUDIO\n", "  AUDIO\n  VIDEO\n"))
    gap = deployed.prisma.diff_migrations_to_models()
    assert gap.code == 2 and "ADD VALUE 'VIDEO'" in gap.stdout, gap.output

    result = deployed.check()
    assert result.schema.summary == ()
    c = [f for f in result.findings if f.case == "C"]
    assert c and c[0].action.kind == "add_enum_value", [f.to_json() for f in result.findings]
    statement = render_add_enum_value("MediaKind", "VIDEO")
    assert c[0].action.sql.strip() == statement
    deployed.add("20250102000000_media_video", statement + "\n")
    closed = deployed.prisma.diff_migrations_to_models()
    assert closed.code == 0, closed.stdout


LOWER_EMAIL = "20250102000000_lower_email"
LOWER_EMAIL_SQL = """-- CreateFunction
CREATE FUNCTION "lower_email"() RETURNS trigger AS $$
BEGIN
  NEW."email" := lower(NEW."email");  -- a semicolon; inside the body
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;

-- CreateTrigger
CREATE TRIGGER "user_lower_email" BEFORE INSERT OR UPDATE ON "User" FOR EACH ROW EXECUTE FUNCTION "lower_email"();

-- RowLevelSecurity
ALTER TABLE "User" ENABLE ROW LEVEL SECURITY;
CREATE POLICY "user_self" ON "User" FOR SELECT USING ("id" = current_setting('app.user_id')::integer);
"""


def test_function_trigger_and_row_security_drift_is_invisible_to_prisma(deployed):
    """A trigger function edited, its trigger disabled, row-level security switched off and a
    policy dropped in production: Prisma's status, dev and diff all say nothing; driftbot reports
    each, and its catch-up, committed and recorded with Prisma's own ``migrate resolve --applied``,
    leaves nothing to report."""
    deployed.add(LOWER_EMAIL, LOWER_EMAIL_SQL)
    assert deployed.deploy().code == 0
    assert deployed.check().state == "in_sync"
    deployed.execute('CREATE OR REPLACE FUNCTION "lower_email"() RETURNS trigger AS $$ BEGIN RETURN NEW; END $$ '
                     'LANGUAGE plpgsql;\nALTER TABLE "User" DISABLE TRIGGER "user_lower_email";\n'
                     'ALTER TABLE "User" DISABLE ROW LEVEL SECURITY;\nDROP POLICY "user_self" ON "User";')

    status = deployed.status()
    assert status.code == 0 and status.up_to_date, status.text
    assert prisma_summary(deployed) is None
    live = deployed.prisma.folder / "live.prisma"
    live.write_text(deployed.prisma.pull())
    assert deployed.prisma.diff_migrations_to_models(live).code == 0

    result = deployed.check()
    assert result.state == "drifted" and result.exit_code == 1
    assert result.schema.summary == ("[-] Removed policies", "  - user_self on User", "",
                                     "[*] Changed functions", "  - lower_email()", "",
                                     "[*] Changed row-level security", "  - User (now off)", "",
                                     "[*] Changed triggers", "  - user_lower_email on User (now disabled)")
    (note,) = result.schema.prisma_blind_spots
    for change in ("function lower_email() differs", "trigger user_lower_email on User differs",
                   "row-level security on User is off", "policy user_self on User is missing"):
        assert change in note, note

    deployed.add(CATCH_UP, result.schema.sql)
    assert deployed.prisma.resolve("--applied", CATCH_UP).code == 0
    assert deployed.status().up_to_date
    after = deployed.check()
    assert after.state == "in_sync", after.to_json()


def test_invalid_index_left_by_a_failed_concurrent_build(deployed):
    """The unique index of a migration, built by hand CONCURRENTLY, failed on duplicate rows and left
    an INVALID index; the migration was then recorded as applied. Prisma: up to date, no drift (the
    definition matches). driftbot: the index is invalid, and the rebuild to run by hand."""
    name = "20250102000000_email_unique"
    deployed.execute("""INSERT INTO "User" (email) VALUES ('a@x.io'), ('a@x.io')""")
    with pytest.raises(psycopg.errors.UniqueViolation):
        deployed.execute('CREATE UNIQUE INDEX CONCURRENTLY "User_email_key" ON "User"("email")')
    deployed.add(name, '-- CreateIndex\nCREATE UNIQUE INDEX "User_email_key" ON "User"("email");\n')
    assert deployed.prisma.resolve("--applied", name).code == 0
    assert deployed.status().up_to_date
    assert prisma_summary(deployed) is None
    result = deployed.check()
    assert result.state == "drifted"
    assert result.schema.summary == ("[!] Invalid indexes (queries do not use them)", "  - User_email_key on User")
    assert any(f.action.sql == 'REINDEX INDEX CONCURRENTLY "User_email_key";' for f in result.findings)


def test_an_extension_added_in_production_is_drift_prisma_does_not_report(deployed):
    """`migrate dev` ignores extensions without the postgresqlExtensions preview feature, and with it
    (as checked here) still reported none; with a datasource `extensions` list the WebAssembly
    engine of 6.19.3 crashes. driftbot reports it, and says Prisma does not."""
    deployed.execute('CREATE EXTENSION IF NOT EXISTS "citext"')
    assert deployed.status().up_to_date
    assert prisma_summary(deployed) is None
    path = deployed.prisma.folder / "schema.prisma"
    path.write_text(path.read_text().replace('provider = "prisma-client-js"',
                                             'provider = "prisma-client-js"\n  previewFeatures = ["postgresqlExtensions"]'))
    assert prisma_summary(deployed) is None
    result = deployed.check()
    assert result.schema.summary == ("[+] Added extensions", "  - citext")
    (note,) = result.schema.prisma_blind_spots
    assert "extension citext exists only in the database" in note
    assert 'CREATE EXTENSION IF NOT EXISTS "citext"' in result.schema.sql
