"""A digest over 50 environments, each a real database, checked by two real workers.

    .venv/bin/python -m benchmarks.bench_digest [--pg URL] [--redis URL] [--envs 50] [--workers 2]

Builds the databases (a mix of in sync, pending, failed, drifted, and two
unreachable ones that cost a connect timeout each), starts `driftbot worker`
processes on a private queue prefix, and times `/drift digest` from the start
of the claim to the message posted to a local Slack Web API stand-in. The
figure must stay under 30 s.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path


from benchmarks.common import pg_default, redis_default
from tests.conftest import Databases
from tests.support import SlackStandIn, build_environments

ROOT = Path(__file__).resolve().parent.parent
LIMIT_S = 30.0
MIX = ("in_sync", "in_sync", "in_sync", "pending", "drifted", "failed")


def _toml(envs: dict[str, dict], path: Path) -> None:
    lines = []
    for name, env in envs.items():
        lines += [f"[environments.{name}]", f'database_url = "{env["database_url"]}"', f'migrations = "{env["migrations"]}"', ""]
    path.write_text("\n".join(lines))


def arguments(envs: int) -> argparse.ArgumentParser:
    """The options of a digest benchmark: the servers, how many environments and workers."""
    p = argparse.ArgumentParser()
    p.add_argument("--pg", default=pg_default())
    p.add_argument("--redis", default=redis_default())
    p.add_argument("--envs", type=int, default=envs)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--unreachable", type=int, default=2)
    return p


def main(argv=None) -> int:
    args = arguments(envs=50).parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="driftbot-bench-digest-"))
    dbs = Databases(args.pg)
    try:
        t0 = time.perf_counter()
        states = {f"env{i:02d}": ("unreachable" if i < args.unreachable else MIX[i % len(MIX)]) for i in range(args.envs)}
        envs = build_environments(dbs, tmp / "envs", states)
        print(f"built {args.envs} databases in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        took, status, head = time_digest(dbs, args.redis, envs, args.workers, tmp)
        print(head)
        print(f"digest over {args.envs} environments ({args.unreachable} unreachable) with {args.workers} workers: "
              f"{took:.2f} s (limit {LIMIT_S:.0f} s) -> {'OK' if status == 'posted' and took < LIMIT_S else 'TOO SLOW'}")
        return 0 if status == "posted" and took < LIMIT_S else 1
    finally:
        dbs.drop_all()


def time_digest(dbs: Databases, redis_url: str, envs: dict[str, dict], workers: int, tmp: Path,
                extra_env: dict[str, str] | None = None, give_up_s: float = 120,
                started=None) -> tuple[float, str | None, str]:
    """Start *workers* ``driftbot worker`` processes on *envs* (a state database from *dbs*, a private
    queue prefix, a local Slack stand-in) and time ``/drift digest`` from the claim to the message
    posted: (seconds, the digest's status, the message's first line). *extra_env*: more settings for
    the workers; *started*: called with the state database's URL and the workers' pids once they run."""
    slack = SlackStandIn()
    procs: list[subprocess.Popen] = []
    try:
        state_url = dbs.create("benchstate")
        _toml(envs, tmp / "driftbot.toml")
        prefix = f"bench{uuid.uuid4().hex[:6]}:"
        env = {**os.environ, "DRIFTBOT_CONFIG": str(tmp / "driftbot.toml"), "DRIFTBOT_STATE_URL": state_url,
               "REDIS_URL": redis_url, "SLACK_BOT_TOKEN": "xoxb-bench", "DRIFTBOT_SLACK_API_URL": slack.url,
               "DRIFTBOT_QUEUE_PREFIX": prefix, "DRIFTBOT_CACHE_DIR": str(tmp / "cache"),
               "DRIFTBOT_CONNECT_TIMEOUT_S": "2", "DRIFTBOT_DIGEST__CHANNELS": '["CBENCH"]', **(extra_env or {})}
        from driftbot.runtime import build, install
        from driftbot.settings import load_settings
        from driftbot.state.db import upgrade

        os.environ.update({k: v for k, v in env.items() if k.startswith(("DRIFTBOT_", "REDIS_URL", "SLACK_"))})
        rt = build(load_settings())
        upgrade(rt.engine)
        install(rt)
        driftbot = str(Path(sys.executable).parent / "driftbot")
        for n in range(workers):
            log = open(tmp / f"worker-{n}.log", "ab")
            procs.append(subprocess.Popen([driftbot, "worker"], env=env, stdout=log, stderr=log, start_new_session=True))
        time.sleep(1.0)  # let the workers subscribe, so the timing is the digest's, not start-up's
        if started is not None:
            started(state_url, [w.pid for w in procs])

        from sqlalchemy import select

        from driftbot.digest.jobs import start_digest
        from driftbot.state.models import DigestRun

        started = time.perf_counter()
        digest_id = start_digest(rt, requested_by="UBENCH", channel="CBENCH")
        status = None
        while time.perf_counter() - started < give_up_s:
            with rt.sessions() as s:
                status = s.execute(select(DigestRun.status).where(DigestRun.id == digest_id)).scalar()
            if status == "posted":
                break
            time.sleep(0.05)
        took = time.perf_counter() - started
        text = slack.posts[-1]["text"] if slack.posts else ""
        rt.engine.dispose()
        return took, status, text.splitlines()[0] if text else "(nothing posted)"
    finally:
        for w in procs:
            try:
                os.killpg(w.pid, 15)
                w.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(w.pid, 9)
        slack.close()

if __name__ == "__main__":
    raise SystemExit(main())
