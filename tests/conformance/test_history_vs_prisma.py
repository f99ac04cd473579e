"""driftbot's history verdict against ``prisma migrate status`` 6.19.3 and 7.10.1, on real databases.

Every scenario builds its database with the real Prisma CLI (``migrate deploy``,
``migrate resolve``) or by hand, asks Prisma, asks driftbot (the engine, and the
``driftbot status --json`` process), and compares:

- ``HistoryVerdict.prisma_status()`` must predict Prisma's exit code, headline
  and the migration names it lists, in every scenario;
- driftbot's own verdict must agree with Prisma wherever Prisma's answer is
  true; where driftbot deliberately says more, the test says so.
"""

from __future__ import annotations

import pytest

from tests.conformance.scenario import (DIVERGED, NOT_MANAGED, UP_TO_DATE, PrismaStatus, Scenario, drift_summary,
                                         headline_names)

pytestmark = pytest.mark.conformance

A = "20250101000000_init"
B = "20250102000000_posts"
C = "20250103000000_comments"
BAD = "20250102120000_broken"

SQL = {
    A: 'CREATE TABLE "User" ("id" SERIAL NOT NULL, "email" TEXT NOT NULL, CONSTRAINT "User_pkey" PRIMARY KEY ("id"));\n',
    B: 'CREATE TABLE "Post" ("id" SERIAL NOT NULL, "title" TEXT NOT NULL, CONSTRAINT "Post_pkey" PRIMARY KEY ("id"));\n',
    C: 'CREATE TABLE "Comment" ("id" SERIAL NOT NULL, CONSTRAINT "Comment_pkey" PRIMARY KEY ("id"));\n',
    # Fails on its second statement; PostgreSQL runs the script as one transaction, so nothing stays.
    BAD: 'CREATE TABLE "Tmp" ("id" INTEGER);\nALTER TABLE "Nope" ADD COLUMN "x" TEXT;\n',
}


def build(s: Scenario, *names: str) -> None:
    for name in names:
        s.add(name, SQL[name])


def deployed(s: Scenario, *names: str, expect: int = 0) -> None:
    build(s, *names)
    run = s.deploy()
    assert run.code == expect, run.output


def up_to_date(s: Scenario):
    """Prisma's status, which must say up to date (exit 0), predicted by driftbot's verdict; that verdict."""
    prisma = s.status()
    assert (prisma.code, prisma.up_to_date) == (0, True)
    assert_predicts(s, prisma)
    return s.verdict()


def assert_predicts(s: Scenario, prisma: PrismaStatus) -> None:
    """driftbot's ``prisma_status()`` names Prisma's exit code, headline and listed migrations."""
    code, headline = s.verdict().prisma_status()
    assert code == prisma.code, (headline, prisma.text)
    if prisma.up_to_date and prisma.code == 0:
        assert headline == UP_TO_DATE
    elif prisma.diverged:
        assert headline.startswith(DIVERGED)
    elif prisma.unapplied:
        assert headline.startswith(("Following migration have not yet been applied", "Following migrations have not yet been applied"))
        assert headline_names(headline) == prisma.unapplied
    elif prisma.failed:
        assert headline.startswith(("Following migration have failed", "Following migrations have failed"))
        assert headline_names(headline) == prisma.failed
    elif prisma.not_managed:
        assert headline == NOT_MANAGED
    else:
        raise AssertionError(f"unrecognised Prisma status output:\n{prisma.text}")


def test_clean(scenario):
    deployed(scenario, A, B)
    v = up_to_date(scenario)
    assert v.in_sync and v.applied == (A, B) and not v.pending
    code, body = scenario.cli_status()
    assert (code, body["state"]) == (0, "in_sync")
    assert body["history"]["prisma_status"]["exit_code"] == 0


def test_pending(scenario):
    deployed(scenario, A)
    build(scenario, B, C)
    prisma = scenario.status()
    assert prisma.code == 1 and prisma.unapplied == (B, C)

    v = scenario.verdict()
    assert v.pending == prisma.unapplied and v.applied == (A,)
    assert_predicts(scenario, prisma)
    code, body = scenario.cli_status()
    assert (code, body["state"], body["history"]["pending"]) == (1, "pending", [B, C])


def test_failed_last(scenario):
    deployed(scenario, A, BAD, expect=1)
    prisma = scenario.status()
    assert prisma.code == 1 and prisma.failed == (BAD,)

    v = scenario.verdict()
    assert [f.name for f in v.failed] == list(prisma.failed) and not v.pending
    assert v.failed[0].may_be_partial is False  # one implicit transaction: nothing stayed
    assert_predicts(scenario, prisma)
    code, body = scenario.cli_status()
    assert (code, body["state"], body["history"]["failed"]) == (1, "failed", [BAD])


