"""The ``driftbot`` command. Thin: parse, call the engine, render, exit.

Exit codes: 0 in sync, 1 drift or a problem found, 2 could not check (bad
usage, bad configuration, unreachable database).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import time
import traceback
from typing import Sequence

from driftbot import logs
from driftbot.cli import memo
from driftbot.engine import later  # the standard library only: the housekeeping list a status defers
from driftbot.cli.views import compare_text, proposed_migrations, status_text
from driftbot.errors import DriftbotError, redact
from driftbot.requests.rules import approvals_required
from driftbot.settings import load_settings


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # usage errors exit 2 with one line, as the interface says
        self.print_usage(sys.stderr)
        sys.stderr.write(f"driftbot: {message}\n")
        raise SystemExit(2)


EXIT_CODES = """exit codes:
  0 in sync
  1 drift or a problem found
  2 could not check (bad usage, bad configuration, unreachable database)"""
PROCESSES = ("web", "worker", "clock", "check-ready")
HOUSEKEEPING_S = 120  # the longest the child that writes caches and prunes templates after a status may run


def _version() -> str:
    from importlib import metadata  # a deliberate start-up saving: only --version reads the package's metadata

    try:
        return metadata.version("driftbot")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


class _Version(argparse.Action):
    """``--version``, looked up only when asked for: reading the package metadata imports the email package."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        sys.stdout.write(f"driftbot {_version()}\n")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="driftbot", description="Find and fix Prisma migration drift on PostgreSQL.")
    p.add_argument("--config", help="path of driftbot.toml (default: $DRIFTBOT_CONFIG, else ./driftbot.toml)")
    p.add_argument("--version", action=_Version, help="show program's version number and exit")
    p.add_argument("--debug", action="store_true", help="show the traceback of an error (also DRIFTBOT_DEBUG=1)")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    s = sub.add_parser("status", help="check one environment", formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog=EXIT_CODES)
    s.add_argument("env", metavar="ENV", help="an environment of driftbot.toml (`driftbot envs` lists them)")
    s.add_argument("--json", action="store_true", help="print one JSON object")

    d = sub.add_parser("diff", help="print the catch-up SQL for schema drift")
    d.add_argument("env")
    d.add_argument("--summary", action="store_true", help="print Prisma's drift summary lines instead")
    d.add_argument("--json", action="store_true")
    d.add_argument("--migration", metavar="NAME", help="print the SQL of the migration NAME that `status` proposes "
                                                       "(catch-up, restore, enum tracking, baseline): its migration.sql")

    r = sub.add_parser("resolve", help="prisma migrate resolve, with Prisma's exact semantics")
    r.add_argument("env")
    how = r.add_mutually_exclusive_group(required=True)
    how.add_argument("--applied", metavar="MIGRATION")
    how.add_argument("--rolled-back", metavar="MIGRATION")
    r.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    e = sub.add_parser("enum", help="add a value to an enum in the database (case C), with resolve's safety")
    e.add_argument("env")
    e.add_argument("enum")
    e.add_argument("value")
    e.add_argument("--before", metavar="VALUE", help="place it before this value (where the migrations have it)")
    e.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    pr = sub.add_parser("propose", help="commit the proposed migration on a branch and open its pull request")
    pr.add_argument("env")
    pr.add_argument("--pull-request", action="store_true", required=True,
                    help="push driftbot/ENV/MIGRATION-SQLHASH and open (or find) its pull request")
    pr.add_argument("--migration", metavar="NAME", help="which proposed migration (default: the catch-up, else the first enum tracking migration)")
    pr.add_argument("--json", action="store_true", help='print {"branch", "migration", "pull_request": {"number", "url"}}')

    sub.add_parser("envs", help="list the configured environments")

    lt = sub.add_parser("lint", help="what each pending migration will do on an environment's data: locks, rewrites, "
                                     "statements that will fail, safer forms", formatter_class=argparse.RawDescriptionHelpFormatter,
                        epilog="exit codes:\n  0 nothing will fail\n  1 a statement will fail on that data\n"
                               "  2 could not check (bad usage, bad configuration, unreachable database)")
    lt.add_argument("env", metavar="ENV", nargs="?", help="an environment of driftbot.toml (its pending migrations)")
    lt.add_argument("--migration", metavar="NAME", help="lint this migration instead of the pending ones")
    lt.add_argument("--offline", metavar="PATH", help="no database: the rules that need none, over a migrations folder, "
                                                       "one migration's folder or a .sql file (a pull request check)")
    lt.add_argument("--schema", default="public", help="with --offline: the schema unqualified names are in")
    lt.add_argument("--json", action="store_true", help="print one JSON object")

    c = sub.add_parser("compare", help="two environments side by side: history gap, schema difference, drift")
    c.add_argument("from_env", metavar="FROM")
    c.add_argument("to_env", metavar="TO")
    c.add_argument("--json", action="store_true", help="print one JSON object")

    a = sub.add_parser("audit", help="the audit trail: verify the chain, export events")
    asub = a.add_subparsers(dest="audit_command", required=True, parser_class=_Parser)
    v = asub.add_parser("verify", help="check the hash chain; name the first broken link")
    v.add_argument("--checkpoint", metavar="N:HASH", help="also require event N with this hash (from `audit checkpoint`)")
    asub.add_parser("checkpoint", help="print N:HASH of the newest event, to keep outside the database")
    k = asub.add_parser("key", help="key an unkeyed trail with DRIFTBOT_AUDIT_KEY (the operator's audited step)")
    ksub = k.add_subparsers(dest="key_command", required=True, parser_class=_Parser)
    ks = ksub.add_parser("start", help="seal the unkeyed trail under the key; every event after it must be keyed")
    ks.add_argument("--checkpoint", metavar="N:HASH", help="also require the unkeyed trail to match this checkpoint")
    ex = asub.add_parser("export", help="print the events as CSV or JSON")
    ex.add_argument("--format", choices=("csv", "json"), default="csv")
    ex.add_argument("--since", metavar="DATE", help="YYYY-MM-DD, an ISO date-time, or 7d")
    ex.add_argument("--env", help="only this environment's events")

    sub.add_parser("clock", help="run the digest schedule (the Procfile's clock process)")
    sub.add_parser("check-ready", help="exit 0 when Redis and the state database answer and the state schema is "
                                       "newest (a probe for worker and clock); else 1, naming what is not ready")
    dr = sub.add_parser("doctor", help="what driftbot needs and has: each environment's roles, migrations source (git "
                                       "ref, GitHub token), Prisma version and Slack channel; Redis, the state "
                                       "database, the audit key, Slack's scopes",
                        formatter_class=argparse.RawDescriptionHelpFormatter,
                        epilog="exit codes:\n  0 everything holds\n  1 a problem found (each line says what to do)\n"
                               "  2 could not run (bad usage, bad configuration)")
    dr.add_argument("--json", action="store_true", help='print {"ok", "exit_code", "items": [{"item", "verdict", '
                                                       '"found", "todo", "environment"}]}')
    demo = sub.add_parser("demo", help="show the whole job on this machine (embedded PostgreSQL when none is configured)")
    demo.add_argument("--database-url", help="a PostgreSQL server to build the demo on (default: embedded)")
    demo.add_argument("--clean", action="store_true", help="remove the demo's data (its project copy and servers' folders)")
    w = sub.add_parser("web", help="serve Slack (HTTP at /slack/events on $PORT, or Socket Mode with SLACK_APP_TOKEN)")
    w.add_argument("--workers", type=int, default=2)
    wk = sub.add_parser("worker", help="run an RQ worker on the drift and execute queues")
    wk.add_argument("--burst", action="store_true", help="stop when the queues are empty")
    return p


