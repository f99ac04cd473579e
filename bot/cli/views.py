"""Plain-text views for the terminal: a ``CheckResult`` and a ``Comparison``. Render; never decide."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.words import STATES, history_parts

if TYPE_CHECKING:  # for the annotations only: `driftbot envs` need not import psycopg, nor the differ
    from bot.engine.comparison import Comparison
    from bot.engine.lint.model import LintReport
    from bot.engine.result import CheckResult


def headline(result: CheckResult) -> str:
    return f"{result.environment} {STATES[result.state].terminal}"


def status_text(result: CheckResult) -> str:
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
        lines.append("Deploy preview: " + ("all pending migrations would apply" if p.ok else f"{p.migration} would fail: {p.error}"))
        if result.lint is not None:
            lines.extend(lint_summary(result.lint))
    if result.findings:
        lines.append("Findings:")
        for f in result.findings:
            lines.append(f"  [{f.case}] {f.title}")
            if f.detail:
                lines.append(f"      {f.detail}")
            if f.action.command:
                lines.append(f"      fix: {f.action.command}")
    return "\n".join(lines) + "\n"


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
