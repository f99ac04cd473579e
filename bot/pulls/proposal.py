"""What a pull request proposes, taken from one check result (pure).

The file committed is the SQL the check showed, byte for byte (a final newline
added when it has none, as ``driftbot diff`` prints it): it is read from the
finding's action, never rendered again, so what a reviewer sees in the pull
request is what the thread showed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from dataclasses import dataclass

from driftbot.engine.actions import ADD_ENUM_VALUE
from driftbot.engine.lint import LintReport, lint_text
from driftbot.engine.result import CheckResult, Finding
from driftbot.engine.sources import SCRIPT, LocalMigration
from driftbot.errors import PullRequestError

KINDS = ("catch_up_migration", ADD_ENUM_VALUE)  # case A's catch-up, case C's tracking migration
BRANCH_PREFIX = "driftbot/"
MARKER = re.compile(r"<!-- driftbot: environment=(?P<env>\S+) migration=(?P<migration>\S+) sql-sha256=(?P<sha>[0-9a-f]{64}) -->")


@dataclass(frozen=True)
class Proposal:
    """One migration file on one branch, and the pull request that asks to merge it."""

    environment: str
    migration: str
    case: str
    file_path: str  # inside the repository: <path>/<migration>/migration.sql
    content: str = ""
    base: str = "main"
    fingerprint: str = ""
    title: str = ""
    body: str = ""

    @property
    def branch(self) -> str:
        return branch_name(self.environment, self.migration, self.sql_sha256)

    @property
    def sql_sha256(self) -> str:
        return hashlib.sha256(self.content.encode("utf-8")).hexdigest()

    @property
    def marker(self) -> str:
        """The line in the body by which the same finding is recognised in an open pull request."""
        return f"<!-- driftbot: environment={self.environment} migration={self.migration} sql-sha256={self.sql_sha256} -->"


def branch_name(environment: str, migration: str, sql_sha256: str) -> str:
    """``driftbot/<env>/<migration>-<first 12 hex digits of the SQL's SHA-256>``: a changed drift the same
    day (same migration name, other SQL) gets a branch of its own, never the stale one."""
    return f"{BRANCH_PREFIX}{environment}/{migration}-{sql_sha256[:12]}"


def proposable(result: CheckResult) -> list[Finding]:
    """The findings of *result* that a pull request can carry, in the result's order."""
    return [f for f in result.findings if f.action.kind in KINDS and f.action.sql and f.action.arguments.get("migration")]


def _choose(result: CheckResult, migration: str | None) -> Finding:
    if result.state == "error":
        raise PullRequestError(f"{result.environment} could not be checked: {result.error or result.schema.reason}")
    found = proposable(result)
    if not found:
        raise PullRequestError(
            f"{result.environment} has no catch-up or enum tracking migration to propose (state {result.state})."
        )
    if migration is None:
        return found[0]
    for f in found:
        if f.action.arguments["migration"] == migration:
            return f
    names = ", ".join(f.action.arguments["migration"] for f in found)
    raise PullRequestError(f"The check proposes no migration {migration!r}; it proposes: {names}.")


def _content(finding: Finding) -> str:
    sql = finding.action.sql or ""
    return sql if sql.endswith("\n") else sql + "\n"


def _after_merge(env: str, case: str, migration: str, finding: Finding) -> str:
    resolve = f"`/drift resolve {env} --applied {migration}` (or `prisma migrate resolve --applied {migration}`)"
    if case == "C":
        a = finding.action.arguments
        return (f"If the value was already added with `/drift enum {env} {a.get('enum')} {a.get('value')}`, record "
                f"the migration as applied with {resolve}; driftbot's next check proposes it in the thread. "
                "Otherwise `prisma migrate deploy` adds the value (the statement is `IF NOT EXISTS`).")
    return (f"The database already has these changes, so do not deploy them: record the migration as applied with "
            f"{resolve}. driftbot's next check proposes it in the thread; on a protected environment two "
            "approvers approve it there.")


def build(result: CheckResult, env, migration: str | None = None) -> Proposal:
    """The proposal for the finding named *migration* (default: the first catch-up, else the first enum
    tracking migration) of *result*, for the git-sourced environment *env*."""
    finding = _choose(result, migration)
    name = finding.action.arguments["migration"]
    file_path = f"{env.path.strip('/')}/{name}/{SCRIPT}"
    drift = "\n".join(result.schema.summary) if finding.case == "A" and result.schema.summary else finding.title
    title = (f"driftbot: catch-up migration {name} for {env.name}" if finding.case == "A"
             else f"driftbot: enum tracking migration {name} for {env.name}")
    proposal = Proposal(
        environment=env.name, migration=name, case=finding.case, file_path=file_path, content=_content(finding),
        base=env.ref, fingerprint=result.fingerprint, title=title,
    )
    body = "\n".join([
        f"driftbot found drift on **{env.name}** that no migration records: {finding.title}",
        "",
        "Drift:",
        "```",
        drift,
        "```",
        "",
        f"- Environment: `{env.name}`",
        f"- Migration: `{file_path}`",
        f"- Check fingerprint: `{result.fingerprint}`",
        "",
        f"**After merging**: {_after_merge(env.name, finding.case, name, finding)}",
        "",
        *lint_section(lint_text((LocalMigration(name, proposal.content, ""),), finding.action.arguments.get("schema", "public")),
                      "**Lint of this migration** (what it does wherever `prisma migrate deploy` runs it; "
                      "`driftbot lint --offline`)"),
        *(lint_section(result.lint, f"**Pending migrations on {env.name}**, linted on its data (`driftbot lint "
                                    f"{env.name}`)", quiet=True) if result.lint is not None else []),
        proposal.marker,
    ])
    return dataclasses.replace(proposal, body=body)


LINT_LINES = 10  # findings listed in a body; the rest are counted


def lint_section(report: LintReport, heading: str, quiet: bool = False) -> list[str]:
    """Markdown lines for a lint's will-fail and risky findings (notes only counted); none when *quiet* and
    there is nothing of either."""
    serious = report.will_fail + report.risky
    if report.error or (quiet and not serious):
        return []
    notes = len(report.of("note"))
    counts = f"{len(report.will_fail)} will fail · {len(report.risky)} risky · {notes} note{'s' if notes != 1 else ''}"
    lines = [f"{heading}: {counts}", ""]
    for f in serious[:LINT_LINES]:
        code = f" ({f.sqlstate})" if f.sqlstate and f.severity == "will_fail" else ""
        shown = " ".join(f.statement.split()).replace("`", "'")
        shown = shown if len(shown) <= 120 else shown[:117] + "..."
        where = f"{f.migration} #{f.index}" if len(report.migrations) > 1 else f"statement {f.index}"
        lines.append(f"- **{'will fail' if f.severity == 'will_fail' else 'risky'}**{code} {where} `{shown}`: "
                     f"{f.why}" + (f" *Safer:* {f.safer}" if f.safer else ""))
    if len(serious) > LINT_LINES:
        lines.append(f"- and {len(serious) - LINT_LINES} more")
    return lines + ([""] if serious else [])


def parse_marker(body: str | None) -> dict[str, str] | None:
    """The environment, migration and SQL hash a driftbot pull request's body names, or None."""
    m = MARKER.search(body or "")
    return m.groupdict() if m else None
