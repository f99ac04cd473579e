"""Verdicts that never contradict themselves (issue 13): each numbered case of the issue, end to end
on real databases. The plan every result proposes is carried out in tests/engine/test_convergence.py."""

from __future__ import annotations

from tests.factory import INIT, POSTS, check_enum_value_only_in_schema, check_prod, deploy, execute, write_migrations

M1, M2, M3, M4 = "20250101000000_init", "20250102000000_posts", "20250103000000_backfill", "20250104000000_more"
MORE = 'CREATE TABLE "Other" ("id" INTEGER NOT NULL, CONSTRAINT "Other_pkey" PRIMARY KEY ("id"));\n'


def test_1_an_enum_value_missing_from_the_database_is_drift_not_in_sync(db, tmp_path):
    """Case 1: a [C] finding asks for a change, so the result is drifted (exit 1), never in sync."""
    result = check_enum_value_only_in_schema(db, tmp_path)
    assert [f.case for f in result.findings] == ["C"]
    assert (result.state, result.exit_code) == ("drifted", 1)
    assert result.to_json()["state"] == "drifted"


def test_2_an_empty_database_is_pending_and_gets_deploy_not_a_baseline(db, tmp_path):
    """Case 2: no `_prisma_migrations` and no tables at all is a new database: Prisma lists every
    migration as not yet applied and the fix is `migrate deploy`."""
    names = [f"2025010{i}000000_m{i}" for i in range(1, 10)] + [f"2025011{i}000000_m1{i}" for i in range(0, 4)]
    folder = write_migrations(tmp_path / "m", {n: f'CREATE TABLE "t_{n[-3:]}" ("id" INTEGER);\n' for n in names})
    result = check_prod(db, tmp_path, folder)
    assert (result.state, result.exit_code) == ("pending", 1)
    assert result.history.managed and result.history.pending == tuple(names)
    assert [f.case for f in result.findings] == ["B"]
    (b,) = result.findings
    assert b.action.kind == "deploy" and b.action.arguments["migrations"] == ",".join(names)
    body = result.to_json()
    assert body["history"]["pending"] == names
    code, says = result.history.prisma_status()
    assert code == 1 and says == "Following migrations have not yet been applied: " + ", ".join(names)
    # The text line shows at most 10 names; JSON keeps them all.
    code, short = result.history.prisma_status(limit=10)
    assert short == "Following migrations have not yet been applied: " + ", ".join(names[:10]) + " and 3 more"
    assert body["history"]["prisma_status"]["says"] == says


def test_2_a_database_with_tables_but_no_history_still_gets_a_baseline(db, tmp_path):
    execute(db, 'CREATE TABLE "legacy" ("id" INTEGER)')
    result = check_prod(db, tmp_path, write_migrations(tmp_path / "m", {M1: INIT}))
    assert result.state == "not_managed" and "E" in [f.case for f in result.findings]


def test_2_tables_no_history_and_the_first_migrations_already_there_are_recorded_not_baselined(db, tmp_path):
    """Tables but no `_prisma_migrations`, and the folder's first migration built exactly them (run by hand,
    or `db push`): a baseline beside that migration would create the tables twice (the folder no longer
    builds a database). Record the migration with `resolve --applied` (it creates Prisma's table), then
    deploy the rest; no baseline. (Found by the convergence walk over the conformance scenarios.)"""
    execute(db, INIT)
    result = check_prod(db, tmp_path, write_migrations(tmp_path / "m", {M1: INIT, M2: POSTS}))
    assert result.state == "not_managed"
    assert [(f.case, f.action.kind, f.action.arguments.get("migration")) for f in result.findings] == [
        ("B'", "resolve_applied", M1), ("B", "deploy", None)]
    assert result.history.applied_by_hand == (M1,) and result.history.pending == (M2,)


def test_4_the_catch_up_holds_only_what_the_database_has_beyond_the_migrations(db, tmp_path):
    """Case 4: an applied migration edited to add an index the database lacks, and a table made by
    `db push`: the catch-up creates the table and never drops the index that B restores."""
    deploy(db, write_migrations(tmp_path / "deployed", {M1: INIT}))
    execute(db, 'CREATE TABLE "staff" ("id" SERIAL NOT NULL, CONSTRAINT "staff_pkey" PRIMARY KEY ("id"))')
    folder = write_migrations(tmp_path / "m", {M1: INIT + 'CREATE INDEX "User_email_idx" ON "User"("email");\n'})
    result = check_prod(db, tmp_path, folder)
    catch_up = next(f for f in result.findings if f.action.kind == "catch_up_migration")
    restore = next(f for f in result.findings if f.case == "B")
    assert 'CREATE TABLE "staff"' in catch_up.action.sql
    assert "DROP INDEX" not in catch_up.action.sql and "User_email_idx" not in catch_up.action.sql
    assert 'CREATE INDEX IF NOT EXISTS "User_email_idx"' in restore.action.sql
    assert "User_email_idx" not in catch_up.title


