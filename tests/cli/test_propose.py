"""`driftbot propose ENV --pull-request [--json]`: the real command in its own process, against a real
drifted database, a real bare repository over a local git HTTP server, and the GitHub API stand-in.
Nothing it prints, logs or leaves on disk carries the token."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.factory import INIT, deploy, execute, write_migrations
from tests.pulls.conftest import M1, REPO, TOKEN, git, git_http, github, origin  # noqa: F401 (the fixtures)

DRIFTBOT = str(Path(sys.executable).parent / "driftbot")


@pytest.fixture
def cli(db, databases, origin, github, git_http, tmp_path):
    deploy(db, write_migrations(tmp_path / "deployed", {M1: INIT}))
    execute(db, 'CREATE TABLE "staff" ("id" INTEGER NOT NULL, CONSTRAINT "staff_pkey" PRIMARY KEY ("id"))')
    config = tmp_path / "driftbot.toml"
    config.write_text(
        f'cache_dir = "{tmp_path / "cache"}"\n\n[environments.prod]\ngit = "{git_http.url}/app.git"\n'
        f'ref = "main"\npull_requests = "github"\ngithub_repo = "{REPO}"\n'
    )
    state = databases.create_state()
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "DRIFTBOT_CONFIG": str(config),
           "DRIFTBOT_ENVIRONMENTS__PROD__DATABASE_URL": db, "DRIFTBOT_STATE_URL": state,
           "DRIFTBOT_ENVIRONMENTS__PROD__GIT_TOKEN": TOKEN,  # the check reads the private repository
           "GITHUB_TOKEN": TOKEN, "DRIFTBOT_GITHUB_API_URL": github.url}

    def run(*argv: str, **extra: str) -> subprocess.CompletedProcess:
        done = subprocess.run([DRIFTBOT, *argv], env={**env, **extra}, capture_output=True, text=True, timeout=300)
        for token in {TOKEN, extra.get("GITHUB_TOKEN") or TOKEN}:
            assert token not in done.stdout + done.stderr
        return done

    run.state = state
    return run


def test_propose_opens_the_pull_request_and_prints_it_as_json(cli, origin, github, tmp_path):
    done = cli("propose", "prod", "--pull-request", "--json")
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    name = body["migration"]
    assert body["branch"].startswith(f"driftbot/prod/{name}-")  # then the SQL's hash
    assert body["pull_request"] == {"number": 1, "url": "https://github.com/acme/app/pull/1"}
    assert 'CREATE TABLE "staff"' in git(origin, "show", f"{body['branch']}:prisma/migrations/{name}/migration.sql")
    (pr,) = github.pulls
    assert (pr["head"]["ref"], pr["base"]["ref"]) == (body["branch"], "main")
    again = cli("propose", "prod", "--pull-request", "--json")
    assert json.loads(again.stdout)["pull_request"] == body["pull_request"] and len(github.pulls) == 1
    text = cli("propose", "prod", "--pull-request")
    assert text.stdout == (f"Pull request #1 is already open: https://github.com/acme/app/pull/1 "
                           f"(branch {body['branch']}).\n")
    for f in (tmp_path / "cache").rglob("*"):
        if f.is_file():
            assert TOKEN.encode() not in f.read_bytes(), f
    import psycopg

    with psycopg.connect(cli.state) as conn:
        events = conn.execute("SELECT actor, data FROM audit_events WHERE event = 'pull_request_opened'").fetchall()
    assert len(events) == 1 and events[0][1]["number"] == 1 and events[0][0].startswith("cli:")
    assert TOKEN not in json.dumps([e[1] for e in events])


def test_text_output_names_the_pull_request_the_branch_and_the_next_step(cli):
    done = cli("propose", "prod", "--pull-request")
    assert done.returncode == 0, done.stderr
    first, *rest = done.stdout.splitlines()
    assert first == "Opened pull request #1: https://github.com/acme/app/pull/1"
    assert any(line.startswith("  branch driftbot/prod/") for line in rest)
    assert rest[-1].startswith("After it is merged: driftbot resolve prod --applied ")


@pytest.mark.parametrize("extra, says", [
    ({"GITHUB_TOKEN": ""}, "driftbot: GITHUB_TOKEN is not set"),
    ({"GITHUB_TOKEN": "github_pat_wrong_token_but_long"}, "driftbot: GitHub refused the token (401 Bad credentials)"),
])
def test_errors_are_one_line_exit_2_and_never_show_the_token(cli, github, extra, says):
    done = cli("propose", "prod", "--pull-request", "--json", **extra)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith(says) and done.stderr.count("\n") == 1
    assert github.pulls == []


def test_without_pull_request_it_is_a_usage_error(cli):
    done = cli("propose", "prod")
    assert done.returncode == 2 and "--pull-request" in done.stderr and "Traceback" not in done.stderr
