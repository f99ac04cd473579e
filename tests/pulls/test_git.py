"""Pushing the migration branch with real git: to a bare repository over file:// and over a local
git HTTP server (git http-backend) that wants the token, as GitHub does."""

from __future__ import annotations

import subprocess

import pytest

from driftbot.errors import PullRequestError
from driftbot.pulls.git import Repository
from tests.pulls.conftest import TOKEN, git

PATH = "prisma/migrations/20261201000000_sync_schema_drift/migration.sql"
SQL = '-- CreateTable\nCREATE TABLE "staff" (\n    "id" INTEGER NOT NULL\n);\n'
BRANCH = "driftbot/prod/20261201000000_sync_schema_drift"


def push(repo: Repository, content: str = SQL):
    return repo.push_file(base="main", branch=BRANCH, path=PATH, content=content, message="driftbot: catch-up\n")


def assert_branch_holds_the_file(origin):
    assert git(origin, "show", f"{BRANCH}:{PATH}") + "\n" == SQL
    # one commit on top of main, changing that one file and nothing else
    assert git(origin, "rev-parse", f"{BRANCH}^") == git(origin, "rev-parse", "main")
    assert git(origin, "diff", "--name-only", "main", BRANCH) == PATH
    assert git(origin, "log", "-1", "--format=%an <%ae>", BRANCH) == "driftbot <driftbot@users.noreply.github.com>"


def test_file_url_branch_pushed_with_the_file_on_top_of_ref(origin, tmp_path):
    pushed = push(Repository(f"file://{origin}", tmp_path / "cache"))
    assert pushed.created and pushed.branch == BRANCH
    assert git(origin, "rev-parse", BRANCH) == pushed.commit
    assert_branch_holds_the_file(origin)


def test_same_file_again_is_the_same_branch_and_nothing_is_pushed(origin, tmp_path):
    repo = Repository(f"file://{origin}", tmp_path / "cache")
    first = push(repo)
    again = push(Repository(f"file://{origin}", tmp_path / "other-cache"))  # another worker, another cache
    assert not again.created and again.commit == first.commit
    assert git(origin, "rev-parse", BRANCH) == first.commit


def test_branch_of_that_name_with_other_content_is_one_line_and_left_alone(origin, tmp_path):
    push(Repository(f"file://{origin}", tmp_path / "cache"))
    before = git(origin, "rev-parse", BRANCH)
    with pytest.raises(PullRequestError) as err:
        push(Repository(f"file://{origin}", tmp_path / "cache"), content="SELECT 2;\n")
    assert str(err.value) == (f"Branch {BRANCH} already exists in file://{origin} with other content; delete the "
                              "branch (or merge it), then try again.")
    assert git(origin, "rev-parse", BRANCH) == before


def test_ref_that_is_not_a_branch(origin, tmp_path):
    with pytest.raises(PullRequestError, match="Branch `release` \\(setting `ref`\\) was not found"):
        Repository(f"file://{origin}", tmp_path / "cache").push_file(
            base="release", branch=BRANCH, path=PATH, content=SQL, message="m")


def test_push_rejected_by_the_server_is_one_line(origin, tmp_path):
    hook = origin / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'protected: driftbot/* needs review' >&2\nexit 1\n")
    hook.chmod(0o755)
    with pytest.raises(PullRequestError) as err:
        push(Repository(f"file://{origin}", tmp_path / "cache"))
    assert str(err.value).startswith(f"git push of branch {BRANCH} to file://{origin} was rejected: ")
    assert "\n" not in str(err.value)
    assert subprocess.run(["git", "rev-parse", "--verify", "--quiet", BRANCH], cwd=origin).returncode != 0


def test_http_push_sends_the_token_as_a_header_only(origin, tmp_path, git_http):
    url = f"{git_http.url}/app.git"
    pushed = push(Repository(url, tmp_path / "cache", token=TOKEN))
    assert pushed.created
    assert_branch_holds_the_file(origin)
    assert git_http.requests, "the push went over HTTP"
    assert all(TOKEN not in r["path"] for r in git_http.requests)
    assert any(r["headers"].get("Authorization", "").startswith("Basic ") for r in git_http.requests)
    # nothing written to disk carries the token: the cache repository's config, its refs, its logs
    cache = tmp_path / "cache"
    for f in cache.rglob("*"):
        if f.is_file():
            assert TOKEN.encode() not in f.read_bytes(), f
    assert push(Repository(url, tmp_path / "cache", token=TOKEN)).created is False


def test_http_without_the_token_or_with_a_wrong_one_fails_in_one_line_without_it(origin, tmp_path, git_http):
    url = f"{git_http.url}/app.git"
    for token in (None, "github_pat_wrong_but_long_enough_to_scrub"):
        with pytest.raises(PullRequestError) as err:
            push(Repository(url, tmp_path / "cache", token=token))
        message = str(err.value)
        assert message.startswith(f"The repository {url} cannot be read: ") and "\n" not in message
        assert TOKEN not in message and (token is None or token not in message)
    assert subprocess.run(["git", "rev-parse", "--verify", "--quiet", BRANCH], cwd=origin).returncode != 0