def _settings(args):
    return load_settings(args.config)


def cmd_process(args) -> int:
    """``web``, ``worker`` and ``clock``: the Procfile's long-running processes; ``check-ready``, their probe;
    ``doctor``, the probe's big sibling (bot/ops/doctor.py)."""
    from driftbot import processes  # Bolt, RQ and SQLAlchemy: only the long-running processes pay for their imports
    from driftbot.ops import doctor

    settings = _settings(args)
    if args.command == "doctor":
        report = doctor.run(settings)
        sys.stdout.write(json.dumps(report.to_json(), indent=2) + "\n" if args.json else report.text())
        return report.exit_code
    if args.command == "check-ready":
        found = processes.problems(settings)
        print("\n".join(f"not ready: {p.explained}" for p in found) if found else "ready")
        return 1 if found else 0
    if args.command == "web":
        return processes.run_web(settings, workers=args.workers)
    if args.command == "worker":
        return processes.run_worker(settings, burst=args.burst)
    return processes.run_clock(settings)


def _check(settings, env):
    """The engine's check: only the commands that check pay for its imports (a memoised status never does)."""
    from driftbot.engine.check import run_check

    return run_check(settings, env)


def cmd_status(args) -> int:
    started = time.perf_counter()
    settings = _settings(args)
    env = settings.environment(args.env)
    output, code, key = memo.lookup(settings, env, args.json, started)
    if code >= 0:  # nothing the last answer was computed from has changed: it is the answer
        sys.stdout.write(output)
        return code
    # The caches' writes, scratch databases' drops, the templates' pruning and ready copies: after the answer.
    with later.deferred() as housekeeping:
        result = _check(settings, env)
    text = status_text(result, folder=env.path if env.git else env.migrations)
    sys.stdout.write(json.dumps(result.to_json(), indent=2, default=str) + "\n" if args.json else text)
    memo.store(settings, env, key, result, text)
    if housekeeping:
        _after_the_answer(lambda: later.run(housekeeping))
    return result.exit_code


