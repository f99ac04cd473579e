"""Plain-text views for the terminal: a ``CheckResult`` and a ``Comparison``. Render; never decide."""

from __future__ import annotations

import re
import shlex
from typing import TYPE_CHECKING

from driftbot.engine.actions import ADD_ENUM_VALUE, REGISTRY
from driftbot.words import CASE_WORDS, STATES, history_parts

if TYPE_CHECKING:  # for the annotations only: `driftbot envs` need not import psycopg, nor the differ
    from driftbot.engine.comparison import Comparison
    from driftbot.engine.lint_model import LintReport
    from driftbot.engine.result import CheckResult, Finding

# The actions whose SQL is a migration file to commit (catch-up, restore, enum tracking, baseline).
FILE_KINDS = ("catch_up_migration", "deploy", ADD_ENUM_VALUE, "baseline")
RESOLVES = tuple(k for k, record in REGISTRY.items() if record.verb == "resolve")


def headline(result: CheckResult) -> str:
    return f"{result.environment} {STATES[result.state].terminal}"


def status_text(result: CheckResult, folder: str | None = None) -> str:
    """``driftbot status ENV``; *folder*: the environment's migrations folder, for the commands that
    write a proposed migration's file (the catch-up's own advice names it when there is one)."""
    lines = [headline(result)]
    if result.error:
        lines.append(f"  {result.error}")
        if result.history is None:
            return "\n".join(lines) + "\n"
    h = result.history
    if h is not None:  # an error before the history (unreachable database) stays one line
        lines.append(f"Prisma: {h.prisma_version.describe()}")
    if h is not None and h.managed:
        lines.append("History: " + " · ".join(history_parts(h)))
        code, says = h.prisma_status(limit=10)
        which = f"Prisma {h.prisma_version.version}" if h.prisma_version.known else "Prisma"
        lines.append(f"{which} `{h.status_command}` would say: {says} (exit {code})")
        for answer in (h.prisma8.verify, h.prisma8.verify_strict) if h.prisma8 is not None else ():
            if answer is not None:
                lines.append(f"{which} `{answer.command}` would say: {answer.says} (exit {answer.exit_code})"
                             + "".join(f"\n  {issue}" for issue in answer.issues[:10]))
        if h.prisma8 is not None and h.prisma8.legacy:
            lines.append(h.prisma8.legacy)
    if result.schema.checked:
        if result.schema.summary:
            lines.append("Schema: drift outside migrations (Prisma's summary)")
            lines.extend(("  " + line) if line else "" for line in result.schema.summary)
            for migration, objects in result.schema.explained_by_hand:
                lines.append(f"  of these, {', '.join(objects)}: made by {migration}, run by hand (not drift of its own)")
        else:
            lines.append("Schema: matches the " + ("contract" if h is not None and h.prisma8 is not None else "migrations"))
    else:
        lines.append(f"Schema: not checked ({result.schema.reason})")
    unseen = (h.prisma_blind_spots if h is not None else ()) + result.schema.prisma_blind_spots
    if unseen:
        lines.append("Prisma does not say:")
        lines.extend(f"  {note}" for note in unseen)
    if result.deploy_preview is not None:
        p = result.deploy_preview
        if not p.available:  # the preview could not run: say why, never a migration it did not reach
            lines.append(f"Deploy preview: unavailable: {(p.error or 'no reason given').removeprefix('preview unavailable: ')}")
        else:
            lines.append("Deploy preview: " + ("all pending migrations would apply" if p.ok else f"{p.migration} would fail: {p.error}"))
    if result.lint is not None:
        lines.extend(lint_summary(result.lint))
    if result.findings:
        lines += _plan(result, folder)
    return "\n".join(lines) + "\n"


def proposed_migrations(result: CheckResult) -> dict[str, str]:
    """The SQL of each migration file the findings propose, by migration name (``driftbot diff --migration``)."""
    out: dict[str, str] = {}
    for f in result.findings:
        name = f.action.arguments.get("migration")
        if f.action.kind in FILE_KINDS and name and f.action.sql:
            out.setdefault(name, f.action.sql)
    return out


def _is_alternative(first: Finding, other: Finding) -> bool:
    """Two resolutions of one migration side by side (rolled back, or applied once finished by hand):
    the engine puts the recommended one first."""
    a, b = first.action, other.action
    return (a.kind in RESOLVES and b.kind in RESOLVES and a.kind != b.kind and first.case == other.case
            and a.arguments.get("migration") == b.arguments.get("migration"))


def _steps(findings) -> list[tuple[Finding, list[Finding]]]:
    steps: list[tuple[Finding, list[Finding]]] = []
    for f in findings:
        if steps and _is_alternative(steps[-1][0], f):
            steps[-1][1].append(f)
        else:
            steps.append((f, []))
    return steps


def _folder(result: CheckResult, given: str | None) -> str | None:
    """The migrations folder as the team names it: the catch-up's own advice says it; else *given*."""
    for f in result.findings:
        said = re.fullmatch(r"save the SQL as (.+)/[^/]+/migration\.sql", f.action.command or "")
        if f.action.kind == "catch_up_migration" and said:
            return said.group(1)
    return given


def _action_lines(result: CheckResult, f: Finding, folder: str | None, recommended: bool) -> list[str]:
    a, out = f.action, []
    name = a.arguments.get("migration")
    if a.kind in FILE_KINDS and name and a.sql:
        target = f"{folder}/{name}/migration.sql" if folder else f"{name}/migration.sql"
        write = (f"mkdir -p {shlex.quote(f'{folder}/{name}')} && " if folder else "") + \
            f"driftbot diff {result.environment} --migration {name} > {shlex.quote(target)}"
        if not folder:
            write += "  (in your migrations folder)"
        if a.kind == "catch_up_migration":
            return [f"fix: {write}"]
        out.append(f"SQL: {write}")
    if a.command:
        out.append(f"fix: {a.command}" + ("   (recommended)" if recommended else ""))
    return out


