"""Convergence: the plan a check proposes, carried out as a team would (tests/engine/converge.py),
ends in sync, with no step refused and none undoing another; where it needs a person, it says so.

Three sources of scenarios: the demo's production, one scenario per case of the README's table,
and generated ones (tests/engine/generated/).
"""

from __future__ import annotations

from urllib.parse import urlsplit

import psycopg
import pytest
from psycopg import sql

from driftbot.cli.demo import DEMO_DB, EXAMPLE, build_production
from driftbot.settings import Settings
from tests.engine.converge import Team, carry_out, copy_folder
from tests.factory import ENUM, INIT, POSTS, SCHEMA_WITH_VIDEO, deploy, execute, write_migrations

# Each test carries a plan out step by step, checking (and replaying) after every step.
pytestmark = pytest.mark.slow

M1, M2, M3, M4 = "20250101000000_init", "20250102000000_posts", "20250103000000_media", "20250104000000_more"
VIDEO = ENUM.replace("'IMAGE', 'AUDIO'", "'IMAGE', 'VIDEO', 'AUDIO'")
MORE = 'CREATE TABLE "Other" ("id" INTEGER NOT NULL, CONSTRAINT "Other_pkey" PRIMARY KEY ("id"));\n'


def make_team(databases, pg_url, url, folder, tmp_path, schema=None, **kw) -> Team:
    env = {"database_url": url, "admin_url": url, "shadow_url": pg_url, "migrations": str(folder)}
    if schema is not None:
        env["schema"] = str(schema)
    settings = Settings(environments={"prod": env}, cache_dir=tmp_path / "cache")
    return Team(settings, "prod", url, folder, scratch=databases.create, **kw)


def converges(team: Team) -> None:
    before = team.check()
    assert before.state != "in_sync", "the scenario must start with something to fix"
    outcome = carry_out(team, before)
    assert outcome.human is None, outcome.human + "\n" + outcome.explain()
    assert outcome.converged, outcome.explain()


def test_the_demo_s_plan_carried_out_ends_in_sync(databases, pg_url, tmp_path):
    """The demo's production: a failed migration (duplicate rows), one pending behind it, an edited
    migration, `db push` tables, a trigger made by hand, an enum value schema.prisma has."""
    prod, project = build_production(pg_url, tmp_path / "demo")
    url = databases.create("demo")
    name = urlsplit(url).path.lstrip("/")  # also for a socket URL (?host=/tmp/...) of the embedded server
    with psycopg.connect(pg_url, autocommit=True) as conn:  # a copy: carry the plan out on it, not on the demo's
        conn.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(DEMO_DB)))
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DEMO_DB)))
    folder = copy_folder(project / "prisma" / "migrations", tmp_path / "team" / "migrations")
    edited = "20250115000000_user_nickname"
    original = (EXAMPLE / "prisma" / "migrations" / edited / "migration.sql").read_bytes()

    def fix_the_duplicate_refs(finding, team) -> bool:
        # what the team does before resolving the failed unique index: make the refs unique
        assert "unique_case_ref" in finding.title and "could not create unique index" in finding.detail
        execute(team.url, """UPDATE "Case" SET "ref" = "ref" || '-' || "id" WHERE "id" > (SELECT min("id") FROM "Case")""")
        return True

    team = make_team(databases, pg_url, url, folder, tmp_path, project / "prisma" / "schema.prisma",
                     originals={edited: original}, human=fix_the_duplicate_refs)
    before = team.check()
    assert before.state == "failed"
    outcome = carry_out(team, before)
    assert outcome.converged, outcome.explain()
    assert outcome.steps[0] == "resolve --rolled-back 20250120000000_unique_case_ref"


def test_each_case_of_the_readme_converges(databases, pg_url, tmp_path):
    """One scenario per row of the README's table of cases, each on its own database."""
    scenarios = {
        "A extra objects": ({M1: INIT}, {M1: INIT}, 'CREATE TABLE "staff" ("id" SERIAL PRIMARY KEY); '
                            'ALTER TABLE "User" ADD COLUMN "nickname" TEXT NOT NULL DEFAULT \'\''),
        "B pending": ({M1: INIT, M2: POSTS}, {M1: INIT}, ""),
        "B missing objects": ({M1: INIT, M2: POSTS}, {M1: INIT, M2: POSTS}, 'DROP TABLE "Post"'),
        "C enum value the migrations have": ({M1: INIT, M3: VIDEO}, {M1: INIT, M3: VIDEO},
                                             'ALTER TYPE "MediaKind" RENAME TO "old"; DROP TYPE "old"; ' + ENUM),
        "run by hand, whole": ({M1: INIT, M2: POSTS, M4: MORE}, {M1: INIT}, POSTS + MORE),
        "run by hand, in part": ({M1: INIT, M2: POSTS + MORE}, {M1: INIT}, POSTS),
        "A and B together": ({M1: INIT, M2: POSTS}, {M1: INIT, M2: POSTS},
                             'DROP TABLE "Post"; CREATE INDEX "User_email_idx" ON "User"("email")'),
        "enum value renamed by hand": ({M1: INIT, M3: ENUM}, {M1: INIT, M3: ENUM},
                                       "ALTER TYPE \"MediaKind\" RENAME VALUE 'IMAGE' TO 'PHOTO'"),
    }
    for i, (label, (local, deployed, drift)) in enumerate(scenarios.items()):
        url = databases.create("case")
        deploy(url, write_migrations(tmp_path / f"d{i}", deployed))
        if drift:
            execute(url, drift)
        folder = write_migrations(tmp_path / f"m{i}", local)
        try:
            converges(make_team(databases, pg_url, url, folder, tmp_path / f"c{i}"))
        except AssertionError as exc:
            raise AssertionError(f"{label}: {exc}") from None