def _after_the_answer(housekeeping) -> None:
    """Run *housekeeping* in a process that outlives the command: the answer is out, and writing
    the caches for the next check or dropping old replay templates (a DROP DATABASE each) is no reason
    to keep the terminal or a script waiting. A grandchild: the child that forks it exits at once and
    is waited for, so a caller that lives on (a script's Python, a test run) is left no zombie."""
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        pid = os.fork()
    except (OSError, AttributeError):  # no fork (Windows) or no room for a process: do it now
        housekeeping()
        return
    if pid:
        os.waitpid(pid, 0)
        return
    try:
        if os.fork():
            os._exit(0)
    except OSError:  # no room for the grandchild: the housekeeping is best effort, the caller must not wait
        os._exit(0)
    try:  # the grandchild: its own session, no terminal, nothing written where the answer went
        signal.alarm(HOUSEKEEPING_S)  # and never outliving its work by long, whatever it waits on
        os.setsid()
        quiet = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(quiet, fd)
        housekeeping()
    finally:
        os._exit(0)


def cmd_diff(args) -> int:
    settings = _settings(args)
    result = _check(settings, settings.environment(args.env))
    if result.state == "error":
        raise DriftbotError(result.error or "could not check")
    if args.migration:
        proposed = proposed_migrations(result)
        if args.migration not in proposed:
            offered = ", ".join(proposed) or "none"
            raise DriftbotError(f"{args.env} has no proposed migration {args.migration}; proposed now: {offered} "
                                f"(`driftbot status {args.env}` lists them).")
        sql_text = proposed[args.migration]
        if args.json:
            print(json.dumps({"migration": args.migration, "sql": sql_text}, indent=2))
        else:
            sys.stdout.write(sql_text if sql_text.endswith("\n") else sql_text + "\n")
        return 1
    if args.json:
        print(json.dumps(result.schema.to_json(), indent=2))
    elif not result.schema.checked:
        raise DriftbotError(f"Schema drift not checked: {result.schema.reason}")
    elif args.summary:
        if result.schema.summary:
            print("\n".join(result.schema.summary))
    elif result.schema.sql:
        sys.stdout.write(result.schema.sql if result.schema.sql.endswith("\n") else result.schema.sql + "\n")
    return 1 if result.schema.drifted else 0


def cmd_change(args) -> int:
    """``resolve`` and ``enum``: the terminal's changes to a database (bot/cli/changes.py)."""
    from driftbot.cli import changes  # the writers and the audit trail: only the commands that change a database pay for them

    return changes.run(_settings(args), args)


