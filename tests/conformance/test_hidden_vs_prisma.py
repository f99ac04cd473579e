"""What Prisma hides, judged by the real `prisma migrate deploy` afterwards: driftbot's
applied-by-hand verdict and deploy preview must predict what deploy then does."""

from __future__ import annotations

import pytest

from driftbot.engine import writers
from tests.conformance.scenario import Scenario

pytestmark = pytest.mark.conformance

A = "20250101000000_init"
B = "20250102000000_staff"
C = "20250103000000_other"
INIT = 'CREATE TABLE "User" ("id" SERIAL NOT NULL, "email" TEXT NOT NULL, CONSTRAINT "User_pkey" PRIMARY KEY ("id"));\n'
STAFF = (
    'CREATE TABLE "staff" ("id" SERIAL NOT NULL, "name" TEXT NOT NULL, CONSTRAINT "staff_pkey" PRIMARY KEY ("id"));\n'
    'ALTER TABLE "User" ADD COLUMN "nickname" TEXT;\n'
)
OTHER = 'CREATE TABLE "Other" ("id" INTEGER NOT NULL, CONSTRAINT "Other_pkey" PRIMARY KEY ("id"));\n'


def at_a_then(s: Scenario, *pending: tuple[str, str]) -> None:
    s.add(A, INIT)
    assert s.deploy().code == 0
    for name, script in pending:
        s.add(name, script)


def assert_failed_on(s: Scenario, run, name: str) -> None:
    """Prisma's deploy failed on *name* with "already exists" (P3018; in adapter mode the CLI
    prints the database error without the code, and records the attempt as failed)."""
    assert run.code != 0 and "already exists" in run.output, run.output
    (row,) = [r for r in s.rows() if r["migration_name"] == name]
    assert row["finished_at"] is None and "already exists" in (row["logs"] or "")


def preview(result) -> dict:
    return result.to_json()["history"]["deploy_preview"]


def test_applied_by_hand_then_deploy_fails_p3018_and_resolve_fixes_it(scenario):
    at_a_then(scenario, (B, STAFF), (C, OTHER))
    scenario.execute(STAFF)
    result = scenario.check()
    assert result.history.applied_by_hand == (B,)
    assert preview(result)["ok"] is False and preview(result)["migration"] == B
    run = scenario.deploy()  # what driftbot predicted
    assert_failed_on(scenario, run, B)
    # the fix driftbot proposes (after the failed attempt, as a team would): resolve --applied, then deploy
    writers.resolve_applied(scenario.url, scenario.migrations, B)
    assert scenario.deploy().code == 0
    assert scenario.status().up_to_date and scenario.check().state == "in_sync"


def test_partly_by_hand_is_predicted_to_fail_and_does(scenario):
    at_a_then(scenario, (B, STAFF))
    scenario.execute(STAFF.split("ALTER TABLE")[0])
    result = scenario.check()
    (part,) = result.history.by_hand
    assert not part.whole and part.missing == ("User.nickname",)
    assert preview(result)["ok"] is False and preview(result)["migration"] == B
    run = scenario.deploy()
    assert_failed_on(scenario, run, B)
    # completing the missing part by hand and resolving leaves nothing to do
    scenario.execute(part.missing_sql)
    writers.resolve_applied(scenario.url, scenario.migrations, B)
    assert scenario.status().up_to_date and scenario.check().state == "in_sync"


def test_a_pending_migration_whose_table_exists(scenario):
    at_a_then(scenario, (B, STAFF))
    scenario.execute('CREATE TABLE "staff" ("id" SERIAL PRIMARY KEY, "email" TEXT)')
    p = preview(scenario.check())
    assert p["ok"] is False and p["migration"] == B and p["error"] == 'ERROR: relation "staff" already exists'
    run = scenario.deploy()
    assert run.code != 0 and B in run.output and 'relation "staff" already exists' in run.output


def test_a_pending_migration_needing_a_missing_extension(scenario):
    at_a_then(scenario, (B, 'CREATE EXTENSION IF NOT EXISTS "driftbot_no_such_ext";\n'))
    p = preview(scenario.check())
    assert p["ok"] is False and p["migration"] == B and "driftbot_no_such_ext" in p["error"]
    run = scenario.deploy()
    assert run.code != 0 and B in run.output and "driftbot_no_such_ext" in run.output


def test_pending_migrations_that_apply(scenario):
    at_a_then(scenario, (B, STAFF), (C, OTHER))
    p = preview(scenario.check())
    assert p["ok"] is True and p["migration"] is None
    assert scenario.deploy().code == 0
    assert scenario.check().state == "in_sync"