def test_failed_with_later_migrations_pending(scenario):
    """Prisma's CLI reports only the pending migrations here (``databaseIsBehind`` wins over the
    failed one); driftbot deliberately says more: the failure that blocks the deploy."""
    deployed(scenario, A, BAD, C, expect=1)
    prisma = scenario.status()
    assert prisma.code == 1 and prisma.unapplied == (C,) and prisma.failed == ()

    v = scenario.verdict()
    assert v.pending == prisma.unapplied
    assert [f.name for f in v.failed] == [BAD]  # driftbot says more
    assert_predicts(scenario, prisma)
    code, body = scenario.cli_status()
    assert (code, body["state"], body["history"]["failed"]) == (1, "failed", [BAD])


def test_failed_then_rolled_back(scenario):
    """Before 7.9.0 Prisma says "up to date" after ``resolve --rolled-back``, yet its own ``deploy`` runs
    the migration again; from 7.9.0 on it lists the migration as not yet applied. driftbot says what is
    true (pending again) on both, and predicts the words of the project's version."""
    deployed(scenario, A, BAD, expect=1)
    assert scenario.prisma.resolve("--rolled-back", BAD).code == 0
    prisma = scenario.status()
    if scenario.install.rolled_back_is_unapplied:
        assert (prisma.code, prisma.unapplied) == (1, (BAD,))
    else:
        assert (prisma.code, prisma.up_to_date) == (0, True)

    v = scenario.verdict()
    assert v.rolled_back_pending == (BAD,) and v.pending == (BAD,) and not v.failed
    assert_predicts(scenario, prisma)
    code, body = scenario.cli_status()
    assert (code, body["state"], body["history"]["rolled_back_pending"]) == (1, "pending", [BAD])
    assert body["history"]["prisma_status"]["exit_code"] == prisma.code

    # The truth, shown by Prisma itself: deploy runs the rolled-back migration again.
    scenario.add(BAD, 'CREATE TABLE "Tmp" ("id" INTEGER);\n')
    again = scenario.deploy()
    assert again.code == 0 and BAD in again.output, again.output
    assert scenario.verdict().in_sync


def test_failed_then_resolved_applied(scenario):
    deployed(scenario, A, BAD, expect=1)
    assert scenario.prisma.resolve("--applied", BAD).code == 0
    v = up_to_date(scenario)
    assert v.in_sync and v.applied == (A, BAD) and not v.failed
    # Deliberately more than Prisma: the resolved migration's file still fails on an empty database, so the
    # history cannot build a new environment (`migrate dev` would fail in its shadow too): a problem, exit 1.
    code, body = scenario.cli_status()
    assert (code, body["state"], body["schema"]["checked"]) == (1, "drifted", False)
    assert [f["title"].split(":")[0] for f in body["findings"]] == [f"Migration {BAD} cannot be replayed on an empty database"]


def test_migration_edited_after_apply(scenario):
    """Prisma's status does not look at checksums; driftbot reports the edit (deliberately more)."""
    deployed(scenario, A, B)
    scenario.add(B, SQL[B] + 'CREATE INDEX "Post_title_idx" ON "Post"("title");\n')
    v = up_to_date(scenario)
    assert [m.name for m in v.modified] == [B]
    assert v.modified[0].applied_checksum == scenario.rows()[1]["checksum"]
    code, body = scenario.cli_status()
    assert (code, body["state"], body["history"]["modified"]) == (1, "drifted", [B])


def test_migration_edited_to_remove_a_statement(scenario):
    """The applied file lost its CREATE INDEX afterwards. Prisma's status says nothing (exit 0); its
    `migrate dev` sees the checksum mismatch. driftbot reports the edit and, since the edited file no
    longer builds the index the database has, a catch-up whose statements do nothing where their object
    exists. Carried out (file restored from git, catch-up committed, Prisma's own `resolve --applied`),
    Prisma's dev then sees neither an edit nor drift, and driftbot says in sync."""
    index = 'CREATE INDEX "Post_title_idx" ON "Post"("title");\n'
    scenario.add(A, SQL[A])
    scenario.add(B, SQL[B] + index)
    assert scenario.deploy().code == 0
    scenario.add(B, SQL[B])  # the edit removed the statement
    prisma = scenario.status()
    assert (prisma.code, prisma.up_to_date) == (0, True)
    assert _prisma_says_modified(scenario, B)

    result = scenario.check()
    assert [m.name for m in result.history.modified] == [B] and result.state == "drifted"
    assert any(f.case == "history" and "was edited after it was applied" in f.title for f in result.findings)
    (catch_up,) = [f for f in result.findings if f.action.kind == "catch_up_migration"]
    assert 'CREATE INDEX IF NOT EXISTS "Post_title_idx"' in catch_up.action.sql
    assert not [f for f in result.findings if f.case == "B"]  # nothing for deploy to restore

    scenario.add(B, SQL[B] + index)  # restored from git
    name = catch_up.action.arguments["migration"]
    scenario.add(name, catch_up.action.sql)
    assert scenario.prisma.resolve("--applied", name).code == 0
    dev = scenario.prisma.dev_create_only()
    assert "was modified after it was applied" not in dev.output and drift_summary(dev) is None, dev.output
    assert scenario.check().state == "in_sync"


