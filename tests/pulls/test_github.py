"""The GitHub API adapter against the stand-in's documented answers: create, list, 401, 403, 404, 422."""

from __future__ import annotations

import json

import pytest

from driftbot.errors import PullRequestError
from driftbot.pulls.github import GitHub, GitHubError, repo_from_url
from tests.pulls.conftest import REPO, TOKEN, git

BRANCH = "driftbot/prod/20261201000000_sync_schema_drift"


@pytest.fixture
def branch(origin):
    """A branch one commit ahead of main, pushed to the bare repository."""
    main = git(origin, "rev-parse", "main")
    tree = git(origin, "rev-parse", "main^{tree}")
    commit = git(origin, "commit-tree", tree, "-p", main, "-m", "x")
    git(origin, "update-ref", f"refs/heads/{BRANCH}", commit)
    return BRANCH


def test_create_then_list_with_head_and_base(github, branch):
    gh = GitHub(github.url, TOKEN, REPO)
    pr = gh.create_pull(title="t", head=branch, base="main", body="b")
    assert (pr.number, pr.head, pr.base) == (1, branch, "main")
    assert pr.url == "https://github.com/acme/app/pull/1"
    sent = json.loads(github.requests[-1]["body"])
    assert sent["head"] == branch and sent["base"] == "main" and sent["title"] == "t"
    assert github.requests[-1]["headers"]["authorization"] == f"Bearer {TOKEN}"
    assert github.requests[-1]["headers"]["x-github-api-version"] == "2022-11-28"
    assert [p.number for p in gh.open_pulls(base="main", head=branch)] == [1]
    assert "head=acme%3A" + branch.replace("/", "%2F") in github.requests[-1]["query"]
    assert gh.open_pulls(base="develop") == []


def test_listing_follows_pages(github, origin):
    gh = GitHub(github.url, TOKEN, REPO)
    for n in range(1, 131):
        github.pulls.append({"number": n, "state": "open", "html_url": f"u{n}", "title": "", "body": "",
                             "created_at": f"2026-01-01T00:{n // 60:02d}:{n % 60:02d}Z",
                             "head": {"label": f"acme:b{n}", "ref": f"b{n}"}, "base": {"ref": "main"}})
    assert sorted(p.number for p in gh.open_pulls(base="main")) == list(range(1, 131))


def test_422_when_one_is_already_open_is_recognised(github, branch):
    gh = GitHub(github.url, TOKEN, REPO)
    gh.create_pull(title="t", head=branch, base="main", body="b")
    with pytest.raises(GitHubError) as err:
        gh.create_pull(title="t", head=branch, base="main", body="b")
    assert err.value.status == 422 and err.value.already_exists
    assert str(err.value) == ("GitHub rejected the pull request (422 Validation Failed: A pull request already "
                              f"exists for acme:{branch}.).")


def test_422_for_a_head_branch_that_was_never_pushed(github):
    with pytest.raises(GitHubError) as err:
        GitHub(github.url, TOKEN, REPO).create_pull(title="t", head="driftbot/prod/nope", base="main", body="")
    assert not err.value.already_exists
    assert str(err.value) == "GitHub rejected the pull request (422 Validation Failed: head invalid)."


@pytest.mark.parametrize("token, repo, can_write, expected", [
    ("github_pat_wrong", REPO, True,
     "GitHub refused the token (401 Bad credentials): set GITHUB_TOKEN to a valid token."),
    (TOKEN, REPO, False,
     "GitHub refused access to acme/app (403: Resource not accessible by personal access token): the token needs "
     "Contents read/write and Pull requests read/write on that repository."),
    (TOKEN, "acme/other", True,
     "GitHub repository acme/other was not found (404), or the token cannot see it: check github_repo and the "
     "token's repository access."),
])
def test_refusals_are_one_line_and_never_carry_the_token(github, branch, token, repo, can_write, expected):
    github.can_write = can_write
    with pytest.raises(GitHubError) as err:
        GitHub(github.url, token, repo).create_pull(title="t", head=branch, base="main", body="")
    assert str(err.value) == expected
    assert token not in str(err.value)


def test_unreachable_api(tmp_path):
    with pytest.raises(PullRequestError, match=r"^GitHub's API at http://127.0.0.1:9 cannot be reached"):
        GitHub("http://127.0.0.1:9", TOKEN, REPO, timeout=2).open_pulls()


@pytest.mark.parametrize("url, repo", [
    ("https://github.com/acme/app.git", "acme/app"), ("https://github.com/acme/app", "acme/app"),
    ("git@github.com:acme/app.git", "acme/app"), ("ssh://git@github.com/acme/my.app.git", "acme/my.app"),
    ("https://gitlab.com/acme/app.git", None), ("file:///srv/app.git", None),
])
def test_repository_read_from_a_github_url(url, repo):
    assert repo_from_url(url) == repo
