"""Issue #32's Must show: after each kind of change to a migration, driftbot's answer against Prisma's pair.

    .venv/bin/python -m benchmarks.bench_changes [--server URL] [--rounds 3] [--kinds new,edited,...]
                                                 [--first] [--answers DIR]

The history: trigger.dev's real migrations at a pinned commit (560 migrations, extracted from the local git
mirror into a temporary folder, never committed; ``benchmarks/bench_real_vs_prisma.py`` says why not its
newest commit), plus one migration of the benchmark's own that sorts first (``bench_base``: a table holding
one row, so a later migration can fail on the target's data and still replay on an empty shadow). It is
deployed to a fresh database, checked once (cold: the replay templates are kept) and once more (warm).

Then, per round and per kind of change, the change is made to the files (driftbot's folder and Prisma's
copy) and the target alike, and timed in the same state, one after the other:

- ``driftbot status --json`` (the whole process; the status memo, the replay cache and, where the target
  changed, its cached schema all miss);
- Prisma's pair: ``prisma migrate status`` + its drift summary (``prisma migrate diff --from-migrations
  ... --to-schema-datamodel`` of the pulled live schema: ``migrate dev --create-only`` crashes on this
  history, "null pointer passed to rust").

The kinds: ``new`` (a new last migration, deployed), ``pending`` (a new last migration, not yet deployed:
the deploy preview runs), ``edited`` (the newest real migration's file edited after it was applied),
``deleted`` (the newest real migration's folder deleted after it was applied), ``failing`` (a new last
migration whose deploy failed on the target's row). Each change is undone after its round, and the
caches and replay templates it made are removed, so every round starts from the same state: what the
setup's checks left (the templates they kept, their cached replays), as a server that checked this
history before holds it.

With ``--first``: the first check of the history ever (no template anywhere, empty cache) against
``prisma migrate deploy`` of the same history on an empty database, side by side, per round.
With ``--answers DIR``: each kind's ``--json`` answer of the first round is written there (without its
``duration_ms``), to compare the answers before and after an optimisation.

Timed subprocesses run with bytecode caching on, as an installed driftbot does. Prints medians, minimums
and the ratios (Prisma's pair / driftbot) with issue #32's target (>= 6).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import psycopg
from psycopg import sql

from benchmarks.common import cli_env, create_database, drop_database, load, machine, pg_default, prisma_cli, prisma_copy
from benchmarks.real_histories import History, extract
from driftbot.engine import replay, templates
from driftbot.engine.sources import read_folder

HISTORY = History("trigger.dev", "triggerdotdev+trigger.dev", "f2babbf6373822004c3557faa7fa1eda0218f872",
                  "internal-packages/database/prisma/migrations")
ENV = "bench32"  # its own name: the housekeeping processes a status leaves are found by it
BASE = "00000000000000_bench_base"
KINDS = ("new", "pending", "edited", "deleted", "failing")
TARGET = 6.0


def settle() -> None:
    """Wait until the housekeeping a status left after its answer (a grandchild process) is done."""
    time.sleep(0.5)
    for _ in range(240):
        if not subprocess.run(["pgrep", "-f", f"status {ENV} --json"], capture_output=True, text=True).stdout.split():
            return
        time.sleep(0.5)


class Bench:
    """The target, driftbot's folder and Prisma's copy, kept in step."""

    def __init__(self, server: str, work: Path, install: Path) -> None:
        self.server, self.work = server, work
        self.src = extract(HISTORY, work / "src")
        if self.src is None:
            raise SystemExit(f"the mirror of {HISTORY.name} is absent: nothing measured")
        (self.src / BASE).mkdir()
        # A history this server has not seen (the comment: this run's own): the setup's check replays it whole,
        # as a first check does, whatever an earlier run kept.
        (self.src / BASE / "migration.sql").write_text(
            f'CREATE TABLE "bench_base" ("id" INTEGER NOT NULL); -- run {work.name}\n')
        self.db, self.url, self.version = create_database(server, "drifttest_bench32")
        self.count = len(read_folder(self.src).items)
        self.cache = work / "cache"
        self.env = cli_env(ENV, self.url, server, self.src, DRIFTBOT_CACHE_DIR=str(self.cache),
                           PYTHONPATH=os.pathsep.join(filter(None, (os.environ.get("PYTHONPATH"),
                                                                    str(Path(__file__).resolve().parent.parent)))))
        self.project = prisma_copy(install, work / "prisma", self.url, self.src)
        self.newest = read_folder(self.src).items[-1].name

    # --- the files and the target -------------------------------------------------------------------
    def deploy(self) -> object:
        with psycopg.connect(self.url, autocommit=True) as conn:
            return replay.deploy(conn, read_folder(self.src).items)

    def sql(self, statement: str, params=()) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(statement.encode() if not params else statement, params)

    def write(self, name: str, script: str) -> None:
        for root in (self.src, self.project.migrations):
            (root / name).mkdir(exist_ok=True)
            (root / name / "migration.sql").write_text(script)

    def remove(self, name: str) -> None:
        for root in (self.src, self.project.migrations):
            shutil.rmtree(root / name)

    # --- the tools ----------------------------------------------------------------------------------
    def status(self, spans: Path | None = None) -> tuple[float, dict]:
        """The whole ``driftbot status --json`` process; through ``benchmarks.spans`` into *spans* when given."""
        runner = ["-m", "driftbot.cli"] if spans is None else ["-m", "benchmarks.spans", str(spans)]
        t = time.perf_counter()
        done = subprocess.run([sys.executable, *runner, "status", ENV, "--json"], env=self.env,
                              capture_output=True, text=True, cwd=self.work)
        seconds = time.perf_counter() - t
        if done.returncode not in (0, 1):
            raise AssertionError(f"driftbot status exit {done.returncode}: {done.stderr[-1500:]}")
        return seconds, json.loads(done.stdout)

    def prisma_pair(self) -> tuple[float, float, int, int]:
        t = time.perf_counter()
        status = self.project.status()
        middle = time.perf_counter()
        diff = self.project.diff_migrations_to_models()
        end = time.perf_counter()
        if status.code not in (0, 1) or diff.code not in (0, 2):
            raise AssertionError(f"Prisma: status {status.code}, diff {diff.code}: {(status.output + diff.output)[-1500:]}")
        return middle - t, end - middle, status.code, diff.code

    # --- the state a round starts from ---------------------------------------------------------------
    def kept(self) -> set[str]:
        with psycopg.connect(self.server, autocommit=True) as admin:
            return {digest for _, digest, _, _ in templates._existing(admin)}

    def refresh(self, kept: set[str]) -> None:
        """Mark this history's templates as used now, as a history checked a moment ago is: the shared server
        keeps its most recently used few of all, and other processes' tests replay many histories."""
        with psycopg.connect(self.server, autocommit=True) as admin:
            for name, digest, _, history in templates._existing(admin):
                if digest in kept and history is not None:
                    new = f"{name.rsplit('_', 1)[0]}_{int(time.time())}"
                    if new != name:
                        try:
                            admin.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(sql.Identifier(name),
                                                                                           sql.Identifier(new)))
                        except psycopg.Error:
                            pass

    def files(self) -> set[Path]:
        return set(self.cache.rglob("*")) if self.cache.exists() else set()

    def settle(self) -> None:
        settle()

    def forget(self, kept: set[str], files: set[Path]) -> None:
        """Drop the templates (and their ready copies) and cache files made since *kept* and *files* were read."""
        self.settle()
        ready = getattr(templates, "READY", None)
        with psycopg.connect(self.server, autocommit=True) as admin:
            dropped = []
            for name, digest, _, _ in templates._existing(admin):
                if digest not in kept:
                    admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
                    dropped.append(name[len(templates.PREFIX):].rsplit("_", 1)[0])
            for key in dropped if ready is not None else ():  # and their ready copies
                for (name,) in admin.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                                             ((ready + key).replace("_", "\\_") + "\\_%",)).fetchall():
                    admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        for path in sorted(self.files() - files, reverse=True):
            if path.is_file():
                path.unlink()