def test_migration_in_database_missing_locally(scenario):
    """Prisma ignores ``migrationsDirectoryIsBehind`` ("up to date"); driftbot reports the
    database-only migration (deliberately more)."""
    deployed(scenario, A, B)
    scenario.prisma.remove(B)
    v = up_to_date(scenario)
    assert v.missing_locally == (B,) and not v.pending
    code, body = scenario.cli_status()
    assert (code, body["state"], body["history"]["missing_locally"]) == (1, "drifted", [B])


def test_histories_diverge(scenario):
    deployed(scenario, A, B)
    scenario.prisma.remove(B)
    build(scenario, C)
    prisma = scenario.status()
    assert prisma.code == 1 and prisma.diverged
    assert (prisma.last_common, prisma.unapplied, prisma.unpersisted) == (A, (C,), (B,))

    v = scenario.verdict()
    assert v.diverged and v.missing_locally == prisma.unpersisted and v.pending == prisma.unapplied
    assert v.last_common_migration == prisma.last_common
    assert_predicts(scenario, prisma)


def test_rolled_back_migration_deleted_locally(scenario):
    """A rolled-back row whose folder was deleted still counts for Prisma's history check before 7.9.0:
    with a new migration pending, Prisma says the histories diverge. From 7.9.0 on the rolled-back row
    counts as absent and only the new migration is listed."""
    deployed(scenario, A, BAD, expect=1)
    assert scenario.prisma.resolve("--rolled-back", BAD).code == 0
    scenario.prisma.remove(BAD)
    build(scenario, C)
    prisma = scenario.status()
    if scenario.install.rolled_back_is_unapplied:
        assert (prisma.code, prisma.diverged, prisma.unapplied) == (1, False, (C,))
    else:
        assert prisma.code == 1 and prisma.diverged and prisma.unpersisted == (BAD,)
    assert_predicts(scenario, prisma)
    assert scenario.verdict().pending == (C,)


def test_database_not_managed_with_local_migrations(scenario):
    """Tables but no ``_prisma_migrations``: Prisma's status lists every local migration as not yet
    applied (its "not managed" text is unreachable when the folder has migrations); driftbot
    deliberately says more: not managed. The database already has what the folder's migration builds,
    so the fix is to record that migration (no baseline beside it: the two would create the tables
    twice); Prisma's own `resolve --applied` then leaves it up to date."""
    scenario.execute(SQL[A])
    build(scenario, A)
    prisma = scenario.status()
    assert prisma.code == 1 and prisma.unapplied == (A,) and not prisma.not_managed

    v = scenario.verdict()
    assert not v.managed
    assert_predicts(scenario, prisma)
    code, body = scenario.cli_status()
    assert (code, body["state"]) == (1, "not_managed")
    assert [(f["case"], f["action"]["kind"]) for f in body["findings"]] == [("B'", "resolve_applied")]
    assert scenario.prisma.resolve("--applied", A).code == 0
    assert scenario.status().up_to_date and scenario.check().state == "in_sync"


def test_empty_database_is_pending_not_unmanaged(scenario):
    """No ``_prisma_migrations`` and no tables: a new database. Prisma lists every migration as not
    yet applied and `migrate deploy` applies them; driftbot agrees: pending, deploy, no baseline."""
    build(scenario, A, B)
    prisma = scenario.status()
    assert prisma.code == 1 and prisma.unapplied == (A, B) and not prisma.not_managed
    assert_predicts(scenario, prisma)
    code, body = scenario.cli_status()
    assert (code, body["state"], body["history"]["pending"]) == (1, "pending", [A, B])
    assert [(f["case"], f["action"]["kind"]) for f in body["findings"]] == [("B", "deploy")]
    assert scenario.deploy().code == 0  # and Prisma's own fix works
    assert scenario.check().state == "in_sync"


def test_database_not_managed_without_migrations(scenario):
    scenario.execute(SQL[A])
    prisma = scenario.status()
    assert prisma.code == 1 and prisma.not_managed

    v = scenario.verdict()
    assert not v.managed
    assert_predicts(scenario, prisma)


def _prisma_says_modified(s: Scenario, name: str) -> bool:
    return f"The migration `{name}` was modified after it was applied." in s.prisma.dev_create_only().output


def test_line_endings_are_not_an_edit(scenario):
    """Prisma compares checksums line-ending agnostically (a CRLF checkout of an LF-applied file is
    not an edit); a real edit is. driftbot must report exactly the same migrations as edited."""
    scenario.add(A, SQL[A].replace("\n", "\r\n"))
    scenario.add(B, SQL[B])
    assert scenario.deploy().code == 0
    scenario.add(A, SQL[A])  # the same migration, checked out with LF
    assert not _prisma_says_modified(scenario, A)
    assert scenario.verdict().modified == ()

    scenario.add(B, SQL[B].replace("TEXT", "VARCHAR(80)"))
    assert _prisma_says_modified(scenario, B)
    assert [m.name for m in scenario.verdict().modified] == [B]
