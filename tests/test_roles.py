"""docs/roles.md's GRANTs are enough, on a real PostgreSQL, with no superuser: a check as the check
role with scratch databases made by the shadow role, and approved changes as the admin role.
The statements are read from the page, so the page and the test cannot drift apart."""

from __future__ import annotations

import json
import os
import re
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg import sql

from driftbot.cli import main
from tests.factory import ENUM, INIT, deploy, rows, write_migrations

ROOT = Path(__file__).resolve().parent.parent
FAILING = 'CREATE UNIQUE INDEX "User_email_key" ON "User"("email");\n'
M1, M2, M3 = "20250101000000_init", "20250102000000_media", "20250103000000_email_unique"


def documented_grants() -> dict[str, str]:
    """The SQL blocks of docs/roles.md by their `-- role: NAME` first line."""
    text = (ROOT / "docs" / "roles.md").read_text()
    blocks = re.findall(r"```sql\n-- role: ([^\n]+)\n(.*?)```", text, re.S)
    return {name.strip(): body for name, body in blocks}


def _as(url: str, role: str, dbname: str | None = None) -> str:
    parts = urlsplit(url)
    parts = parts._replace(netloc=f"{role}@{parts.hostname}:{parts.port or 5432}")
    if dbname:
        parts = parts._replace(path="/" + dbname)
    return urlunsplit(parts)


@pytest.fixture
def roles(pg_url, databases):
    """Names for app_owner and the three roles, unique to this test; dropped at the end with the
    databases they own (the test's target, and any scratch database the shadow role left)."""
    tail = uuid.uuid4().hex[:8]
    names = {base: f"{base}_{tail}" for base in ("app_owner", "driftbot_ro", "driftbot_admin", "driftbot_shadow")}
    yield names
    databases.drop_all()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        for name in names.values():
            if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (name,)).fetchone():
                continue
            owned = conn.execute("SELECT datname FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba "
                                 "WHERE r.rolname = %s", (name,)).fetchall()
            for (db,) in owned:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db)))
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


def _apply(url: str, body: str, names: dict[str, str], dbname: str) -> None:
    statement_text = body
    for base, name in sorted(names.items(), key=lambda kv: -len(kv[0])):
        statement_text = re.sub(rf"\b{base}\b", name, statement_text)
    statement_text = re.sub(r"\bON DATABASE app\b", f'ON DATABASE "{dbname}"', statement_text)
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in filter(str.strip, statement_text.split(";")):
            conn.execute(statement)


