"""How driftbot's cost grows with the history and the schema, against Prisma's pair, in one run.

    .venv/bin/python -m benchmarks.bench_scale [--server URL] [--migrations 100,700,3000]
        [--tables 300,1500,5000] [--plot docs/scale.png] [--json OUT] [--no-prisma]

Two series, each point a database built on *server* from a generated history:

- migrations: 100, 700 and 3,000 migrations of benchmarks/gen_history.py (seeded; real
  histories' mix of tables, enums, indexes, functions, extensions), about 0.43 tables each;
- tables: 300, 1,500 and 5,000 tables, 100 to a migration (Prisma's own CREATE TABLE layout,
  each table with a unique index and a foreign key to the one before).

On each database one column is added by hand (drift both tools must report), then the whole
process of each command is timed and its peak memory (RSS, from the kernel's rusage of that
child) read:

- ``driftbot status ENV --json`` cold (empty local cache, and a history the server has never
  replayed: its first migration carries a unique comment, so no kept template matches) and warm
  (the same command again);
- Prisma's pair, what a user runs for the same answer: ``prisma migrate status`` plus the drift
  summary of ``prisma migrate dev --create-only`` (Prisma 6.19.3, WebAssembly engine through the
  conformance harness), each with a time limit; a crash or a timeout is reported as such.

Prints a table (times, RSS, Prisma's pair / driftbot) and, per series, each size's cost per
unit relative to the smallest size (1.0 everywhere is linear growth; below 1, sublinear). With
``--plot`` (needs the optional ``bench`` extra: matplotlib) it draws both series to a PNG.
Not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from benchmarks.common import cli_env, load, machine, pg_default, scratch_database
from benchmarks.gen_history import generate, q, write
from driftbot.engine import replay
from driftbot.engine.sources import read_folder
from tests.conformance.prisma_cli import PrismaProject, PrismaUnavailable, ensure_installed

ENV = "scale"
TABLES_PER_MIGRATION = 100
PRISMA_TIMEOUT_S = 900


def wide(tables: int) -> dict[str, str]:
    """A history of *tables* tables, TABLES_PER_MIGRATION to a migration, in Prisma's own layout."""
    out = {}
    for m in range(0, tables, TABLES_PER_MIGRATION):
        parts = []
        for t in range(m, min(m + TABLES_PER_MIGRATION, tables)):
            name = f"t{t:05d}"
            ref = f', "ref_id" INTEGER' if t else ""
            parts.append(f'-- CreateTable\nCREATE TABLE {q(name)} (\n    "id" SERIAL NOT NULL,\n    "name" TEXT NOT NULL,\n'
                         f'    "created_at" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP{ref},\n\n'
                         f'    CONSTRAINT {q(name + "_pkey")} PRIMARY KEY ("id")\n);\n\n'
                         f'-- CreateIndex\nCREATE UNIQUE INDEX {q(name + "_name_key")} ON {q(name)}("name");\n')
            if t:
                parts.append(f'-- AddForeignKey\nALTER TABLE {q(name)} ADD CONSTRAINT {q(name + "_ref_id_fkey")} '
                             f'FOREIGN KEY ("ref_id") REFERENCES {q(f"t{t - 1:05d}")}("id") ON DELETE SET NULL ON UPDATE CASCADE;\n')
        out[f"2023{1 + m // TABLES_PER_MIGRATION:010d}_tables_{m}"] = "\n".join(parts)
    return out


@dataclass
class Measured:
    seconds: float | None
    rss_mb: float | None
    code: int | None
    said: str = ""


@dataclass
class Point:
    series: str
    size: int
    migrations: int
    tables: int
    deploy_s: float
    cold: Measured | None = None
    warm: Measured | None = None
    prisma_status: Measured | None = None
    prisma_dev: Measured | None = None
    notes: list = field(default_factory=list)

    @property
    def pair(self) -> tuple[float | None, float | None]:
        """Prisma's pair: total seconds and the larger peak RSS, or None when either did not answer."""
        runs = (self.prisma_status, self.prisma_dev)
        if any(r is None or r.seconds is None for r in runs):
            return None, None
        return sum(r.seconds for r in runs), max(r.rss_mb for r in runs)


