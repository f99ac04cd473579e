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
    config.write_text(f'[environments.prod]\nmigrations = "{folder}"\nprisma_version = "6.19.3"\nchannel = "C0DBOPS"\n')
    slack_scopes.conversations["C0DBOPS"] = {"name": "db-ops", "is_member": True}
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
                               "prod: shadow role (shadow_url)", "prod: migrations source", "prod: Prisma version",
                               "prod: Slack channel"}
    assert len(text.strip().splitlines()) == len(everything) + 1 and text.rstrip().endswith("all hold")
    assert slack_scopes.called("auth.test"), "the scopes come from auth.test's x-oauth-scopes header"
    assert [c.params["channel"] for c in slack_scopes.called("conversations.info")] == ["C0DBOPS"] * 2
    assert "ok      prod: Slack channel: in #db-ops (C0DBOPS)" in text

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

    # The bot taken out of the channel (conversations.info's is_member false).
    slack_scopes.conversations["C0DBOPS"]["is_member"] = False
    found = flagged_alone("prod: Slack channel")
    assert found["found"] == "driftbot is not in #db-ops (C0DBOPS)" and "/invite @driftbot" in found["todo"]
    slack_scopes.conversations["C0DBOPS"]["is_member"] = True

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


# --- the Slack channels and a git migrations source, item by item ------------------------------------------

GIT_TOKEN, GITHUB_TOKEN = "git-read-tok-7f3a9c", "github_pat_11DOCTORtokenNEVERshown_xyz"


@pytest.fixture
def remote(tmp_path):
    """The team's repository over smart HTTP (a git token as basic auth) and GitHub's API in front of it."""
    from tests.factory import committed_migrations, git
    from tests.git_http_server import GitHTTPServer
    from tests.github_stub import GitHubStub

    work = committed_migrations(tmp_path / "work", {"20250101000000_init": INIT})
    bare = tmp_path / "served" / "app.git"
    git(tmp_path, "clone", "-q", "--bare", str(work), str(bare))
    served, github = GitHTTPServer(tmp_path / "served", GIT_TOKEN), GitHubStub("acme/app", bare, GITHUB_TOKEN)
    yield served, github
    served.close()
    github.close()


def _settings(tmp_path, monkeypatch, text: str, env: dict[str, str]):
    from driftbot.settings import load_settings

    for key in list(os.environ):
        if key.startswith(("DRIFTBOT_", "SLACK_")) or key in ("GITHUB_TOKEN", "REDIS_URL"):
            monkeypatch.delenv(key)
    (tmp_path / "driftbot.toml").write_text(text)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return load_settings(str(tmp_path / "driftbot.toml"))


def test_doctor_says_whether_the_bot_is_in_each_channel_as_slack_answers(slack_scopes, tmp_path, monkeypatch):
    from driftbot.ops import doctor

    (tmp_path / "m").mkdir()
    settings = _settings(tmp_path, monkeypatch, '[environments.prod]\nmigrations = "m"\nchannel = "C0PUB"\n'
                         'channels = ["G0PRIV"]\n[environments.qa]\nmigrations = "m"\n[environments.dev]\n'
                         'migrations = "m"\nchannel = "C0GONE"\n',
                         {"SLACK_BOT_TOKEN": slack_scopes.token, "DRIFTBOT_SLACK_API_URL": slack_scopes.base_url,
                          "DRIFTBOT_ENVIRONMENTS__PROD__DATABASE_URL": "postgresql://ro@db/app",
                          "DRIFTBOT_ENVIRONMENTS__QA__DATABASE_URL": "postgresql://ro@db/qa",
                          "DRIFTBOT_ENVIRONMENTS__DEV__DATABASE_URL": "postgresql://ro@db/dev"})
    slack_scopes.conversations.update({"C0PUB": {"name": "db-ops", "is_member": True},
                                       "G0PRIV": {"name": "db-approvals", "is_private": True, "is_member": True},
                                       "C0GONE": None})
    item = doctor.channel_item(settings, settings.environment("prod"))
    assert item.verdict == "ok" and item.found == "in #db-ops (C0PUB); in #db-approvals (G0PRIV)", item
    # Not tied to a channel: nothing to check.
    assert doctor.channel_item(settings, settings.environment("qa")).verdict == "skipped"
    # A channel that does not exist: channel_not_found.
    gone = doctor.channel_item(settings, settings.environment("dev"))
    assert gone.verdict == "problem" and "C0GONE was not found" in gone.found and "channel ID" in gone.todo
    # A private channel the bot left: Slack does not show it to the bot at all (channel_not_found).
    slack_scopes.conversations["G0PRIV"]["is_member"] = False
    left = doctor.channel_item(settings, settings.environment("prod"))
    assert left.verdict == "problem" and left.found == "G0PRIV was not found, or is a private channel driftbot is not in"
    # An archived channel.
    slack_scopes.conversations["G0PRIV"].update(is_member=True, is_archived=True)
    assert doctor.channel_item(settings, settings.environment("prod")).found == "#db-approvals (G0PRIV) is archived"
    slack_scopes.conversations["G0PRIV"]["is_archived"] = False
    # An installation from before the read scopes: Slack's missing_scope names the one needed.
    slack_scopes.scopes.remove("groups:read")
    scoped = doctor.channel_item(settings, settings.environment("prod"))
    assert scoped.verdict == "problem" and scoped.found == "the token may not read channels (missing groups:read)"
    assert "reinstall" in scoped.todo
    # What the stand-in says of posting is what Slack says: not_in_channel for a public channel the bot left.
    slack_scopes.conversations["C0PUB"]["is_member"] = False
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError

    client = WebClient(token=slack_scopes.token, base_url=slack_scopes.base_url)
    for channel, error in (("C0PUB", "not_in_channel"), ("C0GONE", "channel_not_found")):
        with pytest.raises(SlackApiError) as refused:
            client.chat_postMessage(channel=channel, text="hello")
        assert refused.value.response["error"] == error
    slack_scopes.expect_violations()


