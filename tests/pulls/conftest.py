"""A real bare git repository (the team's GitHub repository), served over file:// and over a local
git HTTP server, with the GitHub API stand-in in front of it."""

from __future__ import annotations

from pathlib import Path

import pytest

from driftbot.settings import Settings
from tests.factory import INIT, committed_migrations, git
from tests.git_http_server import GitHTTPServer
from tests.github_stub import GitHubStub

M1 = "20250101000000_init"
TOKEN = "github_pat_11AAAAAAA0TESTtokenNEVERprinted_abcdefghijklmnop"
REPO = "acme/app"


@pytest.fixture
def origin(tmp_path) -> Path:
    """The bare repository pull requests go to: main holds prisma/migrations with M1."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "README.md").write_text("app\n")
    committed_migrations(work, {M1: INIT})
    bare = tmp_path / "srv" / "app.git"
    bare.parent.mkdir()
    git(tmp_path, "clone", "-q", "--bare", str(work), str(bare))
    git(bare, "config", "http.receivepack", "true")
    return bare


@pytest.fixture
def github(origin):
    stub = GitHubStub(REPO, origin, TOKEN)
    yield stub
    stub.close()


@pytest.fixture
def git_http(origin):
    server = GitHTTPServer(origin.parent, TOKEN)
    yield server
    server.close()


def make_settings(db: str, git_url: str, tmp_path: Path, api_url: str, token: str | None = TOKEN, **env) -> Settings:
    return Settings(
        environments={"prod": {"database_url": db, "git": git_url, "ref": "main", "path": "prisma/migrations",
                               "pull_requests": "github", "github_repo": REPO, **env}},
        cache_dir=tmp_path / "cache", github_token=token, github_api_url=api_url,
    )
