"""acknowledged work: every job a person was told is on its way, recorded before it is queued

Revision ID: 0007_acked_work
Revises: 0006_audit_key_id
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0007_acked_work"
down_revision = "0006_audit_key_id"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Redis may lose a queued job (restarted without persistence); this row does not, so the sweeper
    # queues the job again, or tells the asker once (driftbot.work.acked).
    op.create_table(
        "acked_work",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("job", sa.String(64), nullable=False),
        sa.Column("queue", sa.String(16), nullable=False),
        sa.Column("kwargs", JSONB, nullable=False),
        sa.Column("asker", sa.String(64)),
        sa.Column("channel", sa.String(64)),
        sa.Column("what", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="queued"),  # queued|running|done|failed|told
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_acked_work_open", "acked_work", ["created_at"], postgresql_where=sa.text("status = 'queued'"))


def downgrade() -> None:
    op.drop_index("ix_acked_work_open", table_name="acked_work")
    op.drop_table("acked_work")
