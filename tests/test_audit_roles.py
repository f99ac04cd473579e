"""The application's database role cannot change or remove audit rows (real roles, no superuser)."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import exc, text

from driftbot import audit
from driftbot.state.db import make_engine, sessions, upgrade
from driftbot.state.grants import app_role_grants


def _as(url: str, role: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{role}@{parts.hostname}:{parts.port or 5432}"))


@pytest.fixture
def role(pg_url, databases):
    """A fresh LOGIN role without superuser rights, dropped at the end."""
    name = f"driftbot_app_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE").format(sql.Identifier(name)))
    yield name
    databases.drop_all()  # the role may own a database; drop those first
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


def _tamper_attempts(url: str) -> list[str]:
    """Try UPDATE, DELETE and TRUNCATE on the audit trail; return the error of each."""
    errors = []
    for statement in ("UPDATE audit_events SET actor = 'U666'", "DELETE FROM audit_events", "TRUNCATE audit_events"):
        with psycopg.connect(url) as conn:
            try:
                conn.execute(statement)
            except psycopg.errors.InsufficientPrivilege as e:
                errors.append(str(e).splitlines()[0])
            else:  # pragma: no cover - the failure this test exists for
                errors.append("ALLOWED")
    return errors


def test_app_role_with_the_documented_grants_appends_but_cannot_change(db, role, pg_url):
    owner = make_engine(db)
    upgrade(owner)
    with psycopg.connect(db, autocommit=True) as conn:
        for statement in app_role_grants(role):
            conn.execute(statement)
    app = make_engine(_as(db, role))
    upgrade(app)  # at head already: each process's start-up upgrade is harmless for the app role
    with sessions(app).begin() as s:
        audit.record(s, event="request_created", actor="U1", environment="prod", request_id=1)
        audit.record(s, event="approved", actor="U2", environment="prod", request_id=1)
    errors = _tamper_attempts(_as(db, role))
    assert all(e.startswith("permission denied for table audit_events") for e in errors), errors
    with sessions(app)() as s:
        assert audit.verify(s) == audit.ChainReport(True, 2)
        assert s.execute(text("SELECT has_table_privilege(current_user, 'audit_events', 'INSERT')")).scalar()
        assert not s.execute(text("SELECT has_table_privilege(current_user, 'audit_events', 'UPDATE')")).scalar()
    app.dispose()
    owner.dispose()


def test_even_the_owning_role_cannot_update_or_delete_without_disabling_the_trigger(databases, role, pg_url):
    url = databases.create("owner")
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(
            sql.Identifier(urlsplit(url).path.lstrip("/")), sql.Identifier(role)))
    engine = make_engine(_as(url, role))
    upgrade(engine)  # the role owns every table it created
    with sessions(engine).begin() as s:
        audit.record(s, event="execution_started", actor="worker-1", environment="prod", request_id=3)
    errors = _tamper_attempts(_as(url, role))
    assert all("audit_events is append-only" in e for e in errors), errors
    with pytest.raises(exc.DBAPIError, match="append-only: DELETE"):
        with sessions(engine).begin() as s:
            s.execute(text("DELETE FROM audit_events"))
    with sessions(engine)() as s:
        assert audit.verify(s).events == 1
    engine.dispose()
