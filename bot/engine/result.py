"""The one result object every view renders: CLI text, JSON, Slack blocks, digest."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from driftbot.engine.actions import ADD_ENUM_VALUE, REGISTRY, RESOLVE_APPLIED, RESOLVE_ROLLED_BACK
from driftbot.engine.history import ByHand, FailedMigration, HistoryVerdict, ModifiedMigration
from driftbot.engine.lint_model import LintReport
from driftbot.engine.prisma8.model import Answer, Edited, Prisma8View
from driftbot.engine.versions import UNKNOWN, PrismaVersion
from driftbot.errors import redact_data

STATES = ("in_sync", "drifted", "pending", "failed", "not_managed", "error")
CASES = ("A", "B", "B'", "C", "E", "history")
ACTION_KINDS = (
    "catch_up_migration", "deploy", RESOLVE_APPLIED, RESOLVE_ROLLED_BACK, ADD_ENUM_VALUE, "baseline", "none",
    "sign",  # Prisma 8: `prisma db sign` (writes the marker after verifying the schema); a proposal, not executable yet
)


@dataclass(frozen=True)
class Action:
    """A proposed fix with its exact arguments."""

    kind: str
    args: tuple[tuple[str, str], ...] = ()
    sql: str | None = None
    command: str | None = None  # the command a person would run, for the message

    def __post_init__(self) -> None:
        if self.kind not in ACTION_KINDS:
            raise ValueError(f"unknown action kind {self.kind!r}")

    @property
    def arguments(self) -> dict[str, str]:
        return dict(self.args)

    @property
    def executable(self) -> bool:
        """Whether driftbot itself can run it (after approval) rather than CI/CD or a person."""
        return self.kind in REGISTRY

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Action:
        """The action ``to_json`` wrote (its arguments in their order)."""
        args = tuple((k, v) for k, v in data.items() if k not in ("kind", "sql", "command"))
        return cls(data["kind"], args, data.get("sql"), data.get("command"))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, **self.arguments}
        if self.sql is not None:
            out["sql"] = self.sql
        if self.command is not None:
            out["command"] = self.command
        return out


NO_ACTION = Action("none")


@dataclass(frozen=True)
class Finding:
    case: str
    title: str
    detail: str = ""
    action: Action = NO_ACTION

    def __post_init__(self) -> None:
        if self.case not in CASES:
            raise ValueError(f"unknown case {self.case!r}")

    def to_json(self) -> dict[str, Any]:
        return {"case": self.case, "title": self.title, "detail": self.detail, "action": self.action.to_json()}


@dataclass(frozen=True)
class SchemaReport:
    checked: bool
    reason: str | None = None
    summary: tuple[str, ...] = ()
    sql: str = ""
    prisma_blind_spots: tuple[str, ...] = ()  # drift in objects Prisma never compares (functions, triggers)
    # Which summary objects pending migrations run by hand explain: (migration, objects), in order.
    # They stay in ``summary`` (Prisma prints them too) but are not drift outside migrations.
    explained_by_hand: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def drifted(self) -> bool:
        return self.checked and bool(self.summary)

    def to_json(self) -> dict[str, Any]:
        return {"checked": self.checked, "reason": self.reason, "summary": list(self.summary), "sql": self.sql,
                "prisma_blind_spots": list(self.prisma_blind_spots),
                "explained_by_hand": [{"migration": m, "objects": list(objs)} for m, objs in self.explained_by_hand]}


@dataclass(frozen=True)
class DeployPreview:
    ok: bool
    migration: str | None = None
    error: str | None = None
    statement: str | None = None
    caveats: tuple[str, ...] = ()  # statements that can still fail on real rows
    available: bool = True  # False: the preview could not run (``error`` says why)
    sqlstate: str | None = None  # PostgreSQL's error code for the failing statement

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "migration": self.migration, "error": self.error,
                "statement": self.statement, "caveats": list(self.caveats), "available": self.available,
                "sqlstate": self.sqlstate}


@dataclass(frozen=True)
class CheckResult:
    environment: str
    state: str
    history: HistoryVerdict | None
    schema: SchemaReport
    findings: tuple[Finding, ...] = ()
    error: str | None = None
    checked_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    duration_ms: float = 0.0
    source: str | None = None
    deploy_preview: DeployPreview | None = None
    extra: tuple[tuple[str, Any], ...] = ()
    prisma_version: PrismaVersion | None = None  # the Prisma the project runs, where it was read
    lint: LintReport | None = None  # the pending and failed migrations on this environment's data
    error_kind: str | None = None  # "unreachable": the target (or shadow) database could not be connected to

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise ValueError(f"unknown state {self.state!r}")

    @property
    def prisma(self) -> PrismaVersion | None:
        """The Prisma the project runs, where it was read (None when the check did not get that far)."""
        if self.prisma_version is not None:
            return self.prisma_version
        return self.history.prisma_version if self.history is not None else None

    @property
    def exit_code(self) -> int:
        """0 in sync, 1 drift or a problem found, 2 could not check."""
        return {"in_sync": 0, "error": 2}.get(self.state, 1)

    @property
    def fingerprint(self) -> str:
        """A hash of what was found (not of when): equal results, equal fingerprints."""
        body = self.to_json()
        for key in ("checked_at", "duration_ms", "fingerprint"):
            body.pop(key, None)
        if body.get("history", {}).pop("lint", None) is not None and self.lint is not None:
            # what the lint found, not how many rows it counted: rows come and go all day
            body["lint"] = sorted([f.severity, f.rule, f.migration, f.index] for f in self.lint.findings)
        return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()

    def history_json(self) -> dict[str, Any]:
        h = self.history
        if h is None:
            out: dict[str, Any] = {"local": 0, "applied": 0, "pending": [], "failed": [], "rolled_back_pending": [],
                                   "modified": [], "missing_locally": [], "applied_by_hand": []}
        else:
            out = {
                "local": len(h.local),
                "applied": len(h.applied),
                "pending": list(h.pending),
                "failed": [f.name for f in h.failed],
                "rolled_back_pending": list(h.rolled_back_pending),
                "modified": [m.name for m in h.modified],
                "missing_locally": list(h.missing_locally),
                "applied_by_hand": list(h.applied_by_hand),
                "managed": h.managed,
                "last_common_migration": h.last_common_migration,
                "prisma_status": {
                    "exit_code": h.prisma_status()[0], "says": h.prisma_status()[1],
                    "answers": [{"versions": v, "exit_code": c, "says": s} for v, c, s in h.prisma_answers()],
                },
                "prisma_blind_spots": list(h.prisma_blind_spots),
                **({"prisma8": h.prisma8.to_json()} if h.prisma8 is not None else {}),
                "failed_details": [
                    {"name": f.name, "logs": f.logs, "started_at": f.started_at.isoformat(), "may_be_partial": f.may_be_partial}
                    for f in h.failed
                ],
                "applied_by_hand_details": [b.to_json() for b in h.by_hand],
                "no_schema_pending": list(h.no_schema_pending),
                "missing_locally_details": [
                    {"name": name, "refs": None if refs is None else list(refs), "found": bool(refs) if refs is not None else None}
                    for name, refs in h.missing_locally_refs
                ],
                "modified_details": [
                    {"name": m.name, "applied_checksum": m.applied_checksum, "local_checksum": m.local_checksum}
                    for m in h.modified
                ],
            }
        version = self.prisma
        out["prisma_version"] = version.version if version is not None else None
        out["prisma_version_source"] = version.source if version is not None else "unknown"
        if version is not None and (version.where or version.note):
            out["prisma_version_details"] = {"where": version.where, "note": version.note}
        if self.deploy_preview is not None:
            out["deploy_preview"] = self.deploy_preview.to_json()
        if self.lint is not None:  # beside the preview: failed migrations are linted too, with nothing pending
            out["lint"] = self.lint.to_json(timing=False)
        return out

    def to_json(self) -> dict[str, Any]:
        out = {
            "environment": self.environment,
            "state": self.state,
            "history": self.history_json(),
            "schema": self.schema.to_json(),
            "findings": [f.to_json() for f in self.findings],
            "error": self.error,
            "checked_at": self.checked_at.isoformat(),
            "duration_ms": round(self.duration_ms, 1),
            "source": self.source,
        }
        if self.error_kind is not None:
            out["error_kind"] = self.error_kind
        out.update(dict(self.extra))
        return redact_data(out)  # what is stored (the state database) and printed (--json): never a secret

    def to_record(self) -> dict[str, Any]:
        """What the state database keeps: ``to_json()`` plus the lists ``from_json`` needs to read the
        history back whole (``status --json`` shows counts where these are names)."""
        out = self.to_json()
        h = self.history
        out["typed"] = {"result_prisma_version": _version_json(self.prisma_version)}
        if h is not None:
            out["typed"] = redact_data({
                "local": list(h.local), "applied": list(h.applied), "finished_rolled_back": list(h.finished_rolled_back),
                "rows": h.rows, "prisma_unapplied": list(h.prisma_unapplied),
                "prisma_unpersisted": list(h.prisma_unpersisted), "prisma_failed": list(h.prisma_failed),
                "prisma_unapplied_live": list(h.prisma_unapplied_live),
                "prisma_unpersisted_live": list(h.prisma_unpersisted_live),
                "history_prisma_version": _version_json(h.prisma_version),
                "prisma8": None if h.prisma8 is None else {**h.prisma8.to_json(), "notes": list(h.prisma8.notes)},
                "result_prisma_version": _version_json(self.prisma_version),
            })
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CheckResult:
        """A result read back from what ``to_record()`` (or ``to_json()``) wrote: the state database's copy.
        Without the ``typed`` part (``to_json()`` alone, or a row from before it was kept) the history
        is not read back (None)."""
        h, typed = data.get("history") or {}, data.get("typed")
        details = h.get("prisma_version_details") or {}
        version = (PrismaVersion(h.get("prisma_version"), h.get("prisma_version_source") or "unknown",
                                 details.get("where"), details.get("note"))
                   if h.get("prisma_version") or details else None)
        history = None
        if typed is not None and "local" in typed:
            history = HistoryVerdict(
                managed=bool(h.get("managed")), local=tuple(typed["local"]), applied=tuple(typed["applied"]),
                pending=tuple(h.get("pending") or ()),
                failed=tuple(FailedMigration(f["name"], f.get("logs"), datetime.fromisoformat(f["started_at"]),
                                             f.get("may_be_partial")) for f in h.get("failed_details") or ()),
                rolled_back_pending=tuple(h.get("rolled_back_pending") or ()),
                finished_rolled_back=tuple(typed["finished_rolled_back"]),
                modified=tuple(ModifiedMigration(m["name"], m["applied_checksum"], m["local_checksum"])
                               for m in h.get("modified_details") or ()),
                missing_locally=tuple(h.get("missing_locally") or ()),
                applied_by_hand=tuple(h.get("applied_by_hand") or ()),
                last_common_migration=h.get("last_common_migration"), rows=typed["rows"],
                prisma_unapplied=tuple(typed["prisma_unapplied"]), prisma_unpersisted=tuple(typed["prisma_unpersisted"]),
                prisma_failed=tuple(typed["prisma_failed"]), prisma_unapplied_live=tuple(typed["prisma_unapplied_live"]),
                prisma_unpersisted_live=tuple(typed["prisma_unpersisted_live"]),
                prisma_version=_version(typed["history_prisma_version"]) or UNKNOWN,
                missing_locally_refs=tuple((m["name"], None if m["refs"] is None else tuple(m["refs"]))
                                           for m in h.get("missing_locally_details") or ()),
                by_hand=tuple(ByHand(b["name"], tuple(b["present"]), tuple(b["missing"]), b.get("missing_sql", ""))
                              for b in h.get("applied_by_hand_details") or ()),
                no_schema_pending=tuple(h.get("no_schema_pending") or ()),
                prisma8=_prisma8(typed.get("prisma8")),
            )
        s = data.get("schema") or {}
        schema = SchemaReport(
            checked=bool(s.get("checked")), reason=s.get("reason"), summary=tuple(s.get("summary") or ()),
            sql=s.get("sql") or "", prisma_blind_spots=tuple(s.get("prisma_blind_spots") or ()),
            explained_by_hand=tuple((e["migration"], tuple(e["objects"])) for e in s.get("explained_by_hand") or ()))
        findings = tuple(Finding(f["case"], f["title"], f.get("detail", ""), Action.from_json(f["action"]))
                         for f in data.get("findings") or ())
        p = h.get("deploy_preview")
        preview = (DeployPreview(p["ok"], p.get("migration"), p.get("error"), p.get("statement"),
                                 tuple(p.get("caveats") or ()), p.get("available", True), p.get("sqlstate"))
                   if p else None)
        extra = tuple((k, v) for k, v in data.items() if k not in _RESULT_KEYS)
        return cls(
            environment=data["environment"], state=data["state"], history=history, schema=schema, findings=findings,
            error=data.get("error"), checked_at=datetime.fromisoformat(data["checked_at"]),
            duration_ms=float(data.get("duration_ms") or 0.0), source=data.get("source"), deploy_preview=preview,
            extra=extra, prisma_version=_version(typed["result_prisma_version"]) if typed is not None else version,
            error_kind=data.get("error_kind"), lint=LintReport.from_json(h["lint"]) if h.get("lint") else None,
        )


def _answer(data: dict[str, Any] | None) -> Answer | None:
    return None if data is None else Answer(data["command"], data["exit_code"], data["says"], data.get("code"),
                                            tuple(data.get("issues") or ()))


def _prisma8(data: dict[str, Any] | None) -> Prisma8View | None:
    """A Prisma 8 history's view again from ``Prisma8View.to_json()`` and its notes."""
    if data is None:
        return None
    return Prisma8View(
        space=data["space"], marker=data.get("marker"), contract=data.get("contract"),
        marker_in_graph=data["marker_in_graph"], path=tuple(data.get("path") or ()), path_found=data.get("path_found", True),
        ledger_missing=tuple(data.get("ledger_missing") or ()),
        edited=tuple(Edited(e["name"], e["what"], e["applied_hash"], e["local_hash"], e.get("detail", ""))
                     for e in data.get("edited") or ()),
        gone=tuple(data.get("gone") or ()), nothing_half_applied=data.get("nothing_half_applied"),
        legacy_rows=data.get("prisma_migrations_rows"), status=_answer(data.get("migration_status")),
        verify=_answer(data.get("db_verify")), verify_strict=_answer(data.get("db_verify_strict")),
        notes=tuple(data.get("notes") or ()), legacy=data.get("prisma_migrations"), legacy_agrees=data.get("histories_agree"))


