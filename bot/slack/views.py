"""Block Kit views of a ``CheckResult``, a ``Comparison`` and of requests. Render only; never decide.

The first line of every message is also its ``text`` fallback (notifications,
screen readers). Long content is never cut silently: it goes to a snippet and
the message says so.

Every view fits Slack whatever the size of what it shows (``tests/slack_rules.py`` holds
Slack's limits): a message carries the verdict, the counts and the first few names,
about 4,000 characters at most (Slack's advice for a message); the full lists go to a
snippet in the thread.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from driftbot import words
from driftbot.engine import actions
from driftbot.engine.comparison import Comparison
from driftbot.engine.result import CheckResult
from driftbot.pulls.proposal import proposable
from driftbot.slack.mrkdwn import block, block_within, checkpoint_line, clip, code, escape, lines_within, middle
from driftbot.state.models import Execution, Request
from driftbot.words import history_parts

SECTION_LIMIT = 2900  # Slack's section text limit is 3000 characters
LINT_SHOWN = 3  # lint findings written out in a check or request message; the rest are counted
_LINT_WORDS = {"will_fail": "will fail", "risky": "risky"}
MESSAGE_BUDGET = 3800  # what a message shows: under Slack's advised 4,000 characters
NOTE_BUDGET = 3500  # a thread note (text only)
BUTTON_TEXT = 75  # Slack's limit for a button's label
SUMMARY_INLINE = 1400  # a drift summary longer than this goes to a snippet
NAMES_SHOWN = 3
MAX_BUTTONS = 5


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def headline(result: CheckResult, requested_by: str | None, since: datetime | None = None) -> str:
    # *since*: the start of the current out-of-sync spell (driftbot.checks.drifted_since).
    when = f" · since {since.day} {since:%b %H:%M}" if since and result.state not in ("in_sync", "error") else ""
    who = f" · checked by <@{requested_by}>" if requested_by else ""
    prisma = f" · Prisma {escape(result.prisma.version)}" if result.prisma is not None and result.prisma.known else ""
    return f"{words.icon(result.state)} *{escape(middle(result.environment, 80))} {words.said(result.state)}*{prisma}{when}{who}"


def _history_line(result: CheckResult) -> str | None:
    h = result.history
    if h is None or not h.managed:
        return None
    parts = history_parts(h, name=lambda n: code(middle(n, 80)), limit=NAMES_SHOWN)
    exit_code, says = h.prisma_status(limit=NAMES_SHOWN)
    prisma = f"\n_`prisma {h.status_command}` would say: {escape(clip(says, 300))}_" if exit_code == 0 and not h.in_sync else ""
    listed = "\n_Every migration name is in the snippet in the thread._" if history_lists(result) else ""
    return clip("*History* " + " · ".join(parts) + prisma, 700) + listed


def history_lists(result: CheckResult) -> str | None:
    """Every migration name of the history's lists, for a snippet, when one list has more names than a
    message shows (None otherwise): pending, failed, edited, only in the database, run by hand."""
    h = result.history
    if h is None:
        return None
    lists = (("Pending", h.pending), ("Failed", tuple(f.name for f in h.failed)),
             ("Edited after apply", tuple(m.name for m in h.modified)), ("Only in the database", h.missing_locally),
             ("Run by hand, never recorded", h.applied_by_hand))
    if all(len(names) <= NAMES_SHOWN for _, names in lists):
        return None
    return "\n".join(f"{title} ({len(names)}):\n" + "\n".join(f"  {n}" for n in names) + "\n"
                     for title, names in lists if names)


def _preview_line(result: CheckResult) -> str | None:
    """Whether `prisma migrate deploy` would succeed now, when migrations are pending."""
    p = result.deploy_preview
    if p is None:
        return None
    if not p.available:
        line = f"*Deploy preview* unavailable: {escape(clip(p.error.removeprefix('preview unavailable: '), 400))}"
    elif p.ok:
        line = "*Deploy preview* `prisma migrate deploy` would apply every pending migration"
    else:
        where = f"\n{block_within(p.statement, 400)[0]}" if p.statement else ""
        line = (f"*Deploy preview* `prisma migrate deploy` would fail at {code(middle(p.migration or '', 100))}: "
                f"{escape(clip(p.error or '', 250))}{where}")
    if p.caveats and (p.ok or not p.available):
        line += f"\n_Without data, {len(p.caveats)} statement(s) can still fail on real rows (NOT NULL, unique, foreign keys): see the thread._"
    return line


def _lint_line(result: CheckResult) -> str | None:
    """What the pending and failed migrations will do on this environment's data, when anything will fail
    or is risky: counts and the first findings (`driftbot lint ENV` has every statement)."""
    lint = result.lint
    if lint is None or lint.error or not (lint.will_fail or lint.risky):
        return None
    serious = lint.will_fail + lint.risky
    items = []
    for f in serious[:LINT_SHOWN]:
        state = f" ({f.sqlstate})" if f.sqlstate and f.severity == "will_fail" else ""
        items.append(f"• *{_LINT_WORDS.get(f.severity, f.severity)}*{state} {code(middle(f.migration, 80))} "
                     f"#{f.index}: {escape(clip(f.why, 300))}")
    return _fitted(f"*Lint on this data* {len(lint.will_fail)} will fail · {len(lint.risky)} risky", items,
                   len(serious), f"`driftbot lint {escape(result.environment)}`")


def check_message(result: CheckResult, check_id: int, requested_by: str | None,
                  since: datetime | None = None, pull_requests: bool = False) -> tuple[str, list[dict], list[str]]:
    """(text, blocks, notes): notes say what did not fit and went to the thread instead."""
    first = headline(result, requested_by, since)
    blocks = [_section(first)]
    notes: list[str] = []
    if result.error:
        blocks.append(_section(escape(clip(result.error, 500))))
        if result.history is None:
            return first, blocks, notes
    line = _history_line(result)
    if line:
        blocks.append(_section(line))
    preview = _preview_line(result)
    if preview:
        blocks.append(_section(preview))
    lint = _lint_line(result)
    if lint:
        blocks.append(_section(lint))
    if result.schema.checked:
        if result.schema.summary:
            summary = escape("\n".join(result.schema.summary))
            shown = f"*Schema* {sum(1 for s in result.schema.summary if not s.startswith(' '))} changes outside migrations"
            if result.schema.prisma_blind_spots:  # the list itself is in the thread
                shown += ("\n_`prisma migrate dev` and `migrate diff` show none of the function, trigger, "
                          "row-level security or index-validity changes here._")
            if len(summary) <= SUMMARY_INLINE:
                blocks.append(_section(f"{shown}\n```\n{summary}\n```"))
            else:
                blocks.append(_section(f"{shown} (the full summary is in the thread)"))
                notes.append("summary")
        else:
            blocks.append(_section("*Schema* matches the migrations"))
    else:
        blocks.append(_section(f"*Schema* not checked: {escape(clip(result.schema.reason or '', 500))}"))
    fixes = [(i, f) for i, f in enumerate(result.findings) if f.action.executable][:MAX_BUTTONS]
    labels = distinct_labels([_button_label(f.action.kind, f.action.arguments) for _, f in fixes])
    buttons = [{
        "type": "button", "action_id": f"propose_fix_{n}", "text": {"type": "plain_text", "text": label},
        "value": json.dumps({"check": check_id, "finding": i}),
    } for n, ((i, f), label) in enumerate(zip(fixes, labels))]
    if len([f for f in result.findings if f.action.executable]) > MAX_BUTTONS:
        notes.append("buttons")
    if buttons:
        blocks.append(_section("*Proposed* (one button each; a request needs approvals)"))
        blocks.append({"type": "actions", "block_id": f"fixes-{check_id}", "elements": buttons})
    if pull_requests:
        blocks += _pull_request_buttons(result, check_id)
    return first, blocks, notes


def _pull_request_buttons(result: CheckResult, check_id: int) -> list[dict[str, Any]]:
    """"Open pull request" for each migration a pull request can carry (case A's catch-up, case C's
    tracking migration); the pull request is itself the review, so no request and no approvals."""
    carried = proposable(result)[:MAX_BUTTONS]
    if not carried:
        return []
    index = {id(f): i for i, f in enumerate(result.findings)}
    labels = distinct_labels(["Open pull request" if len(carried) == 1 else
                              f"Open pull request: {f.action.arguments['migration']}" for f in carried])
    buttons = [{
        "type": "button", "action_id": f"open_pull_request_{n}", "text": {"type": "plain_text", "text": label},
        "value": json.dumps({"check": check_id, "finding": index[id(f)]}),
    } for n, (f, label) in enumerate(zip(carried, labels))]
    return [{"type": "actions", "block_id": f"pulls-{check_id}", "elements": buttons}]


def _button_label(kind: str, args: dict[str, str]) -> str:
    """The kind of fix first, so it survives any shortening: ``Resolve --rolled-back 2026…_id_ind``."""
    return actions.get(kind).button(args)


def distinct_labels(labels: list[str], limit: int = BUTTON_TEXT) -> list[str]:
    """Each label within Slack's *limit*, its name shortened in the middle (the words before the first
    space that follows a verb stay whole), and no two alike: the second that reads the same gets ``(2)``,
    the third ``(3)``."""
    out: list[str] = []
    for label in labels:
        short = label
        if len(label) > limit:
            words_end = label.rfind(" ", 0, limit // 2) + 1  # "Resolve --rolled-back " stays whole
            short = label[:words_end] + middle(label[words_end:], limit - words_end)
        n = 2
        base = short
        while short in out:
            tail = f" ({n})"
            short = base if len(base) + len(tail) <= limit else base[:words_end] + middle(base[words_end:], limit - words_end - len(tail))
            short += tail
            n += 1
        out.append(short)
    return out


def slack_command(action, environment: str) -> str | None:
    """A finding's fix as said in Slack: what driftbot runs, as its `/drift` command; deploys from
    CI/CD and files to commit as the finding says them. (The terminal says ``driftbot ...``.)"""
    a = action.arguments
    found = actions.executable(action.kind)
    if found is not None and all(k in a for k in found.fields):
        return found.drift_command(environment, a)
    return action.command


def thread_note(result: CheckResult) -> tuple[str, str | None]:
    """The findings note for the thread: ``(note, full)``; *full* is every line, for a snippet, when the
    note had to leave some out (None when it holds them all)."""
    full = finding_lines(result)
    if len(full) <= NOTE_BUDGET:
        return full, None
    name = snippet_name(result.environment, "findings.txt")
    note = "\n".join(lines_within(full.splitlines(), NOTE_BUDGET,
                                   lambda n: f"… and {n} more lines: every finding is in the snippet `{name}`."))
    if "every finding is in the snippet" not in note:  # all lines there, but some shortened
        note += f"\n… every finding is in the snippet `{name}`, in full."
    return note, full


def snippet_name(environment: str, what: str) -> str:
    return f"drift-{environment}-{what}"


def finding_lines(result: CheckResult) -> str:
    """One line per finding, in plain words with its runbook case, for the thread (all of them: the
    note in the thread is ``thread_note``)."""
    lines = []
    for f in result.findings:
        command = slack_command(f.action, result.environment)
        fix = f" Fix: {code(command)}" if command else ""
        lines.append(f"• *[{f.case}]* {escape(f.title)} {escape(f.detail)}{fix}".rstrip())
    if result.history is not None:
        lines += [f"• _Prisma does not say:_ {escape(note)}" for note in result.history.prisma_blind_spots]
    lines += [f"• _Prisma does not say:_ {escape(note)}" for note in result.schema.prisma_blind_spots]
    p = result.deploy_preview
    if p is not None and p.caveats:
        lines.append("• _Deploy preview has no data; these can still fail on real rows:_")
        lines += [f"    ◦ {code(c)}" for c in p.caveats]
    return "\n".join(lines)


def button_value(request_id: int, plan_hash: str) -> str:
    """What a request's buttons carry: ``ID:PLAN_HASH`` (the full hash of the plan shown)."""
    return f"{request_id}:{plan_hash}"


