"""A Prisma 8 project on disk: its config, its emitted contract and its migration graph.

Paths as the CLI resolves them: relative to the config's folder; the contract.json beside the
contract source unless ``output`` names a folder; migrations in ``migrations/`` unless
``migrations.dir`` says otherwise, one folder per contract space (``app`` for the application),
one folder per migration holding ``migration.json``, ``ops.json`` and ``migration.ts``.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
from pathlib import Path
from typing import Any

from driftbot.engine.prisma8.model import EMPTY, GraphMigration, Project8
from driftbot.errors import MigrationsSourceError

NOT_SPACES = ("snapshots",)  # folders of the migrations folder that are not contract spaces


def canonical(value: Any) -> str:
    """Prisma 8's canonical JSON: sorted keys, no spaces."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def migration_hash(metadata: dict, operations: Any) -> str:
    """``migrationHash``: sha256 of the canonical pair [sha256(migration.json without the hash),
    sha256(ops.json)]. It covers ``createdAt``, not migration.ts (checked against 8.0.0-rc.19)."""
    body = {k: v for k, v in metadata.items() if k != "migrationHash"}
    return _sha(canonical([_sha(canonical(body)), _sha(canonical(operations))]))


_LITERAL = re.compile(r"'((?:[^'\\\n]|\\.)*)'")


def source_only_names(source: str, operations_text: str) -> tuple[str, ...]:
    """Names migration.ts gives its operations that ops.json never mentions (pure). migration.ts is the
    source: ``node migration.ts`` re-emits ops.json and migration.json from it, so a name only it has
    means it was edited and not re-emitted. Codec ids (``pg/text@1``) are not names."""
    body = source.split("get operations()", 1)[-1]
    names = {n for n in _LITERAL.findall(body) if n and not ("/" in n and "@" in n)}
    return tuple(sorted(n for n in names if f'"{n}"' not in operations_text and f'\\"{n}\\"' not in operations_text
                        and n not in operations_text))


def _load_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise MigrationsSourceError(f"{path} is not readable JSON ({exc}); Prisma 8 cannot read it either. "
                                    f"Restore {what} from git.") from None


def read_migration(space: str, folder: Path) -> GraphMigration:
    metadata = _load_json(folder / "migration.json", "the migration's migration.json")
    ops_text = (folder / "ops.json").read_text(encoding="utf-8") if (folder / "ops.json").is_file() else "[]"
    try:
        operations = json.loads(ops_text)
    except ValueError as exc:
        raise MigrationsSourceError(f"{folder}/ops.json is not valid JSON ({exc}).") from None
    if not isinstance(metadata, dict) or not isinstance(metadata.get("to"), str):
        raise MigrationsSourceError(f"{folder}/migration.json has no `to` contract hash; Prisma 8 cannot read it either.")
    source = folder / "migration.ts"
    source_only = source_only_names(source.read_text(encoding="utf-8"), ops_text) if source.is_file() else ()
    return GraphMigration(
        space=space, name=folder.name, origin=metadata.get("from") or EMPTY, destination=metadata["to"],
        stored_hash=str(metadata.get("migrationHash", "")), computed_hash=migration_hash(metadata, operations),
        created_at=str(metadata.get("createdAt", "")), source_only=source_only,
        operations=tuple(operations) if isinstance(operations, list) else (),
    )


def read_graph(migrations: str | Path, space: str = "app") -> tuple[GraphMigration, ...]:
    """The migrations of one contract space, sorted by folder name (bytes); none when the folder is absent."""
    root = Path(migrations) / space
    if not root.is_dir():
        return ()
    items = [read_migration(space, entry) for entry in root.iterdir()
             if entry.is_dir() and (entry / "migration.json").is_file()]
    return tuple(sorted(items, key=lambda m: m.name.encode("utf-8")))


def storage_hash(contract: dict | None) -> str | None:
    storage = contract.get("storage") if isinstance(contract, dict) else None
    value = storage.get("storageHash") if isinstance(storage, dict) else None
    return value if isinstance(value, str) else None


def read_project(located) -> Project8:
    """The Prisma 8 project ``project.locate`` found (its contract source, contract.json folder and
    migrations folder, already resolved from its config)."""
    contract_json = posixpath.join(located.contract_output or posixpath.dirname(located.schema), "contract.json")
    contract = None
    if Path(contract_json).is_file():
        contract = _load_json(Path(contract_json), "contract.json (or run `prisma contract emit`)")
    snapshots = ()
    snap_root = Path(located.migrations) / "snapshots"
    if snap_root.is_dir():
        snapshots = tuple(sorted((d.name, str(d / "contract.json")) for d in snap_root.iterdir()
                                 if (d / "contract.json").is_file()))
    return Project8(
        folder=located.folder, config=located.config, contract_source=located.schema, contract_json=contract_json,
        contract_hash=storage_hash(contract), migrations=located.migrations, graph=read_graph(located.migrations),
        prisma7_schema=located.prisma7_schema, contract=contract, snapshots=snapshots,
    )


def snapshot_contract(project: Project8, core_hash: str) -> dict | None:
    """The contract of *core_hash* kept beside the migrations, if any."""
    for h, path in project.snapshots:
        if h == core_hash:
            try:
                return json.loads(Path(path).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return None
    return None