def _version_json(v: PrismaVersion | None) -> dict[str, Any] | None:
    return None if v is None else {"version": v.version, "source": v.source, "where": v.where, "note": v.note}


def _version(data: dict[str, Any] | None) -> PrismaVersion | None:
    return None if data is None else PrismaVersion(data["version"], data["source"], data.get("where"), data.get("note"))


_RESULT_KEYS = ("environment", "state", "history", "schema", "findings", "error", "checked_at", "duration_ms", "source",
                "typed", "error_kind")


def blind_spots(history: HistoryVerdict | None, schema: SchemaReport) -> tuple[str, ...]:
    """What is wrong where Prisma says nothing: the history's notes, then the schema's."""
    return (history.prisma_blind_spots if history is not None else ()) + schema.prisma_blind_spots


def decide_state(history: HistoryVerdict | None, schema: SchemaReport, error: str | None = None,
                 findings: tuple[Finding, ...] | list[Finding] = ()) -> str:
    """The headline state: error > not_managed > failed > drifted > pending > in_sync.

    ``in_sync`` exactly when no finding proposes an action and there is no blind spot. Every
    finding asks for something (an action driftbot or CI/CD carries out, or a step for a person:
    restore a file, rebuild an index), so a finding such as an enum value to add is drift even
    where the history and the schema summary are clean.
    """
    if error is not None or history is None:
        return "error"
    if not history.managed:
        return "not_managed"
    if history.failed:
        return "failed"
    if history.modified or history.missing_locally or history.applied_by_hand or schema.drifted:
        return "drifted"
    if history.pending:
        return "pending"
    if findings or blind_spots(history, schema):
        return "drifted"
    return "in_sync"
