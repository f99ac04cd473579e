"""``driftbot lint`` over the real public histories of benchmarks/real_histories.py.

    python -m benchmarks.lint_histories [--target URL] [--json OUT]

For each pinned history (extracted from its local git mirror into a temporary folder; their files never
enter this repository): a fresh, empty database on the target server; then, migration by migration in
Prisma's order, lint it on that database (``lint_on``: its catalog and its data, read-only, as
``driftbot lint ENV`` does when it is the one pending migration), time that, and deploy it as Prisma
does (one script). Also the offline lint of the whole folder (``lint --offline``).

Expected: no crash; no "will fail" finding on a migration that then deployed (each would be a false
alarm); the risky findings counted by class. Exit 1 when either expectation breaks.
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import sys
import tempfile
import time
import traceback
from pathlib import Path

import psycopg

from benchmarks.common import drop_database, create_database, load, machine, pg_default
from benchmarks.real_histories import HISTORIES, extract
from driftbot.engine import replay
from driftbot.engine.lint import lint_on, lint_text
from driftbot.engine.sources import read_folder


def run_history(h, server: str, work: Path) -> dict:
    folder = extract(h, work / h.name)
    if folder is None:
        return {"history": h.name, "skipped": f"no mirror at {h.mirror}"}
    migrations = read_folder(folder).items
    out: dict = {"history": h.name, "migrations": len(migrations), "times_ms": [], "risky": collections.Counter(),
                 "will_fail": collections.Counter(), "notes": collections.Counter(), "false_will_fail": [],
                 "crashes": [], "not_deployed": []}
    started = time.perf_counter()
    offline = lint_text(migrations)
    out["offline_ms"] = round((time.perf_counter() - started) * 1000, 1)
    out["offline"] = {s: dict(collections.Counter(f.rule for f in offline.of(s))) for s in ("will_fail", "risky")}
    name, url, version = create_database(server, "drifttest_lint")
    out["server"] = version
    try:
        with psycopg.connect(url, autocommit=True) as deployer, psycopg.connect(url, autocommit=True) as reader:
            for m in migrations:
                t = time.perf_counter()
                try:
                    report = lint_on(reader, (m,), "public", h.name)
                except Exception as exc:  # the benchmark's point: say which migration and go on
                    out["crashes"].append({"migration": m.name, "error": f"{type(exc).__name__}: {exc}",
                                           "trace": traceback.format_exc(limit=3)})
                    report = None
                out["times_ms"].append((time.perf_counter() - t) * 1000)
                error = replay.run_script(deployer, m)
                if error is not None:
                    out["not_deployed"].append({"migration": m.name, "sqlstate": error.sqlstate,
                                                "error": error.message.splitlines()[0]})
                if report is None:
                    continue
                for f in report.findings:
                    bucket = {"will_fail": "will_fail", "risky": "risky", "note": "notes"}[f.severity]
                    out[bucket][f.rule] += 1
                    if f.severity == "will_fail" and error is None:
                        out["false_will_fail"].append({"migration": m.name, "rule": f.rule, "statement": f.statement[:200],
                                                       "why": f.why})
                if error is not None and not report.will_fail:
                    out.setdefault("missed", []).append({"migration": m.name, "sqlstate": error.sqlstate})
    finally:
        drop_database(server, name)
    times = out.pop("times_ms")
    out["lint_ms"] = {"total": round(sum(times)), "median": round(statistics.median(times), 1),
                      "p95": round(sorted(times)[int(0.95 * (len(times) - 1))], 1), "max": round(max(times), 1)}
    for key in ("risky", "will_fail", "notes"):
        out[key] = dict(out[key].most_common())
    return out


def table(rows: list[dict]) -> str:
    lines = ["| history | migrations | lint per migration: median / p95 / max (ms) | total (s) | will fail (deployed) | "
             "risky by class | offline: will fail / risky |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        if "skipped" in r:
            lines.append(f"| {r['history']} | skipped: {r['skipped']} | | | | | |")
            continue
        t = r["lint_ms"]
        risky = ", ".join(f"{k} {v}" for k, v in r["risky"].items()) or "none"
        off = r["offline"]
        lines.append(f"| {r['history']} | {r['migrations']} | {t['median']} / {t['p95']} / {t['max']} | "
                     f"{t['total'] / 1000:.1f} | {len(r['false_will_fail'])} | {risky} | "
                     f"{sum(off['will_fail'].values())} / {sum(off['risky'].values())} ({r['offline_ms']:.0f} ms) |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--target", default=pg_default(), help="the PostgreSQL server to deploy on")
    p.add_argument("--json", help="write the figures here")
    args = p.parse_args(argv)
    print(f"# {machine()}; {load()} at start", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for h in HISTORIES:
            row = run_history(h, args.target, Path(tmp))
            rows.append(row)
            print(json.dumps({k: v for k, v in row.items() if k != "crashes"} | {"crashes": len(row.get("crashes", []))}),
                  flush=True)
            for crash in row.get("crashes", []):
                print(crash["trace"], file=sys.stderr)
    print(f"# {load()} at the end")
    print(table(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    bad = [r for r in rows if r.get("crashes") or r.get("false_will_fail")]
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