def change(bench: Bench, kind: str, i: int):
    """Make the change of *kind* (round *i*: its names are new, so no cache of an earlier round answers);
    returns the function that undoes it."""
    name = f"99990101{i:06d}_bench_{kind}"
    if kind in ("new", "pending"):
        bench.write(name, f'CREATE TABLE "bench_{kind}_{i}" ("id" INTEGER NOT NULL);\n')
        if kind == "new":
            assert bench.deploy() is None

        def undo():
            bench.remove(name)
            bench.sql(f'DROP TABLE IF EXISTS "bench_{kind}_{i}"')
            bench.sql("DELETE FROM _prisma_migrations WHERE migration_name = %s", (name,))
        return undo
    if kind == "failing":
        bench.write(name, f'ALTER TABLE "bench_base" ADD COLUMN "c_{i}" INTEGER NOT NULL;\n')
        assert bench.deploy() is not None  # the target's row refuses it; an empty shadow would not

        def undo():
            bench.remove(name)
            bench.sql("DELETE FROM _prisma_migrations WHERE migration_name = %s", (name,))
        return undo
    newest = bench.src / bench.newest / "migration.sql"
    original = newest.read_text()
    if kind == "edited":
        bench.write(bench.newest, original + f'\nCREATE TABLE "bench_edited_{i}" ("id" INTEGER NOT NULL);\n')

        def undo():
            bench.write(bench.newest, original)
        return undo
    assert kind == "deleted"
    bench.remove(bench.newest)

    def undo():
        bench.write(bench.newest, original)
    return undo


