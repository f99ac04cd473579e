"""The lint's Prisma failure classes against the real ``prisma migrate deploy`` (6.19.3 and 7.10.1): what
driftbot lint says will fail does, with the SQLSTATE it names, and its safer form deploys."""

from __future__ import annotations

import pytest

from driftbot.engine.lint import lint_text
from driftbot.engine.sources import LocalMigration

pytestmark = pytest.mark.conformance

INIT = 'CREATE TABLE "User" ("id" SERIAL NOT NULL, "name" TEXT, CONSTRAINT "User_pkey" PRIMARY KEY ("id"));\n'
M1, M2, M3 = "20260101000000_init", "20260102000000_indexes", "20260103000000_concurrent"
TWO = ('CREATE INDEX CONCURRENTLY "User_name_idx" ON "User"("name");\n'
       'CREATE INDEX "User_id_name_idx" ON "User"("id", "name");\n')


def test_concurrently_beside_another_statement_fails_as_the_lint_says(scenario):
    [finding] = lint_text([LocalMigration(M2, TWO, "")]).will_fail
    assert (finding.rule, finding.sqlstate) == ("concurrently_in_transaction", "25001")
    scenario.add(M1, INIT)
    scenario.add(M2, TWO)
    run = scenario.deploy()
    assert run.code != 0 and "CONCURRENTLY cannot run inside a transaction block" in run.output, run.output


def test_concurrently_alone_in_its_migration_deploys(scenario):
    alone = '-- CreateIndex\nCREATE INDEX CONCURRENTLY "User_name_idx" ON "User"("name");\n'
    assert not lint_text([LocalMigration(M3, alone, "")]).will_fail
    scenario.add(M1, INIT)
    scenario.add(M3, alone)
    run = scenario.deploy()
    assert run.code == 0, run.output
