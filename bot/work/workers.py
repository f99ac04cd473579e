"""The RQ workers driftbot runs: ``driftbot worker``'s, the demo's and the tests'.

RQ's worker listens for commands (stop, kill the horse) on a pub/sub thread that polls every 60 s,
and its teardown joins that thread. When the thread reads the reply to the worker's UNSUBSCRIBE
before the worker tells it to stop, it goes back to waiting for a subscription for a whole poll:
the worker then takes 60 s to stop (the demo's worker-queue step at 60.2 s in 2 of 17 runs, a burst
worker in a test at 62 s, and a ``driftbot worker`` outliving its orchestrator's grace period).
Here the thread polls every second, so a worker stops within a second of its last job.
"""

from __future__ import annotations

import os

from rq import SimpleWorker as _RQSimpleWorker
from rq import Worker as _RQWorker

from driftbot import logs
from driftbot.metrics import multiproc
from driftbot.ops import tracing

PUBSUB_POLL_S = 1.0  # the longest a stopping worker waits for its command listener


class _PromptStop:
    def subscribe(self) -> None:
        """RQ's subscription to the worker's command channel, with a short poll."""
        self.log.info("Worker %s: subscribing to channel %s", self.name, self.pubsub_channel_name)
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(
            sleep_time=PUBSUB_POLL_S, daemon=True, exception_handler=self._pubsub_exception_handler)


class _Traced:
    """Each job inside the trace that enqueued it (driftbot.ops.tracing; nothing without OTLP settings), and
    every line logged while it is handled naming it (RQ's own, before and after the job's function, too)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        tracing.enabled()  # decided before the horses fork: each inherits the SDK already imported

    def perform_job(self, job, *args, **kwargs) -> bool:
        with logs.context(job_id=job.id), tracing.job(job):
            return super().perform_job(job, *args, **kwargs)


class Worker(_Traced, _PromptStop, _RQWorker):
    """Forks a work horse per job (``driftbot worker``)."""

    def main_work_horse(self, job, queue):
        multiproc.work_horse(os.getppid())  # its counts go to its worker's horse files, not new files per job
        super().main_work_horse(job, queue)


class SimpleWorker(_Traced, _PromptStop, _RQSimpleWorker):
    """Runs each job in its own process (the demo, the tests)."""
