"""requests bound to their workspace and approver policy; clicks counted once; check posts retried

Revision ID: 0005_click_binding
Revises: 0004_checks_finished_index
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0005_click_binding"
down_revision = "0004_checks_finished_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The workspace a request was asked in: a click from another workspace never counts.
    op.add_column("requests", sa.Column("team_id", sa.String(32)))
    # The approver list configured when the request was made: execution applies the stricter
    # of it and the list configured then.
    op.add_column("requests", sa.Column("approvers", JSONB))
    # One row per delivered click (Slack's trigger_id and action_ts): a re-delivered or replayed
    # click finds its row and counts for nothing.
    op.create_table(
        "clicks",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("trigger_id", sa.String(64), nullable=False),
        sa.Column("action_ts", sa.String(32), nullable=False),
        sa.Column("request_id", sa.BigInteger),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.UniqueConstraint("trigger_id", "action_ts", name="uq_clicks_once"),
    )
    # A check result Slack would not take: the sweeper posts it again (failed -> posting -> NULL).
    op.add_column("checks", sa.Column("post_state", sa.String(16)))
    op.add_column("checks", sa.Column("post_attempts", sa.Integer, nullable=False, server_default="0"))


def downgrade() -> None:
    op.drop_column("checks", "post_attempts")
    op.drop_column("checks", "post_state")
    op.drop_table("clicks")
    op.drop_column("requests", "approvers")
    op.drop_column("requests", "team_id")
