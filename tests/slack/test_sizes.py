"""Every view fits Slack whatever the size of what it shows: results of 1 to 3,000 migrations and 1 to
5,000 changed objects, long names, every kind of finding, rendered through every view and checked
against the strict stand-in's rules (tests/slack_rules.py). Zero violations, and a message that reads
in under 4,000 characters (Slack's advice): the rest is in a snippet."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from driftbot.digest import content as d
from driftbot.engine.comparison import Comparison, HistoryGap, SchemaDifference, Unexplained
from driftbot.engine.history import FailedMigration, HistoryVerdict, ModifiedMigration
from driftbot.engine.result import Action, CheckResult, DeployPreview, Finding, SchemaReport
from driftbot.slack import views
from driftbot.state.models import Execution, Request
from tests.slack_rules import home_violations, message_violations

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=timezone.utc)
ADVISED = 4000  # Slack: "keep a message's text under 4,000 characters"
name_tail = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_<>&`*", min_size=1, max_size=200)


def visible(text: str, blocks: list[dict] | None) -> int:
    """What a message shows: the text of its sections, contexts and headers (its text when it has no blocks)."""
    if not blocks:
        return len(text)
    n = 0
    for b in blocks:
        parts = [b.get("text")] + list(b.get("fields") or []) + (list(b.get("elements") or []) if b["type"] == "context" else [])
        n += sum(len(p["text"]) for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str))
    return n


def fits(text: str, blocks: list[dict] | None = None) -> None:
    assert message_violations(text, blocks) == []
    assert visible(text, blocks) <= ADVISED, visible(text, blocks)
    assert len(text) <= ADVISED


@st.composite
def results(draw) -> CheckResult:
    n = draw(st.integers(1, 3000))
    tail = draw(name_tail)
    names = tuple(f"{20250101000000 + i}_{tail}" for i in range(n))
    k = draw(st.integers(0, n))
    objects = draw(st.integers(1, 5000))
    long_object = draw(st.text(min_size=1, max_size=300))
    failed = tuple(FailedMigration(m, "boom " * draw(st.integers(0, 50)), NOW, None) for m in names[k:][: draw(st.integers(0, 2000))])
    history = HistoryVerdict(
        managed=draw(st.booleans()), local=names, applied=names[:k], pending=names[k:], failed=failed,
        modified=tuple(ModifiedMigration(m, "a" * 64, "b" * 64) for m in names[: draw(st.integers(0, 500))]),
        missing_locally=tuple(f"2024{m}" for m in names[: draw(st.integers(0, 500))]),
        applied_by_hand=names[k:][: draw(st.integers(0, 300))], prisma_unapplied=names[k:],
        prisma_failed=tuple(f.name for f in failed))
    summary = ("[+] Added tables",) + tuple(f"  - {long_object}{i}" for i in range(objects))
    schema = SchemaReport(checked=draw(st.booleans()), reason="no shadow " * draw(st.integers(0, 400)),
                          summary=summary, sql="CREATE TABLE x ();\n" * objects,
                          prisma_blind_spots=tuple(f"trigger {i}" for i in range(draw(st.integers(0, 50)))))
    findings = []
    for i in range(draw(st.integers(1, 40))):
        m = names[i % n]
        kind = draw(st.sampled_from(("catch_up_migration", "deploy", "resolve_applied", "resolve_rolled_back",
                                     "add_enum_value", "baseline", "none")))
        args = {"add_enum_value": (("enum", long_object), ("value", long_object + "V"), ("migration", m)),
                "resolve_applied": (("migration", m),), "resolve_rolled_back": (("migration", m),),
                "catch_up_migration": (("migration", m),)}.get(kind, ())
        case = draw(st.sampled_from(("A", "B", "B'", "C", "E", "history")))
        findings.append(Finding(case, f"{long_object} " * draw(st.integers(1, 30)), "detail " * draw(st.integers(0, 300)),
                                Action(kind, args, sql="SELECT 1;", command=f"npx prisma migrate resolve {m}")))
    preview = DeployPreview(ok=draw(st.booleans()), migration=names[-1], error="ERROR: " + long_object * 5,
                            statement="ALTER TABLE x " * draw(st.integers(0, 500)),
                            caveats=tuple(f"{m}: ALTER TABLE (fails)" for m in names[: draw(st.integers(0, 3000))]),
                            available=draw(st.booleans()))
    return CheckResult(environment=draw(st.sampled_from(("prod", "staging-eu-" + "x" * 60))),
                       state=draw(st.sampled_from(("in_sync", "drifted", "pending", "failed", "not_managed", "error"))),
                       history=draw(st.sampled_from((history, None))), schema=schema, findings=tuple(findings),
                       error=draw(st.sampled_from((None, "Cannot connect: " + long_object * 40))),
                       deploy_preview=draw(st.sampled_from((preview, None))))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(results())
def test_a_check_result_of_any_size_fits_in_its_message_and_its_thread_note(result):
    text, blocks, _ = views.check_message(result, 12345, "UANA", NOW - timedelta(days=3), pull_requests=True)
    fits(text, blocks)
    note, full = views.thread_note(result)
    if note:
        fits(note)
    if full is not None:  # cut: all of it is in the snippet, and the note says so
        assert full == views.finding_lines(result) and "every finding is in the snippet" in note


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sql_lines=st.integers(1, 5000), note=st.text(max_size=5000), tail=name_tail,
       status=st.sampled_from(("requested", "approved", "executing", "succeeded", "failed", "rejected", "expired")))
def test_a_request_message_of_any_size_fits(sql_lines, note, tail, status):
    req = Request(id=42, environment="prod", kind="resolve_applied", args={"migration": tail}, status=status,
                  sql=f"UPDATE _prisma_migrations SET x = '{tail}';\n" * sql_lines, fingerprint="f" * 64,
                  plan_hash="3f9c" * 16, requester="UANA", approvals_required=2, note=note or None,
                  expires_at=NOW + timedelta(hours=24), decided_by="UBO")
    ex = Execution(request_id=42, worker="worker-2", duration_ms=84.0, message=note * 3 or None)
    text, blocks = views.request_message(req, ["UBO", "UCY"], ex, groups=["S0DBAS"], audit_id=981,
                                         audit_mark="981:" + "a" * 64)
    fits(text, blocks)
    assert views.request_sql_cut(req.sql) == ("full SQL in the thread snippet" in json.dumps(blocks))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(objects=st.integers(1, 5000), migrations=st.integers(0, 3000), tail=name_tail, errors=st.booleans())
def test_a_comparison_of_any_size_fits(objects, migrations, tail, errors):
    names = tuple(f"{20250101000000 + i}_{tail}" for i in range(migrations))
    lines = tuple(f"  - {tail}{i}" for i in range(objects))
    gap = HistoryGap(from_managed=True, to_managed=True, from_applied=migrations, to_applied=0, applied_only_in_from=names)
    schema = SchemaDifference(summary=lines, sql="X;\n" * objects, explained=lines[: objects // 2],
                              unexplained=(Unexplained("staging", lines), Unexplained(None, lines, reason=tail * 20)))
    result = Comparison("staging", "prod", gap, schema,
                        errors=((("prod", "unreachable " + tail * 50),) if errors else ()))
    text, blocks, _ = views.compare_message(result, "UANA")
    fits(text, blocks)


STATES = ("failed", "drifted", "unreachable", "not_checked", "pending", "not_managed", "in_sync")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(1, 400), tail=st.text(alphabet="abcdefghij-", min_size=1, max_size=60), data=st.data())
def test_a_digest_of_any_number_of_environments_fits(n, tail, data):
    states = data.draw(st.lists(st.sampled_from(STATES), min_size=n, max_size=n))
    statuses = tuple(d.EnvStatus(f"env-{i}-{tail}", s, "3 pending" if s == "pending" else "", NOW - timedelta(days=2),
                                 fingerprint=str(i)) for i, s in enumerate(states))
    requests = tuple(d.OpenRequest(i, f"env-{i % n}-{tail}", NOW - timedelta(hours=i), channel="C0DBOPS",
                                   thread_ts=f"1700000000.{i:06d}") for i in range(data.draw(st.integers(0, 300))))
    pairs = tuple(d.PairLine(f"env-{i}-{tail}", f"env-{i + 1}-{tail}", "different", f"env-{i} and env-{i + 1} differ by 3 migrations.")
                  for i in range(data.draw(st.integers(0, 100))))
    previous = {s.name: {"state": "in_sync", "fingerprint": "x"} for s in statuses[::2]}
    digest = d.Digest(at=NOW, statuses=statuses, requests=requests, pairs=pairs, previous=previous,
                      previous_at=NOW - timedelta(days=1), checkpoint="981:" + "a" * 64)
    text, blocks, table = d.render_full(digest)
    fits(text, blocks)
    if table is not None:  # nothing is lost: every environment is in the snippet
        assert all(s.name in table for s in statuses)


def test_button_labels_of_a_long_migration_stay_distinct_and_say_the_kind_first():
    name = "20260818120100_add_worker_deployment_environment_id_external_id_index_and_more"
    findings = tuple(Finding("B'", "t", "", Action(kind, (("migration", name),)))
                     for kind in ("resolve_applied", "resolve_rolled_back"))
    result = CheckResult("prod", "failed", None, SchemaReport(checked=False, reason="x"), findings)
    _, blocks, _ = views.check_message(result, 1, None)
    labels = [e["text"]["text"] for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert labels[0].startswith("Resolve --applied 2026081812") and labels[1].startswith("Resolve --rolled-back 2026081812")
    assert all(len(label) <= 75 and label.endswith("and_more") and "…" in label for label in labels)
    assert len(set(labels)) == 2


def test_labels_that_would_read_the_same_get_their_position():
    same = "Resolve --applied " + "x" * 30 + "{}" + "y" * 60
    labels = views.distinct_labels([same.format("a"), same.format("b"), same.format("a")])
    assert len(set(labels)) == 3 and all(len(label) <= 75 for label in labels)
    assert labels[1].endswith(" (2)") and labels[2].endswith(" (3)")  # a and b were in the cut-out middle


def test_the_property_tests_can_fail():
    """The rules are not vacuous: a message as driftbot composed it before #25 is refused."""
    section = {"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}
    assert message_violations("t", [section]) and message_violations("x" * 40001, None)
    assert json.dumps(message_violations("t", [section])).count("json-pointer:/blocks/0/text/text") == 1


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(0, 400), tail=st.text(alphabet="abcdefghij-<&", min_size=1, max_size=64), data=st.data())
def test_the_app_home_of_any_number_of_environments_fits_the_home_tab(n, tail, data):
    from driftbot.digest import board as b

    states = data.draw(st.lists(st.sampled_from(STATES), min_size=n, max_size=n))
    lines = tuple(b.BoardLine(d.EnvStatus(f"env-{i}-{tail}", s, "`20250101000000_" + tail * 3 + "`", NOW - timedelta(days=2)),
                              NOW - timedelta(minutes=i)) for i, s in enumerate(states))
    waiting = tuple(b.Waiting(d.OpenRequest(i, f"env-{i % max(n, 1)}-{tail}", NOW - timedelta(hours=i), channel="C0DBOPS",
                                            thread_ts=f"1700000000.{i:06d}"), "add_enum_value", "ADD VALUE " + tail * 20, "UANA")
                    for i in range(data.draw(st.integers(0, 300))))
    view = b.render(b.Board("UBO", NOW, lines, waiting, checkpoint="981:" + "a" * 64))
    assert home_violations(view) == []
    shown = json.dumps(view)
    assert all(f"env-{i}-" in shown for i, s in enumerate(states) if s != "in_sync") or n > 60


def test_drift_requests_of_many_open_requests_fits(state):
    from types import SimpleNamespace

    from driftbot.handlers.intake.answers import open_requests

    with state.begin() as s:
        for i in range(400):
            s.add(Request(environment="prod", kind="resolve_applied", args={"migration": "x" * 300}, sql="", fingerprint="f",
                          plan_hash=f"p{i}", status="requested", requester="UANA", approvals_required=2,
                          expires_at=NOW + timedelta(hours=24)))
    answer = open_requests(SimpleNamespace(sessions=state), ["prod"])
    fits(answer)
    assert answer.startswith("• Request #1 ") and answer.endswith("more open requests: each is in its thread.")