def measure(argv: list[str], env: dict[str, str], cwd: Path, timeout: float) -> Measured:
    """Run one command; its wall time, its own peak RSS (wait4's rusage of that child) and exit code."""
    out = cwd / f".out-{uuid.uuid4().hex[:8]}"
    with open(out, "wb") as sink:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=sink, stderr=subprocess.STDOUT)
        deadline = started + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                _, status, usage = os.wait4(proc.pid, 0)
                proc.returncode = -9
                return Measured(None, usage.ru_maxrss / 1024, None, f"timed out after {timeout:.0f} s")
            time.sleep(0.02)
        seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    text = out.read_text(errors="replace")
    out.unlink()
    return Measured(round(seconds, 3), round(usage.ru_maxrss / 1024, 1), proc.returncode, text)


def count_tables(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname NOT IN "
                            "('pg_catalog', 'information_schema') AND tablename <> '_prisma_migrations'").fetchone()[0]


def run_point(series: str, size: int, scripts: dict[str, str], server: str, install: Path | None, work: Path) -> Point:
    first = next(iter(scripts))
    scripts = {**scripts, first: f"-- scale run {uuid.uuid4().hex}\n" + scripts[first]}  # never replayed before
    with scratch_database(server, "drifttest_scale") as (url, _):
        folder = work / f"{series}-{size}"
        project = PrismaProject(install, folder, url) if install is not None else None
        migrations_dir = project.migrations if project is not None else folder / "prisma" / "migrations"
        write(migrations_dir, scripts)
        started = time.perf_counter()
        with psycopg.connect(url, autocommit=True) as conn:
            error = replay.deploy(conn, read_folder(migrations_dir).items)
            assert error is None, error
            first_table = conn.execute("SELECT tablename FROM pg_catalog.pg_tables WHERE schemaname = 'public' "
                                       "AND tablename <> '_prisma_migrations' ORDER BY tablename LIMIT 1").fetchone()[0]
            conn.execute(sql.SQL("ALTER TABLE {} ADD COLUMN scale_by_hand text").format(sql.Identifier(first_table)))
        point = Point(series, size, len(scripts), count_tables(url), round(time.perf_counter() - started, 1))

        env = cli_env(ENV, url, server, migrations_dir, XDG_CACHE_HOME=str(work / f"xdg-{series}-{size}"),
                      DRIFTBOT_CACHE_DIR=str(work / f"cache-{series}-{size}"))
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # bytecode cached, as an installed driftbot runs
        exe = [sys.executable, "-m", "driftbot.cli", "status", ENV, "--json"]
        point.cold = measure(exe, env, work, PRISMA_TIMEOUT_S)
        point.warm = measure(exe, env, work, PRISMA_TIMEOUT_S)
        for label, m in (("cold", point.cold), ("warm", point.warm)):
            try:
                state = json.loads(m.said[m.said.index("{"):])["state"]
            except (ValueError, KeyError):
                state = None
            if state != "drifted":
                point.notes.append(f"driftbot {label}: state {state!r}, exit {m.code}: {m.said[-300:]}")
            m.said = state or ""
        if project is not None:
            point.prisma_status = measure(*project.command("migrate", "status"), folder, PRISMA_TIMEOUT_S)
            point.prisma_dev = measure(*project.command("migrate", "dev", "--create-only", "--name", "probe",
                                                        "--skip-generate", "--skip-seed"), folder, PRISMA_TIMEOUT_S)
            for created in migrations_dir.iterdir():
                if created.name.endswith("_probe"):
                    for f in created.iterdir():
                        f.unlink()
                    created.rmdir()
            said = point.prisma_dev.said
            if point.prisma_dev.seconds is not None and "Drift detected" not in said:
                point.notes.append(f"prisma migrate dev found no drift (exit {point.prisma_dev.code}): "
                                   f"{' '.join(said.split())[-300:]}")
                point.prisma_dev.seconds = None  # not the pair's answer: no ratio from it
            point.prisma_status.said = point.prisma_dev.said = ""
    return point


def _fmt(x: float | None, unit: str = "s") -> str:
    return "-" if x is None else (f"{x:.2f} {unit}" if unit == "s" else f"{x:.0f} {unit}")


