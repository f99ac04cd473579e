"""Findings: what is wrong, in plain words, mapped to the runbook case and its fix.

The runbook cases (product.md): A extra objects -> catch-up migration; B pending
or missing objects -> ``migrate deploy`` from CI/CD; B' failed -> fix, then
``resolve --applied`` or ``--rolled-back``; C enum value missing -> ``ADD VALUE``
plus a tracking migration; E no history -> baseline. Reset is never proposed.
"""

from __future__ import annotations

from driftbot.engine.actions import REGISTRY, RESOLVE_APPLIED, RESOLVE_ROLLED_BACK
from driftbot.engine.history import HistoryVerdict
from driftbot.engine.result import Action, DeployPreview, Finding
from driftbot.engine.replay import UNSAFE_NEW_ENUM_VALUE


def _database_error(logs: str) -> str:
    """The PostgreSQL error inside Prisma's failure log (its first ``ERROR`` line), else the first line."""
    lines = [ln.strip() for ln in logs.strip().splitlines() if ln.strip()]
    for ln in lines:
        if ln.startswith(("ERROR:", "ERROR ", "db error:")):
            return ln[:300]
    return lines[0][:300]


def _listed(names: tuple[str, ...], limit: int = 6) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def preview_findings(preview: DeployPreview | None, h: HistoryVerdict | None = None,
                     restore: str | None = None) -> list[Finding]:
    """A finding when ``migrate deploy`` would fail now (not when the preview could not run, and
    not when a finding about the failing migration already says why: failed, or run by hand).
    *restore*: the plan's migration restoring missing objects, which deploy runs first."""
    if preview is None or preview.ok or not preview.available or preview.migration is None:
        return []
    if h is not None and preview.migration in {b.name for b in h.by_hand} | {f.name for f in h.failed}:
        return []
    where = f" Failing statement: {preview.statement}" if preview.statement else ""
    if preview.sqlstate == UNSAFE_NEW_ENUM_VALUE:
        return [Finding(
            "B",
            f"`prisma migrate deploy` would fail now, at {preview.migration}: {preview.error}",
            "The migration adds an enum value and uses it, and `migrate deploy` runs each migration.sql as one "
            "transaction, where PostgreSQL cannot use a value added in it (`prisma migrate dev` writes both into one "
            "file). Split it: move the `ALTER TYPE ... ADD VALUE` into a migration of its own that sorts before this "
            f"one, and deploy both.{where}",
        )]
    first = (f" The restore migration {restore} comes before it in the folder and may bring back what it needs: "
             "deploy them together, as planned above; if deploy still fails, fix the migration or the database."
             if restore is not None and restore < preview.migration else
             " Fix the migration or the database before deploying.")
    return [Finding(
        "B",
        f"`prisma migrate deploy` would fail now, at {preview.migration}: {preview.error}",
        f"{first.strip()}{where}",
    )]


def _where(h: HistoryVerdict) -> str:
    """Where the database-only migrations came from, as far as the git source tells."""
    said = []
    for name, refs in h.missing_locally_refs:
        if refs is None:
            continue
        said.append(f"{name}: deployed from {', '.join(refs)}" if refs else f"{name}: not found anywhere in the repository")
    return (" " + "; ".join(said) + ".") if said else ""


def resolve_action(kind: str, name: str) -> Action:
    return Action(kind, (("migration", name),), command=REGISTRY[kind].prisma_command({"migration": name}))


