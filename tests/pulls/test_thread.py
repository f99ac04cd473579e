"""The pull request asked for from a check's thread, and the thread told once it is merged: a real
state database, the Slack Web API stand-in, the GitHub API stand-in and a real bare repository."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from driftbot.engine.check import run_check
from driftbot.pulls import flow
from driftbot.work import pull_requests as thread
from driftbot.runtime import Runtime
from driftbot.settings import Settings
from driftbot.state.db import make_engine, sessions, upgrade
from driftbot.state.models import AuditEvent, Check
from tests.factory import INIT, deploy, execute, write_migrations
from tests.pulls.conftest import M1, REPO, TOKEN
from tests.slack_stub import SlackStub

CHANNEL, THREAD = "C0DBOPS", "1700000000.000001"


@pytest.fixture
def slack():
    stub = SlackStub(token="xoxb-test").start()
    yield stub
    stub.stop()
    stub.assert_clean()


@pytest.fixture
def rt(db, databases, redis_url, origin, github, slack, tmp_path):
    deploy(db, write_migrations(tmp_path / "deployed", {M1: INIT}))
    execute(db, 'CREATE TABLE "staff" ("id" INTEGER NOT NULL, CONSTRAINT "staff_pkey" PRIMARY KEY ("id"))')
    settings = Settings(
        environments={"prod": {"database_url": db, "git": f"file://{origin}", "pull_requests": "github",
                               "github_repo": REPO, "channel": CHANNEL}},
        approvers=["U0AAA", "U0BBB"], cache_dir=tmp_path / "cache", state_url=databases.create_state(),
        slack_bot_token="xoxb-test", slack_api_url=slack.base_url, redis_url=redis_url, github_token=TOKEN, github_api_url=github.url,
    )
    engine = make_engine(settings.state_url)
    upgrade(engine)
    yield Runtime(settings=settings, engine=engine, sessions=sessions(engine))
    engine.dispose()


def finished_check(rt) -> tuple[int, object]:
    result = run_check(rt.settings, rt.settings.environment("prod"))
    with rt.sessions.begin() as s:
        row = Check(environment="prod", status="finished", requested_by="U0AAA", channel=CHANNEL, watchers=[],
                    state=result.state, fingerprint=result.fingerprint, result=result.to_json(),
                    started_at=datetime.now(timezone.utc), finished_at=datetime.now(timezone.utc))
        s.add(row)
        s.flush()
        return row.id, result


def index_of(result, kind: str) -> int:
    return next(i for i, f in enumerate(result.findings) if f.action.kind == kind)


def thread_texts(slack) -> list[str]:
    return [m["text"] for m in slack.posts(CHANNEL) if m.get("thread_ts") == THREAD]


def test_the_link_goes_to_the_thread_once_and_the_audit_trail_says_who_asked(rt, slack, github):
    check_id, result = finished_check(rt)
    i = index_of(result, "catch_up_migration")
    ask = dict(check_id=check_id, finding=i, user="U0BBB", channel=CHANNEL, thread_ts=THREAD)
    assert thread.open_from_thread(rt, **ask) == "opened"
    assert thread.open_from_thread(rt, **ask) == "existing"
    assert thread.open_from_thread(rt, **{**ask, "user": "U0ZZZ"}) == "refused"  # not an approver
    assert len(github.pulls) == 1
    name = result.findings[i].action.arguments["migration"]
    opened, existing = thread_texts(slack)
    assert opened.startswith(":twisted_rightwards_arrows: <@U0BBB> opened pull request "
                             "<https://github.com/acme/app/pull/1|#1> with ")
    assert f"`driftbot/prod/{name}-" in opened and f"`resolve --applied {name}`" in opened
    assert existing == ("Pull request <https://github.com/acme/app/pull/1|#1> is already open for this drift "
                        f"(branch `{github.pulls[0]['head']['ref']}`).")
    with rt.sessions() as s:
        events = [e for e in s.query(AuditEvent).order_by(AuditEvent.id) if e.event == "pull_request_opened"]
    assert [(e.actor, e.data["channel"], e.data["thread_ts"], e.data["number"]) for e in events] == [
        ("U0BBB", CHANNEL, THREAD, 1)]
    assert all(TOKEN not in (m["text"] or "") + str(m["blocks"]) for m in slack.posts())


def test_drift_that_changed_since_the_check_is_not_turned_into_a_pull_request(rt, slack, github, db):
    check_id, result = finished_check(rt)
    execute(db, 'CREATE TABLE "audit_copy" ("id" INTEGER)')
    got = thread.open_from_thread(rt, check_id=check_id, finding=index_of(result, "catch_up_migration"),
                                  user="U0BBB", channel=CHANNEL, thread_ts=THREAD)
    assert got == "changed" and github.pulls == []
    assert thread_texts(slack) == ["The drift on *prod* changed since this check, so a pull request would not hold "
                                   "the SQL shown here. Run `/drift status prod` again and open it from the new result."]


def test_an_error_is_one_line_in_the_thread_without_the_token(rt, slack, github):
    check_id, result = finished_check(rt)
    github.can_write = False
    got = thread.open_from_thread(rt, check_id=check_id, finding=index_of(result, "catch_up_migration"),
                                  user="U0BBB", channel=CHANNEL, thread_ts=THREAD)
    assert got == "error"
    (said,) = thread_texts(slack)
    assert said.startswith(":warning: The pull request could not be opened: GitHub refused access to acme/app (403")
    assert TOKEN not in said and "\n" not in said
    assert thread.open_from_thread(rt, check_id=check_id + 99, finding=0, user="U0BBB", channel=CHANNEL,
                                   thread_ts=THREAD) == "gone"


def test_after_the_merge_resolve_applied_is_proposed_in_the_pull_requests_thread_once(rt, slack, github):
    check_id, result = finished_check(rt)
    thread.open_from_thread(rt, check_id=check_id, finding=index_of(result, "catch_up_migration"),
                            user="U0BBB", channel=CHANNEL, thread_ts=THREAD)
    name = result.findings[index_of(result, "catch_up_migration")].action.arguments["migration"]
    assert thread.after_merge(rt, check_id, result) == []  # not merged yet: nothing to say
    github.merge(1)
    after_id, after = finished_check(rt)
    assert thread.after_merge(rt, after_id, after) == [name]
    message = [m for m in slack.posts(CHANNEL) if m.get("thread_ts") == THREAD][-1]
    assert message["text"] == (f"Pull request <https://github.com/acme/app/pull/1|#1> is merged: `{name}` is on `main`, "
                               "and *prod* already has everything it creates. Record it as applied instead of "
                               f"deploying it: the *Resolve --applied {name}* button under the latest check result, "
                               f"or `/drift resolve prod --applied {name}` (two approvers approve it).")
    assert [f.action.to_json() for f in after.findings if f.action.kind == "resolve_applied"] == [
        {"kind": "resolve_applied", "migration": name, "command": f"prisma migrate resolve --applied {name}"}]
    again_id, again = finished_check(rt)
    assert thread.after_merge(rt, again_id, again) == []  # said once
    with rt.sessions() as s:
        assert flow.opened_for(s, "prod", name)["thread_ts"] == THREAD
