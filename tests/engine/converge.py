"""Carry out the plan a check proposes, step by step as a team would, then check again.

``carry_out(team, result)`` walks the findings in order and does what each one says, on the
team's own database and migrations folder (both copies made for the purpose):

- deploy: apply the pending migrations as ``prisma migrate deploy`` does (refused while a
  migration is failed, P3009);
- catch-up: save the SQL as the named migration, then ``resolve --applied`` it;
- restore (case B): save the migration B proposes, then deploy;
- enum (case C): ``ADD VALUE`` in the database, save the tracking migration, ``resolve --applied``;
- baseline (case E): save ``0_baseline``, ``resolve --applied 0_baseline``;
- resolve steps as given; a migration run by hand in part: run the missing SQL, then resolve;
- an edited migration: restore the applied file (from the team's git: ``originals``);
- database-only migrations: merge the branch that holds them (``branches``);
- an invalid index: rebuild it with the statement given.

A step that needs a human (a failed migration to fix by hand, a data check, a migration that
does not replay) stops the walk, which says so, unless the team's ``human`` callback does that
work (the demo's test fixes the duplicate rows, as its team would). While it walks it records
what each step changed in the database and in what the migrations build, and flags a step
that removes what an earlier step created, or creates what an earlier step removed.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import psycopg

from driftbot.engine import diff as d
from driftbot.engine import hidden, replay, writers
from driftbot.engine.check import run_check
from driftbot.engine.inspect import introspect
from driftbot.engine.result import CheckResult, Finding
from driftbot.engine.sources import LocalMigration, read_folder
from driftbot.errors import DriftbotError
from driftbot.settings import Settings


class Refused(Exception):
    """A step of the plan was refused (by a writer, by deploy, by PostgreSQL)."""


@dataclass
class Team:
    """A team's copy of one environment: its database, migrations folder and git history."""

    settings: Settings
    env: str
    url: str
    folder: Path
    scratch: Callable[[str], str]  # prefix -> the URL of a new empty database (dropped by the caller)
    schemas: tuple[str, ...] = ("public",)
    originals: dict[str, bytes] = field(default_factory=dict)  # migration -> its applied version (from git)
    branches: dict[str, str] = field(default_factory=dict)  # database-only migration -> its file on a branch
    human: Callable[[Finding, "Team"], bool] | None = None  # does a human's part; True when done
    _read: object = field(default=None, repr=False)  # the folder as last read (save() forgets it)

    def check(self) -> CheckResult:
        return run_check(self.settings, self.settings.environment(self.env))

    def migrations(self):
        """The folder, read once between saves (a plan may record hundreds of migrations)."""
        if self._read is None:
            self._read = read_folder(self.folder)
        return self._read

    def save(self, name: str, script: str | bytes) -> None:
        folder = self.folder / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "migration.sql").write_bytes(script if isinstance(script, bytes) else script.encode())
        self._read = None


@dataclass
class Outcome:
    steps: list[str] = field(default_factory=list)
    human: str | None = None  # why the walk stopped for a person
    undid: list[str] = field(default_factory=list)
    after: CheckResult | None = None

    @property
    def converged(self) -> bool:
        return self.human is None and not self.undid and self.after is not None and self.after.state == "in_sync"

    def explain(self) -> str:
        after = self.after
        left = ("" if after is None else f"\nafter: {after.state}; findings: "
                + "; ".join(f"[{f.case}] {f.title}" for f in after.findings)
                + ("\nsummary: " + " | ".join(after.schema.summary) if after.schema.summary else "")
                + (f"\nerror: {after.error}" if after.error else ""))
        return "steps:\n  " + "\n  ".join(self.steps) + (f"\nundid: {self.undid}" if self.undid else "") + left


