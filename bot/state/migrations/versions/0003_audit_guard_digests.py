"""audit events append-only; digest runs

Revision ID: 0003_audit_guard_digests
Revises: 0002_requests
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003_audit_guard_digests"
down_revision = "0002_requests"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A trigger binds every role, the table owner included: editing or deleting an
    # audit row then takes ALTER TABLE ... DISABLE TRIGGER, which only the owner or
    # a superuser may do. With the separate application role of docs/state-grants.md
    # (which lacks UPDATE/DELETE/TRUNCATE altogether) the application cannot at all.
    op.execute(
        """
        CREATE FUNCTION driftbot_audit_append_only() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'audit_events is append-only: % is not allowed', TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER audit_events_no_update_delete BEFORE UPDATE OR DELETE ON audit_events "
        "FOR EACH ROW EXECUTE FUNCTION driftbot_audit_append_only()"
    )
    op.execute(
        "CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events "
        "FOR EACH STATEMENT EXECUTE FUNCTION driftbot_audit_append_only()"
    )
    op.execute("REVOKE UPDATE, DELETE, TRUNCATE ON audit_events FROM PUBLIC")

    op.create_table(
        "digest_runs",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("period", sa.DateTime(timezone=True)),
        sa.Column("requested_by", sa.String(64)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("environments", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("posts", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("id"),
        # The claim: one scheduled digest per period, whichever clock process enqueued it.
        sa.UniqueConstraint("period", name="uq_digest_runs_period"),
    )


def downgrade() -> None:
    op.drop_table("digest_runs")
    op.execute("DROP TRIGGER audit_events_no_truncate ON audit_events")
    op.execute("DROP TRIGGER audit_events_no_update_delete ON audit_events")
    op.execute("DROP FUNCTION driftbot_audit_append_only()")
