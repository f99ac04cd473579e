"""Execution truth: whether a request's change is in the target now, read from the target itself
(the enum's values, the ``_prisma_migrations`` rows), with the read-only role.

Used when an execution's outcome was never recorded (its worker, or the state database, went away
after the target may have committed): the target says whether it ran.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from bot.engine.db import connect, parse_url
from bot.engine.history import TABLE
from bot.errors import DriftbotError
from bot.settings import EnvironmentSettings

_ENUM_HAS = ("SELECT 1 FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid JOIN pg_namespace n ON n.oid = t.typnamespace "
             "WHERE n.nspname = %s AND t.typname = %s AND e.enumlabel = %s")


def took_effect(env: EnvironmentSettings, kind: str, args: dict[str, Any], connect_timeout: int = 5) -> bool | None:
    """True when the change is in the target, False when it is not, None when the target cannot say."""
    schema = parse_url(env.database_url).schema
    try:
        with connect(env.database_url, what="target", connect_timeout=connect_timeout, autocommit=True) as conn:
            if kind == "add_enum_value":
                return conn.execute(_ENUM_HAS, (schema, args["enum"], args["value"])).fetchone() is not None
            rows = conn.execute(
                sql.SQL("SELECT finished_at IS NOT NULL, rolled_back_at IS NOT NULL FROM {} WHERE migration_name = %s")
                .format(sql.Identifier(schema, TABLE)), (args["migration"],)).fetchall()
    except (DriftbotError, psycopg.Error, KeyError):
        return None
    if kind == "resolve_applied":  # the row `resolve --applied` writes: finished, not rolled back
        return any(finished and not rolled_back for finished, rolled_back in rows)
    if kind == "resolve_rolled_back":  # no failed row left unresolved
        return bool(rows) and not any(not finished and not rolled_back for finished, rolled_back in rows)
    return None