class _Tracker:
    """What each step changed, on each side (the database; what the migrations build)."""

    def __init__(self, team: Team) -> None:
        self.team = team
        self.changes: dict[str, list[tuple[str, frozenset, frozenset]]] = {"database": [], "migrations": []}
        self.undid: list[str] = []
        self.built_url = team.scratch("built")
        self.built = self._build()
        self.live = self._live()

    def _live(self):
        with psycopg.connect(self.team.url) as conn:
            return introspect(conn, self.team.schemas)

    def _build(self, extra: LocalMigration | None = None):
        """What the folder builds: every migration replayed in a scratch database (or *extra* on top)."""
        with psycopg.connect(self.built_url, autocommit=True) as conn:
            items = (extra,) if extra is not None else read_folder(self.team.folder).items
            for m in items:
                error = replay.run_script(conn, m)
                if error is not None:
                    raise Refused(f"migration {m.name} does not build: {error.message.splitlines()[0]}")
            return introspect(conn, self.team.schemas)

    def rebuild(self, step: str, record: bool = True) -> None:
        """Replay the whole folder again. *record* False: a correction of the folder (an edited
        migration restored to its applied version), not a change the plan makes."""
        self.built_url = self.team.scratch("built")
        built = self._build()
        if record:
            self._record("migrations", step, self.built, built)
        self.built = built

    def added_last(self, step: str, name: str) -> None:
        """A migration saved at the end of the folder: replay it on top of what the folder built."""
        items = read_folder(self.team.folder).items
        if items[-1].name != name:
            return self.rebuild(step)
        self._record("migrations", step, self.built, self._build(items[-1]))

    def database_changed(self, step: str) -> None:
        self._record("database", step, self.live, self._live())

    def _record(self, side: str, step: str, before, after) -> None:
        ops = d.diff(before, after)
        made = frozenset().union(*(hidden.objects(op) for op in ops if isinstance(op, d.ADDITIONS)))
        gone = frozenset().union(*(hidden.objects(op) for op in ops if isinstance(op, d.REMOVALS))) - made
        for earlier, was_made, was_gone in self.changes[side]:
            if gone & was_made or made & was_gone:
                self.undid.append(f"{step} undid {earlier} ({side}: {sorted(map(str, (gone & was_made) | (made & was_gone)))[:3]})")
        self.changes[side].append((step, made, gone))
        if side == "database":
            self.live = after
        else:
            self.built = after


def _deploy(team: Team) -> None:
    with psycopg.connect(team.url, autocommit=True) as conn:
        failed = conn.execute(
            'SELECT migration_name FROM "_prisma_migrations" WHERE finished_at IS NULL AND rolled_back_at IS NULL'
        ).fetchall() if _has_table(conn) else []
        if failed:
            raise Refused(f"P3009: migrate found failed migrations ({', '.join(r[0] for r in failed)})")
        error = replay.deploy(conn, read_folder(team.folder).items)
    if error is not None:
        raise Refused(f"deploy failed at {error.migration}: {error.message.splitlines()[0]}")


def _has_table(conn: psycopg.Connection) -> bool:
    return conn.execute("SELECT to_regclass('public._prisma_migrations') IS NOT NULL").fetchone()[0]


def _resolve_applied(team: Team, name: str) -> None:
    writers.resolve_applied(team.url, team.migrations(), name)


def carry_out(team: Team, result: CheckResult, rounds: int = 3) -> Outcome:
    """Do every step *result* proposes, in order; then check again (``Outcome.after``). A finding that
    says to check again once its step is done (merge a branch, then check again) starts a new round
    with a fresh check, at most *rounds* in all."""
    out = Outcome()
    try:
        track = _Tracker(team)
    except Refused as exc:  # the folder itself does not build a database: its file is a person's to fix
        out.human = f"needs a person: {exc}"
        return out
    for _ in range(rounds):
        again = _walk(team, result, out, track)
        if not again or out.human is not None:
            break
        out.steps.append("check again")
        result = team.check()
    out.undid = track.undid
    if out.human is None:
        out.after = team.check()
    return out


