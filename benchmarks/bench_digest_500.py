"""The digest over 500 environments on two real workers, with the connections to the target server counted.

    .venv/bin/python -m benchmarks.bench_digest_500 [--pg URL] [--redis URL] [--envs 500] [--workers 2]
                                                   [--targets 6] [--max-checks-per-server N]

The 500 environments point at a few real target databases on one server (``--targets``, in the
states of bench_digest's mix: in sync, pending, drifted, failed), plus two unreachable ones that
cost a connect timeout each. bench_digest's harness starts the workers and times ``/drift digest``
from the claim to the message posted; meanwhile a sampler reads pg_stat_activity every 10 ms and
keeps the most connections the checks held to the target server at once (driftbot's check and
shadow connections; the state database's are counted apart). The figure must stay under 60 s,
and the connections within what ``max_checks_per_server`` allows.
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import psycopg

from benchmarks.bench_digest import MIX, arguments, time_digest
from benchmarks.common import load
from driftbot.engine import shadow
from tests.conftest import Databases
from tests.support import build_environments

LIMIT_S = 60.0
# What one check may hold on its target's server at once, the shadow being that server: its own
# connection (read in a thread while the shadow replays), the replay's to the server and to its scratch
# database; and one more a sample may still list: a connection just closed, whose backend is exiting.
PER_CHECK = 4
_ACTIVITY = """SELECT datname, application_name FROM pg_stat_activity
               WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"""


def _parent(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


class Sampler(threading.Thread):
    """The most connections the workers' checks held at once on the server of *url*: to the target
    databases *targets*, and to scratch databases of the workers' own work horses (other processes
    on a shared machine use the same server); the state database's are counted apart."""

    def __init__(self, url: str, targets: set[str], every_s: float = 0.01) -> None:
        super().__init__(daemon=True)
        self.url, self.targets, self.every_s = url, targets, every_s
        self.state: str | None = None
        self.workers: set[int] = set()
        self.most_checks = self.most_state = self.samples = 0
        self.at_most: list[tuple[str, str]] = []  # (database, application) of each, at the most
        self._done = threading.Event()

    def _ours(self, datname: str | None) -> bool:
        if datname in self.targets:
            return True
        if not (datname or "").startswith(shadow.PREFIX):
            return False
        try:  # driftbot_shadow_<host>_<pid>_<time>_<random>: the pid of the work horse that made it
            pid = int(datname[len(shadow.PREFIX):].split("_")[1])
        except (IndexError, ValueError):
            return False
        return pid in self.workers or _parent(pid) in self.workers

    def run(self) -> None:
        with psycopg.connect(self.url, autocommit=True, application_name="bench-sampler") as conn:
            while not self._done.is_set():
                rows = conn.execute(_ACTIVITY).fetchall()
                ours = [(db, app) for db, app in rows if app in ("driftbot", "driftbot-shadow") and self._ours(db)]
                state = sum(1 for db, _ in rows if db == self.state)
                if len(ours) > self.most_checks:
                    self.most_checks, self.at_most = len(ours), ours
                self.most_state = max(self.most_state, state)
                self.samples += 1
                time.sleep(self.every_s)

    def stop(self) -> None:
        self._done.set()
        if self.is_alive():
            self.join(timeout=5)


def main(argv=None) -> int:
    p = arguments(envs=500)
    p.add_argument("--targets", type=int, default=6, help="real target databases the environments point at")
    p.add_argument("--max-checks-per-server", type=int, default=None, help="else driftbot's default")
    args = p.parse_args(argv)

    from driftbot.settings import Settings

    bound = args.max_checks_per_server or Settings.model_fields["max_checks_per_server"].default
    tmp = Path(tempfile.mkdtemp(prefix="driftbot-bench-digest-500-"))
    dbs = Databases(args.pg)
    try:
        t0 = time.perf_counter()
        targets = build_environments(dbs, tmp / "envs", {f"target{i}": MIX[i % len(MIX)] for i in range(args.targets)})
        gone = build_environments(dbs, tmp / "envs", {f"gone{i}": "unreachable" for i in range(args.unreachable)})
        real = list(targets.values())
        envs = {**gone, **{f"env{i:03d}": real[i % len(real)] for i in range(args.envs - len(gone))}}
        print(f"built {len(real)} target databases for {len(envs)} environments in {time.perf_counter() - t0:.1f} s",
              file=sys.stderr)
        extra = {"DRIFTBOT_MAX_CHECKS_PER_SERVER": str(bound)}
        sampler = Sampler(args.pg, {urlsplit(e["database_url"]).path.lstrip("/") for e in real})

        def started(state_url: str, pids: list[int]) -> None:
            sampler.state, sampler.workers = urlsplit(state_url).path.lstrip("/"), set(pids)
            sampler.start()

        try:
            took, status, head = time_digest(dbs, args.redis, envs, args.workers, tmp, extra, give_up_s=300,
                                             started=started)
        finally:
            sampler.stop()
        allowed = min(bound, args.workers) * PER_CHECK
        ok = status == "posted" and took < LIMIT_S and sampler.most_checks <= allowed
        print(head)
        print(f"digest over {len(envs)} environments ({len(real)} target databases, {args.unreachable} unreachable) "
              f"with {args.workers} workers: {took:.2f} s (limit {LIMIT_S:.0f} s); "
              f"at most {sampler.most_checks} check connections to the target server at once "
              f"({', '.join(f'{n} {app}' for app, n in sorted(Counter(a for _, a in sampler.at_most).items()))}) "
              f"(max_checks_per_server = {bound}, so at most {allowed}), {sampler.most_state} state connections, "
              f"{sampler.samples} samples; {load()} "
              f"-> {'OK' if ok else 'TOO SLOW' if took >= LIMIT_S else 'NOT OK'}")
        return 0 if ok else 1
    finally:
        dbs.drop_all()


if __name__ == "__main__":
    raise SystemExit(main())
