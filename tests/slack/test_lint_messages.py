"""The lint in Slack: the check's message and the request message of a resolve carry what the migration
will do on this environment's data, checked against the strict Slack stand-in's rules (tests/slack_rules.py)
and delivered end to end through the stand-in, which refuses what Slack refuses."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from driftbot.engine.lint import LintFinding, LintReport
from driftbot.engine.result import CheckResult, SchemaReport
from driftbot.slack import views
from driftbot.state.models import Request
from tests.slack.conftest import CHANNEL, buttons, click, command
from tests.slack.test_flow import FAILED, _request_message, _result_message
from tests.slack_rules import message_violations

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=timezone.utc)


def _finding(i: int, severity: str = "will_fail", long: int = 0) -> LintFinding:
    return LintFinding(severity, "not_null_over_nulls", FAILED + "x" * long, i,
                       'ALTER TABLE "User" ALTER COLUMN "name" SET NOT NULL' + " -- <&*`" * long,
                       "Rows of `User` hold NULL in `name` on this database (3 found)." + " <b>&`*_" * long,
                       "Backfill `name` first." * (1 + long), "23502" if severity == "will_fail" else None)


def _request(kind: str = "resolve_rolled_back") -> Request:
    return Request(id=7, environment="prod", kind=kind, args={"migration": FAILED}, sql="UPDATE ...", fingerprint="f" * 64,
                   plan_hash="a" * 64, status="requested", requester="UANA", approvals_required=2,
                   expires_at=NOW + timedelta(hours=24))


def _text(blocks) -> str:
    return "\n".join(b["text"]["text"] for b in blocks if b.get("type") == "section")


def test_the_request_message_shows_the_lint_before_the_buttons():
    text, blocks = views.request_message(_request(), [], lint=(_finding(1), _finding(2, "risky")))
    shown = _text(blocks)
    assert f":warning: *Lint of `{FAILED}` on prod's data*: 1 will fail · 1 risky" in shown
    assert "(`migrate deploy` runs it again after this)" in shown
    assert "• *will fail* (23502) #1 `ALTER TABLE \"User\" ALTER COLUMN \"name\" SET NOT NULL`: Rows of" in shown
    assert "_Safer:_ Backfill" in shown
    kinds = [b["type"] for b in blocks]
    assert kinds.index("actions") > 1  # the lint comes before the Approve button
    assert message_violations(text, blocks) == []
    _, quiet = views.request_message(_request(), [])
    assert "Lint of" not in _text(quiet)


def test_lint_notes_stay_within_slacks_limits_whatever_their_size():
    many = tuple(_finding(i, "will_fail" if i % 2 else "risky", long=400) for i in range(1, 60))
    text, blocks = views.request_message(_request("resolve_applied"), [], lint=many)
    assert message_violations(text, blocks) == []
    assert len(_text(blocks)) < 4000 and "more: `driftbot lint prod --migration" in _text(blocks)
    result = CheckResult(environment="prod", state="failed", history=None, schema=SchemaReport(checked=False, reason="x"),
                         lint=LintReport((FAILED,), findings=many, environment="prod", data_checked=True))
    text, blocks, _ = views.check_message(result, 1, "UANA")
    assert message_violations(text, blocks) == []
    assert "*Lint on this data* 30 will fail · 29 risky" in _text(blocks)


def test_a_resolve_request_in_slack_carries_the_lint_of_its_migration(bot_env, stub):
    """The failed migration (a unique index over duplicated emails) is resolved --rolled-back: the check's
    message and the request message, as the stand-in received them, say it will fail again on these rows."""
    url = bot_env.start_web()
    bot_env.start_worker()
    command(url, "status prod")
    result = _result_message(stub)
    shown = json.dumps(result["blocks"])
    assert "*Lint on this data* 1 will fail" in shown and "(23505)" in shown
    assert message_violations(result["text"], result["blocks"]) == []
    [fix] = [b for b in buttons(result) if b["text"]["text"].startswith("Resolve --rolled-back ")]
    click(url, fix["action_id"], fix["value"], "UANA", result)
    request = _request_message(stub, 1)
    text = _text(request["blocks"])
    assert f"*Lint of `{FAILED}` on prod's data*: 1 will fail · 0 risky" in text
    assert "(`migrate deploy` runs it again after this)" in text
    assert "*will fail* (23505)" in text and "share values of (email)" in text and "_Safer:_" in text
    assert message_violations(request["text"], request["blocks"]) == []
    assert all(m["channel"] == CHANNEL for m in stub.posts(CHANNEL))
