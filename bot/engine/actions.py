"""The executable actions: the fixes driftbot itself runs once approved. One record a kind.

Each kind carries everything said or done about it: its arguments and their validation, the SQL
a plan shows, the writer call that makes the change (the one writer dispatch: ``Executable.write``),
how to tell from the target that it took effect (reconcile), how it is described, its button, and
its ``/drift``, ``driftbot`` and ``prisma`` command lines. Everything else asks this registry
(``REGISTRY``, ``executable``) instead of comparing kind names: this is the one module that spells them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from driftbot.errors import Refused

if TYPE_CHECKING:  # annotations only: naming a kind (the terminal's views) never imports psycopg
    import psycopg

    from driftbot.engine import writers
    from driftbot.engine.sources import Migrations

def _writers():
    from driftbot.engine import writers  # psycopg and the migrations source: only a kind's SQL or change pays for them

    return writers


RESOLVE_APPLIED = "resolve_applied"
RESOLVE_ROLLED_BACK = "resolve_rolled_back"
ADD_ENUM_VALUE = "add_enum_value"

_ENUM_HAS = ("SELECT 1 FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid JOIN pg_namespace n ON n.oid = t.typnamespace "
             "WHERE n.nspname = %s AND t.typname = %s AND e.enumlabel = %s")


@dataclass(frozen=True)
class Executable:
    """One kind of executable action. *fields*: its arguments; *verb*: its ``/drift`` and ``driftbot``
    subcommand; *flag*: the subcommand's flag that names it (``--applied``), if any."""

    kind: str
    fields: tuple[str, ...]
    verb: str
    flag: str | None = None

    def clean(self, args: dict[str, Any]) -> dict[str, str]:
        """The arguments a request of this kind keeps, each checked as the writer checks it (InvalidName)."""
        raise NotImplementedError

    def picked(self, args: dict[str, Any]) -> dict[str, str]:
        """This kind's arguments taken from *args* (a finding's action, a stored request), unchecked
        (KeyError when one is missing)."""
        return {k: str(args[k]) for k in self.fields}

    @property
    def needs_checksum(self) -> bool:
        """Whether its plan records the local migration's checksum."""
        return False

    def sql(self, args: dict[str, str], checksum: str | None = None) -> str:
        """The statements the writer will run, as the writer shows them."""
        raise NotImplementedError

    def write(self, url: str, args: dict[str, str], limits: writers.Limits,
              migrations: Callable[[], Migrations]) -> writers.WriteResult:
        """Make the change on *url* (the admin URL) through the engine's writer."""
        raise NotImplementedError

    def took_effect(self, conn: psycopg.Connection, schema: str, args: dict[str, Any]) -> bool | None:
        """Whether the change is in the target now (read-only), None when it cannot tell."""
        raise NotImplementedError

    def describe(self, args: dict[str, str]) -> str:
        """The change in words, for a request's message (Markdown code marks)."""
        raise NotImplementedError

    def button(self, args: dict[str, str]) -> str:
        """The text of its button under a check result."""
        raise NotImplementedError

    def drift_command(self, environment: str, args: dict[str, str]) -> str:
        """The ``/drift`` command that asks for it."""
        return f"/drift {self.command_line(environment, args)}"

    def cli_command(self, environment: str, args: dict[str, str]) -> str:
        """The ``driftbot`` command that makes it from a terminal."""
        return f"driftbot {self.command_line(environment, args)}"

    def command_line(self, environment: str, args: dict[str, str]) -> str:
        raise NotImplementedError

    def prisma_command(self, args: dict[str, str]) -> str | None:
        """Prisma's own command for it, where Prisma has one."""
        return None

    def short(self, args: dict[str, str]) -> str:
        """The change in a few words, for a list of open requests (the App Home)."""
        raise NotImplementedError


