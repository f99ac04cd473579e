"""index of finished checks by environment, newest first

Revision ID: 0004_checks_finished_index
Revises: 0003_audit_guard_digests
"""

from alembic import op
from sqlalchemy import text

revision = "0004_checks_finished_index"
down_revision = "0003_audit_guard_digests"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Every check result's trend and the digest read an environment's newest finished checks;
    # after a year (about 100,000 rows) that was a scan of the whole table each time.
    op.create_index("ix_checks_finished", "checks", ["environment", text("finished_at DESC")],
                    postgresql_where=text("status = 'finished'"))


def downgrade() -> None:
    op.drop_index("ix_checks_finished", table_name="checks")
