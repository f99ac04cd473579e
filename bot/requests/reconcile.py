"""Execution truth: whether a request's change is in the target now, read from the target itself
(the enum's values, the ``_prisma_migrations`` rows), with the read-only role.

Used when an execution's outcome was never recorded (its worker, or the state database, went away
after the target may have committed): the target says whether it ran.
"""

from __future__ import annotations

from typing import Any

import psycopg

from driftbot.engine import actions
from driftbot.engine.db import connect, parse_url
from driftbot.errors import DriftbotError
from driftbot.settings import EnvironmentSettings


def took_effect(env: EnvironmentSettings, kind: str, args: dict[str, Any], connect_timeout: int = 5) -> bool | None:
    """True when the change is in the target, False when it is not, None when the target cannot say."""
    found = actions.executable(kind)
    if found is None:
        return None
    schema = parse_url(env.database_url).schema
    try:
        with connect(env.database_url, what="target", connect_timeout=connect_timeout, autocommit=True) as conn:
            return found.took_effect(conn, schema, args)
    except (DriftbotError, psycopg.Error, KeyError):
        return None
