"""driftbot's resolve writers against ``prisma migrate resolve`` 6.19.3.

Two twin databases get the same history from the real ``migrate deploy``; one is
resolved by Prisma, the other by driftbot. Their ``_prisma_migrations`` rows
must match column by column (ids and timestamps' values aside), and Prisma's
own ``migrate status`` and ``migrate deploy`` must then behave the same on both.
"""

from __future__ import annotations

import re

import psycopg
import pytest

from driftbot.engine import writers
from driftbot.errors import Refused
from tests.conformance.scenario import Scenario

pytestmark = pytest.mark.conformance

A = "20250101000000_init"
BAD = "20250102000000_broken"
C = "20250103000000_comments"

SQL = {
    A: 'CREATE TABLE "User" ("id" SERIAL NOT NULL, CONSTRAINT "User_pkey" PRIMARY KEY ("id"));\n',
    BAD: 'CREATE TABLE "Tmp" ("id" INTEGER);\nALTER TABLE "Nope" ADD COLUMN "x" TEXT;\n',
    C: 'CREATE TABLE "Comment" ("id" SERIAL NOT NULL, CONSTRAINT "Comment_pkey" PRIMARY KEY ("id"));\n',
}
TIMES = ("started_at", "finished_at", "rolled_back_at")


def twins(make_scenario, *names: str, deploy_code: int) -> tuple[Scenario, Scenario]:
    pair = make_scenario(), make_scenario()
    for s in pair:
        for name in names:
            s.add(name, SQL[name])
        run = s.deploy()
        assert run.code == deploy_code, run.output
    return pair


def shape(s: Scenario) -> list[dict]:
    """The rows with ids dropped and timestamps reduced to "set or not" (and started == finished)."""
    out = []
    for row in s.rows():
        kept = {k: v for k, v in row.items() if k != "id" and k not in TIMES}
        kept.update({k: row[k] is not None for k in TIMES})
        kept["instant"] = row["finished_at"] == row["started_at"]  # resolve --applied: one instant
        out.append(kept)
    return out


def same_prisma_behaviour(prisma_side: Scenario, ours: Scenario) -> None:
    """Prisma's status and then deploy say the same on both twins."""
    theirs_status, our_status = prisma_side.status(), ours.status()
    assert (our_status.code, our_status.headline, our_status.unapplied, our_status.failed) == (
        theirs_status.code, theirs_status.headline, theirs_status.unapplied, theirs_status.failed,
    ), our_status.text
    theirs_deploy, our_deploy = prisma_side.deploy(), ours.deploy()
    assert our_deploy.code == theirs_deploy.code, our_deploy.output
    assert _applied_names(our_deploy.output) == _applied_names(theirs_deploy.output)
    assert shape(ours) == shape(prisma_side)


def applied_by_hand_then_resolved(prisma_side: Scenario, ours: Scenario, name: str) -> None:
    """*name*'s SQL run by hand on both sides and its file added; then recorded as applied: by
    ``prisma migrate resolve --applied`` on one side, by driftbot's writer on the other."""
    for s in (prisma_side, ours):
        s.execute(SQL[name])
        s.add(name, SQL[name])
    assert prisma_side.prisma.resolve("--applied", name).code == 0
    writers.resolve_applied(ours.url, ours.migrations, name)


def _applied_names(output: str) -> list[str]:
    return re.findall(r"└─ (\S+)/\n", output)


def test_resolve_applied_failed_migration(make_scenario):
    prisma_side, ours = twins(make_scenario, A, BAD, deploy_code=1)
    assert prisma_side.prisma.resolve("--applied", BAD).code == 0
    writers.resolve_applied(ours.url, ours.migrations, BAD)
    assert shape(ours) == shape(prisma_side)
    for s in (prisma_side, ours):
        s.add(C, SQL[C])
    same_prisma_behaviour(prisma_side, ours)
    assert _applied_names(ours.deploy().output) == []  # nothing left to deploy


def test_resolve_rolled_back_failed_migration(make_scenario):
    prisma_side, ours = twins(make_scenario, A, BAD, deploy_code=1)
    assert prisma_side.prisma.resolve("--rolled-back", BAD).code == 0
    writers.resolve_rolled_back(ours.url, BAD)
    assert shape(ours) == shape(prisma_side)
    for s in (prisma_side, ours):  # the corrected migration is deployed again by Prisma on both
        s.add(BAD, 'CREATE TABLE "Tmp" ("id" INTEGER);\n')
    same_prisma_behaviour(prisma_side, ours)


