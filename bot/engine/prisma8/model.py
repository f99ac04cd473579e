"""The value objects of a Prisma 8 project and database (pure data, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

EMPTY = "empty"  # the ledger's origin of a first migration; migration.json says ``"from": null``


@dataclass(frozen=True)
class GraphMigration:
    """One migration folder ``migrations/<space>/<name>/``: an edge between two contract hashes."""

    space: str
    name: str
    origin: str  # a contract storage hash, or EMPTY
    destination: str
    stored_hash: str  # migration.json's migrationHash
    computed_hash: str  # what Prisma 8 computes from migration.json and ops.json
    created_at: str = ""
    # Names migration.ts gives its operations that ops.json lacks: migration.ts edited and not re-emitted.
    source_only: tuple[str, ...] = ()
    operations: tuple[dict, ...] = field(default=(), compare=False, repr=False)

    @property
    def rehashed(self) -> bool:
        """migration.json's hash still matches its files (Prisma 8 refuses the whole graph otherwise)."""
        return self.stored_hash == self.computed_hash


@dataclass(frozen=True)
class Project8:
    """A Prisma 8 project as its CLI reads it."""

    folder: str
    config: str
    contract_source: str  # contract.prisma, contract.ts, or the Prisma 7 schema (``prisma7Schema``)
    contract_json: str  # the emitted contract.json
    contract_hash: str | None  # contract.json's storage.storageHash; None when not emitted
    migrations: str  # the migrations folder (``migrations.dir``)
    graph: tuple[GraphMigration, ...] = ()
    prisma7_schema: bool = False
    contract: dict[str, Any] | None = field(default=None, compare=False, repr=False)
    # Contracts kept beside the migrations (``migrations/snapshots/<hash>/contract.json``).
    snapshots: tuple[tuple[str, str], ...] = field(default=(), compare=False, repr=False)  # (hash, path)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.graph)


@dataclass(frozen=True)
class Marker:
    """The row of ``prisma_contract.marker`` of one contract space."""

    space: str
    core_hash: str
    profile_hash: str
    updated_at: datetime | None = None


@dataclass(frozen=True)
class LedgerRow:
    """One row of ``prisma_contract.ledger``: a migration edge ``db migrate`` applied."""

    id: int
    created_at: datetime
    space: str
    migration_name: str
    migration_hash: str
    origin: str | None
    destination: str
    operations: Any = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class State8:
    """What ``prisma_contract`` holds (``present`` False: the schema or its marker table is absent)."""

    present: bool
    markers: tuple[Marker, ...] = ()
    ledger: tuple[LedgerRow, ...] = ()
    contract_hashes: tuple[str, ...] = ()
    legacy_rows: int | None = None  # rows of a Prisma 6/7 ``_prisma_migrations`` beside it; None: no table

    def marker(self, space: str = "app") -> Marker | None:
        return next((m for m in self.markers if m.space == space), None)


@dataclass(frozen=True)
class Answer:
    """What one Prisma 8 command prints: its exit code, its summary line, its diagnostic code and the
    issues it lists (``missing: database/public/User/column:name``)."""

    command: str  # "migration status", "db verify", "db verify --strict"
    exit_code: int
    says: str
    code: str | None = None
    issues: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"command": self.command, "exit_code": self.exit_code, "says": self.says, "code": self.code,
                "issues": list(self.issues)}


@dataclass(frozen=True)
class Edited:
    """An applied migration whose files are not what was applied."""

    name: str
    what: str  # "rehashed" (re-emitted: new migrationHash), "unhashed" (files changed, hash not), "source"
    applied_hash: str
    local_hash: str
    detail: str = ""


@dataclass(frozen=True)
class Prisma8View:
    """The history of a Prisma 8 database: the marker, the ledger and the graph on disk, side by side
    with what ``migration status`` and ``db verify`` say about them."""

    space: str
    marker: str | None  # the marker's contract hash; None: no marker (never signed, or deleted)
    contract: str | None  # the contract on disk (contract.json)
    marker_in_graph: bool
    path: tuple[str, ...] = ()  # the migrations from the marker (or the empty database) to the contract
    path_found: bool = True  # False: the graph has no path from the marker to the contract
    ledger_missing: tuple[str, ...] = ()  # migrations on the path to the marker without a ledger row
    edited: tuple[Edited, ...] = ()
    gone: tuple[str, ...] = ()  # ledger rows whose migration folder is gone
    nothing_half_applied: bool | None = None  # pending objects all absent: a failed `db migrate` left nothing
    legacy_rows: int | None = None
    status: Answer | None = None
    verify: Answer | None = None
    verify_strict: Answer | None = None
    notes: tuple[str, ...] = ()  # what Prisma 8 does not say
    # A Prisma 6/7 history beside the marker: what its `migrate status` says, and whether both agree.
    legacy: str | None = None
    legacy_agrees: bool | None = None

    @property
    def problems(self) -> bool:
        """Something in the history itself is wrong (pending migrations are counted elsewhere)."""
        return bool(self.marker is None or not self.marker_in_graph or not self.path_found or self.ledger_missing
                    or self.edited or self.gone)

    def to_json(self) -> dict[str, Any]:
        return {
            "space": self.space, "marker": self.marker, "contract": self.contract,
            "marker_in_graph": self.marker_in_graph, "path": list(self.path), "path_found": self.path_found,
            "ledger_missing": list(self.ledger_missing),
            "edited": [{"name": e.name, "what": e.what, "applied_hash": e.applied_hash, "local_hash": e.local_hash,
                        "detail": e.detail} for e in self.edited],
            "gone": list(self.gone), "nothing_half_applied": self.nothing_half_applied,
            "prisma_migrations_rows": self.legacy_rows, "prisma_migrations": self.legacy,
            "histories_agree": self.legacy_agrees,
            "migration_status": self.status.to_json() if self.status else None,
            "db_verify": self.verify.to_json() if self.verify else None,
            "db_verify_strict": self.verify_strict.to_json() if self.verify_strict else None,
        }
