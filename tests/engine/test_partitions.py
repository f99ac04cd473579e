"""Partitions made at run time (by pg_partman, a cron job, or the application) are not drift.

The migrations create a partitioned table with keys, indexes, a foreign key and a trigger;
each partition then carries its own copies of them. A partition the migrations never made
appears in production every month, and must not be reported, nor anything it inherits.
"""

from __future__ import annotations

from driftbot.engine.check import run_check
from driftbot.settings import Settings
from tests.factory import INIT, deploy, execute, write_migrations

PARTITIONED = INIT + '''CREATE TABLE "Event" ("id" INTEGER NOT NULL, "at" TIMESTAMP(3) NOT NULL, "kind" TEXT, "userId" INTEGER,
    CONSTRAINT "Event_pkey" PRIMARY KEY ("id", "at"), CONSTRAINT "Event_id_check" CHECK ("id" > 0)) PARTITION BY RANGE ("at");
CREATE INDEX "Event_kind_idx" ON "Event"("kind");
CREATE UNIQUE INDEX "Event_kind_at_key" ON "Event"("kind", "at");
ALTER TABLE "Event" ADD CONSTRAINT "Event_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User"("id") ON DELETE SET NULL ON UPDATE CASCADE;
CREATE FUNCTION "touch"() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER "event_touch" BEFORE UPDATE ON "Event" FOR EACH ROW EXECUTE FUNCTION "touch"();
ALTER TABLE "Event" ENABLE ROW LEVEL SECURITY;
CREATE POLICY "event_all" ON "Event" USING (true);
CREATE TABLE "Event_2025" PARTITION OF "Event" FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
'''


def test_a_partition_made_at_run_time_is_not_drift(db, tmp_path):
    folder = write_migrations(tmp_path / "m", {"20250101000000_init": PARTITIONED})
    assert deploy(db, folder) is None
    s = Settings(environments={"prod": {"database_url": db, "migrations": str(folder)}}, cache_dir=tmp_path / "cache")
    assert run_check(s, s.environment("prod")).state == "in_sync"
    execute(db, '''CREATE TABLE "Event_2026" PARTITION OF "Event" FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')''')
    result = run_check(s, s.environment("prod"))
    assert (result.state, result.schema.summary) == ("in_sync", ()), result.schema.summary


def test_the_partitioned_tables_own_objects_are_still_compared(db, tmp_path):
    folder = write_migrations(tmp_path / "m", {"20250101000000_init": PARTITIONED})
    assert deploy(db, folder) is None
    execute(db, 'DROP INDEX "Event_kind_idx"; DROP TRIGGER "event_touch" ON "Event"')
    s = Settings(environments={"prod": {"database_url": db, "migrations": str(folder)}}, cache_dir=tmp_path / "cache")
    summary = run_check(s, s.environment("prod")).schema.summary
    assert "  [-] Removed index on columns (kind)" in summary and "  - event_touch on Event" in summary