def cmd_compare(args) -> int:
    from driftbot.engine.compare import compare  # the engine: only the commands that read databases pay for its imports

    result = compare(_settings(args), args.from_env, args.to_env)
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        sys.stdout.write(compare_text(result))
    return result.exit_code


def cmd_lint(args) -> int:
    from driftbot.cli import lint  # pglast and the engine: only `lint` pays for their imports

    return lint.run(args)


def cmd_envs(args) -> int:
    settings = _settings(args)
    if not settings.environments:
        print("No environments configured (driftbot.toml or DRIFTBOT_ENVIRONMENTS__<NAME>__DATABASE_URL).")
        return 0
    for name, env in sorted(settings.environments.items()):
        source = f"git {env.ref}:{env.path}" if env.git else (env.migrations or f"project {env.project}")
        flags = "protected" if env.protected else "unprotected"
        print(f"{name}\t{flags}\tapprovals {approvals_required(env)}\t{source}")
    return 0


def cmd_audit(args) -> int:
    from driftbot.cli import audit  # SQLAlchemy: only `audit` pays for its import

    return audit.run(_settings(args), args)


def cmd_propose(args) -> int:
    from driftbot.cli import propose  # git, GitHub and SQLAlchemy: only `propose` pays for their imports

    return propose.run(_settings(args), args)


def cmd_demo(args) -> int:
    from driftbot.cli import demo  # the engine, RQ and the embedded servers: only `demo` pays for their imports

    return demo.clean() if args.clean else demo.run_demo(args.database_url)


def main(argv: Sequence[str] | None = None) -> int:
    logs.install()
    args = build_parser().parse_args(argv)
    handlers = {
        "status": cmd_status, "compare": cmd_compare, "diff": cmd_diff, "resolve": cmd_change, "enum": cmd_change,
        "envs": cmd_envs, "demo": cmd_demo, "lint": cmd_lint,
        "audit": cmd_audit, "propose": cmd_propose, "clock": cmd_process, "web": cmd_process, "worker": cmd_process,
        "check-ready": cmd_process, "doctor": cmd_process,
    }
    # The environment is read here, not from the settings: a failure to load them must obey it too.
    debug = args.debug or os.environ.get("DRIFTBOT_DEBUG", "") not in ("", "0")
    who = f"driftbot {args.command}" if args.command in PROCESSES else "driftbot"
    try:
        return handlers[args.command](args)
    except DriftbotError as exc:
        if debug:
            traceback.print_exc()
        logs.fatal(who, str(exc))
        return exc.exit_code
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM/SIGHUP where driftbot.embedded took them
        return 128 + getattr(exc, "signum", signal.SIGINT)
    except Exception as exc:  # one line, what is wrong and what to do; the traceback on request
        if debug:
            traceback.print_exc()
        logs.fatal(who, _explain(exc, args.command))
        return 2


def _explain(exc: Exception, command: str) -> str:
    from redis.exceptions import RedisError
    from sqlalchemy.exc import SQLAlchemyError

    cause = getattr(exc, "orig", None) or exc
    first = (str(cause).strip().splitlines() or [""])[0]
    reason = redact(f"{type(cause).__name__}: {first}" if first else type(cause).__name__)
    if isinstance(exc, RedisError):
        return f"Redis does not answer ({reason}): check REDIS_URL and that Redis is up."
    if isinstance(exc, SQLAlchemyError) and command in PROCESSES + ("audit",):
        found = re.search(r'database "([^"]+)" does not exist', first)
        if found:  # the server answered: the database in the URL is not there
            return (f'the state database "{found.group(1)}" does not exist: create it (docs/state-grants.md) '
                    "or correct DRIFTBOT_STATE_URL.")
        return f"the state database does not answer ({reason}): check DRIFTBOT_STATE_URL and that PostgreSQL is up."
    return f"unexpected error ({reason}); --debug or DRIFTBOT_DEBUG=1 shows the traceback."


if __name__ == "__main__":
    raise SystemExit(main())
