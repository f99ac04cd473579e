"""Two environments side by side, pure: the history gap, the schema difference of TO relative
to FROM, which part of it the gap explains, and the one ``Comparison`` every view renders.

``driftbot.engine.compare`` reads the environments and calls these; nothing here talks to a database.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from operator import attrgetter, itemgetter
from typing import Any, Callable

from driftbot.engine import diff as d
from driftbot.engine import hidden
from driftbot.engine.history import MigrationRow
from driftbot.engine.inspect import Snapshot
from driftbot.engine.render import render_sql, render_summary

STATES = ("equal", "different", "error")


# --- result objects ------------------------------------------------------------------------------

@dataclass(frozen=True)
class ChecksumDiffers:
    migration: str
    from_checksum: str
    to_checksum: str


@dataclass(frozen=True)
class HistoryGap:
    """How the two ``_prisma_migrations`` tables differ, migration by migration."""

    from_managed: bool
    to_managed: bool
    from_applied: int
    to_applied: int
    applied_only_in_from: tuple[str, ...] = ()
    applied_only_in_to: tuple[str, ...] = ()
    failed_only_in_from: tuple[str, ...] = ()
    failed_only_in_to: tuple[str, ...] = ()
    rolled_back_only_in_from: tuple[str, ...] = ()
    rolled_back_only_in_to: tuple[str, ...] = ()
    checksum_differs: tuple[ChecksumDiffers, ...] = ()

    @property
    def equal(self) -> bool:
        return self.from_managed == self.to_managed and not self.migrations

    @property
    def same_applied(self) -> bool:
        """Both have applied the same migrations with the same checksums: they build one schema."""
        return not (self.applied_only_in_from or self.applied_only_in_to or self.checksum_differs)

    @property
    def migrations(self) -> tuple[str, ...]:
        """Every migration in the gap, once, sorted."""
        names = {*self.applied_only_in_from, *self.applied_only_in_to, *self.failed_only_in_from,
                 *self.failed_only_in_to, *self.rolled_back_only_in_from, *self.rolled_back_only_in_to,
                 *(c.migration for c in self.checksum_differs)}
        return tuple(sorted(names, key=str.encode))

    def describe(self, a: str, b: str, limit: int = 5) -> tuple[str, ...]:
        """One line per kind of difference, naming the environments *a* (FROM) and *b* (TO)."""
        def names(items) -> str:
            items = list(items)
            return ", ".join(items[:limit]) + (f" and {len(items) - limit} more" if len(items) > limit else "")

        out = [] if self.from_managed == self.to_managed else [
            f"only {a if self.from_managed else b} has a `_prisma_migrations` table"]
        for label, mine, theirs in (("applied", self.applied_only_in_from, self.applied_only_in_to),
                                    ("failed", self.failed_only_in_from, self.failed_only_in_to),
                                    ("rolled back", self.rolled_back_only_in_from, self.rolled_back_only_in_to)):
            out += [f"{label} in {env} only: {names(found)}" for env, found in ((a, mine), (b, theirs)) if found]
        if self.checksum_differs:
            out.append("applied with different checksums (edited after it was applied in one of them): "
                       + names(c.migration for c in self.checksum_differs))
        return tuple(out)

    def to_json(self) -> dict[str, Any]:
        return {
            "equal": self.equal,
            "migrations": list(self.migrations),
            "from_managed": self.from_managed, "to_managed": self.to_managed,
            "from_applied": self.from_applied, "to_applied": self.to_applied,
            "applied_only_in_from": list(self.applied_only_in_from),
            "applied_only_in_to": list(self.applied_only_in_to),
            "failed_only_in_from": list(self.failed_only_in_from),
            "failed_only_in_to": list(self.failed_only_in_to),
            "rolled_back_only_in_from": list(self.rolled_back_only_in_from),
            "rolled_back_only_in_to": list(self.rolled_back_only_in_to),
            "checksum_differs": [{"migration": c.migration, "from_checksum": c.from_checksum,
                                  "to_checksum": c.to_checksum} for c in self.checksum_differs],
        }


@dataclass(frozen=True)
class Unexplained:
    """Part of the schema difference no migration in the gap makes: drift, in *environment*
    (None: in one of the two, not known which; *reason* says why)."""

    environment: str | None
    summary: tuple[str, ...]
    reason: str | None = None
    ops: tuple[d.Operation, ...] = field(default=(), compare=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {"environment": self.environment, "summary": list(self.summary), "reason": self.reason}


@dataclass(frozen=True)
class SchemaDifference:
    """TO's schema relative to FROM's, and what of it the history gap explains."""

    summary: tuple[str, ...] = ()
    sql: str = ""  # turns FROM's schema into TO's; for review only, never executed
    explained_checked: bool = True
    explained_reason: str | None = None
    explained: tuple[str, ...] = ()  # summary lines of the part the history gap explains
    unexplained: tuple[Unexplained, ...] = ()
    ops: tuple[d.Operation, ...] = field(default=(), compare=False, repr=False)

    @property
    def equal(self) -> bool:
        return not self.summary

    @property
    def changes(self) -> int:
        """How many objects differ (a table, a column, an enum, a trigger...)."""
        return len({d.describe(op) for op in self.ops if not getattr(op, "with_view", False)})

    def to_json(self) -> dict[str, Any]:
        return {
            "equal": self.equal, "changes": self.changes, "summary": list(self.summary), "sql": self.sql,
            "explained": {"checked": self.explained_checked, "reason": self.explained_reason,
                          "summary": list(self.explained)},
            "unexplained": [u.to_json() for u in self.unexplained],
        }


@dataclass(frozen=True)
class Comparison:
    """The one result of ``compare``: CLI text, JSON, Slack and the digest render it."""

    from_env: str
    to_env: str
    history: HistoryGap | None
    schema: SchemaDifference | None
    errors: tuple[tuple[str, str], ...] = ()  # (environment, why it cannot be read)
    duration_ms: float = 0.0

    @property
    def state(self) -> str:
        if self.errors:
            return "error"
        return "equal" if self.history.equal and self.schema.equal else "different"

    @property
    def exit_code(self) -> int:
        """0 equal, 1 different, 2 either environment cannot be read."""
        return {"equal": 0, "different": 1}.get(self.state, 2)

    @property
    def headline(self) -> str:
        """One line: "staging and prod differ by ...", "... are equal", or what cannot be read."""
        a, b = self.from_env, self.to_env
        if self.errors:
            return f"Cannot compare {a} and {b}: " + "; ".join(f"{env} cannot be read ({why.rstrip('.')})"
                                                               for env, why in self.errors) + "."
        if a == b:
            return f"{a} and {b} are the same environment: equal."
        if self.state == "equal":
            return f"{a} and {b} are equal: the same migrations applied, the same schema."
        parts = []
        if self.history.migrations:
            n = len(self.history.migrations)
            parts.append(f"{n} migration{'s' if n != 1 else ''}")
        if not self.schema.equal:
            n = self.schema.changes
            parts.append(f"{n} schema change{'s' if n != 1 else ''}" + self._explained_note())
        if not parts:  # no migration applied on either side, but only one has the table
            return f"{a} and {b} differ: only {a if self.history.from_managed else b} has a `_prisma_migrations` table."
        return f"{a} and {b} differ by " + " and ".join(parts) + "."

    def _explained_note(self) -> str:
        s = self.schema
        if not s.explained_checked:
            return " (not sorted into explained and drift: " + (s.explained_reason or "unknown").rstrip(".") + ")"
        named = [u.environment for u in s.unexplained if u.environment]
        drift = (f"drift in {' and '.join(named)}" if named else
                 f"drift in {self.from_env} or {self.to_env}" if s.unexplained else "")
        if not s.explained:
            return f", all {drift}" if drift else ""
        return ", all explained by the history gap" if not drift else f", part explained by the history gap, part {drift}"

    def to_json(self) -> dict[str, Any]:
        return {
            "from": self.from_env,
            "to": self.to_env,
            "state": self.state,
            "headline": self.headline,
            "errors": [{"environment": env, "error": why} for env, why in self.errors],
            "history": None if self.history is None else self.history.to_json(),
            "schema": None if self.schema is None else self.schema.to_json(),
            "duration_ms": round(self.duration_ms, 1),
        }


# --- pure steps ------------------------------------------------------------------------------------

def states(rows: tuple[MigrationRow, ...]) -> dict[str, tuple[str, str | None]]:
    """name -> ("applied", checksum of the latest applied attempt) | ("failed", None) | ("rolled_back", None)."""
    out: dict[str, tuple[str, str | None]] = {}
    for row in sorted(rows, key=lambda r: (r.started_at, r.finished_at or r.started_at)):
        if row.is_applied:
            out[row.migration_name] = ("applied", row.checksum)
        elif row.is_failed and out.get(row.migration_name, ("",))[0] != "applied":
            out[row.migration_name] = ("failed", None)
        else:
            out.setdefault(row.migration_name, ("rolled_back", None))
    return out


def history_gap(from_rows: tuple[MigrationRow, ...] | None, to_rows: tuple[MigrationRow, ...] | None) -> HistoryGap:
    """The two histories side by side (pure). ``None``: no ``_prisma_migrations`` table."""
    a, b = states(from_rows or ()), states(to_rows or ())

    def only(mine: dict, theirs: dict, state: str) -> tuple[str, ...]:
        return tuple(sorted((n for n, (s, _) in mine.items() if s == state and theirs.get(n, ("",))[0] != state),
                            key=str.encode))

    return HistoryGap(
        from_managed=from_rows is not None, to_managed=to_rows is not None,
        from_applied=sum(1 for s, _ in a.values() if s == "applied"),
        to_applied=sum(1 for s, _ in b.values() if s == "applied"),
        applied_only_in_from=only(a, b, "applied"), applied_only_in_to=only(b, a, "applied"),
        failed_only_in_from=only(a, b, "failed"), failed_only_in_to=only(b, a, "failed"),
        rolled_back_only_in_from=only(a, b, "rolled_back"), rolled_back_only_in_to=only(b, a, "rolled_back"),
        checksum_differs=tuple(ChecksumDiffers(n, a[n][1], b[n][1]) for n in sorted(a.keys() & b.keys(), key=str.encode)
                               if a[n][0] == b[n][0] == "applied" and a[n][1] != b[n][1]),
    )


# Each collection of a snapshot, and the kind of ``hidden.objects`` key that selects its items.
_BY_TABLE = ("tables", "foreign_keys", "triggers", "row_security", "policies")
_OWN_KEY = {"indexes": "index", "enums": "enum", "sequences": "sequence", "views": "view", "functions": "function",
            "extensions": "extension"}
_TABLE_OBJECTS = ("table", "column", "primary_key", "check", "foreign_key", "trigger", "row_security", "policy")


@dataclass(frozen=True)
class Touched:
    """The objects a set of operations concerns, as keys to select snapshot items by."""

    tables: frozenset = frozenset()  # (schema, table)
    own: frozenset = frozenset()  # (kind, *key) of indexes, enums, sequences, views, functions, extensions


def touched(ops: tuple[d.Operation, ...]) -> Touched:
    tables, own = set(), set()
    for op in ops:
        for obj in hidden.objects(op):
            kind = obj[0]
            if kind in _TABLE_OBJECTS:
                tables.add(obj[1:3])
            else:
                own.add(("enum", *obj[1:3]) if kind == "enum_value" else obj)
        index = getattr(op, "index", None)
        if index is not None:
            tables.add((index.schema, index.table))
    return Touched(frozenset(tables), frozenset(own))


def _selectors(t: Touched, get) -> dict[str, Callable[[Any], bool]]:
    """Per collection, whether *t* selects an item; *get* is ``attrgetter`` for value objects and
    ``itemgetter`` for their JSON form (both return tuples of fields, in C)."""
    by_table, named, signature, ext = (get("schema", "table"), get("schema", "name"),
                                       get("schema", "name", "arguments"), get("name"))
    tables, own = t.tables, t.own
    out: dict[str, Callable[[Any], bool]] = {c: (lambda i: by_table(i) in tables) for c in _BY_TABLE}
    out["tables"] = lambda i: named(i) in tables
    out["indexes"] = lambda i: by_table(i) in tables or ("index", *named(i)) in own
    for collection in ("enums", "sequences", "views"):
        out[collection] = lambda i, kind=_OWN_KEY[collection]: (kind, *named(i)) in own
    out["functions"] = lambda i: ("function", *signature(i)) in own
    out["extensions"] = lambda i: ("extension", ext(i)) in own
    return out


def restrict(snapshot: Snapshot, t: Touched) -> Snapshot:
    """*snapshot* with only the items *t* selects: the differ then looks at those alone (pure)."""
    wanted = _selectors(t, attrgetter)
    return replace(snapshot, **{c: tuple(filter(wanted[c], getattr(snapshot, c))) for c in _COLLECTIONS})


def restrict_json(data: dict[str, Any], t: Touched) -> dict[str, Any]:
    """The same for a snapshot's JSON form, so a cached schema is built only where it matters."""
    wanted = _selectors(t, itemgetter)
    return {**data, **{c: list(filter(wanted[c], data[c])) for c in _COLLECTIONS}}


