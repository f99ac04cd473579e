"""The rolled-back change at Prisma 7.9.0, against the real CLIs on both sides of it.

After ``resolve --rolled-back``, 6.19.3 and 7.8.0 say "Database schema is up to date!" (exit 0);
7.9.1 and 7.10.1 list the migration as not yet applied (exit 1). driftbot reads each project's
pinned version from its package.json and must say, in ``history.prisma_status``, what that
version's real CLI says.
"""

from __future__ import annotations

import pytest

from tests.conformance.conftest import installed
from tests.conformance.prisma7_cli import BOUNDARY, LATEST
from tests.conformance.prisma_cli import VERSION as PRISMA_6
from tests.conformance.scenario import UP_TO_DATE

pytestmark = pytest.mark.conformance

A = "20250101000000_init"
BAD = "20250102120000_broken"
C = "20250103000000_comments"
INIT = 'CREATE TABLE "User" ("id" SERIAL NOT NULL, CONSTRAINT "User_pkey" PRIMARY KEY ("id"));\n'
BROKEN = 'CREATE TABLE "Tmp" ("id" INTEGER);\nALTER TABLE "Nope" ADD COLUMN "x" TEXT;\n'
COMMENTS = 'CREATE TABLE "Comment" ("id" SERIAL NOT NULL, CONSTRAINT "Comment_pkey" PRIMARY KEY ("id"));\n'


@pytest.fixture(scope="module", params=(PRISMA_6, *BOUNDARY, LATEST))
def prisma_install(request):
    """Overrides the suite's two versions: this module runs on both sides of 7.9.0."""
    return installed(request.param)


def rolled_back(scenario) -> None:
    scenario.add(A, INIT)
    scenario.add(BAD, BROKEN)
    assert scenario.deploy().code == 1
    assert scenario.prisma.resolve("--rolled-back", BAD).code == 0


def test_rolled_back_migration_status_is_the_real_cli_of_the_project_version(scenario):
    rolled_back(scenario)
    real = scenario.status()
    expected = (1, False) if scenario.install.rolled_back_is_unapplied else (0, True)
    assert (real.code, real.up_to_date) == expected, real.text
    if real.code == 1:
        assert real.unapplied == (BAD,)

    code, body = scenario.cli_status()
    h = body["history"]
    assert (h["prisma_version"], h["prisma_version_source"]) == (scenario.install.version, "package.json")
    assert h["prisma_status"]["exit_code"] == real.code
    assert (h["prisma_status"]["says"] == UP_TO_DATE) == real.up_to_date
    assert (code, body["state"], h["rolled_back_pending"]) == (1, "pending", [BAD])  # the truth, on every version
    said_by_driftbot_only = any("rolled back" in note for note in h["prisma_blind_spots"])
    assert said_by_driftbot_only == real.up_to_date


def test_rolled_back_row_without_its_file_diverges_only_before_7_9(scenario):
    rolled_back(scenario)
    scenario.prisma.remove(BAD)
    scenario.add(C, COMMENTS)
    real = scenario.status()
    code, body = scenario.cli_status()
    assert body["history"]["prisma_status"]["exit_code"] == real.code == 1
    assert real.diverged is not scenario.install.rolled_back_is_unapplied, real.text
    says = body["history"]["prisma_status"]["says"]
    assert says.startswith("Your local migration history") is real.diverged
