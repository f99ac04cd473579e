"""driftbot's own state (checks, requests, approvals, executions, audit) in PostgreSQL.

SQLAlchemy 2 models; the schema is managed by Alembic and brought to the head
revision by every process at start (``upgrade``), under an advisory lock.
"""
