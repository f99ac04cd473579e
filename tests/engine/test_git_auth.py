"""A private git migrations source over HTTPS: the token comes from the environment, travels as basic
auth to that host only, and never shows in a URL, a log line or a message. Errors are whole."""

from __future__ import annotations

import logging

import pytest

from driftbot.engine import sources
from driftbot.errors import ConfigError, MigrationsSourceError
from driftbot.settings import load_settings
from tests.factory import INIT, POSTS, committed_migrations, git
from tests.git_http_server import GitHTTPServer

TOKEN = "tok-s3cret-4242"


@pytest.fixture
def server(tmp_path):
    work = committed_migrations(tmp_path / "work", {"20250101_a": INIT, "20250102_b": POSTS})
    git(tmp_path, "clone", "-q", "--bare", str(work), str(tmp_path / "served" / "app.git"))
    srv = GitHTTPServer(tmp_path / "served", TOKEN)
    yield srv
    srv.close()


@pytest.fixture
def env_vars(monkeypatch, tmp_path):
    import os

    for key in list(os.environ):
        if key.startswith("DRIFTBOT_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)

    def setup(git_url: str, token: str | None):
        monkeypatch.setenv("DRIFTBOT_ENVIRONMENTS__PROD__DATABASE_URL", "postgresql://ro@db.internal/app")
        monkeypatch.setenv("DRIFTBOT_ENVIRONMENTS__PROD__GIT", git_url)
        if token:
            monkeypatch.setenv("DRIFTBOT_ENVIRONMENTS__PROD__GIT_TOKEN", token)
        return load_settings().environment("prod")
    return setup


def authorised(server) -> list[bool]:
    """Per request: whether it carried the token as basic auth."""
    return [server._authorised(r["headers"].get("Authorization")) for r in server.requests]


def everything_written_under(folder) -> str:
    return "\n".join(p.read_bytes().decode("latin-1") for p in folder.rglob("*") if p.is_file())


def test_a_private_git_source_is_read_with_the_token_from_the_environment(server, env_vars, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    env = env_vars(f"{server.url}/app.git", TOKEN)
    assert TOKEN not in repr(env)
    migrations = sources.load(env, tmp_path / "cache")
    assert migrations.names == ("20250101_a", "20250102_b")
    assert any(authorised(server))  # the server saw the right credentials
    assert not any(TOKEN in r["path"] for r in server.requests)  # never in a URL
    assert TOKEN not in everything_written_under(tmp_path / "cache")  # not in the cached repository's config
    assert TOKEN not in caplog.text and TOKEN not in migrations.origin


def test_without_a_token_the_error_is_whole_names_the_url_and_says_what_to_do(server, env_vars, tmp_path):
    env = env_vars(f"{server.url}/app.git", None)
    with pytest.raises(MigrationsSourceError) as err:
        sources.load(env, tmp_path / "cache")
    message = str(err.value)
    assert message.startswith(f"git fetch of {server.url}/app.git failed: ")
    assert "could not read Username" in message  # git's own words, not only its last line
    assert "DRIFTBOT_ENVIRONMENTS__<ENV>__GIT_TOKEN" in message and "\n" not in message


def test_a_wrong_token_is_refused_and_never_shown(server, env_vars, tmp_path):
    env = env_vars(f"{server.url}/app.git", "not-the-token")
    with pytest.raises(MigrationsSourceError) as err:
        sources.load(env, tmp_path / "cache")
    assert "not-the-token" not in str(err.value) and "GIT_TOKEN" in str(err.value)
    assert server.requests and not any(authorised(server))


def test_credentials_written_in_the_url_never_reach_the_message(server, env_vars, tmp_path):
    host = server.url.removeprefix("http://")
    env = env_vars(f"http://bob:hunter2@{host}/missing.git", None)
    with pytest.raises(MigrationsSourceError) as err:
        sources.load(env, tmp_path / "cache")
    message = str(err.value)
    assert f"git fetch of http://{host}/missing.git failed" in message
    assert "hunter2" not in message and "bob" not in message


def test_a_token_written_in_the_file_is_refused(tmp_path):
    path = tmp_path / "driftbot.toml"
    path.write_text(f'[environments.prod]\ndatabase_url = "postgresql://ro@db/app"\ngit = "https://h/app.git"\n'
                    f'git_token = "{TOKEN}"\n')
    with pytest.raises(ConfigError) as err:
        load_settings(str(path))
    assert "secret" in str(err.value) and TOKEN not in str(err.value)
