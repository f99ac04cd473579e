"""What ``driftbot lint`` finds: plain frozen values that every view (CLI, JSON, Slack, pull request) renders.

Outside the ``lint`` package, whose rules import pglast: a check result carries a ``LintReport``, and a
status that lints nothing (no pending or failed migration) never imports the rules (#32)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SEVERITIES = ("will_fail", "risky", "note")
SEVERITY_WORDS = {"will_fail": "will fail", "risky": "risky", "note": "note"}


def one_line(sql: str, limit: int = 200) -> str:
    text = " ".join(sql.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True)
class LintFinding:
    """One thing a statement will do, or may do, on the target: severity, why, and the safer form."""

    severity: str
    rule: str  # the finding's class, stable for scripts: "not_null_over_nulls", "concurrently_in_transaction", ...
    migration: str
    index: int  # the statement's place in its migration, from 1 (0: the migration as a whole)
    statement: str
    why: str
    safer: str = ""
    sqlstate: str | None = None  # the error PostgreSQL will raise, for a finding that will fail

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"unknown severity {self.severity!r}")

    def to_json(self) -> dict[str, Any]:
        return {"severity": self.severity, "rule": self.rule, "migration": self.migration, "statement_index": self.index,
                "statement": one_line(self.statement, 500), "why": self.why, "safer": self.safer,
                "sqlstate": self.sqlstate}


@dataclass(frozen=True)
class StatementInfo:
    """What one statement does to the table it touches, and how big that table is on the target."""

    migration: str
    index: int
    sql: str
    kind: str  # "ALTER TABLE", "CREATE INDEX", ...
    table: str | None = None  # schema.name of the existing table it locks (None: a new table, or none)
    lock: str | None = None  # the strongest table lock it takes, in PostgreSQL's words ("ACCESS EXCLUSIVE")
    rewrites: bool = False
    scans: bool = False
    rows: int | None = None  # the planner's estimate (pg_class.reltuples); None: unknown or offline
    pages: int | None = None
    size_bytes: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"migration": self.migration, "index": self.index, "statement": one_line(self.sql, 500),
                "kind": self.kind, "table": self.table, "lock": self.lock, "rewrites": self.rewrites,
                "scans": self.scans, "rows": self.rows, "pages": self.pages, "size_bytes": self.size_bytes}


@dataclass(frozen=True)
class LintReport:
    """The lint of some migrations, on an environment's data (``data_checked``) or on their text alone."""

    migrations: tuple[str, ...]
    statements: tuple[StatementInfo, ...] = ()
    findings: tuple[LintFinding, ...] = ()
    environment: str | None = None
    data_checked: bool = False
    reason: str | None = None  # why the data was not checked, when it was not
    duration_ms: float = 0.0
    error: str | None = None  # the lint could not run at all
    timings_ms: tuple[tuple[str, float], ...] = field(default=(), compare=False)

    def of(self, severity: str) -> tuple[LintFinding, ...]:
        return tuple(f for f in self.findings if f.severity == severity)

    @property
    def will_fail(self) -> tuple[LintFinding, ...]:
        return self.of("will_fail")

    @property
    def risky(self) -> tuple[LintFinding, ...]:
        return self.of("risky")

    @property
    def exit_code(self) -> int:
        """0 nothing will fail, 1 a statement will fail, 2 could not check."""
        if self.error is not None:
            return 2
        return 1 if self.will_fail else 0

    def for_migration(self, name: str) -> tuple[LintFinding, ...]:
        return tuple(f for f in self.findings if f.migration == name)

    def to_json(self, timing: bool = True) -> dict[str, Any]:
        """*timing*: with ``duration_ms`` (not inside a check's result, whose equal answers must be equal)."""
        out = {
            "environment": self.environment,
            "migrations": list(self.migrations),
            "data_checked": self.data_checked,
            "reason": self.reason,
            "error": self.error,
            "counts": {s: len(self.of(s)) for s in SEVERITIES},
            "findings": [f.to_json() for f in self.findings],
            "statements": [s.to_json() for s in self.statements],
        }
        if timing:
            out["duration_ms"] = round(self.duration_ms, 1)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "LintReport":
        """The report again from its JSON (a result read back from the state database)."""
        findings = tuple(LintFinding(f["severity"], f["rule"], f["migration"], f["statement_index"], f["statement"],
                                     f["why"], f.get("safer", ""), f.get("sqlstate")) for f in data.get("findings", ()))
        statements = tuple(StatementInfo(s["migration"], s["index"], s["statement"], s["kind"], s.get("table"),
                                         s.get("lock"), s.get("rewrites", False), s.get("scans", False), s.get("rows"),
                                         s.get("pages"), s.get("size_bytes")) for s in data.get("statements", ()))
        return cls(migrations=tuple(data.get("migrations", ())), statements=statements, findings=findings,
                   environment=data.get("environment"), data_checked=data.get("data_checked", False),
                   reason=data.get("reason"), duration_ms=data.get("duration_ms", 0.0), error=data.get("error"))