def test_resolve_applied_unrecorded_migration(make_scenario):
    """The migration's SQL was run by hand and never recorded: ``resolve --applied`` records it."""
    prisma_side, ours = twins(make_scenario, A, deploy_code=0)
    applied_by_hand_then_resolved(prisma_side, ours, C)
    assert shape(ours) == shape(prisma_side)
    same_prisma_behaviour(prisma_side, ours)


def _table_definition(s: Scenario) -> list[tuple]:
    with psycopg.connect(s.url) as conn:
        columns = conn.execute(
            "SELECT column_name, data_type, character_maximum_length, is_nullable, column_default "
            "FROM information_schema.columns WHERE table_name = '_prisma_migrations' ORDER BY ordinal_position"
        ).fetchall()
        indexes = conn.execute("SELECT indexdef FROM pg_indexes WHERE tablename = '_prisma_migrations'").fetchall()
    return columns + indexes


def test_resolve_applied_baseline_creates_the_same_table(make_scenario):
    """A database without ``_prisma_migrations`` (case E): the baseline creates Prisma's table."""
    prisma_side, ours = make_scenario(), make_scenario()
    applied_by_hand_then_resolved(prisma_side, ours, A)
    assert _table_definition(ours) == _table_definition(prisma_side)
    assert shape(ours) == shape(prisma_side)
    for s in (prisma_side, ours):
        s.add(C, SQL[C])
    same_prisma_behaviour(prisma_side, ours)


def _prisma_refuses(s: Scenario, flag: str, name: str) -> str:
    run = s.prisma.resolve(flag, name)
    assert run.code == 1, run.output
    return run.output


def test_refusals_match_prisma(scenario):
    for name in (A, BAD):
        scenario.add(name, SQL[name])
    assert scenario.deploy().code == 1
    before = scenario.rows()

    assert "P3008" in _prisma_refuses(scenario, "--applied", A)
    with pytest.raises(Refused, match="P3008"):
        writers.resolve_applied(scenario.url, scenario.migrations, A)

    assert "P3017" in _prisma_refuses(scenario, "--applied", "20990101000000_nowhere")
    with pytest.raises(Refused, match="P3017"):
        writers.resolve_applied(scenario.url, scenario.migrations, "20990101000000_nowhere")

    assert "P3011" in _prisma_refuses(scenario, "--rolled-back", "20990101000000_nowhere")
    with pytest.raises(Refused, match="P3011"):
        writers.resolve_rolled_back(scenario.url, "20990101000000_nowhere")

    assert "P3012" in _prisma_refuses(scenario, "--rolled-back", A)
    with pytest.raises(Refused, match="P3012"):
        writers.resolve_rolled_back(scenario.url, A)
    assert scenario.rows() == before  # every refusal, Prisma's and ours, changed nothing


def test_applied_then_rolled_back_by_hand_is_refused_like_prisma(scenario):
    """Prisma refuses ``--applied`` when any row of the migration has finished, even a row
    later marked rolled back."""
    scenario.add(A, SQL[A])
    assert scenario.deploy().code == 0
    scenario.execute('UPDATE "_prisma_migrations" SET rolled_back_at = now()')
    assert "P3008" in _prisma_refuses(scenario, "--applied", A)
    with pytest.raises(Refused, match="P3008"):
        writers.resolve_applied(scenario.url, scenario.migrations, A)


def test_rolled_back_twice(scenario):
    """Prisma accepts a second ``--rolled-back`` ("marked as rolled back", exit 0) and changes
    nothing; driftbot does the same (it used to refuse with P3012, which was not what Prisma does)."""
    for name in (A, BAD):
        scenario.add(name, SQL[name])
    assert scenario.deploy().code == 1
    assert scenario.prisma.resolve("--rolled-back", BAD).code == 0
    before = scenario.rows()
    second = scenario.prisma.resolve("--rolled-back", BAD)
    assert second.code == 0 and "marked as rolled back" in second.output, second.output
    assert scenario.rows() == before
    done = writers.resolve_rolled_back(scenario.url, BAD)
    assert done.statements == () and "marked as rolled back" in done.message
    assert scenario.rows() == before