def _walk(team: Team, result: CheckResult, out: Outcome, track: "_Tracker") -> bool:
    """One pass over *result*'s findings; True when a step said to check again before going on."""
    skip_alternative: set[str] = set()
    team._read = None  # the folder may have changed outside save() (a person's part, a test's edit)

    def step(text: str) -> None:
        out.steps.append(text)

    try:
        for f in result.findings:
            a, args = f.action, f.action.arguments
            if f.case == "B'" and a.kind == "resolve_rolled_back":
                name = args["migration"]
                if team.human is None or not team.human(f, team):
                    out.human = f"failed migration {name}: fix it by hand, then resolve it"
                    break
                team._read = None
                track.database_changed(f"human fixed {name}")
                writers.resolve_rolled_back(team.url, name)
                step(f"resolve --rolled-back {name}")
                skip_alternative.add(name)
            elif f.case == "B'" and a.kind == "resolve_applied" and f.title.startswith("Or, once"):
                if args["migration"] not in skip_alternative:
                    out.human = f"failed migration {args['migration']}: complete it by hand, then resolve it"
                    break
            elif f.case == "B'" and a.kind == "resolve_applied":
                if a.sql:  # the missing part of a migration run by hand in part
                    with psycopg.connect(team.url, autocommit=True) as conn:
                        conn.execute(a.sql.encode())
                    track.database_changed(f"ran the missing part of {args['migration']}")
                    step(f"ran the missing part of {args['migration']}")
                _resolve_applied(team, args["migration"])
                step(f"resolve --applied {args['migration']}")
            elif f.case == "B'" and a.kind == "none":  # the history itself to repair by hand
                out.human = f"history repair by hand: {f.title}"
                break
            elif f.case == "history" and "was edited after it was applied" in f.title:
                name = f.title.split()[1]
                if name not in team.originals:
                    out.human = f"{name} was edited: restore the applied version (not in this team's git)"
                    break
                team.save(name, team.originals[name])
                track.rebuild(f"restored {name} from git", record=False)
                step(f"restored {name} from git")
            elif f.case == "history" and "migration(s) the folder lacks" in f.title:
                lacking = result.history.missing_locally
                if not all(n in team.branches for n in lacking):
                    out.human = f"database-only migrations {lacking}: merge the branch that holds them"
                    break
                for n in lacking:
                    team.save(n, team.branches[n])
                track.rebuild("merged the branch")
                step(f"merged the branch holding {', '.join(lacking)}")
                if "then check again" in f.detail:
                    return True
            elif f.case == "history" and a.kind == "none":
                out.human = f"needs a person: {f.title}"
                break
            elif a.kind == "deploy":
                if "check its data" in f.detail:
                    out.human = f"data check: {f.detail.split('Kept pending')[1].strip()}"
                    break
                blocked = next((g for g in result.findings if g.title.startswith("`prisma migrate deploy` would fail now")
                                and "deploy them together" not in g.detail), None)
                if blocked is not None:  # the plan says deploy would fail: a team fixes that first
                    out.human = f"deploy would fail: {blocked.title}"
                    break
                if a.sql is not None:  # B: a new migration restores what the database lacks
                    team.save(args["migration"], a.sql)
                    track.added_last(f"saved {args['migration']}", args["migration"])
                    step(f"saved {args['migration']}")
                _deploy(team)
                track.database_changed("migrate deploy")
                step("migrate deploy")
            elif a.kind == "catch_up_migration":
                team.save(args["migration"], a.sql)
                track.added_last(f"saved {args['migration']}", args["migration"])
                step(f"saved {args['migration']}")
            elif a.kind == "resolve_applied":
                _resolve_applied(team, args["migration"])
                step(f"resolve --applied {args['migration']}")
            elif a.kind == "add_enum_value":
                writers.add_enum_value(team.url, args["enum"], args["value"], schema=args["schema"],
                                       before=args.get("before"))
                track.database_changed(f"added {args['enum']}.{args['value']}")
                team.save(args["migration"], a.sql + "\n")
                track.added_last(f"saved {args['migration']}", args["migration"])
                _resolve_applied(team, args["migration"])
                step(f"added {args['enum']}.{args['value']}, saved and resolved {args['migration']}")
            elif a.kind == "baseline":
                team.save("0_baseline", a.sql)
                track.rebuild("saved 0_baseline")
                _resolve_applied(team, "0_baseline")
                step("saved 0_baseline, resolve --applied 0_baseline")
            elif f.title.startswith("`prisma migrate deploy` would fail now") and "deploy them together" in f.detail:
                if "migrate deploy" not in out.steps:
                    out.human = f"deploy would fail: {f.title}"
                    break
                step("(deploy succeeded after the restore, as the plan said it might)")
            elif f.case == "B" and a.kind == "none" and a.sql:  # an invalid index: rebuild it
                try:
                    with psycopg.connect(team.url, autocommit=True) as conn:
                        conn.execute(a.sql.encode())
                except psycopg.errors.UniqueViolation as exc:  # the rows the plan says to fix first
                    out.human = f"data check: fix the duplicate rows, then {a.sql} ({exc.diag.message_detail})"
                    break
                track.database_changed(f"rebuilt {args.get('index')}")
                step(f"ran {a.sql}")
            else:
                out.human = f"needs a person: [{f.case}] {f.title}"
                break
    except (Refused, DriftbotError, psycopg.Error) as exc:
        raise AssertionError(f"a step of the plan was refused: {exc}\n" + out.explain()) from None
    return False


def copy_folder(source: Path, target: Path) -> Path:
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)
    return target