def request_message(req: Request, approvers: list[str], execution: Execution | None = None,
                    groups: list[str] | None = None, audit_id: int | None = None, audit_mark: str | None = None,
                    schema_gap: str | None = None, lint: tuple = ()) -> tuple[str, list[dict]]:
    """*audit_mark*: ``N:HASH`` of the request's newest audit event; *schema_gap*: what schema.prisma lacks
    of the enum value asked for (``driftbot.requests.plans.schema_gap``); *lint*: the will-fail and risky findings
    of the migration it touches, on this environment's data (``driftbot.requests.plans.request_lint``)."""
    first = f"Request #{req.id} by <@{req.requester}> on *{escape(req.environment)}*: {req.status}"
    sql, _ = block_within(req.sql, REQUEST_SQL_SHOWN, "… (full SQL in the thread snippet)")
    who = ", ".join(f"<@{u}>" for u in approvers) or "nobody yet"
    from_whom = (" from " + ", ".join(f"<!subteam^{g}>" if g.startswith("S") else f"<@{g}>" for g in groups)) if groups else ""
    blocks = [
        _section(f"*Request #{req.id}* by <@{req.requester}> on *{escape(req.environment)}*\n{sql}"
                 + _schema_note(req, schema_gap)),
        *([_section(lint_note(req, lint))] if lint else []),
        {"type": "context", "elements": [{"type": "mrkdwn", "text":
            f"Needs {req.approvals_required} approvals{from_whom} (requester excluded) · "
            f"expires <!date^{int(req.expires_at.timestamp())}^{{date_short_pretty}} {{time}}|{req.expires_at:%d %b %H:%M} UTC> · "
            f"plan `{req.plan_hash[:8]}…`"}]},
    ]
    status = req.status
    if status == "requested":
        waiting = f"Approved by {who} ({len(approvers)} of {req.approvals_required})"
        if req.note:  # why it is waiting again (a refused execution), so the count is never stale
            waiting += f"\n:warning: Not run: {escape(clip(req.note, 500))}."
        blocks.append(_section(waiting))
        # Each button names the request and the plan it shows: a click counts for that plan only.
        value = button_value(req.id, req.plan_hash)
        blocks.append({"type": "actions", "block_id": f"request-{req.id}", "elements": [
            {"type": "button", "action_id": "approve", "style": "primary", "value": value,
             "text": {"type": "plain_text", "text": "Approve"}},
            {"type": "button", "action_id": "reject", "style": "danger", "value": value,
             "text": {"type": "plain_text", "text": "Reject"}},
            {"type": "button", "action_id": "cancel", "value": value,
             "text": {"type": "plain_text", "text": "Cancel"}},
        ]})
    elif status in ("approved", "executing"):
        blocks.append(_section(f"Approved by {who} · {'running' if status == 'executing' else 'queued to run'}…"))
    elif status in ("succeeded", "failed") and execution is not None:
        took = f" in {execution.duration_ms:.0f} ms" if execution.duration_ms is not None else ""
        verdict = "Ran" if status == "succeeded" else "Failed"
        trail = (f" · audit #{audit_id}" if audit_id else "") + (f"\n{checkpoint_line(audit_mark)}" if audit_mark else "")
        blocks.append(_section(f"{verdict}{took} by {escape(execution.worker or 'a worker')} · approved by {who}{trail}"
                               + (f"\n{escape(clip(execution.message, 800))}" if execution.message else "")))
    else:
        by = f" by <@{req.decided_by}>" if req.decided_by else ""
        blocks.append(_section(f"{status.capitalize()}{by}." + (f" {escape(clip(req.note, 500))}" if req.note else "")))
    return first, blocks


