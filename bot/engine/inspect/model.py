"""The snapshot: frozen value objects for every kind of schema object driftbot compares.

Equality is what the differ uses, so anything that differs between two builds of
the same schema (OIDs, the names of sequences serial columns own, column
positions, and the spellings of another PostgreSQL major version: see
``normalize``) is normalised away or excluded from comparison.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from driftbot.engine.inspect.normalize import view_definition

FK_ACTIONS = {"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # format_type(): with modifiers, e.g. "timestamp(3) without time zone"
    not_null: bool
    default: str | None = None  # None for a serial column (its nextval is implied)
    serial: bool = False
    identity: str = ""  # "a" ALWAYS, "d" BY DEFAULT
    generated: str = ""  # "s" for a stored generated column (default holds its expression)
    is_enum: bool = False


@dataclass(frozen=True)
class PrimaryKey:
    name: str
    columns: tuple[str, ...]


@dataclass(frozen=True)
class Check:
    name: str
    definition: str


@dataclass(frozen=True)
class Table:
    schema: str
    name: str
    columns: tuple[Column, ...]  # sorted by name: PostgreSQL's column order is not schema
    primary_key: PrimaryKey | None = None
    checks: tuple[Check, ...] = ()
    column_order: tuple[str, ...] = field(default=(), compare=False)  # for rendering CREATE TABLE

    @property
    def key(self) -> tuple[str, str]:
        return (self.schema, self.name)

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)

    def ordered_columns(self) -> tuple[Column, ...]:
        by_name = {c.name: c for c in self.columns}
        order = [n for n in self.column_order if n in by_name]
        return tuple(by_name[n] for n in order) + tuple(c for c in self.columns if c.name not in order)


@dataclass(frozen=True)
class Index:
    """An index, or a unique constraint (``constraint=True``, PostgreSQL backs it with an index)."""

    schema: str
    table: str
    name: str
    unique: bool
    columns: tuple[str | None, ...]  # None for an expression
    descending: tuple[bool, ...] = ()
    method: str = "btree"
    partial: bool = False
    complex: bool = False  # expressions or INCLUDE columns: rendered from its definition
    constraint: bool = False
    definition: str = ""  # pg_get_indexdef / pg_get_constraintdef
    # False: a CREATE INDEX CONCURRENTLY that failed. Same definition, but queries do not use it and a
    # unique one enforces nothing. Not part of equality: the differ reports it as its own operation.
    valid: bool = field(default=True, compare=False)

    @property
    def key(self) -> tuple[str, str]:
        return (self.schema, self.name)


@dataclass(frozen=True)
class ForeignKey:
    schema: str
    table: str
    name: str
    columns: tuple[str, ...]
    ref_schema: str
    ref_table: str
    ref_columns: tuple[str, ...]
    on_delete: str = "NO ACTION"
    on_update: str = "NO ACTION"
    deferrable: bool = False
    deferred: bool = False

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.schema, self.table, self.name)


@dataclass(frozen=True)
class Enum:
    schema: str
    name: str
    values: tuple[str, ...]

    @property
    def key(self) -> tuple[str, str]:
        return (self.schema, self.name)


@dataclass(frozen=True)
class Sequence:
    schema: str
    name: str
    type: str = "bigint"
    start: int = 1
    increment: int = 1

    @property
    def key(self) -> tuple[str, str]:
        return (self.schema, self.name)


@dataclass(frozen=True, eq=False)
class View:
    """Compared by its definition in a version-neutral spelling (``normalize.view_definition``):
    the shadow server may run another PostgreSQL major version, whose ``pg_get_viewdef`` differs."""

    schema: str
    name: str
    definition: str  # pg_get_viewdef as this server prints it (what the renderer uses)
    materialized: bool = False

    @property
    def key(self) -> tuple[str, str]:
        return (self.schema, self.name)

    def _compared(self) -> tuple:
        return (self.schema, self.name, self.materialized, view_definition(self.definition))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, View) and self._compared() == other._compared()

    def __hash__(self) -> int:
        return hash(self._compared())


@dataclass(frozen=True)
class Extension:
    name: str
    schema: str

    @property
    def key(self) -> str:
        return self.name


@dataclass(frozen=True)
class Function:
    """A function or procedure, compared by what defines it (not by OID or owner)."""

    schema: str
    name: str
    arguments: str  # pg_get_function_identity_arguments: part of the key (overloads differ here)
    kind: str = "f"  # "f" function, "p" procedure, "w" window
    result: str = ""
    language: str = "sql"
    body: str = ""
    volatility: str = "v"
    strict: bool = False
    security_definer: bool = False
    config: tuple[str, ...] = ()  # SET clauses, e.g. "search_path=public"
    definition: str = field(default="", compare=False)  # pg_get_functiondef: what the renderer uses

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.schema, self.name, self.arguments)

    @property
    def signature(self) -> str:
        return f"{self.name}({self.arguments})"


@dataclass(frozen=True)
class Trigger:
    schema: str
    table: str
    name: str
    definition: str  # pg_get_triggerdef
    enabled: str = "O"  # tgenabled: O origin (on), D disabled, R replica, A always

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.schema, self.table, self.name)


@dataclass(frozen=True)
class RowSecurity:
    """A table's row-level security switches; a snapshot lists only tables with one of them on."""

    schema: str
    table: str
    enabled: bool = True
    forced: bool = False

    @property
    def key(self) -> tuple[str, str]:
        return (self.schema, self.table)


