"""From drift to a pull request, end to end: a real drifted database, the real check, a real bare
repository (file:// and a local git HTTP server) and the GitHub API stand-in. Then the merge, and
the check's ``resolve --applied`` proposal."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone

import pytest

from driftbot import audit
from driftbot.engine.check import run_check
from driftbot.errors import ConfigError, PullRequestError
from driftbot.pulls import flow
from driftbot.pulls.proposal import build
from driftbot.state.db import make_engine, sessions, upgrade
from tests.factory import INIT, SCHEMA_WITH_VIDEO, deploy, execute, write_migrations
from tests.pulls.conftest import M1, TOKEN, git, make_settings

STAFF = 'CREATE TABLE "staff" ("id" INTEGER NOT NULL, "name" TEXT, CONSTRAINT "staff_pkey" PRIMARY KEY ("id"))'


@pytest.fixture
def drifted(db, tmp_path):
    """prod has M1 applied, and a table someone made by hand (case A)."""
    deploy(db, write_migrations(tmp_path / "deployed", {M1: INIT}))
    execute(db, STAFF)
    return db


def catch_up(result):
    (finding,) = [f for f in result.findings if f.action.kind == "catch_up_migration"]
    return finding.action.arguments["migration"], finding.action.sql


@pytest.fixture(params=["file", "http"])
def git_source(request, origin) -> dict:
    """The environment's git source: the bare repository over file://, or over HTTP as a private
    repository (the check reads it with the environment's git_token, the push uses GITHUB_TOKEN)."""
    if request.param == "file":
        return {"git_url": f"file://{origin}"}
    server = request.getfixturevalue("git_http")
    return {"git_url": f"{server.url}/app.git", "git_token": TOKEN}


def test_pull_request_opened_with_the_checked_sql_on_its_branch(drifted, origin, github, git_source, tmp_path):
    source = dict(git_source)
    s = make_settings(drifted, source.pop("git_url"), tmp_path, github.url, **source)
    env = s.environment("prod")
    result = run_check(s, env)
    name, sql = catch_up(result)
    opened = flow.open_pull_request(s, env, result)
    branch = f"driftbot/prod/{name}-{hashlib.sha256(sql.encode() if sql.endswith(chr(10)) else (sql + chr(10)).encode()).hexdigest()[:12]}"
    assert opened.created and opened.migration == name and opened.branch == branch  # the SQL's hash in the name
    assert opened.to_json() == {"branch": branch, "migration": name,
                                "pull_request": {"number": 1, "url": "https://github.com/acme/app/pull/1"}, "created": True}
    committed = git(origin, "show", f"{opened.branch}:prisma/migrations/{name}/migration.sql") + "\n"
    assert committed == (sql if sql.endswith("\n") else sql + "\n")
    assert 'CREATE TABLE "staff"' in committed
    (pr,) = github.pulls
    assert pr["head"]["ref"] == opened.branch and pr["base"]["ref"] == "main"
    assert pr["title"] == f"driftbot: catch-up migration {name} for prod"
    for part in ("**prod**", "[+] Added tables", "  - staff", f"`{result.fingerprint}`",
                 f"`prisma/migrations/{name}/migration.sql`", f"/drift resolve prod --applied {name}"):
        assert part in pr["body"]
    assert all(TOKEN not in r["body"] and TOKEN not in r["path"] + r["query"] for r in github.requests)


def test_the_pull_request_body_carries_the_lint_of_its_migration(drifted, origin, github, tmp_path):
    """A unique index made by hand on a table with rows: the catch-up that records it would fail wherever the
    rows hold duplicates, and the body the GitHub stand-in received says so in Prisma's words."""
    execute(drifted, 'CREATE UNIQUE INDEX "User_email_key" ON "User"("email")')
    s = make_settings(drifted, f"file://{origin}", tmp_path, github.url)
    env = s.environment("prod")
    opened = flow.open_pull_request(s, env, run_check(s, env))
    (pr,) = github.pulls
    assert opened.created and "**Lint of this migration**" in pr["body"]
    assert ("`: A unique constraint covering the columns `[email]` on the table `User` will be added. If there are "
            "existing duplicate values, this will fail.") in pr["body"]
    assert "*Safer:* Remove or merge the duplicates first" in pr["body"]


def test_same_finding_gives_the_same_branch_and_the_same_pull_request(drifted, origin, github, tmp_path):
    s = make_settings(drifted, f"file://{origin}", tmp_path, github.url)
    env = s.environment("prod")
    first = flow.open_pull_request(s, env, run_check(s, env))
    again = flow.open_pull_request(s, env, run_check(s, env))
    assert (again.number, again.branch, again.url) == (first.number, first.branch, first.url)
    assert first.created and not again.created
    assert len(github.pulls) == 1
    assert sum(r["method"] == "POST" for r in github.requests) == 1  # looked up first, never created twice


def test_next_day_the_same_sql_under_a_new_date_finds_the_open_one(drifted, origin, github, tmp_path, monkeypatch):
    s = make_settings(drifted, f"file://{origin}", tmp_path, github.url)
    env = s.environment("prod")
    first = flow.open_pull_request(s, env, run_check(s, env))
    from driftbot.engine import schema_check

    tomorrow = datetime.now(timezone.utc) + timedelta(days=1)
    real = schema_check.check_schema
    monkeypatch.setattr("driftbot.engine.check.check_schema", lambda *a, **k: real(*a, **k, now=tomorrow))
    result = run_check(s, env)
    assert catch_up(result)[0] != first.migration  # the date stamp moved
    again = flow.open_pull_request(s, env, result)
    assert (again.number, again.migration, again.created) == (first.number, first.migration, False)
    assert len(github.pulls) == 1


def test_branch_pushed_but_no_pull_request_is_completed_by_the_next_try(drifted, origin, github, tmp_path):
    s = make_settings(drifted, f"file://{origin}", tmp_path, github.url)
    env = s.environment("prod")
    result = run_check(s, env)
    github.fail_next_create = 502
    with pytest.raises(PullRequestError, match=r"^GitHub answered 502 \(Server Error\); try again later\.$"):
        flow.open_pull_request(s, env, result)
    name, _ = catch_up(result)
    assert github.branch_sha(build(result, env).branch) is not None and github.pulls == []
    done = flow.open_pull_request(s, env, run_check(s, env))
    assert done.created and done.branch == build(result, env).branch
    assert len(github.pulls) == 1


def test_a_race_lost_at_create_returns_the_winner(drifted, origin, github, tmp_path, monkeypatch):
    s = make_settings(drifted, f"file://{origin}", tmp_path, github.url)
    env = s.environment("prod")
    result = run_check(s, env)
    won = flow.open_pull_request(s, env, result)
    # the other worker's lookup ran just before the winner's pull request existed
    lookups = iter([None])
    real = flow.find_existing
    monkeypatch.setattr(flow, "find_existing", lambda pulls, p: next(lookups, real(pulls, p)))
    lost = flow.open_pull_request(s, env, result)
    assert (lost.number, lost.created) == (won.number, False) and len(github.pulls) == 1
    assert [r["method"] for r in github.requests].count("POST") == 2  # GitHub's 422 said it exists


def test_errors_are_one_line_and_leave_nothing_half_done(drifted, origin, github, tmp_path):
    url = f"file://{origin}"
    s = make_settings(drifted, url, tmp_path, github.url, token=None)
    env = s.environment("prod")
    result = run_check(s, env)
    with pytest.raises(PullRequestError, match="^GITHUB_TOKEN is not set"):
        flow.open_pull_request(s, env, result)
    for token, repo, can_write, says in [
        ("github_pat_wrong_token_xxxxxxxx", "acme/app", True, "401 Bad credentials"),
        (TOKEN, "acme/app", False, "403: Resource not accessible by personal access token"),
        (TOKEN, "acme/nope", True, "GitHub repository acme/nope was not found (404)"),
    ]:
        github.can_write = can_write
        s = make_settings(drifted, url, tmp_path, github.url, token=token, github_repo=repo)
        with pytest.raises(PullRequestError) as err:
            flow.open_pull_request(s, s.environment("prod"), result)
        assert says in str(err.value) and "\n" not in str(err.value) and token not in str(err.value)
    # 401 and 404 stop at the lookup, before the push; a token that may read but not write (403)
    # gets as far as the branch, and the next try with a token that may write completes it.
    assert github.pulls == [] and github.branch_sha(build(result, env).branch) is not None
    github.can_write = True
    s = make_settings(drifted, url, tmp_path, github.url)
    assert flow.open_pull_request(s, s.environment("prod"), result).created


def test_settings_that_do_not_allow_a_pull_request(drifted, origin, github, tmp_path):
    s = make_settings(drifted, f"file://{origin}", tmp_path, github.url, pull_requests=None)
    env = s.environment("prod")
    with pytest.raises(ConfigError, match='set pull_requests = "github"'):
        flow.open_pull_request(s, env, run_check(s, env, schema=False))
    s = make_settings(drifted, f"file://{origin}", tmp_path, github.url, github_repo=None)
    with pytest.raises(ConfigError, match='set github_repo = "owner/name"'):
        flow.open_pull_request(s, s.environment("prod"), run_check(s, s.environment("prod")))
    s = make_settings(drifted, "git@github.com:acme/app.git", tmp_path, github.url)
    with pytest.raises(ConfigError, match="push over HTTPS with GITHUB_TOKEN; set git to the repository's https:// URL"):
        flow.open_pull_request(s, s.environment("prod"), run_check(s, s.environment("prod"), schema=False))


def merged_then_resolve_applied(s, env, github, opened):
    """Merge the pull request *opened*: the next check finds its migration applied by hand and proposes
    nothing but ``prisma migrate resolve --applied`` for it. That check."""
    github.merge(opened.number)
    after = run_check(s, env)
    assert after.history.applied_by_hand == (opened.migration,)
    assert [f.action.to_json() for f in after.findings if f.action.kind != "none"] == [
        {"kind": "resolve_applied", "migration": opened.migration,
         "command": f"prisma migrate resolve --applied {opened.migration}"}]
    return after


def test_after_the_merge_the_check_proposes_resolve_applied(drifted, origin, github, tmp_path):
    s = make_settings(drifted, f"file://{origin}", tmp_path, github.url)
    env = s.environment("prod")
    opened = flow.open_pull_request(s, env, run_check(s, env))
    after = merged_then_resolve_applied(s, env, github, opened)
    assert not [f for f in after.findings if f.action.kind == "catch_up_migration"]
    with pytest.raises(PullRequestError, match="has no catch-up or enum tracking migration to propose"):
        flow.open_pull_request(s, env, after)


def test_an_audit_event_for_each_pull_request_opened(drifted, origin, github, tmp_path, databases):
    engine = make_engine(databases.create_state())
    upgrade(engine)
    state = sessions(engine)
    s = make_settings(drifted, f"file://{origin}", tmp_path, github.url)
    env = s.environment("prod")
    for _ in range(2):
        opened = flow.open_pull_request(s, env, run_check(s, env))
        with state.begin() as session:
            flow.record_opened(session, opened, "U0AAA", channel="C1", thread_ts="1.2")
    with state() as session:
        (event,) = [e for e in audit.events(session) if e.event == "pull_request_opened"]
        assert audit.verify(session).ok
    assert event.actor == "U0AAA" and event.environment == "prod"
    assert event.data == {"branch": opened.branch, "migration": opened.migration, "number": 1,
                          "url": opened.url, "fingerprint": opened.fingerprint, "channel": "C1", "thread_ts": "1.2"}
    with state() as session:
        assert flow.opened_for(session, "prod", opened.migration) == event.data
        assert flow.opened_for(session, "staging", opened.migration) is None
        assert flow.opened_for(session, "prod", "20250101000000_other") is None
    engine.dispose()


MEDIA = "20250102000000_media"


def commit_to_main(origin, tmp_path, files: dict[str, str]) -> None:
    """A teammate's commit on main, pushed to the bare repository."""
    work = tmp_path / "teammate"
    if not work.exists():
        git(tmp_path, "clone", "-q", str(origin), str(work))
    for path, text in files.items():
        (work / path).parent.mkdir(parents=True, exist_ok=True)
        (work / path).write_text(text)
    git(work, "add", ".")
    git(work, "commit", "-qm", "teammate")
    git(work, "push", "-q", "origin", "main")


def test_enum_tracking_migration_then_resolve_applied_once_the_value_was_added(db, origin, github, tmp_path):
    enum = "CREATE TYPE \"MediaKind\" AS ENUM ('IMAGE', 'AUDIO');\n"
    commit_to_main(origin, tmp_path, {f"prisma/migrations/{MEDIA}/migration.sql": enum})
    deploy(db, write_migrations(tmp_path / "deployed", {M1: INIT, MEDIA: enum}))
    schema = tmp_path / "schema.prisma"
    schema.write_text(SCHEMA_WITH_VIDEO)
    s = make_settings(db, f"file://{origin}", tmp_path, github.url, schema=str(schema))
    env = s.environment("prod")
    result = run_check(s, env)
    (c,) = [f for f in result.findings if f.case == "C"]
    opened = flow.open_pull_request(s, env, result)
    assert opened.migration == c.action.arguments["migration"]
    assert git(origin, "show", f"{opened.branch}:prisma/migrations/{opened.migration}/migration.sql") == \
        "ALTER TYPE \"MediaKind\" ADD VALUE IF NOT EXISTS 'VIDEO';"
    assert github.pulls[0]["title"] == f"driftbot: enum tracking migration {opened.migration} for prod"
    execute(db, "ALTER TYPE \"MediaKind\" ADD VALUE IF NOT EXISTS 'VIDEO'")  # what the approved /drift enum runs
    merged_then_resolve_applied(s, env, github, opened)


def test_the_digest_gets_the_open_driftbot_pull_requests_with_their_age(drifted, origin, github, tmp_path):
    s = make_settings(drifted, f"file://{origin}", tmp_path, github.url)
    opened = flow.open_pull_request(s, s.environment("prod"), run_check(s, s.environment("prod")))
    github.age(opened.number, days=3)
    github.pulls.append({**github.pulls[0], "number": 9, "head": {"label": "acme:feature", "ref": "feature"}})
    (found,), problems = flow.open_for_digest(s)
    assert problems == [] and found[0] == "prod" and found[1].number == opened.number
    assert abs((datetime.now(timezone.utc) - found[1].created_at) - timedelta(days=3)) < timedelta(minutes=1)
    github.merge(opened.number)
    assert flow.open_for_digest(s) == ([], [])
    wrong = make_settings(drifted, f"file://{origin}", tmp_path, github.url, token="github_pat_wrong_token_xxxxxxxx")
    assert flow.open_for_digest(wrong) == ([], [
        ("prod", "GitHub refused the token (401 Bad credentials): set GITHUB_TOKEN to a valid token.")])


# --- issue #26, items 4 and 8: only driftbot's own pull requests, and never a stale one ------------

@pytest.mark.parametrize("deleted_fork", [False, True])
def test_a_forks_pull_request_with_driftbots_branch_name_is_not_driftbots(drifted, origin, github, tmp_path,
                                                                          deleted_fork):
    """A pull request from another repository whose head branch has exactly driftbot's name, and whose
    body even carries driftbot's marker, is neither "already open for this drift" nor in the digest."""
    s = make_settings(drifted, f"file://{origin}", tmp_path, github.url)
    env = s.environment("prod")
    result = run_check(s, env)
    predicted = build(result, env)
    fork = github.fork_pull("mallory", predicted.branch, title=predicted.title, body=predicted.body,
                            deleted_fork=deleted_fork)
    opened = flow.open_pull_request(s, env, result)
    assert opened.created and opened.number != fork["number"]
    mine = next(p for p in github.pulls if p["number"] == opened.number)
    assert mine["head"]["repo"]["full_name"] == "acme/app" and git(origin, "rev-parse", "--verify", opened.branch)
    found, problems = flow.open_for_digest(s)
    assert problems == [] and [pr.number for _, pr in found] == [opened.number]


def test_a_changed_drift_the_same_day_gets_its_own_pull_request(drifted, origin, github, tmp_path):
    """After a pull request was opened, a new table made by hand the same day: "Open pull request" again
    gives a pull request whose migration has the new table, never the stale one as "already open"."""
    s = make_settings(drifted, f"file://{origin}", tmp_path, github.url)
    env = s.environment("prod")
    first = flow.open_pull_request(s, env, run_check(s, env))
    execute(drifted, 'CREATE TABLE "audit_note" ("id" INTEGER)')
    result = run_check(s, env)
    name, sql = catch_up(result)
    assert name == first.migration and '"audit_note"' in sql  # same day: the same migration name
    again = flow.open_pull_request(s, env, result)
    assert again.created and again.number != first.number and again.branch != first.branch
    committed = git(origin, "show", f"{again.branch}:prisma/migrations/{name}/migration.sql")
    assert '"audit_note"' in committed and '"staff"' in committed
    assert flow.open_pull_request(s, env, run_check(s, env)).number == again.number  # and that one is found again
