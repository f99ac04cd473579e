"""The GRANTs that make the audit trail append-only for the application's role.

The schema belongs to an owner role that runs the Alembic upgrade; the bot's
processes connect as an application role that may read and write its tables but
may only INSERT into ``audit_events``. docs/state-grants.md shows the same
statements; the tests apply them to a real non-superuser role.
"""

from __future__ import annotations

from psycopg import sql


def app_role_grants(role: str, schema: str = "public") -> list[sql.Composed]:
    r, s = sql.Identifier(role), sql.Identifier(schema)
    return [
        sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(s, r),
        sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {} TO {}").format(s, r),
        sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {} TO {}").format(s, r),
        # Tables added by later revisions get the same rights ...
        sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {}").format(s, r),
        sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT USAGE, SELECT ON SEQUENCES TO {}").format(s, r),
        # ... but the audit trail is append-only: read and add, never change or remove.
        sql.SQL("REVOKE UPDATE, DELETE, TRUNCATE ON {}.audit_events FROM {}").format(s, r),
    ]
