"""pg_catalog introspection: a database's schema as a ``Snapshot`` of frozen value objects."""

from driftbot.engine.inspect.load import introspect
from driftbot.engine.inspect.model import (
    Check, Column, Enum, Extension, ForeignKey, Function, Index, Policy, PrimaryKey, RowSecurity, Sequence, Snapshot,
    Table, Trigger, View, empty,
)

__all__ = [
    "introspect", "Snapshot", "Table", "Column", "PrimaryKey", "Check", "Index", "ForeignKey", "Enum",
    "Sequence", "View", "Extension", "Function", "Trigger", "RowSecurity", "Policy",
    "empty",
]
