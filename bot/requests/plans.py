"""Plans: the exact change a request asks for, and the hash an approval binds to.

A plan is the environment, the action, its arguments, the SQL it will run and
the drift fingerprint it was computed from. Any difference in any of them is a
different hash, so approvals given to one plan never count for another. A plan
is computed from a check: the one a button was under, or a fresh one (read-only
URL) before execution, so a change in the database or the migrations moves it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from driftbot.engine import actions, prisma_schema, sources
from driftbot.engine.check import run_check
from driftbot.engine.lint import LintFinding, LintReport
from driftbot.engine.result import CheckResult
from driftbot.errors import DatabaseUnreachable, DriftbotError, InvalidName
from driftbot.settings import EnvironmentSettings, Settings

EXECUTABLE = tuple(actions.REGISTRY)  # the kinds driftbot runs (driftbot.engine.actions)


@dataclass(frozen=True)
class Plan:
    environment: str
    kind: str
    args: tuple[tuple[str, str], ...]
    sql: str
    fingerprint: str

    @property
    def arguments(self) -> dict[str, str]:
        return dict(self.args)

    @property
    def hash(self) -> str:
        body = {"environment": self.environment, "kind": self.kind, "args": sorted(self.args),
                "sql": self.sql, "fingerprint": self.fingerprint}
        return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()

    def describe(self) -> str:
        return actions.get(self.kind).describe(self.arguments)


def schema_gap(env: EnvironmentSettings, kind: str, args: dict[str, Any]) -> str | None:
    """For an enum value request: ``"value"`` when schema.prisma's enum lacks the value, ``"enum"`` when
    schema.prisma has no such enum; None when it has both, or there is no schema.prisma to ask."""
    if kind != actions.ADD_ENUM_VALUE or not env.schema_path:
        return None
    try:
        schema = prisma_schema.load(env.schema_path)
    except DriftbotError:  # no readable schema: nothing to say about it here (the check says why)
        return None
    enum = next((e for e in schema.enums if args.get("enum") in (e.db_name, e.name)), None)
    if enum is None:
        return "enum"
    return None if args.get("value") in enum.values else "value"


def request_lint(check_result: dict[str, Any] | None, args: dict[str, Any]) -> tuple[LintFinding, ...]:
    """The will-fail and risky findings the check a request came from has for the migration the request
    touches (a resolve's NAME): what its statements do on this environment's data, which the approvers see
    before they click. Read from that check's stored result; none when it has no lint."""
    migration = args.get("migration")
    lint = ((check_result or {}).get("history") or {}).get("lint")
    if not migration or not lint:
        return ()
    report = LintReport.from_json(lint)
    return tuple(f for f in report.will_fail + report.risky if f.migration == migration)


def plan_sql(kind: str, args: dict[str, str], checksum: str | None = None) -> str:
    """The statements the writer will run, as the writer shows them (the writers build both from one
    template; the id is generated at run time)."""
    found = actions.executable(kind)
    if found is None:
        raise InvalidName(f"`{kind}` is not something driftbot executes.")
    return found.sql(args, checksum)


def make_plan(environment: str, kind: str, args: dict[str, Any], fingerprint: str, checksum: str | None = None) -> Plan:
    """Build and validate a plan (names checked as the writers check them)."""
    clean = actions.get(kind).picked(args)
    return Plan(environment, kind, tuple(sorted(clean.items())), plan_sql(kind, clean, checksum), fingerprint)


def checksum(settings: Settings, env: EnvironmentSettings, kind: str, args: dict[str, Any]) -> str | None:
    """The local migration's checksum a ``resolve_applied`` plan records (None for other kinds, or when missing)."""
    found = actions.executable(kind)
    if found is None or not found.needs_checksum:
        return None
    migrations = sources.load(env, Path(settings.cache_dir), fetch=False)
    local = migrations.by_name().get(args.get("migration", ""))
    return local.checksum if local else None


def fresh_check(settings: Settings, environment: str, before: dict[str, Any] | None = None) -> CheckResult:
    """A new check of *environment* that can verify a plan: refused when it could not see what *before* saw."""
    result = run_check(settings, settings.environment(environment))
    if result.state == "error":
        raise DatabaseUnreachable(f"Could not check {environment}: {result.error}")
    if before and before.get("schema", {}).get("checked") and not result.schema.checked:
        raise DriftbotError(f"schema drift could not be checked now ({result.schema.reason})")
    return result


def current_plan(settings: Settings, environment: str, kind: str, args: dict[str, Any],
                 before: dict[str, Any] | None = None) -> tuple[Plan, dict[str, Any]]:
    """Recompute the plan from a fresh check of the environment: (plan, what the check saw)."""
    result = fresh_check(settings, environment, before)
    env = settings.environment(environment)
    return make_plan(environment, kind, args, result.fingerprint, checksum(settings, env, kind, args)), result.to_record()


def what_changed(before: dict[str, Any] | None, after: dict[str, Any] | None) -> str:
    """Which parts of the check differ, in words, for the thread."""
    if not before or not after:
        return "the database or the migrations changed since it was computed"
    parts = {"history": "the migration history", "schema": "the schema", "findings": "the findings",
             "state": "the state", "source": "the migrations source"}
    changed = [words for key, words in parts.items() if before.get(key) != after.get(key)]
    return (", ".join(changed) or "the check result") + " changed since it was computed"
