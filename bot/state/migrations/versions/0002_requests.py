"""checks, requests, approvals, executions

Revision ID: 0002_requests
Revises: 0001_audit_events
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002_requests"
down_revision = "0001_audit_events"
branch_labels = None
depends_on = None


def _of_a_request() -> list[sa.Column]:
    """The first columns of a table whose rows belong to one request: the row's id, the request's."""
    return [
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("request_id", sa.BigInteger(), sa.ForeignKey("requests.id", ondelete="CASCADE"), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "checks",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("environment", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("requested_by", sa.String(64)),
        sa.Column("channel", sa.String(64)),
        sa.Column("watchers", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("job_id", sa.String(64)),
        sa.Column("worker", sa.String(128)),
        sa.Column("message_ts", sa.String(32)),
        sa.Column("state", sa.String(16)),
        sa.Column("fingerprint", sa.String(64)),
        sa.Column("result", postgresql.JSONB(astext_type=sa.Text())),
        sa.Column("error", sa.Text()),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True)),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("id"),
    )
    # One check per environment at a time: a second request joins the active one.
    op.create_index("uq_checks_one_active", "checks", ["environment"], unique=True,
                    postgresql_where=sa.text("status IN ('queued', 'running')"))
    op.create_table(
        "requests",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("environment", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("args", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("sql", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("plan_hash", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("requester", sa.String(64), nullable=False),
        sa.Column("approvals_required", sa.Integer(), nullable=False),
        sa.Column("check_id", sa.BigInteger()),
        sa.Column("channel", sa.String(64)),
        sa.Column("thread_ts", sa.String(32)),
        sa.Column("message_ts", sa.String(32)),
        sa.Column("note", sa.Text()),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True)),
        sa.Column("decided_by", sa.String(64)),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_requests_environment", "requests", ["environment"])
    op.create_index("ix_requests_status", "requests", ["status"])
    op.create_table(
        "approvals",
        *_of_a_request(),
        sa.Column("approver", sa.String(64), nullable=False),
        sa.Column("plan_hash", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("request_id", "approver", "plan_hash", name="uq_approvals_once"),
    )
    op.create_index("ix_approvals_request_id", "approvals", ["request_id"])
    op.create_table(
        "executions",
        *_of_a_request(),
        sa.Column("plan_hash", sa.String(64), nullable=False),
        sa.Column("worker", sa.String(128)),
        sa.Column("job_id", sa.String(64)),
        sa.Column("outcome", sa.String(16)),
        sa.Column("statements", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("message", sa.Text()),
        sa.Column("duration_ms", sa.Float()),
        sa.Column("started_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("id"),
        # Exactly once, enforced by the database itself.
        sa.UniqueConstraint("request_id", name="uq_executions_request"),
    )


def downgrade() -> None:
    op.drop_table("executions")
    op.drop_table("approvals")
    op.drop_table("requests")
    op.drop_index("uq_checks_one_active", table_name="checks")
    op.drop_table("checks")
