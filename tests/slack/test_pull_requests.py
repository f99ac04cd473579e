""""Open pull request" end to end: signed HTTP into the real Bolt app (``driftbot web``), the real
worker, a real bare repository and the GitHub and Slack stand-ins. Any configured approver may
press it (checked on the server); the link goes to the thread; once the pull request is merged,
the next check proposes ``resolve --applied`` in that same thread."""

from __future__ import annotations

import json
import os
import uuid

import pytest

from tests import factory
from tests.pulls.conftest import M1, REPO, git, github, origin  # noqa: F401 (the fixtures)
from tests.pulls.conftest import TOKEN as GITHUB_TOKEN
from tests.slack.conftest import CHANNEL, SECRET, TOKEN, Bot, buttons, click, command
from tests.slack.test_flow import _ephemeral, _result_message


@pytest.fixture
def pulls_bot(tmp_path, databases, redis_url, stub, db, origin, github):
    factory.deploy(db, factory.write_migrations(tmp_path / "deployed", {M1: factory.INIT}))
    factory.execute(db, 'CREATE TABLE "staff" ("id" INTEGER NOT NULL, CONSTRAINT "staff_pkey" PRIMARY KEY ("id"))')
    config = tmp_path / "driftbot.toml"
    config.write_text("\n".join([
        'approvers = ["S0DBAS", "UDI"]', f'cache_dir = "{tmp_path / "cache"}"', "", "[environments.prod]",
        f'database_url = "{db}"', f'admin_url = "{db}"', f'git = "file://{origin}"', 'ref = "main"',
        'pull_requests = "github"', f'github_repo = "{REPO}"', f'channel = "{CHANNEL}"', "",
    ]))
    env = {
        "PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "DRIFTBOT_CONFIG": str(config),
        "SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET, "DRIFTBOT_SLACK_API_URL": stub.base_url,
        "REDIS_URL": redis_url, "DRIFTBOT_STATE_URL": databases.create_state(),
        "DRIFTBOT_QUEUE_PREFIX": f"t{uuid.uuid4().hex[:8]}:", "DRIFTBOT_HEARTBEAT_S": "0.5",
        "GITHUB_TOKEN": GITHUB_TOKEN, "DRIFTBOT_GITHUB_API_URL": github.url,
    }
    bot = Bot(env=env, tmp=tmp_path)
    yield bot
    bot.stop_all()


def _replies(stub, parent: dict) -> list[dict]:
    return [m for m in stub.posts(CHANNEL) if m["thread_ts"] == parent["ts"]]


def _reply(stub, parent: dict, contains: str) -> dict:
    return stub.wait_for(lambda: next((m for m in _replies(stub, parent) if contains in (m["text"] or "")), None),
                         what=f"a reply in the thread saying {contains!r}")


def test_an_approver_opens_the_pull_request_and_the_merge_brings_resolve_applied_to_its_thread(
        pulls_bot, stub, github, origin, db, tmp_path):
    url = pulls_bot.start_web()
    pulls_bot.start_worker()
    command(url, "status prod")
    result = _result_message(stub)
    (pr_button,) = [b for b in buttons(result) if b["action_id"].startswith("open_pull_request_")]
    assert pr_button["text"]["text"] == "Open pull request"

    click(url, pr_button["action_id"], pr_button["value"], "UANA", result)  # not an approver
    _ephemeral(stub, "UANA", "Only an approver of *prod* can open its pull request.")
    assert github.pulls == []
    click(url, pr_button["action_id"], pr_button["value"], "UBO", result)  # an approver, through group S0DBAS
    _ephemeral(stub, "UBO", "Opening the pull request")
    opened = _reply(stub, result, "opened pull request")
    assert opened["text"].startswith(":twisted_rightwards_arrows: <@UBO> opened pull request "
                                     "<https://github.com/acme/app/pull/1|#1>")
    (pr,) = github.pulls
    assert pr["base"]["ref"] == "main" and pr["head"]["ref"].startswith("driftbot/prod/")
    name = pr["head"]["ref"].removeprefix("driftbot/prod/").rsplit("-", 1)[0]  # then the SQL's hash
    assert 'CREATE TABLE "staff"' in git(origin, "show", f"{pr['head']['ref']}:prisma/migrations/{name}/migration.sql")

    click(url, pr_button["action_id"], pr_button["value"], "UDI", result)  # pressed again: the same one
    _reply(stub, result, "is already open for this drift")
    assert len(github.pulls) == 1

    github.merge(1)
    command(url, "status prod")
    merged = _reply(stub, result, "is merged:")
    assert f"`{name}` is on `main`" in merged["text"] and "two approvers approve it" in merged["text"]
    latest = stub.wait_for(lambda: [m for m in stub.posts(CHANNEL) if not m["thread_ts"] and m["ts"] != result["ts"]
                                    and "prod" in (m["text"] or "")], what="the new check result")[-1]
    (resolve,) = [b for b in buttons(latest) if b["text"]["text"] == f"Resolve --applied {name}"]
    click(url, resolve["action_id"], resolve["value"], "UANA", latest)  # the usual two-person request follows
    request = stub.wait_for(lambda: next((m for m in stub.posts(CHANNEL)
                                          if (m["text"] or "").startswith("Request #1 ")), None), what="request #1")
    assert name in json.dumps(request["blocks"])

    seen = json.dumps([m for m in stub.posts()]) + json.dumps([c.params for c in stub.calls])
    logs = "".join(p.read_text(errors="replace") for p in tmp_path.glob("*.log"))
    assert GITHUB_TOKEN not in seen and GITHUB_TOKEN not in logs
