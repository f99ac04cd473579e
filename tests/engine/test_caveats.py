from driftbot.engine.caveats import data_caveats
from driftbot.engine.sources import LocalMigration


def mig(name, script):
    return LocalMigration(name, script, "0" * 64)


def test_statements_that_depend_on_rows_are_named():
    script = """
-- AlterTable
ALTER TABLE "User" ADD COLUMN "a" TEXT NOT NULL;
ALTER TABLE "User" ADD COLUMN "b" TEXT NOT NULL DEFAULT 'x';
ALTER TABLE "User" ADD COLUMN "c" TEXT;
ALTER TABLE "User" ALTER COLUMN "c" SET NOT NULL;
-- CreateIndex
CREATE UNIQUE INDEX "User_email_key" ON "User"("email");
CREATE INDEX "User_name_idx" ON "User"("name");
ALTER TABLE "Post" ADD CONSTRAINT "Post_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User"("id");
ALTER TABLE "Post" ADD CONSTRAINT "Post_x_fkey" FOREIGN KEY ("x") REFERENCES "User"("id") NOT VALID;
ALTER TABLE "Post" ALTER COLUMN "n" SET DATA TYPE INTEGER USING "n"::integer;
"""
    lines = data_caveats([mig("20250101_x", script)])
    assert [line.split(": ", 1)[1].rsplit(" (", 1)[0] for line in lines] == [
        'ALTER TABLE "User" ADD COLUMN "a" TEXT NOT NULL;',
        'ALTER TABLE "User" ALTER COLUMN "c" SET NOT NULL;',
        'CREATE UNIQUE INDEX "User_email_key" ON "User"("email");',
        'ALTER TABLE "Post" ADD CONSTRAINT "Post_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User"("id");',
        'ALTER TABLE "Post" ALTER COLUMN "n" SET DATA TYPE INTEGER USING "n"::integer;',
    ]
    assert all(line.startswith("20250101_x: ") for line in lines)


def test_harmless_migration_has_no_caveats():
    assert data_caveats([mig("a", 'CREATE TABLE "T" ("id" SERIAL NOT NULL, CONSTRAINT "T_pkey" PRIMARY KEY ("id"));')]) == ()


def test_statements_on_tables_without_rows_are_left_out():
    script = ('ALTER TABLE "User" ADD COLUMN "a" TEXT NOT NULL;\n'
              'ALTER TABLE IF EXISTS ONLY "app"."Post" ALTER COLUMN "b" SET NOT NULL;\n'
              'CREATE UNIQUE INDEX "T_x_key" ON "T"("x");\n'
              'ALTER TABLE account ADD CONSTRAINT account_fk FOREIGN KEY (u) REFERENCES "User"("id");\n')
    asked = []

    def has_rows(schema, table):
        asked.append((schema, table))
        return table == "Post"

    lines = data_caveats([mig("m", script)], has_rows)
    assert len(lines) == 1 and '"app"."Post"' in lines[0]  # only app.Post has rows
    assert asked == [(None, "User"), ("app", "Post"), (None, "T"), (None, "account")]
    assert len(data_caveats([mig("m", script)])) == 4  # nobody asked: every table may have rows


def test_a_table_a_migration_fills_keeps_its_caveats():
    script = 'INSERT INTO "T" ("x") VALUES (1);\nCREATE UNIQUE INDEX "T_x_key" ON "T"("x");\n'
    assert len(data_caveats([mig("m", script)], lambda schema, table: False)) == 1
