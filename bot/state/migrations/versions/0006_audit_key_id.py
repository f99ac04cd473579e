"""audit events name the key of their HMAC

Revision ID: 0006_audit_key_id
Revises: 0005_click_binding
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_audit_key_id"
down_revision = "0005_click_binding"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Events hashed with DRIFTBOT_AUDIT_KEY (HMAC-SHA256) name the key's fingerprint here, so a
    # rotated key's events still verify and an unkeyed event after keyed ones is seen as a rewrite.
    # Adding a column updates no row: the append-only triggers are not involved, and events
    # recorded before this revision stay unkeyed (NULL) and verify as before.
    op.add_column("audit_events", sa.Column("key_id", sa.String(16), nullable=True))


def downgrade() -> None:
    op.drop_column("audit_events", "key_id")