def report(points: list[Point]) -> None:
    print("| series | size | migrations | tables | driftbot cold | RSS | warm | RSS | Prisma's pair | RSS "
          "| pair / cold | pair / warm |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for p in points:
        pair, pair_rss = p.pair
        ratio = lambda ours: "-" if pair is None or ours is None or ours.seconds is None else f"{pair / ours.seconds:.1f}x"  # noqa: E731
        print(f"| {p.series} | {p.size:,} | {p.migrations:,} | {p.tables:,} | {_fmt(p.cold.seconds)} | "
              f"{_fmt(p.cold.rss_mb, 'MB')} | {_fmt(p.warm.seconds)} | {_fmt(p.warm.rss_mb, 'MB')} | {_fmt(pair)} | "
              f"{_fmt(pair_rss, 'MB')} | {ratio(p.cold)} | {ratio(p.warm)} |")
    print()
    for series in dict.fromkeys(p.series for p in points):
        row = [p for p in points if p.series == series]
        base = row[0]
        growth = ", ".join(f"{p.size:,}: cold {p.cold.seconds / p.size / (base.cold.seconds / base.size):.2f}, "
                           f"warm {p.warm.seconds / p.size / (base.warm.seconds / base.size):.2f}"
                           for p in row if p.cold.seconds and p.warm.seconds)
        print(f"cost per unit relative to {base.size:,} {series} (1.0 = linear): {growth}")
    for p in points:
        for note in p.notes:
            print(f"note ({p.series} {p.size:,}): {note}")


def plot(points: list[Point], path: Path) -> None:
    import matplotlib  # the optional `bench` extra; only --plot needs it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = list(dict.fromkeys(p.series for p in points))
    fig, axes = plt.subplots(1, len(series), figsize=(6 * len(series), 4.2), squeeze=False)
    for ax, name in zip(axes[0], series):
        row = [p for p in points if p.series == name]
        sizes = [p.size for p in row]
        for label, get in (("driftbot cold", lambda p: p.cold.seconds), ("driftbot warm", lambda p: p.warm.seconds),
                           ("Prisma's pair", lambda p: p.pair[0])):
            xs = [s for s, p in zip(sizes, row) if get(p) is not None]
            ax.plot(xs, [get(p) for p in row if get(p) is not None], marker="o", label=label)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(name)
        ax.set_ylabel("seconds (whole command)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.suptitle(f"driftbot status vs Prisma's migrate status + migrate dev ({time.strftime('%d %b %Y')}, "
                 f"{os.cpu_count()} cores)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--server", default=pg_default())
    ap.add_argument("--migrations", default="100,700,3000", help="sizes of the migrations series ('' for none)")
    ap.add_argument("--tables", default="300,1500,5000", help="sizes of the tables series ('' for none)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-prisma", action="store_true", help="time driftbot only")
    ap.add_argument("--plot", help="write a PNG plot here (needs matplotlib: pip install -e '.[bench]')")
    ap.add_argument("--json", help="write the points as JSON here")
    args = ap.parse_args(argv)
    install = None
    if not args.no_prisma:
        try:
            install = ensure_installed()
        except PrismaUnavailable as exc:
            print(f"Prisma is unavailable, timing driftbot only: {exc}")
    sizes = [("migrations", int(s), generate(int(s), args.seed)) for s in args.migrations.split(",") if s] + \
            [("tables", int(s), wide(int(s))) for s in args.tables.split(",") if s]
    print(f"machine: {machine()}; {load()}")
    points = []
    with tempfile.TemporaryDirectory(prefix="driftbot-scale-") as tmp:
        for series, size, scripts in sizes:
            points.append(run_point(series, size, scripts, args.server, install, Path(tmp)))
            p = points[-1]
            print(f"  {series} {size:,}: {p.migrations} migrations, {p.tables} tables, deployed in {p.deploy_s} s; "
                  f"cold {_fmt(p.cold.seconds)}, warm {_fmt(p.warm.seconds)}, Prisma's pair {_fmt(p.pair[0])}", flush=True)
    print(f"\nafter the run: {load()}\n")
    report(points)
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(p) for p in points], indent=1))
    if args.plot:
        plot(points, Path(args.plot))
        print(f"\nplot: {args.plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