def history_findings(h: HistoryVerdict) -> list[Finding]:
    """One finding per history problem, in the order a person should deal with them."""
    if not h.managed and not h.applied_by_hand:
        return [
            Finding(
                "E",
                "The database is not managed by Prisma Migrate (no `_prisma_migrations` table).",
                "Take a backup, commit a baseline migration generated from the live schema, "
                "then record it with `resolve --applied 0_baseline`.",
                Action("baseline", (("migration", "0_baseline"),), command="prisma migrate resolve --applied 0_baseline"),
            )
        ]
    out: list[Finding] = []
    for f in h.failed:
        partial = (
            " Its script manages its own transactions, so part of it may have been applied: check before resolving."
            if f.may_be_partial
            else " PostgreSQL ran it as one transaction, so it left nothing behind."
            if f.may_be_partial is False
            else ""
        )
        reason = f" Database said: {_database_error(f.logs)}" if f.logs and f.logs.strip() else ""
        out.append(
            Finding(
                "B'",
                f"Migration {f.name} failed; `migrate deploy` is blocked until it is resolved.",
                f"If the fix will be a corrected migration, mark it rolled back and deploy again.{partial}{reason}",
                resolve_action(RESOLVE_ROLLED_BACK, f.name),
            )
        )
        out.append(
            Finding(
                "B'",
                f"Or, once {f.name} has been completed by hand, record it as applied.",
                "Only after every statement of the migration is in the database.",
                resolve_action(RESOLVE_APPLIED, f.name),
            )
        )
    for m in h.modified:
        out.append(
            Finding(
                "history",
                f"Migration {m.name} was edited after it was applied (checksum {m.applied_checksum[:8]}… in the database, "
                f"{m.local_checksum[:8]}… in the folder).",
                "`prisma migrate status` does not report this. Restore the applied version of the file from git; "
                "put the new change in a new migration.",
            )
        )
    if h.missing_locally:
        common = h.last_common_migration or "none"
        where = _where(h)
        out.append(
            Finding(
                "history",
                f"The database has {len(h.missing_locally)} migration(s) the folder lacks: {', '.join(h.missing_locally)}.",
                f"Environments diverged (last common migration: {common}).{where} "
                + ("`prisma migrate status` says \"up to date\" here. " if not h.pending else "")
                + "Merge the branch that holds them, or remove them from the database only if they were never meant to ship. "
                "Until then the schema is compared with the folder's migrations only, so no catch-up or restore is "
                "proposed for what they made: merge, then check again.",
            )
        )
    first_of_prefix = True
    for b in h.by_hand:
        if b.whole and b.prefix:
            out.append(Finding(
                "B'",
                f"Migration {b.name} is one of the first {b.prefix} local migrations, whose schema this database "
                "holds without `_prisma_migrations`: record it as applied.",
                (f"The database's schema is the one the folder's first {b.prefix} migrations build, one after the "
                 "other (later migrations drop, rename or retype what earlier ones made, so no migration is compared "
                 "alone with it). Record each of them with `resolve --applied`, in order (the first creates Prisma's "
                 "table); then deploy the migrations after them, if any. No baseline beside them: it would create "
                 "their tables twice. `prisma migrate status` lists them all as not yet applied, and `migrate deploy` "
                 "would fail at the first (\"already exists\")." if first_of_prefix else ""),
                resolve_action(RESOLVE_APPLIED, b.name),
            ))
            first_of_prefix = False
        elif b.whole and b.name in h.finished_rolled_back:
            quoted = b.name.replace("'", "''")
            out.append(Finding(
                "B'",
                f"Migration {b.name} is pending again, but the database already has every change it makes "
                f"({_listed(b.present)}): its finished row was marked rolled back by hand.",
                "Prisma refuses `resolve --applied` here (P3008: an attempt finished) and `migrate deploy` would "
                "fail (\"already exists\"). Clear the mark by hand, then check again: "
                f"UPDATE \"_prisma_migrations\" SET rolled_back_at = NULL WHERE migration_name = '{quoted}' "
                "AND finished_at IS NOT NULL;",
            ))
        elif b.whole:
            out.append(Finding(
                "B'",
                f"Migration {b.name} is pending, but the database already has every change it makes "
                f"({_listed(b.present)}).",
                "Someone ran its SQL by hand and never recorded it. `migrate deploy` would fail (P3018, "
                "\"already exists\"): record it with `resolve --applied` instead. `prisma migrate status` calls it pending.",
                resolve_action(RESOLVE_APPLIED, b.name),
            ))
        else:
            out.append(Finding(
                "B'",
                f"Migration {b.name} was partly run by hand: the database has {_listed(b.present)} "
                f"but lacks {_listed(b.missing)}.",
                "`migrate deploy` would fail on the part that exists. Run the missing part (the SQL below) by hand, "
                "check it, then record the migration with `resolve --applied`.",
                Action(RESOLVE_APPLIED, (("migration", b.name),), sql=b.missing_sql or None,
                       command=f"prisma migrate resolve --applied {b.name}"),
            ))
    rolled_back = set(h.rolled_back_pending)
    for name in h.rolled_back_pending:
        if name in h.finished_rolled_back and name in h.applied_by_hand:
            continue  # its finding above says what to do instead
        out.append(
            Finding(
                "history",
                f"Migration {name} was rolled back and is pending again.",
                "`migrate deploy` will run it again; make sure the database no longer holds any of its changes first.",
                Action("deploy", (("migration", name),), command="prisma migrate deploy"),
            )
        )
    ordinary = [n for n in h.pending if n not in rolled_back and n not in h.applied_by_hand]
    if ordinary:
        unseen = [n for n in ordinary if n in h.no_schema_pending]
        why = (f" Kept pending although the migrations around it were run by hand: {_listed(tuple(unseen))} "
               "changes no schema: whether it ran cannot be seen; check its data before deploying."
               if unseen else "")
        out.append(
            Finding(
                "B",
                f"{len(ordinary)} migration(s) not yet applied: {', '.join(ordinary[:5])}{' …' if len(ordinary) > 5 else ''}.",
                f"Run `prisma migrate deploy` from CI/CD. Never reset a shared database.{why}",
                Action("deploy", (("migrations", ",".join(ordinary)),), command="prisma migrate deploy"),
            )
        )
    return out