def test_doctor_finds_the_git_ref_and_has_github_accept_the_token(remote, slack_scopes, tmp_path, monkeypatch, capsys):
    from driftbot.ops import doctor

    served, github = remote
    url = f"{served.url}/app.git"
    text = (f'[environments.prod]\ngit = "{url}"\nref = "main"\nprisma_version = "6.19.3"\n'
            'pull_requests = "github"\ngithub_repo = "acme/app"\n')
    base = {"DRIFTBOT_ENVIRONMENTS__PROD__DATABASE_URL": "postgresql://ro@127.0.0.1:1/app",
            "DRIFTBOT_ENVIRONMENTS__PROD__GIT_TOKEN": GIT_TOKEN, "GITHUB_TOKEN": GITHUB_TOKEN,
            "DRIFTBOT_GITHUB_API_URL": github.url, "DRIFTBOT_CACHE_DIR": str(tmp_path / "cache")}

    def items(**env) -> dict[str, doctor.Item]:
        settings = _settings(tmp_path, monkeypatch, text.replace('ref = "main"', f'ref = "{env.pop("ref", "main")}"'),
                             {**base, **env})
        return {i.item: i for i in doctor.environment_items(settings, settings.environment("prod"))}

    found = items()
    assert found["git ref"].verdict == "ok" and found["git ref"].found.startswith(f"`main` found in {url} at ")
    assert found["GitHub token (GITHUB_TOKEN)"].verdict == "ok", found["GitHub token (GITHUB_TOKEN)"]
    assert found["migrations source"].verdict == "ok" and "1 migrations readable" in found["migrations source"].found
    assert github.requests[-1]["path"] == "/repos/acme/app/pulls"
    assert github.requests[-1]["headers"]["authorization"] == f"Bearer {GITHUB_TOKEN}"

    # A ref the repository does not have: one problem, and nothing read from it.
    found = items(ref="release-9")
    assert found["git ref"].verdict == "problem" and found["git ref"].found == f"`release-9` was not found in {url}"
    assert "git ls-remote" in found["git ref"].todo
    assert found["migrations source"].verdict == found["Prisma version"].verdict == "skipped"
    # The git token refused by the server: the ref's line says which variable to set.
    found = items(DRIFTBOT_ENVIRONMENTS__PROD__GIT_TOKEN="not-the-token")
    assert found["git ref"].verdict == "problem" and "DRIFTBOT_ENVIRONMENTS__PROD__GIT_TOKEN" in found["git ref"].todo
    # GitHub refuses GITHUB_TOKEN (401 Bad credentials).
    found = items(GITHUB_TOKEN="github_pat_revoked")
    item = found["GitHub token (GITHUB_TOKEN)"]
    assert item.verdict == "problem" and "(401)" in item.found and "set GITHUB_TOKEN to a valid token" in item.todo
    # No GITHUB_TOKEN while pull requests are on.
    found = items(GITHUB_TOKEN="")
    assert found["GitHub token (GITHUB_TOKEN)"].verdict == "problem"
    assert "GITHUB_TOKEN is not set" in found["GitHub token (GITHUB_TOKEN)"].found

    # Through the command: the lines and the JSON, neither carrying a token; exit 1 (the check role's server is away).
    _settings(tmp_path, monkeypatch, text, {**base, "GITHUB_TOKEN": "github_pat_revoked"})
    monkeypatch.setenv("DRIFTBOT_CONFIG", str(tmp_path / "driftbot.toml"))
    code = main(["doctor", "--json"])
    out = capsys.readouterr().out
    report = json.loads(out)
    assert code == 1 and report["exit_code"] == 1
    lines = {i["item"]: i for i in report["items"] if i["environment"] == "prod"}
    assert lines["git ref"]["verdict"] == "ok" and lines["GitHub token (GITHUB_TOKEN)"]["verdict"] == "problem"
    assert main(["doctor"]) == 1
    shown = capsys.readouterr().out
    assert f"ok      prod: git ref: `main` found in {url} at " in shown
    assert "PROBLEM prod: GitHub token (GITHUB_TOKEN): " in shown and " -> GitHub refused the token (401" in shown
    for secret in (GIT_TOKEN, GITHUB_TOKEN, "github_pat_revoked"):
        assert secret not in out and secret not in shown
