"""The history of a Prisma 8 database (pure): the marker, the ledger and the migration graph on disk,
and what ``migration status`` and ``db verify`` answer about them.

The answers follow what the real 8.0.0-rc.19 CLI printed on hand-made cases (prisma-facts.md):
``migration status`` marks a migration applied when the ledger holds its hash, counts as pending the
migrations of the path from the marker (or the empty database) to the contract that the ledger lacks,
and exits 0 in every case but a graph whose hashes do not match its files (exit 2). ``db verify``
compares the marker with the contract on disk first (exit 4 on a missing or different marker), and only
then the schema.
"""

from __future__ import annotations

from collections import deque

from driftbot.engine.prisma8.model import EMPTY, Answer, Edited, GraphMigration, Prisma8View, Project8, State8

STATUS, VERIFY, STRICT = "migration status", "db verify", "db verify --strict"


def find_path(graph: tuple[GraphMigration, ...], origin: str, destination: str) -> tuple[GraphMigration, ...] | None:
    """The shortest chain of migrations from *origin* to *destination* (ties: folder names in byte order);
    () when they are equal, None when the graph has no such path."""
    if origin == destination:
        return ()
    edges: dict[str, list[GraphMigration]] = {}
    for m in sorted(graph, key=lambda m: m.name.encode()):
        edges.setdefault(m.origin, []).append(m)
    seen, queue = {origin}, deque([(origin, ())])
    while queue:
        node, path = queue.popleft()
        for m in edges.get(node, ()):
            if m.destination == destination:
                return path + (m,)
            if m.destination not in seen:
                seen.add(m.destination)
                queue.append((m.destination, path + (m,)))
    return None


def nodes(graph: tuple[GraphMigration, ...]) -> set[str]:
    return {m.origin for m in graph} | {m.destination for m in graph}


def short(h: str | None) -> str:
    return (h or "none")[:12]


def status_answer(project: Project8, state: State8, space: str = "app") -> Answer:
    """What ``prisma migration status`` prints (its summary line) and its exit code."""
    broken = [m for m in project.graph if not m.rehashed]
    if broken:
        return Answer(STATUS, 2, f'Contract-space integrity failure for "{space}"', "MIGRATION.CONTRACT_SPACE_VIOLATION",
                      tuple(f'Migration "{m.name}" stored hash "{m.stored_hash}" does not match computed hash '
                            f'"{m.computed_hash}".' for m in broken))
    if not project.graph:
        return Answer(STATUS, 0, "No migrations found")
    marker = state.marker(space)
    here = marker.core_hash if marker is not None else EMPTY
    if marker is not None and here != project.contract_hash and here not in nodes(project.graph):
        return Answer(STATUS, 0, f"Database marker {short(here)} is not in the on-disk migration graph",
                      "MIGRATION.MARKER_NOT_IN_HISTORY")
    path = find_path(project.graph, here, project.contract_hash or "")
    if path is None:
        return Answer(STATUS, 0, f"No migration path from the database state ({short(here) if marker else 'empty'}) to the "
                      f"application's contract ({short(project.contract_hash)}). Run `prisma migration plan --name <name>` "
                      "to author one.")
    recorded = {r.migration_hash for r in state.ledger if r.space == space}
    pending = [m for m in path if m.stored_hash not in recorded]
    if pending:
        return Answer(STATUS, 0, f"{len(pending)} pending — run `prisma db migrate --to {short(project.contract_hash)}`",
                      issues=tuple(m.name for m in pending))
    return Answer(STATUS, 0, "Up to date")


def marker_answer(project: Project8, state: State8, strict: bool, space: str = "app") -> Answer | None:
    """``db verify``'s answer when the marker alone decides it (None: it goes on to the schema)."""
    command = STRICT if strict else VERIFY
    broken = [m for m in project.graph if not m.rehashed]
    if broken:
        return Answer(command, 2, f'Contract-space integrity failure for "{space}"', "MIGRATION.CONTRACT_SPACE_VIOLATION")
    marker = state.marker(space)
    if marker is None:
        return Answer(command, 4, "Marker missing", "CONTRACT.MARKER_MISSING")
    if marker.core_hash != project.contract_hash:
        return Answer(command, 4, "Hash mismatch", "CONTRACT.MARKER_MISMATCH")
    return None


def verify_answer(project: Project8, state: State8, issues: tuple[str, ...], unclaimed: tuple[str, ...], strict: bool,
                  space: str = "app", unclaimed_nodes: int = 0) -> Answer:
    """What ``prisma db verify [--strict]`` prints, given the schema issues against the contract on disk
    (``missing:``/``mismatch:`` always, ``extra:`` under --strict) and the unclaimed elements (--strict)."""
    decided = marker_answer(project, state, strict, space)
    if decided is not None:
        return decided
    command = STRICT if strict else VERIFY
    shown = tuple(i for i in issues if strict or not i.startswith("extra:"))
    if shown:
        # --strict counts every node of an unclaimed table too (the table, its columns, their defaults, its
        # primary key): 8.0.0-rc.19 said "(13 failures)" for one extra column beside _prisma_migrations.
        n = len(shown) + (unclaimed_nodes if strict else 0)
        return Answer(command, 4, f"Database schema does not satisfy contract ({n} failure{'s' if n > 1 else ''})",
                      "CONTRACT.SCHEMA_VERIFICATION_FAILED", shown + (unclaimed if strict else ()))
    if strict and unclaimed:
        n = len(unclaimed)
        return Answer(command, 4, f"Database schema has {n} unclaimed element{'s' if n > 1 else ''} (not in any contract)",
                      "CONTRACT.MARKER_REQUIRED", unclaimed)
    return Answer(command, 0, "Database marker and schema match contract")