def test_the_documented_grants_check_replay_and_change_without_a_superuser(pg_url, databases, roles, tmp_path,
                                                                           monkeypatch, capsys):
    grants = documented_grants()
    assert set(grants) == {"check", "admin", "admin (enum values)", "shadow"}
    target = databases.create("roles")
    dbname = urlsplit(target).path.lstrip("/")
    owner = roles["app_owner"]
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(owner)))
        conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(dbname), sql.Identifier(owner)))
    with psycopg.connect(target, autocommit=True) as conn:  # PostgreSQL 14 and older: public is postgres's
        conn.execute(sql.SQL("ALTER SCHEMA public OWNER TO {}").format(sql.Identifier(owner)))

    # The team's own deploys run as the schema's owner; the last migration fails on real rows (case B').
    folder = write_migrations(tmp_path / "migrations", {M1: INIT, M2: ENUM, M3: FAILING})
    as_owner = _as(target, owner)
    deploy(as_owner, write_migrations(tmp_path / "first", {M1: INIT, M2: ENUM}))
    with psycopg.connect(as_owner, autocommit=True) as conn:
        conn.execute("""INSERT INTO "User" (email) VALUES ('ana@example.com'), ('ana@example.com')""")
    assert deploy(as_owner, folder) is not None  # the unique index fails on the duplicate
    assert [r["migration_name"] for r in rows(target) if r["finished_at"] is None] == [M3]

    # Exactly the page's statements, as an administrator would run them.
    _apply(pg_url, grants["check"].split("GRANT", 1)[0], roles, dbname)   # CREATE ROLE, on the server
    _apply(pg_url, grants["admin"].split("GRANT", 1)[0], roles, dbname)
    _apply(pg_url, grants["shadow"], roles, dbname)
    _apply(target, "GRANT" + grants["check"].split("GRANT", 1)[1], roles, dbname)
    _apply(target, "GRANT" + grants["admin"].split("GRANT", 1)[1], roles, dbname)

    config = tmp_path / "driftbot.toml"
    config.write_text(f'[environments.prod]\nmigrations = "{folder}"\n')
    for key in list(os.environ):
        if key.startswith("DRIFTBOT_ENVIRONMENTS"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("DRIFTBOT_CONFIG", str(config))
    monkeypatch.setenv("DRIFTBOT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("DRIFTBOT_ENVIRONMENTS__PROD__DATABASE_URL", _as(target, roles["driftbot_ro"]))
    monkeypatch.setenv("DRIFTBOT_ENVIRONMENTS__PROD__SHADOW_URL", _as(pg_url, roles["driftbot_shadow"], "postgres"))
    monkeypatch.setenv("DRIFTBOT_ENVIRONMENTS__PROD__ADMIN_URL", _as(target, roles["driftbot_admin"]))
    monkeypatch.setattr(sys, "stdin", open(os.devnull))

    # Replay templates another role left on the shadow server (a superuser's set-up run, an earlier
    # shadow role) are not the shadow role's to copy: the check must not depend on them.
    monkeypatch.setenv("DRIFTBOT_ENVIRONMENTS__PROD__DATABASE_URL", target)
    monkeypatch.setenv("DRIFTBOT_ENVIRONMENTS__PROD__SHADOW_URL", pg_url)
    monkeypatch.setenv("DRIFTBOT_CACHE_DIR", str(tmp_path / "superuser-cache"))
    assert main(["status", "prod", "--json"]) == 1
    capsys.readouterr()
    monkeypatch.setenv("DRIFTBOT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("DRIFTBOT_ENVIRONMENTS__PROD__DATABASE_URL", _as(target, roles["driftbot_ro"]))
    monkeypatch.setenv("DRIFTBOT_ENVIRONMENTS__PROD__SHADOW_URL", _as(pg_url, roles["driftbot_shadow"], "postgres"))

    # The check: history and schema, the scratch database made (and dropped) by the shadow role.
    code = main(["status", "prod", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 1 and result["state"] == "failed", result
    assert result["schema"]["checked"] is True, result["schema"]["reason"]
    assert result["history"]["failed"] == [M3]
    with psycopg.connect(_as(target, roles["driftbot_ro"])) as conn:  # and it cannot write
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("""UPDATE "_prisma_migrations" SET logs = 'x'""")

    # An approved change with the admin grants: resolve --rolled-back of the failed migration.
    code = main(["resolve", "prod", "--rolled-back", M3, "--yes"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert [r["rolled_back_at"] is not None for r in rows(target) if r["migration_name"] == M3] == [True]

    # An enum value needs the type's owner: refused with the first grants, done with the second.
    code = main(["enum", "prod", "MediaKind", "VIDEO", "--yes"])
    _, err = capsys.readouterr()
    assert code != 0 and ("permission denied" in err.lower() or "owner" in err.lower()), err
    _apply(target, grants["admin (enum values)"], roles, dbname)
    code = main(["enum", "prod", "MediaKind", "VIDEO", "--yes"])
    _, err = capsys.readouterr()
    assert code == 0, err
    with psycopg.connect(target) as conn:
        labels = [r[0] for r in conn.execute(
            "SELECT enumlabel FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid WHERE t.typname = 'MediaKind' "
            "ORDER BY enumsortorder")]
    assert labels == ["IMAGE", "AUDIO", "VIDEO"]