def answer_of(out: dict) -> dict:
    return {k: v for k, v in out.items() if k != "duration_ms"}


def first_check(server: str, work: Path, install: Path, src: Path, rounds: int) -> dict[str, list[float]]:
    """The first check ever of the history (no template of it anywhere, an empty cache) against
    ``prisma migrate deploy`` of it on an empty database, side by side."""
    times: dict[str, list[float]] = {"driftbot status, first check ever": [], "prisma migrate deploy (empty database)": []}
    for i in range(rounds):
        folder = work / f"first{i}"
        shutil.copytree(src, folder)
        # A history no server has seen: its first migration differs, so every template digest does.
        (folder / BASE / "migration.sql").write_text(f'CREATE TABLE "bench_base" ("id" INTEGER NOT NULL); -- {time.time()}\n')
        db, url, _ = create_database(server, "drifttest_bench32f")
        pdb, purl, _ = create_database(server, "drifttest_bench32p")
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                assert replay.deploy(conn, read_folder(folder).items) is None
            env = cli_env(ENV, url, server, folder, DRIFTBOT_CACHE_DIR=str(work / f"first-cache{i}"))
            t = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "driftbot.cli", "status", ENV, "--json"], env=env,
                                  capture_output=True, text=True, cwd=work)
            times["driftbot status, first check ever"].append(time.perf_counter() - t)
            assert done.returncode == 0, done.stderr[-1500:]
            project = prisma_copy(install, work / f"prisma-first{i}", purl, folder)
            t = time.perf_counter()
            run = project.deploy()
            times["prisma migrate deploy (empty database)"].append(time.perf_counter() - t)
            assert run.code == 0, run.output[-1500:]
            settle()
        finally:
            drop_database(server, db)
            drop_database(server, pdb)
            with psycopg.connect(server, autocommit=True) as admin:
                digests = templates.chain(read_folder(folder).items, "public")
                for name, digest, _, history in templates._existing(admin):
                    if history == digests[0][:8]:
                        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    return times


