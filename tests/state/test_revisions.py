"""The Alembic revisions create exactly what the models declare."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from driftbot.state.db import make_engine, upgrade
from driftbot.state.models import Base


def test_revisions_match_the_models(db):
    engine = make_engine(db)
    upgrade(engine)
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
        tables = set(conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars())
    engine.dispose()
    assert {"checks", "requests", "approvals", "executions", "audit_events"} <= tables
    assert diffs == []