REQUEST_SQL_SHOWN = 1500  # the SQL as a code block in the request message; longer goes to a snippet too


def request_sql_cut(sql: str) -> bool:
    """Whether the request message shows only the start of *sql* (the whole goes to a snippet)."""
    return block_within(sql, REQUEST_SQL_SHOWN)[1]


def lint_note(req: Request, findings) -> str:
    """What the migration a request touches does on this environment's data: its will-fail and risky lint
    findings, so the approvers see them before they click. Within a section whatever the findings."""
    args = req.args or {}
    migration = middle(str(args.get("migration", "")), 100)
    failing = sum(1 for f in findings if f.severity == "will_fail")
    head = (f":warning: *Lint of {code(migration)} on {escape(req.environment)}'s data*: {failing} will fail · "
            f"{len(findings) - failing} risky")
    if req.kind == actions.RESOLVE_ROLLED_BACK:
        head += " (`migrate deploy` runs it again after this)"
    elif req.kind == actions.RESOLVE_APPLIED:
        head += " (marked applied, it will not run: check its changes are really in the database)"
    items = []
    for f in findings[:LINT_SHOWN]:
        state = f" ({f.sqlstate})" if f.sqlstate and f.severity == "will_fail" else ""
        items.append(f"• *{_LINT_WORDS.get(f.severity, f.severity)}*{state} #{f.index} "
                     f"{code(middle(' '.join(f.statement.split()), 120))}: {escape(clip(f.why, 300))}"
                     + (f"\n   _Safer:_ {escape(clip(f.safer, 200))}" if f.safer else ""))
    return _fitted(head, items, len(findings),
                   f"`driftbot lint {escape(req.environment)} --migration {escape(migration)}`")


