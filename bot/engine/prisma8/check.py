"""The check of a Prisma 8 environment: history from the marker, ledger and graph; schema against the
contract the marker names and the contract on disk; findings with Prisma 8's own fixes; and the
answers ``migration status`` and ``db verify [--strict]`` would give, next to driftbot's."""

from __future__ import annotations

import dataclasses
import posixpath
from pathlib import Path

import psycopg

from driftbot.engine import diff as d
from driftbot.engine import history as history_mod
from driftbot.engine.history import HistoryVerdict, ModifiedMigration
from driftbot.engine.prisma8 import schema as schema8
from driftbot.engine.prisma8.files import snapshot_contract
from driftbot.engine.prisma8.model import EMPTY, Prisma8View, Project8, State8
from driftbot.engine.prisma8.state import read_contract, read_state
from driftbot.engine.prisma8.verdict import classify, marker_answer, short, verify_answer
from driftbot.engine.render import render_sql, render_summary
from driftbot.engine.result import Action, Finding, SchemaReport
from driftbot.engine.shadow import live_schema
from driftbot.engine.sources import read_folder
from driftbot.engine.versions import PrismaVersion

_EXTRA = (d.CreateTable, d.AddColumn, d.CreateIndex, d.AddCheck, d.CreateEnum, d.AddForeignKey, d.AddPrimaryKey)
_MISSING = (d.DropTable, d.DropColumn, d.DropIndex, d.DropCheck, d.DropEnum, d.DropForeignKey, d.DropPrimaryKey)


@dataclasses.dataclass(frozen=True)
class Outcome:
    verdict: HistoryVerdict
    report: SchemaReport
    findings: tuple[Finding, ...]


def _schemas(*contracts: dict | None) -> tuple[str, ...]:
    out = []
    for c in contracts:
        for name, ns in (((c or {}).get("storage") or {}).get("namespaces") or {}).items():
            out.append(ns.get("id") or name)
    return tuple(dict.fromkeys(out)) or ("public",)


def _pending_objects_present(project: Project8, names: tuple[str, ...], live, conn: psycopg.Connection) -> tuple[str, ...]:
    """The operations of the pending migrations whose objects the database already has: each operation's own
    prechecks (``ensure table "Post" does not exist``, read-only SELECTs from its ops.json) run on the live
    database, and an enum type it creates looked up in the live schema. Empty: nothing of them is there, so a
    failed ``db migrate`` left nothing behind."""
    by_name = {m.name: m for m in project.graph}
    enums = {e.key for e in live.enums}
    present = []
    with conn.transaction():
        conn.execute("SET TRANSACTION READ ONLY")
        for name in names:
            for op in by_name[name].operations if name in by_name else ():
                if not isinstance(op, dict):
                    continue
                target = op.get("target") or {}
                details = target.get("details") or {}
                if details.get("objectType") == "type" and (details.get("schema") or "public", details.get("name")) in enums:
                    present.append(f"{name}: {op.get('label') or op.get('id')}")
                    continue
                for check in op.get("precheck") or ():
                    query = str(check.get("sql", ""))
                    if not query.lstrip().upper().startswith("SELECT"):
                        continue
                    with psycopg.RawCursor(conn) as cur:
                        row = cur.execute(query, list(check.get("params") or ())).fetchone()
                    if row is not None and row[0] is False:
                        present.append(f"{name}: {op.get('label') or op.get('id')}")
                        break
    return tuple(present)


def _legacy(project: Project8, conn: psycopg.Connection, schema: str) -> HistoryVerdict | None:
    """A Prisma 6/7 ``_prisma_migrations`` beside the marker, read against the Prisma 7 project's own
    migrations folder (beside the schema ``prisma7Schema`` names)."""
    folder = posixpath.join(posixpath.dirname(project.contract_source), "migrations")
    rows = history_mod.read_rows(conn, schema)
    if rows is None:
        return None
    local = read_folder(folder) if Path(folder).is_dir() else ()
    return history_mod.classify(local, rows)


