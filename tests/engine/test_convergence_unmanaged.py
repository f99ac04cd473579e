"""The convergence property over unmanaged databases (issue 27): a database without
`_prisma_migrations` whose tables a prefix of the history made (the whole history, its first k
migrations), in histories where later migrations drop, rename and retype what earlier ones made.
The plan records exactly that prefix (`resolve --applied`, no baseline beside it) and deploys the
rest; carried out as a team would (tests/engine/converge.py), it ends in sync."""

from __future__ import annotations

import psycopg
import pytest

from benchmarks.gen_history import EXTENSIONS, generate
from driftbot.engine import replay
from driftbot.engine.sources import LocalMigration
from driftbot.settings import Settings
from tests.conftest import available_extensions
from tests.engine.converge import Team, carry_out
from tests.factory import INIT, write_migrations

M1, M2, M3 = "20250101000000_init", "20250102000000_drop_name", "20250103000000_posts"
WITH_NAME = ('CREATE TABLE "User" ("id" SERIAL NOT NULL, "email" TEXT NOT NULL, "name" TEXT, '
             'CONSTRAINT "User_pkey" PRIMARY KEY ("id"));\n')
DROP_NAME = 'ALTER TABLE "User" DROP COLUMN "name";\nALTER TABLE "User" RENAME COLUMN "email" TO "mail";\n'
POSTS = 'CREATE TABLE "Post" ("id" SERIAL NOT NULL, CONSTRAINT "Post_pkey" PRIMARY KEY ("id"));\n'


def unmanaged(url: str, scripts: dict[str, str], k: int) -> None:
    """*url* built by deploying the first *k* of *scripts*, then `_prisma_migrations` dropped."""
    names = list(scripts)
    with psycopg.connect(url, autocommit=True) as conn:
        error = replay.deploy(conn, tuple(LocalMigration.from_bytes(n, scripts[n].encode(), "gen") for n in names[:k]))
        assert error is None, error
        conn.execute('DROP TABLE "_prisma_migrations"')


def team_for(url: str, pg_url: str, folder, tmp_path, databases) -> Team:
    env = {"database_url": url, "admin_url": url, "shadow_url": pg_url, "migrations": str(folder)}
    settings = Settings(environments={"prod": env}, cache_dir=tmp_path / "cache")
    return Team(settings, "prod", url, folder, scratch=databases.create, schemas=("public", "billing"))


def recorded_and_deployed(result) -> tuple[list[str], list[str]]:
    recorded = [f.action.arguments["migration"] for f in result.findings if f.action.kind == "resolve_applied"]
    deployed = [n for f in result.findings if f.action.kind == "deploy" for n in f.action.arguments.get("migrations", "").split(",") if n]
    return recorded, deployed


def test_a_database_the_whole_history_built_is_recorded_whole_not_partly_run_by_hand(db, pg_url, tmp_path, databases):
    """The second migration drops and renames what the first made: the first is not "partly run by
    hand", the database holds the schema of both. Record both; nothing to deploy; no baseline."""
    scripts = {M1: WITH_NAME, M2: DROP_NAME}
    unmanaged(db, scripts, 2)
    folder = write_migrations(tmp_path / "m", scripts)
    team = team_for(db, pg_url, folder, tmp_path, databases)
    before = team.check()
    assert before.state == "not_managed"
    assert recorded_and_deployed(before) == ([M1, M2], [])
    assert "E" not in [f.case for f in before.findings] and "partly" not in " ".join(f.title for f in before.findings)
    outcome = carry_out(team, before)
    assert outcome.converged, outcome.explain()


def test_a_database_a_prefix_built_records_the_prefix_and_deploys_the_rest(db, pg_url, tmp_path, databases):
    scripts = {M1: WITH_NAME, M2: DROP_NAME, M3: POSTS}
    unmanaged(db, scripts, 2)
    folder = write_migrations(tmp_path / "m", scripts)
    team = team_for(db, pg_url, folder, tmp_path, databases)
    before = team.check()
    assert recorded_and_deployed(before) == ([M1, M2], [M3])
    assert before.history.applied_by_hand == (M1, M2) and before.history.pending == (M3,)
    outcome = carry_out(team, before)
    assert outcome.converged, outcome.explain()


def test_no_prefix_of_the_history_gets_a_baseline(db, pg_url, tmp_path, databases):
    """Tables that no prefix of the history builds, nor comes close to: the baseline (case E), and
    nothing recorded as run by hand."""
    with psycopg.connect(db, autocommit=True) as conn:
        for i in range(12):
            conn.execute(f'CREATE TABLE "legacy{i}" ("id" INTEGER, "x{i}" TEXT)'.encode())
    folder = write_migrations(tmp_path / "m", {M1: INIT})
    result = team_for(db, pg_url, folder, tmp_path, databases).check()
    assert result.state == "not_managed"
    assert result.findings[0].case == "E" and result.findings[0].action.kind == "baseline"
    assert recorded_and_deployed(result)[0] == [] and result.history.applied_by_hand == ()


def _generated(pg_url: str, n: int, seed: int) -> dict[str, str]:
    usable = tuple(e for e in EXTENSIONS if e in available_extensions(pg_url))
    scripts = generate(n, seed=seed, extensions=usable, reshape=True)
    text = "\n".join(scripts.values())
    assert "DROP COLUMN" in text and "RENAME COLUMN" in text and "SET DATA TYPE" in text  # what the property is about
    return scripts


@pytest.mark.parametrize("n, k, seed", [(30, 24, 6)])
def test_an_unmanaged_database_a_generated_history_built_converges(db, pg_url, tmp_path, databases, n, k, seed):
    """The everyday variant: a generated history of 30 migrations that drop, rename and retype what
    earlier ones made; the database built by the first 24."""
    scripts = _generated(pg_url, n, seed)
    unmanaged(db, scripts, k)
    folder = write_migrations(tmp_path / "m", scripts)
    team = team_for(db, pg_url, folder, tmp_path, databases)
    before = team.check()
    names = list(scripts)
    recorded, deployed = recorded_and_deployed(before)
    assert recorded == names[:k][:len(recorded)] and len(recorded) >= k - 2, recorded  # trailing data-only ones stay pending
    assert deployed == names[len(recorded):]
    outcome = carry_out(team, before)
    assert outcome.converged, outcome.explain()


@pytest.mark.slow
def test_an_unmanaged_database_800_generated_migrations_built_converges(db, pg_url, tmp_path, databases):
    """Issue 27's Must show: a generated history of 800 migrations in which later migrations drop
    columns (and tables) earlier ones added, rename and retype them; the database built by all of them,
    `_prisma_migrations` then dropped. The plan records them (no migration "partly run by hand", no
    deploy of what exists) and, carried out, ends in sync."""
    scripts = _generated(pg_url, 800, 27)
    unmanaged(db, scripts, 800)
    folder = write_migrations(tmp_path / "m", scripts)
    team = team_for(db, pg_url, folder, tmp_path, databases)
    before = team.check()
    recorded, deployed = recorded_and_deployed(before)
    names = list(scripts)
    assert recorded == names[:len(recorded)] and len(recorded) >= 798
    assert deployed == names[len(recorded):]
    outcome = carry_out(team, before)
    assert outcome.converged, outcome.explain()
