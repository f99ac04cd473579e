"""The digest lists driftbot's open pull requests with their age: real PostgreSQL, Redis, a real bare
repository and the GitHub API stand-in; and the lines themselves (pure)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from driftbot.digest import content as d
from driftbot.digest.jobs import start_digest
from driftbot.engine.check import run_check
from driftbot.pulls import flow
from tests.factory import INIT, deploy, execute, write_migrations
from tests.pulls.conftest import M1, REPO, TOKEN, github, origin  # noqa: F401 (the fixtures)
from tests.support import run_worker, runtime_on

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)


def test_open_pull_requests_are_listed_with_their_age_and_a_listing_error_is_said(
        db, databases, redis_url, slack, origin, github, tmp_path):
    deploy(db, write_migrations(tmp_path / "deployed", {M1: INIT}))
    execute(db, 'CREATE TABLE "staff" ("id" INTEGER NOT NULL, CONSTRAINT "staff_pkey" PRIMARY KEY ("id"))')
    envs = {"prod": {"database_url": db, "git": f"file://{origin}", "pull_requests": "github", "github_repo": REPO}}
    rt = runtime_on(state_url=databases.create_state(), redis_url=redis_url, slack_url=slack.url, environments=envs,
                    cache_dir=tmp_path / "cache", github_token=TOKEN, github_api_url=github.url)
    try:
        env = rt.settings.environment("prod")
        opened = flow.open_pull_request(rt.settings, env, run_check(rt.settings, env))
        github.age(opened.number, days=4)
        start_digest(rt)
        run_worker(rt)
        lines = slack.posts[-1]["text"].splitlines()
        assert (":twisted_rightwards_arrows: *prod* driftbot pull request waiting for review: "
                f"<{opened.url}|#1> open 4 days") in lines
        github.token = "rotated"  # the configured token no longer works
        start_digest(rt)
        run_worker(rt)
        assert (":warning: *prod* pull requests could not be listed: GitHub refused the token (401 Bad credentials): "
                "set GITHUB_TOKEN to a valid token.") in slack.posts[-1]["text"].splitlines()
        assert all(TOKEN not in p["text"] for p in slack.posts)
    finally:
        rt.engine.dispose()


def test_pull_request_lines_oldest_first_and_they_break_the_short_form():
    quiet = d.Digest(at=NOW, statuses=(d.EnvStatus("prod", "in_sync"),))
    assert quiet.quiet and d.render(quiet)[0].endswith("all 1 environment in sync :large_green_circle:")
    pulls = (d.OpenPullRequest("prod", 7, "https://github.com/acme/app/pull/7", NOW - timedelta(hours=5)),
             d.OpenPullRequest("prod", 3, "https://github.com/acme/app/pull/3", NOW - timedelta(days=9)),
             d.OpenPullRequest("staging", 4, "https://github.com/acme/app/pull/4", None))
    digest = d.Digest(at=NOW, statuses=quiet.statuses, pull_requests=pulls,
                      pull_request_problems=(("qa", "GitHub's API at https://api.github.com cannot be reached"),))
    assert not digest.quiet
    assert d.pull_request_lines(digest) == [
        ":twisted_rightwards_arrows: *prod* driftbot pull requests waiting for review: "
        "<https://github.com/acme/app/pull/3|#3> open 9 days · <https://github.com/acme/app/pull/7|#7> open 5 h",
        ":twisted_rightwards_arrows: *staging* driftbot pull request waiting for review: <https://github.com/acme/app/pull/4|#4>",
        ":warning: *qa* pull requests could not be listed: GitHub's API at https://api.github.com cannot be reached",
    ]
    assert d.render(digest)[0].splitlines()[-1].startswith(":warning: *qa*")
