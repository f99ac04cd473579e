"""An index left INVALID by a failed CREATE INDEX CONCURRENTLY: same definition as the migration's,
so Prisma (and a definition-only diff) sees nothing, but queries do not use it."""

from __future__ import annotations

import hashlib

import psycopg
import pytest

from tests.factory import INIT, check_prod, deploy, execute, write_migrations

M1, M2 = "20250101000000_init", "20250102000000_email_unique"
UNIQUE = 'CREATE UNIQUE INDEX "User_email_key" ON "User"("email");\n'


@pytest.fixture
def hand_built(db, tmp_path):
    """M2 run by hand as CREATE UNIQUE INDEX CONCURRENTLY, which failed on duplicates, then recorded as applied."""
    folder = write_migrations(tmp_path / "m", {M1: INIT})
    assert deploy(db, folder) is None
    execute(db, "INSERT INTO \"User\" (email) VALUES ('a@x.io'), ('a@x.io')")
    with psycopg.connect(db, autocommit=True) as conn, pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute('CREATE UNIQUE INDEX CONCURRENTLY "User_email_key" ON "User"("email")')
    write_migrations(folder, {M2: UNIQUE})
    execute(db, "INSERT INTO _prisma_migrations (id, checksum, migration_name, started_at, finished_at, "
                "applied_steps_count) SELECT gen_random_uuid()::text, %s, %s, now(), now(), 1",
            (hashlib.sha256(UNIQUE.encode()).hexdigest(), M2))
    return folder


def test_an_invalid_index_is_reported_with_the_rebuild_to_run_by_hand(db, tmp_path, hand_built):
    result = check_prod(db, tmp_path, hand_built)
    assert result.state == "drifted" and result.exit_code == 1
    assert result.history.pending == () and result.history.modified == ()
    assert list(result.schema.summary) == ["[!] Invalid indexes (queries do not use them)", "  - User_email_key on User"]
    (b,) = [f for f in result.findings if f.case == "B"]
    assert "Index User_email_key on User is INVALID" in b.title and "not guaranteed unique" in b.title
    assert (b.action.kind, b.action.sql) == ("none", 'REINDEX INDEX CONCURRENTLY "User_email_key";')
    assert not [f for f in result.findings if f.case == "A"]  # nothing to commit
    (note,) = result.schema.prisma_blind_spots
    assert "index User_email_key on User is invalid in the database" in note


def test_after_the_duplicates_are_fixed_the_proposed_rebuild_makes_it_valid(db, tmp_path, hand_built):
    b = next(f for f in check_prod(db, tmp_path, hand_built).findings if f.case == "B")
    execute(db, "DELETE FROM \"User\" WHERE id = (SELECT max(id) FROM \"User\")")
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute(b.action.sql)  # alone, outside a transaction, as the finding says
    assert check_prod(db, tmp_path, hand_built).state == "in_sync"