def check(project: Project8, version: PrismaVersion, conn: psycopg.Connection, target_schema: str,
          *, schema: bool = True) -> Outcome:
    state = read_state(conn, target_schema)
    view = classify(project, state)
    empty_db = not state.present and history_mod.schema_is_empty(conn, target_schema)
    managed = state.present or empty_db
    live = None
    drift_disk = drift_marker = None
    if schema or view.path:
        marker_contract = None
        if view.marker is not None:
            marker_contract = (project.contract if view.marker == project.contract_hash else None) \
                or read_contract(conn, view.marker) or snapshot_contract(project, view.marker)
        live = live_schema(conn, _schemas(project.contract, marker_contract), target_schema, None)
        if project.contract is not None:
            drift_disk = schema8.compare(project.contract, live)
        drift_marker = schema8.compare(marker_contract, live) if marker_contract is not None else None
    legacy = _legacy(project, conn, target_schema) if state.legacy_rows is not None else None

    # What Prisma 8 says; what it does not.
    unclaimed = ()
    if drift_disk is not None:
        unclaimed = drift_disk.unclaimed + (("_prisma_migrations",) if state.legacy_rows is not None else ())
    if drift_disk is not None:
        nodes = drift_disk.unclaimed_nodes + (schema8.LEGACY_TABLE_NODES if state.legacy_rows is not None else 0)
        verify = verify_answer(project, state, drift_disk.issues, unclaimed, strict=False)
        strict = verify_answer(project, state, drift_disk.issues, unclaimed, strict=True, unclaimed_nodes=nodes)
    else:
        verify, strict = marker_answer(project, state, False), marker_answer(project, state, True)
    half, present = None, ()
    if view.path and live is not None:
        present = _pending_objects_present(project, view.path, live, conn)
        half = not present
    schema_notes = []
    reference = drift_marker or (drift_disk if view.marker is None or view.marker == project.contract_hash else None)
    if reference is not None:
        extras = [i for i in reference.issues if i.startswith("extra:")]
        if extras and verify is not None and verify.exit_code == 0:
            schema_notes.append(f"`prisma db verify` passes: it shows {', '.join(x.split(': ', 1)[1] for x in extras)} only "
                                "with --strict.")
        if reference.unclaimed and verify is not None and verify.code != "CONTRACT.MARKER_REQUIRED":
            schema_notes.append(f"Unclaimed by any contract: {', '.join(reference.unclaimed)}; only `db verify --strict` "
                                "lists them.")
        for c in reference.check_values:
            schema_notes.append(f"CHECK {c} allows other values than the contract's enum under the same name; "
                                "`db verify` (even --strict) compares CHECK names only and says nothing.")
    notes = view.notes  # the schema's own notes travel in the SchemaReport
    legacy_says, agree = None, None
    if legacy is not None:
        code, says = legacy.prisma_status()
        agree = legacy.in_sync and verify is not None and verify.exit_code == 0
        legacy_says = (f"Prisma 7's `_prisma_migrations` ({state.legacy_rows} rows) is still here: `prisma migrate status` "
                       f"would say \"{says}\" (exit {code}); Prisma 8 never reads it. The two histories "
                       + ("agree." if agree else f"do not agree (Prisma 7: {'in sync' if legacy.in_sync else 'not in sync'}; "
                          f"Prisma 8 `db verify`: exit {verify.exit_code if verify else 'not run'})."))
    view = dataclasses.replace(view, verify=verify, verify_strict=strict, nothing_half_applied=half, notes=notes,
                               legacy=legacy_says, legacy_agrees=agree)

    ledger_names = tuple(dict.fromkeys(r.migration_name for r in state.ledger if r.migration_name))
    verdict = HistoryVerdict(
        managed=managed, local=project.names, applied=tuple(n for n in ledger_names if n in project.names),
        pending=view.path if managed else project.names,
        modified=tuple(ModifiedMigration(e.name, e.applied_hash, e.local_hash) for e in view.edited),
        missing_locally=view.gone, rows=len(state.ledger), prisma_version=version, prisma8=view,
        # Pending migrations whose objects exist: run by hand, or the marker was moved back; `db migrate` would fail.
        applied_by_hand=tuple(dict.fromkeys(p.split(": ", 1)[0] for p in present)),
    )

    findings: list[Finding] = []
    report = SchemaReport(checked=False, reason="schema drift was not asked for")
    if schema:
        ref = drift_marker or drift_disk
        if ref is None:
            report = SchemaReport(checked=False, reason=f"no contract to compare with: {project.contract_json} is missing "
                                  "(run `prisma contract emit`) and the database stores none for its marker")
        else:
            ops = d.diff(ref.expected, live)
            report = SchemaReport(checked=True, summary=render_summary(ops), sql=render_sql(ops, target_schema) if ops else "",
                                  prisma_blind_spots=tuple(schema_notes))
            findings += _schema_findings(project, view, ops, ref, target_schema)
    findings = _history_findings(project, view, state, managed, drift_disk) + findings
    if view.path and managed:
        findings.append(_deploy(view, present))
    return Outcome(verdict, report, tuple(findings))