def test_case_c_from_schema_prisma_converges(databases, pg_url, tmp_path, db):
    deploy(db, write_migrations(tmp_path / "d", {M1: INIT, M3: ENUM}))
    schema = tmp_path / "schema.prisma"
    schema.write_text(SCHEMA_WITH_VIDEO)
    converges(make_team(databases, pg_url, db, write_migrations(tmp_path / "m", {M1: INIT, M3: ENUM}), tmp_path, schema))


def test_case_e_baseline_converges(databases, pg_url, tmp_path, db):
    execute(db, INIT + POSTS)
    converges(make_team(databases, pg_url, db, write_migrations(tmp_path / "m", {}), tmp_path))


def test_an_empty_database_converges_by_deploy(databases, pg_url, tmp_path, db):
    converges(make_team(databases, pg_url, db, write_migrations(tmp_path / "m", {M1: INIT, M2: POSTS}), tmp_path))


def test_history_anomalies_converge(databases, pg_url, tmp_path):
    # an applied migration edited afterwards (restored from git, its new change in a new migration)
    url = databases.create("edited")
    deploy(url, write_migrations(tmp_path / "d1", {M1: INIT}))
    edited = INIT + 'CREATE INDEX "User_email_idx" ON "User"("email");\n'
    team = make_team(databases, pg_url, url, write_migrations(tmp_path / "m1", {M1: edited}), tmp_path / "c1",
                     originals={M1: INIT.encode()})
    converges(team)
    # a migration deployed from another branch (merged), and one rolled back, now pending again
    url = databases.create("diverged")
    hotfix = "20250102120000_hotfix"
    deploy(url, write_migrations(tmp_path / "d2", {M1: INIT, hotfix: 'ALTER TABLE "User" ADD COLUMN "x" TEXT;\n'}))
    execute(url, """INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at, rolled_back_at)
                    VALUES ('00000000-0000-4000-8000-000000000001', 'x', %s, now(), now())""", (M2,))
    team = make_team(databases, pg_url, url, write_migrations(tmp_path / "m2", {M1: INIT, M2: POSTS}), tmp_path / "c2",
                     branches={hotfix: 'ALTER TABLE "User" ADD COLUMN "x" TEXT;\n'})
    converges(team)


def test_where_a_person_is_needed_the_walk_stops_and_says_so(databases, pg_url, tmp_path):
    # a failed migration, nobody to fix it
    url = databases.create("failed")
    deploy(url, write_migrations(tmp_path / "d1", {M1: INIT, M2: 'ALTER TABLE "Nope" ADD COLUMN "x" TEXT;\n'}))
    team = make_team(databases, pg_url, url, write_migrations(tmp_path / "m1", {M1: INIT, M2: POSTS}), tmp_path / "c1")
    outcome = carry_out(team, team.check())
    assert outcome.human == f"failed migration {M2}: fix it by hand, then resolve it"
    # a backfill between migrations run by hand: whether it ran is a question for its data
    url = databases.create("backfill")
    deploy(url, write_migrations(tmp_path / "d2", {M1: INIT}))
    execute(url, POSTS + MORE)
    local = {M1: INIT, M2: POSTS, M3: 'UPDATE "Post" SET "title" = upper("title");\n', M4: MORE}
    team = make_team(databases, pg_url, url, write_migrations(tmp_path / "m2", local), tmp_path / "c2")
    outcome = carry_out(team, team.check())
    assert outcome.human is not None and outcome.human.startswith("data check:") and M3 in outcome.human
    assert outcome.steps == [f"resolve --applied {M2}", f"resolve --applied {M4}"]



def test_an_applied_migration_edited_to_remove_a_statement_converges(databases, pg_url, tmp_path, db):
    """The file of an applied migration lost its CREATE INDEX afterwards: the database has the index, the
    edited file does not build it. Restoring the file from git brings the statement back, so the plan's
    catch-up (which cannot tell the edit from a `db push`) must then do nothing, not create the index twice."""
    index = 'CREATE INDEX "User_email_idx" ON "User"("email");\n'
    deploy(db, write_migrations(tmp_path / "d", {M1: INIT + index}))
    team = make_team(databases, pg_url, db, write_migrations(tmp_path / "m", {M1: INIT}), tmp_path,
                     originals={M1: (INIT + index).encode()})
    converges(team)


@pytest.mark.parametrize("layout", ["no room before the pending one", "a pending one sorting before applied ones",
                                    "the migration creating Post sorts after the pending one"])
def test_a_restore_is_ordered_before_the_pending_migrations_that_need_it(databases, pg_url, tmp_path, db, layout):
    """Post was dropped by hand and a pending migration indexes it: `migrate deploy` runs the folder in
    order, so B's restore must sort before that migration (and after the one creating Post), even when
    no second is free between the last applied migration and the pending one, or when the pending one
    sorts before migrations the database already ran (merged late from a branch)."""
    index = 'CREATE INDEX "Post_title_idx" ON "Post"("title");\n'
    if layout == "no room before the pending one":
        deployed = {M1: INIT, M2: POSTS}
        local = {**deployed, "20250102000001_post_index": index}
    elif layout == "a pending one sorting before applied ones":
        deployed = {M1: INIT, M2: POSTS, M4: MORE}
        local = {**deployed, "20250103000000_post_index": index}
    else:  # the restore must then replay after that migration: it goes last (the pending one needs no Post)
        deployed = {M1: INIT, M4: POSTS}
        local = {**deployed, M3: MORE}
    deploy(db, write_migrations(tmp_path / "d", deployed))
    execute(db, 'DROP TABLE "Post"')
    converges(make_team(databases, pg_url, db, write_migrations(tmp_path / "m", local), tmp_path))