def _fitted(head: str, items: list[str], total: int, where: str) -> str:
    """*head* and as many of *items* as fit in a section, then how many more there are and *where* they are."""
    lines, room = [head], SECTION_LIMIT - len(head) - len(where) - 40
    for item in items:
        if len(item) + 1 > room:
            break
        lines.append(item)
        room -= len(item) + 1
    if total > len(lines) - 1:
        lines.append(f"_… and {total - (len(lines) - 1)} more: {where}_")
    return "\n".join(lines)


def _schema_note(req: Request, gap: str | None) -> str:
    args = req.args or {}
    if gap == "value":
        return f"\n:warning: {code(args.get('value'))} is not a value of enum {code(args.get('enum'))} in schema.prisma"
    if gap == "enum":
        return f"\n:warning: {code(args.get('enum'))} is not an enum in schema.prisma"
    return ""


COMPARE_PART = 900  # one part of a comparison shown as a code block; longer goes to the snippet


def compare_message(result: Comparison, requested_by: str | None) -> tuple[str, list[dict[str, Any]], bool]:
    """``(text, blocks, long)`` of ``/drift compare FROM TO``; *long*: the summary did not fit and goes to
    a snippet. The SQL always goes to a snippet in the thread (for review only)."""
    a, b = result.from_env, result.to_env
    who = f" · asked by <@{requested_by}>" if requested_by else ""
    head = f"{words.COMPARISON_ICONS[result.state]} *{escape(a)} → {escape(b)}*: {escape(clip(result.headline, 500))}{who}"
    blocks = [_section(head)]
    long = False
    if result.state == "error" or a == b:
        return head, blocks, long
    if not result.history.equal:
        blocks.append(_section("*History* " + escape(clip(" · ".join(result.history.describe(a, b, limit=NAMES_SHOWN)), 600))))
    s = result.schema
    if not s.equal:
        parts = [(f"Schema of {b} relative to {a}", s.summary)]
        if s.explained:
            parts.append(("Explained by the history gap (expected before a deploy)", s.explained))
        for u in s.unexplained:
            parts.append((f"Drift in {u.environment}" if u.environment else f"Drift in {a} or {b}", u.summary))
        for title, lines in parts[:4]:
            shown = block("\n".join(lines))
            if len(shown) > COMPARE_PART or len(parts) > 4:
                long, shown = True, f"{len(lines)} lines, in the snippet in the thread."
            blocks.append(_section(f"*{escape(clip(title, 200))}*\n{shown}"))
        notes = []
        if not s.explained_checked:
            notes.append(f"Not sorted into explained and drift: {s.explained_reason}.")
        notes += [f"Which of {a} and {b}: {u.reason}." for u in s.unexplained if u.environment is None and u.reason]
        notes.append(f"The SQL that would turn {a}'s schema into {b}'s is in the thread, for review only: driftbot never runs it.")
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": escape(clip(" ".join(notes), 600))}]})
    return head, blocks, long