def _plan(result: CheckResult, given_folder: str | None) -> list[str]:
    """The findings as numbered steps in the order to carry them out (the engine's order), each
    alternative under the step it replaces, then the case labels explained once."""
    folder = _folder(result, given_folder)
    lines = ["What to do, in this order:"]
    for number, (f, alternatives) in enumerate(_steps(result.findings), 1):
        lines.append(f"  {number}. [{f.case}] {f.title}")
        if f.detail:
            lines.append(f"        {f.detail}")
        lines += [f"        {line}" for line in _action_lines(result, f, folder, bool(alternatives))]
        for other in alternatives:
            title = other.title.removeprefix("Or, ")
            lines.append(f"     Alternative to step {number}: {title}")
            if other.detail:
                lines.append(f"        {other.detail}")
            lines += [f"        {line}" for line in _action_lines(result, other, folder, False)]
    cases = list(dict.fromkeys(f.case for f in result.findings))
    lines.append("The labels (docs/runbook.md says what each case takes):")
    lines += [f"  [{case}] {CASE_WORDS[case]}" for case in cases]
    return lines


def _indented(lines) -> list[str]:
    return [("  " + line) if line else "" for line in lines]


def compare_text(result: Comparison) -> str:
    """``driftbot compare FROM TO``: the headline, the history gap, the schema difference sorted
    into what the gap explains and whose drift the rest is, then the SQL for review."""
    a, b = result.from_env, result.to_env
    lines = [result.headline]
    if result.state == "error" or a == b:
        return "\n".join(lines) + "\n"
    gap, schema = result.history, result.schema
    if not gap.equal:
        lines += ["History:", *_indented(gap.describe(a, b))]
    if not schema.equal:
        lines += [f"Schema of {b} relative to {a}:", *_indented(schema.summary)]
        if not schema.explained_checked:
            lines.append(f"Not sorted into explained and drift: {schema.explained_reason}.")
        if schema.explained:
            lines += ["Explained by the history gap (expected before a deploy):", *_indented(schema.explained)]
        for part in schema.unexplained:
            where = f"Drift in {part.environment}" if part.environment else f"Drift in {a} or {b} ({part.reason})"
            lines += [f"{where}:", *_indented(part.summary)]
        lines += [f"SQL that would turn {a}'s schema into {b}'s (for review only; driftbot never runs it):",
                  schema.sql.rstrip("\n")]
    return "\n".join(lines) + "\n"


_SEVERITY_SHOWN = {"will_fail": "WILL FAIL", "risky": "risky", "note": "note"}


def lint_text(report: LintReport) -> str:
    """``driftbot lint``: per migration, each statement's lock and size, then its findings with the safer form."""
    where = report.environment or "offline"
    counts = {s: len(report.of(s)) for s in ("will_fail", "risky", "note")}
    n = len(report.migrations)
    head = (f"{where}: {n} migration{'s' if n != 1 else ''} · {counts['will_fail']} will fail · {counts['risky']} risky · "
            f"{counts['note']} note{'s' if counts['note'] != 1 else ''}")
    head += " (data checked)" if report.data_checked else f" ({report.reason})" if report.reason else ""
    lines = [head]
    if not report.migrations:
        lines.append("  nothing pending: migrate deploy has nothing to run")
    for migration in report.migrations:
        lines.append(migration)
        findings = report.for_migration(migration)
        for f in (f for f in findings if f.index == 0):
            lines += _finding_lines(f)
        for st in (s for s in report.statements if s.migration == migration):
            mine = [f for f in findings if f.index == st.index]
            if not mine and not st.lock:
                continue
            what = [st.lock] if st.lock else []
            what += ["rewrites"] if st.rewrites else ["scans"] if st.scans else []
            if st.table and st.rows is not None:
                what.append(f"{st.table.split('.')[-1]} ~{st.rows:,} rows, {(st.size_bytes or 0) / (1 << 20):,.1f} MB")
            shown = " ".join(st.sql.split())
            lines.append(f"  #{st.index} {shown if len(shown) <= 100 else shown[:97] + '...'}"
                         + (f"  [{' · '.join(what)}]" if what else ""))
            for f in mine:
                lines += _finding_lines(f)
    return "\n".join(lines) + "\n"


def lint_summary(report: LintReport, limit: int = 5) -> list[str]:
    """The status's lines for the pending migrations' lint: what will fail and what is risky, on this data."""
    if report.error:
        return [f"Lint: not run ({report.error})"]
    serious = report.will_fail + report.risky
    head = f"Lint on this data: {len(report.will_fail)} will fail · {len(report.risky)} risky · {len(report.of('note'))} notes"
    lines = [head + ("" if serious else " (`driftbot lint ENV` shows each statement's lock)")]
    for f in serious[:limit]:
        lines.append(f"  {_SEVERITY_SHOWN[f.severity]}: {f.migration} #{f.index}: {f.why}")
    if len(serious) > limit:
        lines.append(f"  and {len(serious) - limit} more: driftbot lint {report.environment or 'ENV'}")
    return lines


def _finding_lines(f) -> list[str]:
    code = f" ({f.sqlstate})" if f.sqlstate and f.severity == "will_fail" else ""
    out = [f"     {_SEVERITY_SHOWN[f.severity]}{code}: {f.why}"]
    if f.safer:
        out.append(f"       safer: {f.safer}")
    return out
