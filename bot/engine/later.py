"""Housekeeping a check may leave until its answer is out: writing its caches, pruning old templates.

Outside ``deferred()`` each task runs at once. Inside it, tasks are collected in the list it
yields and the caller runs them when the answer has been given (the CLI: in a child process
after printing), so a check after a change does not wait for work that only serves the next one.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Callable, Iterator

_tasks: ContextVar[list[Callable[[], None]] | None] = ContextVar("driftbot_later", default=None)


@contextmanager
def deferred() -> Iterator[list[Callable[[], None]]]:
    token = _tasks.set([])
    try:
        yield _tasks.get()
    finally:
        _tasks.reset(token)


def deferring() -> bool:
    """Whether the caller defers housekeeping until its answer is out."""
    return _tasks.get() is not None


def run_or_defer(task: Callable[[], None]) -> None:
    tasks = _tasks.get()
    if tasks is None:
        task()
    else:
        tasks.append(task)


def defer_only(task: Callable[[], None]) -> None:
    """Collect *task* where the caller defers housekeeping; elsewhere drop it: work that only prepares the
    next check must never lengthen this one."""
    tasks = _tasks.get()
    if tasks is not None:
        tasks.append(_Preparing(task))


class _Preparing:
    """A task of ``defer_only``: run after the others (the caches' writes serve the next check surely)."""

    def __init__(self, task: Callable[[], None]) -> None:
        self.task = task

    def __call__(self) -> None:
        self.task()


def run(tasks: list[Callable[[], None]]) -> None:
    """Run collected tasks, those that only prepare the next check last; each is best effort (a failure of
    one does not stop the next)."""
    for task in sorted(tasks, key=lambda t: isinstance(t, _Preparing)):  # stable: otherwise in order
        try:
            task()
        except Exception:  # noqa: BLE001 - housekeeping never fails a command whose answer is out
            pass