def _ops_labels(operations) -> set[str]:
    return {str(op.get("label") or op.get("id")) for op in operations or () if isinstance(op, dict)}


def classify(project: Project8, state: State8, space: str = "app") -> Prisma8View:
    """The marker, ledger and graph side by side (pure); the schema's part of ``db verify`` is added later."""
    graph = tuple(m for m in project.graph if m.space == space)
    by_name = {m.name: m for m in graph}
    by_hash = {m.stored_hash: m for m in graph}
    ledger = tuple(r for r in state.ledger if r.space == space)
    marker = state.marker(space)
    here = marker.core_hash if marker is not None else None
    known = nodes(graph)
    in_graph = here is None or here in known or (here == project.contract_hash)
    path = find_path(graph, here or EMPTY, project.contract_hash or "") if project.contract_hash else ()
    recorded = {r.migration_hash for r in ledger}
    # `db migrate` starts at the marker, whatever the ledger says: the whole path from it is what it would
    # run. Without a marker in a database that has prisma_contract, nothing is pending: the marker is the fix.
    pending = tuple(m.name for m in (path or ())) if here is not None or not state.present else ()
    applied_path = find_path(graph, EMPTY, here) if here is not None and here in known else None
    ledger_names = {r.migration_name for r in ledger}
    ledger_missing = tuple(m.name for m in (applied_path or ()) if m.name not in ledger_names and m.stored_hash not in recorded)

    edited, gone, seen = [], [], set()
    for row in ledger:
        if row.migration_name in seen:
            continue
        seen.add(row.migration_name)
        local = by_name.get(row.migration_name)
        if local is None:
            if row.migration_hash not in by_hash and row.migration_name:  # `db update` writes rows with no name
                gone.append(row.migration_name)
            continue
        if not local.rehashed:
            edited.append(Edited(local.name, "unhashed", row.migration_hash, local.computed_hash,
                                 "ops.json or migration.json changed by hand: migrationHash no longer matches them"))
        elif local.stored_hash != row.migration_hash:
            before, after = _ops_labels(row.operations), _ops_labels(local.operations)
            change = "; ".join(filter(None, (
                ("ops.json adds: " + ", ".join(sorted(after - before))) if after - before else "",
                ("ops.json no longer has: " + ", ".join(sorted(before - after))) if before - after else "",
            ))) or "its operations' SQL differs from what was applied"
            edited.append(Edited(local.name, "rehashed", row.migration_hash, local.stored_hash,
                                 f"re-emitted with a new migrationHash since it was applied ({change})"))
        elif local.source_only:
            edited.append(Edited(local.name, "source", row.migration_hash, local.stored_hash,
                                 "migration.ts names " + ", ".join(local.source_only) + " that ops.json lacks: edited and "
                                 "not re-emitted (`node migration.ts`)"))
    notes = []
    status = status_answer(project, state, space)
    if pending and status.exit_code == 0:
        notes.append(f"`prisma migration status` exits 0 with {len(pending)} migration(s) pending "
                     f"({', '.join(pending)}): a CI gate on its exit code passes."
                     + (" It calls the history up to date: the ledger has rows for them." if status.says == "Up to date" else ""))
    if marker is None and (ledger or state.present):
        notes.append("The marker is missing; `prisma migration status` does not say so"
                     + (" and calls the history up to date." if status.says == "Up to date" else "."))
    if here is not None and here in known and applied_path is not None:
        beyond = [r.migration_name for r in ledger if r.migration_name and r.migration_name not in {m.name for m in applied_path}
                  and r.migration_name in by_name]
        if beyond:
            notes.append(f"The ledger records {', '.join(beyond)} applied after the marker's contract {short(here)}: "
                         "the marker was moved back; `prisma migration status` counts them applied.")
    if ledger_missing:
        notes.append(f"The ledger lacks rows for {', '.join(ledger_missing)}, applied on the marker's path; "
                     "neither `migration status` nor `db verify` says so.")
    for e in edited:
        if e.what == "rehashed":
            notes.append(f"{e.name} was {e.detail}; `migration status` shows it with no state and `db verify` is silent.")
        elif e.what == "source":
            notes.append(f"{e.name}: {e.detail}; no Prisma 8 command notices.")
    for name in gone:
        notes.append(f"{name} is applied (ledger) but its folder is gone; no Prisma 8 command notices.")
    return Prisma8View(
        space=space, marker=here, contract=project.contract_hash, marker_in_graph=in_graph, path=pending,
        path_found=path is not None, ledger_missing=ledger_missing, edited=tuple(edited), gone=tuple(gone),
        legacy_rows=state.legacy_rows, status=status, notes=tuple(notes),
    )