def _deploy(view: Prisma8View, present: tuple[str, ...] = ()) -> Finding:
    names = ", ".join(view.path)
    half = {True: " None of the objects they create exist in the database: nothing is half-applied (a failed "
                  "`db migrate` leaves nothing behind: Prisma 8 runs the whole path in one transaction).",
            False: " Some of their operations' objects already exist in the database (" + "; ".join(present[:5])
                   + "): `db migrate` would fail on them; they were run by hand, or the marker was moved back.",
            None: ""}[view.nothing_half_applied]
    return Finding("B", f"{len(view.path)} migration(s) pending: {names}",
                   "Run `prisma db migrate` from CI/CD: it applies the path from the marker to the contract in one "
                   "transaction, verifies the result and then moves the marker." + half,
                   Action("deploy", (("migrations", names),), command="prisma db migrate"))


def _history_findings(project: Project8, view: Prisma8View, state: State8, managed: bool, drift_disk) -> list[Finding]:
    out = []
    matches = drift_disk is not None and not drift_disk.tolerant
    if not managed:
        adopt = ("point `contract` at the old schema (`prisma7Schema('prisma/schema.prisma')`), " if state.legacy_rows is not None
                 else "describe it with `prisma contract infer`, review it, ")
        out.append(Finding("E", "This database has no Prisma 8 marker (prisma_contract): it was never signed.",
                           f"Adopt it: {adopt}`prisma contract emit`, `prisma db verify` until it passes, then "
                           "`prisma db sign` (it verifies first and writes only the marker"
                           + ("; `_prisma_migrations` stays and `db verify --strict` calls it unclaimed" if state.legacy_rows is not None else "")
                           + "). The next `prisma migration plan` writes the baseline, never run on this database.",
                           Action("sign", command="prisma db sign --db $DATABASE_URL")))
        return out
    if view.marker is None and (state.ledger or state.present) and project.graph:
        last = state.ledger[-1].destination if state.ledger else None
        out.append(Finding("history", "The marker is missing (prisma_contract.marker has no row for space app).",
                           ("The schema matches the contract on disk: `prisma db sign` restores the marker (it verifies "
                            "first and writes only the marker)." if matches else
                            "The schema does not match the contract on disk"
                            + (f"; the ledger's last migration leads to {short(last)}: check out that contract, "
                               "`prisma contract emit`, then `prisma db sign`." if last else ": see the schema findings.")),
                           Action("sign", command="prisma db sign --db $DATABASE_URL")))
    elif view.marker is not None and not view.marker_in_graph:
        out.append(Finding("history", f"The marker names contract {short(view.marker)}, which no migration on disk leads to "
                           "(set by hand, or by `db update` / `db sign` from another checkout).",
                           ("The schema matches the contract on disk: `prisma db sign` moves the marker there (it verifies first)."
                            if matches else "Find the checkout that signed it (`git log -S " + short(view.marker) +
                            "`), or bring the schema to the contract and `prisma db sign`."),
                           Action("sign", command="prisma db sign --db $DATABASE_URL")))
    elif not view.path_found:
        out.append(Finding("history", f"No migration leads from the marker ({short(view.marker)}) to the contract on disk "
                           f"({short(view.contract)}).",
                           f"Plan one: `prisma migration plan --from {short(view.marker or EMPTY)} --name <name>`, commit it, "
                           "and let CI/CD run `prisma db migrate`.", Action("catch_up_migration",
                                                                            command=f"prisma migration plan --from {short(view.marker)}")))
    for e in view.edited:
        how = {"unhashed": "Prisma 8 refuses every command until it is fixed (MIGRATION.CONTRACT_SPACE_VIOLATION).",
               "rehashed": "`migration status` shows it with no state; the database ran the old version.",
               "source": "ops.json still holds what was applied; the next `node migration.ts` would change it."}[e.what]
        out.append(Finding("history", f"{e.name} changed since it was applied: {e.detail}.",
                           f"{how} Restore the applied version from git (`git log -- {posixpath.relpath(project.migrations, project.folder)}/app/{e.name}`); "
                           "put the change in a new migration."))
    for name in view.gone:
        out.append(Finding("history", f"{name} is applied (ledger) but its folder is gone from {project.migrations}/app.",
                           "Restore the folder from git: without it the graph may no longer reach the marker."))
    if view.ledger_missing:
        out.append(Finding("history", f"The ledger has no row for {', '.join(view.ledger_missing)}, on the marker's path.",
                           "Rows were deleted by hand: the ledger is the audit record of what ran. Restore them from a "
                           "backup if you need it; `db migrate` relies on the marker, not on the ledger."))
    return out


