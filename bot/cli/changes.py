"""The terminal's changes to a database: ``driftbot resolve`` and ``driftbot enum``.

Both go through the engine's writers (the admin URL only, Prisma's advisory lock, time limits),
ask for ``--yes`` or the environment's name typed, and put the change in the audit trail as an
approved change is (``execution_started``, then ``execution_finished`` or ``_refused``) when a
state database is configured.
"""

from __future__ import annotations

import getpass
import sys
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from driftbot import audit
from driftbot.engine import actions, sources, writers
from driftbot.errors import DriftbotError
from driftbot.settings import EnvironmentSettings, Settings
from driftbot.state.db import make_engine, sessions


def run(settings: Settings, args) -> int:
    env = settings.environment(args.env)
    limits = writers.Limits(settings.write_lock_timeout_ms, settings.write_statement_timeout_ms, settings.connect_timeout_s)
    if args.command == "enum":
        return _enum(settings, env, args, limits)
    return _resolve(settings, env, args, limits)


def _resolve(settings: Settings, env: EnvironmentSettings, args, limits: writers.Limits) -> int:
    action = actions.RESOLVE_FLAGS["--applied" if args.applied else "--rolled-back"]
    given = action.clean({"migration": args.applied or args.rolled_back})
    if not _confirmed(env, action.prisma_command(given), args.yes):
        return 1
    # Read before the trail's start is written: an unreadable source changes nothing and records nothing.
    migrations = sources.load(env, Path(settings.cache_dir)) if action.needs_checksum else None
    done = _audited(settings, env, action.kind, given,
                    lambda: action.write(env.admin_url, given, limits, lambda: migrations))
    print(done.message)
    return 0


def _enum(settings: Settings, env: EnvironmentSettings, args, limits: writers.Limits) -> int:
    action = actions.get(actions.ADD_ENUM_VALUE)
    given = action.clean({"enum": args.enum, "value": args.value, "before": args.before})
    if not _confirmed(env, action.sql(given), args.yes):
        return 1
    recorded = {k: given[k] for k in action.fields}  # the trail's data, as before `--before` existed
    done = _audited(settings, env, action.kind, recorded, lambda: action.write(env.admin_url, given, limits, lambda: None))
    print(done.message)
    print("Commit the same statement as a migration, then record it with `driftbot resolve ENV --applied NAME`.")
    return 0


def _confirmed(env: EnvironmentSettings, what: str, yes: bool) -> bool:
    """The admin URL is the only way to change a database; without --yes, the environment's name typed."""
    if not env.admin_url:
        raise DriftbotError(f"Environment {env.name} has no admin_url; changes use the admin role only.")
    if yes:
        return True
    if not sys.stdin.isatty():
        raise DriftbotError("Refusing to change the database without confirmation: pass --yes.")
    answer = input(f"Run `{what}` on {env.name}? Type the environment name to confirm: ")
    if answer.strip() != env.name:
        print("Not confirmed; nothing was changed.")
        return False
    return True


def _audited(settings: Settings, env: EnvironmentSettings, kind: str, args: dict, change):
    """Make the change with the audit trail's events around it (actor: the system user). Fail closed:
    when the start cannot be recorded, nothing is changed. Without a state database there is no
    trail to write: the command says so and goes on, as before."""
    if not settings.state_url:
        sys.stderr.write("driftbot: no state database (DRIFTBOT_STATE_URL), so this change is not in the audit trail.\n")
        return change()
    actor, data = f"terminal:{getpass.getuser()}", {"via": "terminal", "kind": kind, **args}
    engine = make_engine(settings.state_url)
    made = sessions(engine, audit_keys=audit.keyring(settings))
    try:
        try:
            with made() as s, s.begin():
                audit.record(s, event="execution_started", actor=actor, environment=env.name, data=data)
        except SQLAlchemyError as exc:
            raise DriftbotError(f"The audit trail could not be written ({type(exc).__name__}); nothing was changed.") from None
        try:
            done = change()
        except DriftbotError as exc:
            with made() as s, s.begin():
                audit.record(s, event="execution_refused", actor=actor, environment=env.name,
                             data={**data, "outcome": str(exc)})
            raise
        with made() as s, s.begin():
            audit.record(s, event="execution_finished", actor=actor, environment=env.name,
                         data={**data, "outcome": done.message, "statements": list(done.statements)})
        return done
    finally:
        engine.dispose()
