"""Alembic environment: runs on the connection ``driftbot.state.db.upgrade`` hands over."""

from alembic import context

from driftbot.state.models import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - only when run from the alembic command line
    engine = config.attributes["engine"]
    connection = engine.connect()

context.configure(connection=connection, target_metadata=Base.metadata, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