def _schema_findings(project: Project8, view: Prisma8View, ops, ref, default_schema: str) -> list[Finding]:
    out = []
    checks = {c.split(".", 1)[1] for c in ref.check_values}
    rebuilt = tuple(op for op in ops if isinstance(op, (d.AddCheck, d.DropCheck)) and op.check.name in checks)
    ops = tuple(op for op in ops if op not in rebuilt)
    extra = tuple(op for op in ops if isinstance(op, _EXTRA) or (isinstance(op, d.AlterEnum) and op.added)
                  or isinstance(op, d.AlterColumn))
    missing = tuple(op for op in ops if isinstance(op, _MISSING) or (isinstance(op, d.AlterEnum) and op.removed and not op.added))
    source = posixpath.relpath(project.contract_source, project.folder)
    if extra:
        out.append(Finding("A", "The database has objects or changes the contract lacks: "
                           + "; ".join(d.describe(op) for op in extra[:5]) + (" …" if len(extra) > 5 else ""),
                           f"Declare them in {source}, `prisma contract emit`, `prisma migration plan --from "
                           f"{short(view.marker)} --name sync_schema_drift` (the catch-up migration: commit it, it never "
                           "runs here since the objects exist), then `prisma db sign` so the marker names the new contract. "
                           "Or drop them by hand if nobody needs them.",
                           Action("catch_up_migration", (("migration", "sync_schema_drift"),),
                                  sql=render_sql(extra, default_schema),
                                  command="prisma contract emit && prisma migration plan --name sync_schema_drift && prisma db sign")))
    if missing:
        out.append(Finding("B", "The database lacks objects its contract has: "
                           + "; ".join(d.describe(op) for op in missing[:5]) + (" …" if len(missing) > 5 else ""),
                           "`prisma db verify` reports them. Restore them by hand (the migration that created them shows "
                           "the SQL in its ops.json), then `prisma db verify`. Never `db update` a protected database."))
    for c in ref.check_values:
        out.append(Finding("C", f"CHECK {c} allows other values than the contract's enum.",
                           "Rebuild it from the contract (the SQL below), or declare the values in the contract and plan a "
                           "migration. `db verify` does not see this: it compares CHECK names only.",
                           Action("none", sql=render_sql(tuple(op for op in d.diff(ref.live, ref.expected)
                                                               if isinstance(op, (d.AddCheck, d.DropCheck))
                                                               and op.check.name == c.split(".", 1)[1]), default_schema))))
    return out