POLICY_COMMANDS = {"*": "ALL", "r": "SELECT", "a": "INSERT", "w": "UPDATE", "d": "DELETE"}


@dataclass(frozen=True)
class Policy:
    schema: str
    table: str
    name: str
    command: str = "*"  # pg_policy.polcmd: * ALL, r SELECT, a INSERT, w UPDATE, d DELETE
    permissive: bool = True
    roles: tuple[str, ...] = ("public",)
    using: str | None = None  # pg_get_expr of the USING expression
    with_check: str | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.schema, self.table, self.name)


@dataclass(frozen=True)
class Snapshot:
    """One database's schema, within the schemas in scope."""

    schemas: tuple[str, ...]
    default_schema: str = "public"
    tables: tuple[Table, ...] = ()
    indexes: tuple[Index, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()
    enums: tuple[Enum, ...] = ()
    sequences: tuple[Sequence, ...] = ()
    views: tuple[View, ...] = ()
    extensions: tuple[Extension, ...] = ()
    functions: tuple[Function, ...] = ()
    triggers: tuple[Trigger, ...] = ()
    row_security: tuple[RowSecurity, ...] = ()
    policies: tuple[Policy, ...] = ()

    def table(self, schema: str, name: str) -> Table | None:
        return next((t for t in self.tables if t.key == (schema, name)), None)

    def enum(self, schema: str, name: str) -> Enum | None:
        return next((e for e in self.enums if e.key == (schema, name)), None)

    def to_json(self) -> dict[str, Any]:
        """What ``dataclasses.asdict`` gives, without its deep copies (a fifth of the time on a real
        history's snapshot, which every replay and every changed target writes to the cache)."""
        return _plain(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Snapshot":
        def build(kind, raw):
            if kind is Table:
                raw = dict(raw)
                raw["columns"] = tuple(Column(**c) for c in raw["columns"])
                raw["primary_key"] = PrimaryKey(raw["primary_key"]["name"], tuple(raw["primary_key"]["columns"])) if raw["primary_key"] else None
                raw["checks"] = tuple(Check(**c) for c in raw["checks"])
                raw["column_order"] = tuple(raw["column_order"])
                return Table(**raw)
            return kind(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()})

        kinds = {"tables": Table, "indexes": Index, "foreign_keys": ForeignKey, "enums": Enum,
                 "sequences": Sequence, "views": View, "extensions": Extension, "functions": Function,
                 "triggers": Trigger, "row_security": RowSecurity, "policies": Policy}
        return cls(
            schemas=tuple(data["schemas"]),
            default_schema=data["default_schema"],
            **{name: tuple(build(kind, r) for r in data[name]) for name, kind in kinds.items()},
        )


_FIELDS: dict[type, tuple[str, ...]] = {}


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    kind = type(value)
    names = _FIELDS.get(kind)
    if names is None:
        if not hasattr(kind, "__dataclass_fields__"):
            return value  # str, int, bool, None
        names = _FIELDS[kind] = tuple(f.name for f in fields(kind))
    return {n: _plain(getattr(value, n)) for n in names}


def empty(schemas: tuple[str, ...], default_schema: str = "public") -> Snapshot:
    """The schema a database with no migrations applied has."""
    return Snapshot(schemas=schemas, default_schema=default_schema)