def print_spans(profile: dict[str, list[dict]]) -> None:
    """Per kind, the median time of each phase over the rounds (ms; calls), the largest first."""
    for kind, runs in profile.items():
        whole = statistics.median(r["whole_s"] for r in runs)
        print(f"\n  phases of driftbot status after a change of kind {kind} (medians over {len(runs)} rounds; "
              f"the process after the interpreter's start: {whole * 1000:.0f} ms)")
        names = {n for r in runs for n in r["spans"]}
        rows = sorted(((statistics.median(r["spans"].get(n, [0, 0])[0] for r in runs),
                        max(r["spans"].get(n, [0, 0])[1] for r in runs), n) for n in names), reverse=True)
        for seconds, calls, name in rows:
            print(f"    {seconds * 1000:7.0f} ms  {calls:>3}x  {name}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--server", default=pg_default())
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--first", action="store_true", help="also the first check ever against prisma migrate deploy")
    ap.add_argument("--answers", type=Path, help="write each kind's --json answer (round 1) into this folder")
    ap.add_argument("--spans", action="store_true", help="time the phases of each timed status (benchmarks.spans) "
                    "and print their medians per kind")
    args = ap.parse_args(argv)
    kinds = [k for k in args.kinds.split(",") if k]
    assert set(kinds) <= set(KINDS), f"kinds: {', '.join(KINDS)}"

    install = prisma_cli()
    if install is None:
        return 2
    work = Path(tempfile.mkdtemp(prefix="driftbot-bench32-"))
    bench = None
    times: dict[str, dict[str, list[float]]] = {k: {"driftbot": [], "prisma migrate status": [],
                                                    "prisma migrate diff": [], "Prisma's pair": []} for k in kinds}
    states: dict[str, set] = {k: set() for k in kinds}
    try:
        bench = Bench(args.server, work, install)
        t = time.perf_counter()
        assert bench.deploy() is None
        bench.sql('INSERT INTO "bench_base" VALUES (1)')
        built = time.perf_counter() - t
        live = bench.project.pull()
        bench.project.write_models(live.split("datasource db", 1)[1].split("}", 1)[1])
        cold, out = bench.status()
        assert out["state"] == "in_sync", out
        time.sleep(2.1)  # past the memo's racy window for the files just extracted
        bench.status()
        bench.prisma_pair()  # untimed: the page cache, Node's compile cache
        settle()
        kept = bench.kept()
        load_before = load()
        restored = 0
        for i in range(args.rounds):
            for kind in kinds:
                if not kept <= bench.kept():
                    # Another process on the shared server pruned this history's templates (the server keeps
                    # its most recently used few of all): replay again, untimed, as the setup did.
                    restored += 1
                    for path in [*(bench.cache / "shadow").glob("*.json"), *(bench.cache / "status").glob("*.json")]:
                        path.unlink()  # the status memo too: else it answers and nothing is replayed
                    bench.status()
                    bench.settle()
                    kept = bench.kept()
                bench.refresh(kept)
                files = bench.files()
                undo = change(bench, kind, i)
                try:
                    seconds, out = bench.status(work / f"spans-{kind}-{i}.json" if args.spans else None)
                    status_s, diff_s, _, _ = bench.prisma_pair()
                finally:
                    undo()
                bench.forget(kept, files)
                bench.status()  # back to warm: the target's schema as it is now, the memo
                states[kind].add(out["state"])
                if args.answers is not None and i == 0:
                    args.answers.mkdir(parents=True, exist_ok=True)
                    (args.answers / f"{kind}.json").write_text(json.dumps(answer_of(out), indent=2, sort_keys=True) + "\n")
                row = times[kind]
                row["driftbot"].append(seconds)
                row["prisma migrate status"].append(status_s)
                row["prisma migrate diff"].append(diff_s)
                row["Prisma's pair"].append(status_s + diff_s)
                print(f"round {i + 1} {kind:<8} driftbot {seconds * 1000:6.0f} ms ({out['state']}), Prisma's pair "
                      f"{(status_s + diff_s) * 1000:6.0f} ms: {(status_s + diff_s) / seconds:5.1f}x  [{load()}]", flush=True)
        if args.spans:
            profile = {k: [json.loads((work / f"spans-{k}-{i}.json").read_text()) for i in range(args.rounds)]
                       for k in kinds}
        first = first_check(args.server, work, install, bench.src, args.rounds) if args.first else None
        load_after = load()
    finally:
        if bench is not None:
            drop_database(args.server, bench.db)
        shutil.rmtree(work, ignore_errors=True)

    print(f"\nmachine: {machine()}; PostgreSQL {bench.version}; Prisma 6.19.3 (WebAssembly engine, pg adapter)")
    print(f"date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; {load_before} before, {load_after} after")
    print(f"history: {HISTORY.name} @ {HISTORY.commit[:12]} plus {BASE}: {bench.count} migrations, deployed in "
          f"{built:.1f} s; the cold status took {cold * 1000:.0f} ms; {args.rounds} rounds, medians (min); the "
          f"templates restored after another process pruned them: {restored} times\n")
    print(f"  {'change':<9} {'driftbot status':>17} {'migrate status':>16} {'migrate diff':>16} {'Prisma pair':>16} "
          f"{'ratio':>6}  state")
    failed = 0
    for kind in kinds:
        row = times[kind]
        med = {k: statistics.median(v) for k, v in row.items()}
        ratio = med["Prisma's pair"] / med["driftbot"]
        failed += ratio < TARGET
        cells = " ".join(f"{med[k] * 1000:8.0f} ({min(row[k]) * 1000:5.0f})" for k in row)
        print(f"  {kind:<9} {cells} {ratio:5.1f}x  {'/'.join(sorted(states[kind]))}"
              f"{'' if ratio >= TARGET else '  (target >= 6: NOT MET)'}")
    if args.spans:
        print_spans(profile)
    if first:
        d, p = (statistics.median(v) for v in first.values())
        print(f"\n  first check ever: driftbot {d * 1000:.0f} ms (min {min(first['driftbot status, first check ever']) * 1000:.0f}), "
              f"prisma migrate deploy {p * 1000:.0f} ms (min {min(first['prisma migrate deploy (empty database)']) * 1000:.0f}): "
              f"{p / d:.2f}x")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
