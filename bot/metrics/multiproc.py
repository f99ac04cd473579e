"""Multiprocess mode: every process of a group counts into files of one directory, and ``/metrics`` adds
them up (``prometheus_client.multiprocess``). A group is ``driftbot web`` with its gunicorn workers, or
``driftbot worker`` with its work horses and the processes it spawns (sweeper, metrics listener).

The directory is ``PROMETHEUS_MULTIPROC_DIR`` when the operator set it (kept across restarts: the
counters of dead processes still count, as in prometheus_client), else a fresh one per group, removed
when the group's first process exits (or, when it was killed, by the next group that starts). At start, the live gauges of processes no longer running are
removed (``mark_process_dead``); gunicorn does the same for each worker it loses (``worker_exited``).

RQ forks a work horse per job. Counted under its own pid, every job would leave files behind and every
scrape would read them all; a horse counts into its worker's horse files instead (``work_horse``):
one worker runs one horse at a time, so the files are never written by two processes at once.
"""

from __future__ import annotations

import atexit
import glob
import os
import re
import shutil
import tempfile

from prometheus_client import multiprocess, values

ENV = "PROMETHEUS_MULTIPROC_DIR"
_horses: dict[int, str] = {}  # this process's pid -> the name its files carry, in a work horse


def identity() -> str:
    """The name of this process's metric files: its pid, or its worker's horse name in a work horse."""
    pid = os.getpid()
    return _horses.get(pid) or str(pid)


def directory() -> str | None:
    """The directory the processes count into, or None outside multiprocess mode."""
    return os.environ.get(ENV) or None


def prepare(process: str) -> str:
    """Turn on multiprocess mode for this process and the ones it starts, before anything is counted."""
    path = directory()
    if path is None:
        forget_dead_groups()
        path = tempfile.mkdtemp(prefix=f"driftbot-{process}-metrics-{os.getpid()}-")
        os.environ[ENV] = path  # read by prometheus_client, here and in every process started from here
        owner = os.getpid()
        # gunicorn's workers leave through sys.exit and inherit this: only the group's first process removes it
        atexit.register(lambda: os.getpid() == owner and shutil.rmtree(path, ignore_errors=True))
    else:
        os.makedirs(path, exist_ok=True)
    forget_dead(path)
    # Chosen by prometheus_client when it was imported; chosen again now that the directory is known.
    values.ValueClass = values.MultiProcessValue(identity)
    return path


def work_horse(worker_pid: int) -> None:
    """In an RQ work horse (just forked): count into the files its worker's horses share."""
    _horses[os.getpid()] = f"{worker_pid}h"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def forget_dead(path: str) -> list[int]:
    """Remove the live gauges of processes that are gone (a crash, a restart); their counters stay."""
    dead = set()
    for name in glob.glob(os.path.join(path, "gauge_live*_*.db")):
        found = re.search(r"_(\d+)\.db$", name)
        if found and not _alive(int(found.group(1))):
            dead.add(int(found.group(1)))
    for pid in dead:
        multiprocess.mark_process_dead(pid, path)
    return sorted(dead)


def forget_dead_groups() -> list[str]:
    """Remove the directories made by groups whose first process is gone without removing its own (killed):
    their counts went with the process."""
    gone = []
    for path in glob.glob(os.path.join(tempfile.gettempdir(), "driftbot-*-metrics-*-*")):
        found = re.search(r"-metrics-(\d+)-[^/]*$", path)
        if found and not _alive(int(found.group(1))):
            shutil.rmtree(path, ignore_errors=True)
            gone.append(path)
    return gone


def worker_exited(server, worker) -> None:
    """gunicorn's ``child_exit`` hook (in its master): the worker's live gauges go with it."""
    path = directory()
    if path is not None:
        multiprocess.mark_process_dead(worker.pid, path)
