"""``driftbot doctor`` on a real PostgreSQL: roles with exactly docs/roles.md's GRANTs pass every item;
a superuser as the check role, a shadow role without CREATEDB and a Slack token without files:write are
each flagged, alone, with what to do; exit 0 only when all hold."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
import yaml
from psycopg import sql

from driftbot.cli import main
from driftbot.ops.doctor import BOT_SCOPES
from tests.factory import ENUM, INIT, deploy, write_migrations
from tests.slack_stub import SlackStub
from tests.test_roles import _apply, _as, documented_grants, roles  # noqa: F401 - roles: the fixture

ROOT = Path(__file__).resolve().parent.parent
AUDIT_KEY = "ab" * 32


def test_the_bot_scopes_doctor_asks_for_are_the_manifests():
    manifest = yaml.safe_load((ROOT / "manifest.yml").read_text())
    assert list(BOT_SCOPES) == manifest["oauth_config"]["scopes"]["bot"]


@pytest.fixture
def slack_scopes():
    s = SlackStub().start()
    yield s
    s.stop()


def _doctor(capsys) -> tuple[int, dict, str]:
    code = main(["doctor", "--json"])
    report = json.loads(capsys.readouterr().out)
    main(["doctor"])
    return code, report, capsys.readouterr().out


def _verdicts(report: dict) -> dict[str, str]:
    return {(f"{i['environment']}: " if i["environment"] else "") + i["item"]: i["verdict"] for i in report["items"]}


def test_doctor_passes_the_documented_grants_and_flags_a_writing_check_role_a_shadow_role_without_createdb_and_a_missing_scope(
        pg_url, databases, roles, state_url, redis_url, slack_scopes, tmp_path, monkeypatch, capsys):  # noqa: F811
    grants = documented_grants()
    target = databases.create("doctor")
    dbname = urlsplit(target).path.lstrip("/")
    owner = roles["app_owner"]
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(owner)))
        conn.execute(sql.SQL("ALTER DATABASE {} OWNER TO {}").format(sql.Identifier(dbname), sql.Identifier(owner)))
    with psycopg.connect(target, autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER SCHEMA public OWNER TO {}").format(sql.Identifier(owner)))
    folder = write_migrations(tmp_path / "migrations", {"20250101000000_init": INIT, "20250102000000_media": ENUM})
    deploy(_as(target, owner), folder)  # as the schema's owner: it owns the enum type MediaKind

    # Exactly the page's statements, as in tests/test_roles.py.
    _apply(pg_url, grants["check"].split("GRANT", 1)[0], roles, dbname)
    _apply(pg_url, grants["admin"].split("GRANT", 1)[0], roles, dbname)
    _apply(pg_url, grants["shadow"], roles, dbname)
    _apply(target, "GRANT" + grants["check"].split("GRANT", 1)[1], roles, dbname)
    _apply(target, "GRANT" + grants["admin"].split("GRANT", 1)[1], roles, dbname)
    _apply(target, grants["admin (enum values)"], roles, dbname)

    for key in list(os.environ):
        if key.startswith("DRIFTBOT_ENVIRONMENTS"):
            monkeypatch.delenv(key)
    config = tmp_path / "driftbot.toml"
    config.write_text(f'[environments.prod]\nmigrations = "{folder}"\nprisma_version = "6.19.3"\n')
    for name, value in {
        "DRIFTBOT_CONFIG": str(config), "DRIFTBOT_CACHE_DIR": str(tmp_path / "cache"),
        "DRIFTBOT_ENVIRONMENTS__PROD__DATABASE_URL": _as(target, roles["driftbot_ro"]),
        "DRIFTBOT_ENVIRONMENTS__PROD__ADMIN_URL": _as(target, roles["driftbot_admin"]),
        "DRIFTBOT_ENVIRONMENTS__PROD__SHADOW_URL": _as(pg_url, roles["driftbot_shadow"], "postgres"),
        "DRIFTBOT_STATE_URL": state_url, "REDIS_URL": redis_url, "DRIFTBOT_AUDIT_KEY": AUDIT_KEY,
        "SLACK_BOT_TOKEN": slack_scopes.token, "DRIFTBOT_SLACK_API_URL": slack_scopes.base_url,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(sys, "stdin", open(os.devnull))

    # The documented grants: every item holds.
    code, report, text = _doctor(capsys)
    assert code == 0 and report["ok"] is True, text
    everything = _verdicts(report)
    assert set(everything.values()) == {"ok"}, text
    assert set(everything) == {"redis", "state database", "audit key", "Slack token scopes",
                               "prod: check role (database_url)", "prod: admin role (admin_url)",
                               "prod: shadow role (shadow_url)", "prod: migrations source", "prod: Prisma version"}
    assert len(text.strip().splitlines()) == len(everything) + 1 and text.rstrip().endswith("all hold")
    assert slack_scopes.called("auth.test"), "the scopes come from auth.test's x-oauth-scopes header"

    def flagged_alone(item: str) -> dict:
        code, report, text = _doctor(capsys)
        assert code == 1 and report["ok"] is False, text
        flagged = {k for k, v in _verdicts(report).items() if v != "ok"}
        assert flagged == {item}, text
        found = next(i for i in report["items"] if _verdicts({"items": [i]}).get(item))
        assert found["todo"], found
        line = next(x for x in text.splitlines() if item.split(": ")[-1] in x and x.startswith("PROBLEM"))
        assert found["found"] in line and found["todo"] in line
        return found

    # A superuser as the check role: it can write.
    monkeypatch.setenv("DRIFTBOT_ENVIRONMENTS__PROD__DATABASE_URL", target)
    found = flagged_alone("prod: check role (database_url)")
    assert "superuser" in found["found"] and "can write" in found["found"]
    # A check role granted INSERT on _prisma_migrations: it can write too.
    monkeypatch.setenv("DRIFTBOT_ENVIRONMENTS__PROD__DATABASE_URL", _as(target, roles["driftbot_ro"]))
    with psycopg.connect(target, autocommit=True) as conn:
        conn.execute(sql.SQL("GRANT INSERT ON _prisma_migrations TO {}").format(sql.Identifier(roles["driftbot_ro"])))
    assert "INSERT" in flagged_alone("prod: check role (database_url)")["found"]
    with psycopg.connect(target, autocommit=True) as conn:
        conn.execute(sql.SQL("REVOKE INSERT ON _prisma_migrations FROM {}").format(sql.Identifier(roles["driftbot_ro"])))

    # A shadow role without CREATEDB.
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER ROLE {} NOCREATEDB").format(sql.Identifier(roles["driftbot_shadow"])))
    found = flagged_alone("prod: shadow role (shadow_url)")
    assert "may not create databases" in found["found"] and "CREATEDB" in found["todo"]
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER ROLE {} CREATEDB").format(sql.Identifier(roles["driftbot_shadow"])))

    # A Slack token missing files:write (Slack's x-oauth-scopes header says what it has).
    slack_scopes.scopes = [s for s in slack_scopes.scopes if s != "files:write"]
    found = flagged_alone("Slack token scopes")
    assert "missing files:write" in found["found"]
    slack_scopes.scopes.append("files:write")

    # Without the enum grant the admin role cannot add enum values: flagged with the page's GRANT.
    with psycopg.connect(target, autocommit=True) as conn:
        conn.execute(sql.SQL("REVOKE {} FROM {}").format(sql.Identifier(owner), sql.Identifier(roles["driftbot_admin"])))
    found = flagged_alone("prod: admin role (admin_url)")
    assert "MediaKind" in found["found"] and f"GRANT {owner}" in found["todo"]


def test_doctor_that_cannot_load_its_settings_exits_2(tmp_path, monkeypatch, capsys):
    config = tmp_path / "driftbot.toml"
    config.write_text("[environments.prod]\ndatabase_url = 'not a url'\n")
    monkeypatch.setenv("DRIFTBOT_CONFIG", str(config))
    assert main(["doctor"]) == 2