_COLLECTIONS = (*_BY_TABLE, *_OWN_KEY)


def _objects(ops) -> frozenset:
    return frozenset().union(*(hidden.objects(op) for op in ops)) if ops else frozenset()


def schema_difference(live_from: Snapshot, live_to: Snapshot, ignore: tuple[str, ...],
                      names: tuple[str, str], expected_from: Snapshot | None = None,
                      expected_to: Snapshot | None = None, unsorted: str | None = None,
                      unnamed: str | None = None, ops: tuple[d.Operation, ...] | None = None) -> SchemaDifference:
    """TO relative to FROM, sorted into what the history gap explains and the drift of each (pure).

    *expected_from* / *expected_to*: what each side's applied migrations build (the same object
    when the histories agree), or None when unknown. A change is explained when the migrations
    make the same difference and neither side has drifted in that object; otherwise it is drift,
    named with the environment(s) whose live schema differs from its migrations there.
    *unsorted*: why the changes could not be sorted at all (the gap's schema is unknown);
    *unnamed*: why, with agreeing histories, the drifted environment cannot be named.
    *ops*: ``diff(live_from, live_to)`` less the ignored, when the caller has it already.
    """
    if ops is None:
        ops = d.without_ignored(d.diff(live_from, live_to), ignore)
    default = live_from.default_schema
    base = SchemaDifference(summary=render_summary(ops), sql=render_sql(ops, default) if ops else "", ops=ops)
    if not ops:
        return base
    if unsorted is not None:
        return SchemaDifference(base.summary, base.sql, False, unsorted, ops=ops)
    if expected_from is None or expected_to is None:
        a, b = names
        why = (f"{unnamed or 'their migrations schema is not cached'}, so which of them drifted is not known; "
               f"`driftbot status {a}` and `driftbot status {b}` tell")
        return SchemaDifference(base.summary, base.sql, unexplained=(Unexplained(None, base.summary, why, ops),), ops=ops)
    # Only the objects the difference concerns matter: restricted, 1,500 tables cost a handful.
    t = touched(ops)
    live_from, live_to = restrict(live_from, t), restrict(live_to, t)
    expected_from, expected_to = restrict(expected_from, t), restrict(expected_to, t)
    gap = _objects(d.without_ignored(d.diff(expected_from, expected_to), ignore))
    drift = (_objects(d.without_ignored(d.diff(expected_from, live_from), ignore)),
             _objects(d.without_ignored(d.diff(expected_to, live_to), ignore)))
    explained: list[d.Operation] = []
    groups: dict[str | None, list[d.Operation]] = {names[0]: [], names[1]: [], None: []}
    for op in ops:
        mine = hidden.objects(op)
        where = [name for name, drifted in zip(names, drift) if mine & drifted]
        if not where and mine & gap:
            explained.append(op)
            continue
        for name in where or [None]:
            groups[name].append(op)
    unexplained = tuple(
        Unexplained(name, render_summary(tuple(group)),
                    None if name else "the difference matches neither side's migrations", tuple(group))
        for name, group in groups.items() if group)
    return SchemaDifference(base.summary, base.sql, explained=render_summary(tuple(explained)),
                            unexplained=unexplained, ops=ops)