def test_6_a_backfill_between_migrations_run_by_hand_stays_pending_and_says_why(db, pg_url, tmp_path):
    """Case 6: a pending migration that changes no schema cannot be seen in the schema; its
    neighbours, run by hand, are recognised around it, and the finding says why it stays pending."""
    folder = write_migrations(tmp_path / "m", {M1: INIT, M2: POSTS, M3: 'UPDATE "Post" SET "title" = upper("title");\n',
                                               M4: MORE})
    deploy(db, write_migrations(tmp_path / "deployed", {M1: INIT}))
    execute(db, POSTS + MORE)  # both schema migrations pasted into psql, the backfill not (or was it?)
    result = check_prod(db, tmp_path, folder, shadow=pg_url)
    assert result.history.applied_by_hand == (M2, M4)
    assert result.history.pending == (M3,)
    assert not [f for f in result.findings if f.case == "A"]  # M4's table is not drift outside migrations
    (b,) = [f for f in result.findings if f.case == "B"]
    assert M3 in b.title and "changes no schema: whether it ran cannot be seen; check its data" in b.detail


def test_6_the_summary_says_which_lines_the_migrations_run_by_hand_explain(db, pg_url, tmp_path):
    folder = write_migrations(tmp_path / "m", {M1: INIT, M2: POSTS})
    deploy(db, write_migrations(tmp_path / "deployed", {M1: INIT}))
    execute(db, POSTS)
    result = check_prod(db, tmp_path, folder, shadow=pg_url)
    assert list(result.schema.summary) == ["[+] Added tables", "  - Post"]  # Prisma's lines, kept
    assert result.schema.explained_by_hand == ((M2, ("Post",)),)
    assert result.to_json()["schema"]["explained_by_hand"] == [{"migration": M2, "objects": ["Post"]}]


def test_an_enum_value_a_pending_migration_adds_is_deployed_not_added_by_hand(db, tmp_path):
    """schema.prisma has VIDEO, the database lacks it, and a pending migration adds it: that is B's
    `migrate deploy`. A [C] ADD VALUE with its own tracking migration would make the deploy fail
    ("enum label already exists"), the plan undoing itself (seen on a real public history)."""
    folder = write_migrations(tmp_path / "m", {M1: "CREATE TYPE \"MediaKind\" AS ENUM ('IMAGE', 'AUDIO');\n"})
    deploy(db, folder)
    write_migrations(folder, {M2: "ALTER TYPE \"MediaKind\" ADD VALUE 'VIDEO';\n"})
    schema = tmp_path / "schema.prisma"
    schema.write_text("enum MediaKind {\n  IMAGE\n  AUDIO\n  VIDEO\n  VOICE\n}\n")
    result = check_prod(db, tmp_path, folder, schema)
    assert result.history.pending == (M2,)
    enum_values = [f.action.arguments.get("value") for f in result.findings if f.case == "C"]
    assert enum_values == ["VOICE"]  # no migration adds VOICE: that one is C's
    assert "B" in [f.case for f in result.findings] and result.state == "pending"
def test_a_finished_migration_marked_rolled_back_by_hand_is_not_offered_a_refused_resolve(db, tmp_path):
    """A finished row marked rolled back by hand (Prisma's `--rolled-back` refuses finished ones): the
    migration is pending again and the database has all of it. Prisma refuses `resolve --applied` (P3008:
    an attempt finished) and `migrate deploy` fails ("already exists"), so neither is the plan; the
    mark is a person's to clear. (Found by the convergence walk over the conformance scenarios.)"""
    folder = write_migrations(tmp_path / "m", {M1: INIT})
    deploy(db, folder)
    execute(db, 'UPDATE "_prisma_migrations" SET rolled_back_at = now()')
    result = check_prod(db, tmp_path, folder)
    kinds = [(f.case, f.action.kind) for f in result.findings]
    assert ("B'", "resolve_applied") not in kinds and not [k for k in kinds if k[1] == "deploy"], kinds
    (repair,) = [f for f in result.findings if M1 in f.title]
    assert repair.action.kind == "none" and "rolled_back_at = NULL" in repair.detail and "P3008" in repair.detail