@dataclass(frozen=True)
class Resolve(Executable):
    """``prisma migrate resolve --applied|--rolled-back NAME``: a ``_prisma_migrations`` row written."""

    def clean(self, args: dict[str, Any]) -> dict[str, str]:
        return {"migration": _writers().check_migration_name(str(args["migration"]))}

    @property
    def needs_checksum(self) -> bool:
        return self.kind == RESOLVE_APPLIED

    def sql(self, args: dict[str, str], checksum: str | None = None) -> str:
        w = _writers()
        name = w.check_migration_name(args["migration"])
        close_failed = w.close_failed(name)[2] + ";"
        if self.kind == RESOLVE_ROLLED_BACK:
            return close_failed
        if checksum is None:
            raise Refused(f"P3017: The migration `{name}` could not be found in the migrations folder; nothing was requested.")
        return f"-- only when a failed attempt exists:\n{close_failed}\n" + w.insert_applied(w.NEW_ID, checksum, name)[2] + ";"

    def write(self, url: str, args: dict[str, str], limits: writers.Limits,
              migrations: Callable[[], Migrations]) -> writers.WriteResult:
        if self.kind == RESOLVE_APPLIED:
            return _writers().resolve_applied(url, migrations(), args["migration"], limits)
        return _writers().resolve_rolled_back(url, args["migration"], limits)

    def took_effect(self, conn: psycopg.Connection, schema: str, args: dict[str, Any]) -> bool | None:
        from psycopg import sql  # only reconcile reads the target

        rows = conn.execute(
            sql.SQL("SELECT finished_at IS NOT NULL, rolled_back_at IS NOT NULL FROM {} WHERE migration_name = %s")
            .format(sql.Identifier(schema, _writers().TABLE)), (args["migration"],)).fetchall()
        if self.kind == RESOLVE_APPLIED:  # the row `resolve --applied` writes: finished, not rolled back
            return any(finished and not rolled_back for finished, rolled_back in rows)
        # --rolled-back: no failed row left unresolved
        return bool(rows) and not any(not finished and not rolled_back for finished, rolled_back in rows)

    def describe(self, args: dict[str, str]) -> str:
        return f"`{self.prisma_command(args)}`"

    def button(self, args: dict[str, str]) -> str:
        return f"Resolve {self.flag} {args.get('migration')}"  # the kind first: it survives any shortening

    def command_line(self, environment: str, args: dict[str, str]) -> str:
        return f"resolve {environment} {self.flag} {args['migration']}"

    def short(self, args: dict[str, str]) -> str:
        return f"resolve {self.flag} {args['migration']}"

    def prisma_command(self, args: dict[str, str]) -> str | None:
        return f"prisma migrate resolve {self.flag} {args['migration']}"


@dataclass(frozen=True)
class AddEnumValue(Executable):
    """``ALTER TYPE "E" ADD VALUE IF NOT EXISTS 'V'`` (case C), optionally ``BEFORE`` a value."""

    def clean(self, args: dict[str, Any]) -> dict[str, str]:
        clean = {"enum": _writers().check_identifier(str(args["enum"]), "enum"),
                 "value": _writers().check_enum_value(str(args["value"]))}
        if args.get("before"):  # where the migrations have the value
            clean["before"] = _writers().check_enum_value(str(args["before"]))
        return clean

    def picked(self, args: dict[str, Any]) -> dict[str, str]:
        out = super().picked(args)
        if args.get("before"):
            out["before"] = str(args["before"])
        return out

    def sql(self, args: dict[str, str], checksum: str | None = None) -> str:
        return _writers().render_add_enum_value(args["enum"], args["value"], before=args.get("before"))

    def write(self, url: str, args: dict[str, str], limits: writers.Limits,
              migrations: Callable[[], Migrations]) -> writers.WriteResult:
        return _writers().add_enum_value(url, args["enum"], args["value"], limits, before=args.get("before"))

    def took_effect(self, conn: psycopg.Connection, schema: str, args: dict[str, Any]) -> bool | None:
        return conn.execute(_ENUM_HAS, (schema, args["enum"], args["value"])).fetchone() is not None

    def describe(self, args: dict[str, str]) -> str:
        return f"add value `{args['value']}` to enum `{args['enum']}`"

    def button(self, args: dict[str, str]) -> str:
        return f"Add enum value {args.get('value')}"

    def command_line(self, environment: str, args: dict[str, str]) -> str:
        return f"enum {environment} {args['enum']} {args['value']}"

    def short(self, args: dict[str, str]) -> str:
        return f"ADD VALUE '{args['value']}' to {args['enum']}"


REGISTRY: dict[str, Executable] = {e.kind: e for e in (
    Resolve(RESOLVE_APPLIED, ("migration",), "resolve", "--applied"),
    Resolve(RESOLVE_ROLLED_BACK, ("migration",), "resolve", "--rolled-back"),
    AddEnumValue(ADD_ENUM_VALUE, ("enum", "value"), "enum"),
)}
RESOLVE_FLAGS: dict[str, Executable] = {e.flag: e for e in REGISTRY.values() if e.flag}


def executable(kind: str) -> Executable | None:
    """The record of *kind*, or None when driftbot does not run it (a deploy, a catch-up migration...)."""
    return REGISTRY.get(kind)


def get(kind: str) -> Executable:
    """The record of *kind*; Refused when driftbot does not run it."""
    found = REGISTRY.get(kind)
    if found is None:
        raise Refused(f"`{kind}` is not run by driftbot; follow the finding's advice instead.")
    return found
