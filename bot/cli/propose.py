"""``driftbot propose ENV --pull-request [--json]``: the check's catch-up (or enum tracking) migration,
committed on its branch and opened as a pull request; the one already open when there is one."""

from __future__ import annotations

import getpass
import json

from sqlalchemy.exc import SQLAlchemyError

from driftbot.engine.check import run_check
from driftbot.errors import DriftbotError, redact
from driftbot.pulls import flow
from driftbot.settings import Settings
from driftbot.state.db import make_engine, sessions, upgrade


def run(settings: Settings, args) -> int:
    """0 when the pull request is open (opened now, or found open)."""
    env = settings.environment(args.env)
    flow.github_for(settings, env)  # a missing token or setting is said before the check runs
    result = run_check(settings, env)
    opened = flow.open_pull_request(settings, env, result, args.migration)
    if settings.state_url:
        _audit(settings, opened)
    if args.json:
        print(json.dumps(opened.to_json(), indent=2))
    elif opened.created:
        print(f"Opened pull request #{opened.number}: {opened.url}\n"
              f"  branch {opened.branch}\n"
              f"  migration {env.path.strip('/')}/{opened.migration}/migration.sql\n"
              f"After it is merged: driftbot resolve {env.name} --applied {opened.migration} "
              "(the database already has these changes; do not deploy them).")
    else:
        print(f"Pull request #{opened.number} is already open: {opened.url} (branch {opened.branch}).")
    return 0


def _audit(settings: Settings, opened: flow.Opened) -> None:
    engine = make_engine(settings.state_url)
    try:
        upgrade(engine)  # as every process does at start: the audit trail may be newer than the database
        with sessions(engine).begin() as session:
            flow.record_opened(session, opened, f"cli:{getpass.getuser()}"[:64])
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", exc) or exc).strip().splitlines()[0]
        raise DriftbotError(f"Pull request #{opened.number} is open ({opened.url}), but the audit trail could not be "
                            f"written: {redact(reason)}") from None
    finally:
        engine.dispose()
