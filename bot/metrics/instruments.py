"""What driftbot counts and times, and the one call each seam makes.

Names follow Prometheus' conventions: the ``driftbot_`` prefix, ``_total`` counters, ``_seconds``
durations, base units. The environment's name is the only label a user chooses; every other label
takes its values from a fixed set (a check's state, a Slack method and error code, an audit event's kind).

Every metric here has labels: in multiprocess mode a labelled metric takes its storage when a label set
is first used, after ``driftbot.metrics.multiproc.prepare`` chose the files (an unlabelled one would take
it at import). Every hook swallows its own failure: a metric never breaks the work it counts.
"""

from __future__ import annotations

import functools
import logging
import re
from typing import Callable, Mapping, TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics
from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable)

disable_created_metrics()  # no *_created series: multiprocess mode has none, and one process should look like many
# The metrics counted in this process (without multiprocess mode, /metrics reads them from here).
REGISTRY = CollectorRegistry(auto_describe=True)

CHECKS = Counter(
    "driftbot_checks", "Checks finished, by environment and outcome: the check's state (in_sync, pending, "
    "drifted, failed, not_managed, error), or lost when its worker died.",
    ["environment", "outcome"], registry=REGISTRY)
# From a warm check of a small history (tens of ms) to a cold replay of hundreds of migrations (minutes).
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
PHASES = ("replay", "introspection", "diff", "total")
CHECK_SECONDS = Histogram(
    "driftbot_check_duration_seconds", "How long checks took, by phase: replay (the migrations on the shadow "
    "server, or their cached schema), introspection (the target's catalog), diff, and total. Replay and "
    "introspection run side by side, so the phases do not add up to the total.",
    ["phase"], buckets=DURATION_BUCKETS, registry=REGISTRY)
SLACK_CALLS = Counter(
    "driftbot_slack_api_calls", "Slack Web API responses, by method and result: ok, Slack's error code, "
    "ratelimited (HTTP 429, each one, retried or not) or unreachable (no answer).",
    ["method", "result"], registry=REGISTRY)
EXECUTIONS = Counter(
    "driftbot_executions", "Approved changes run, by environment and outcome: succeeded, failed, unverified, "
    "plan_changed, audit_failed, refused, or interrupted / reconciled when the sweeper settled one whose worker died.",
    ["environment", "outcome"], registry=REGISTRY)
AUDIT_EVENTS = Counter(
    "driftbot_audit_events", "Audit events committed to the trail by this process group, by kind (the "
    "trail's event names: check_requested, check_finished, approved, executed, ...).",
    ["kind"], registry=REGISTRY)
PROCESSES = Gauge(
    "driftbot_processes", "Live driftbot processes counting into this metrics directory, by kind (web: "
    "gunicorn's workers; worker: the RQ worker).",
    ["process"], multiprocess_mode="livesum", registry=REGISTRY)

# Every metric above, in the order docs/metrics.md lists them.
COUNTED = (CHECKS, CHECK_SECONDS, SLACK_CALLS, EXECUTIONS, AUDIT_EVENTS, PROCESSES)

# Outcomes of an execution attempt worth counting (driftbot.requests.execution.Ran.status); the rest
# (skipped, deferred, a request that was not approved) ran nothing.
EXECUTION_OUTCOMES = frozenset({"succeeded", "failed", "unverified", "plan_changed", "audit_failed", "refused",
                                "interrupted", "reconciled"})
_SLACK_WORD = re.compile(r"[a-z][a-z0-9_.]{0,63}", re.I)  # a method (chat.postMessage) or an error code
_AUDIT_PENDING = "driftbot_metrics_audit"  # Session.info: kinds recorded, counted once committed


def _quiet(hook: F) -> F:
    @functools.wraps(hook)
    def safe(*args, **kwargs):
        try:
            hook(*args, **kwargs)
        except Exception:  # a full disk, a missing metrics directory: the work goes on uncounted
            log.debug("metric %s not recorded", hook.__name__, exc_info=True)
    return safe  # type: ignore[return-value]


@_quiet
def checked(environment: str, outcome: str, seconds: float, phases: Mapping[str, float] | None = None) -> None:
    """A check finished (*outcome*: its state) in *seconds*, with the time its phases took."""
    CHECKS.labels(environment, outcome).inc()
    CHECK_SECONDS.labels("total").observe(seconds)
    for phase, spent in (phases or {}).items():
        if phase in PHASES and phase != "total":
            CHECK_SECONDS.labels(phase).observe(spent)


@_quiet
def check_lost(environment: str) -> None:
    """A check whose worker died (the sweeper found it)."""
    CHECKS.labels(environment, "lost").inc()


def slack_word(text: str | None, fallback: str) -> str:
    """A Slack method or error code as a label value: its own word, or *fallback* for anything else."""
    return text if text and _SLACK_WORD.fullmatch(text) else fallback


@_quiet
def slack_answered(method: str, result: str) -> None:
    """One response of the Slack Web API (*result*: ok, an error code, ratelimited or unreachable)."""
    SLACK_CALLS.labels(slack_word(method, "other"), slack_word(result, "other_error")).inc()


@_quiet
def executed(environment: str, outcome: str) -> None:
    """An execution attempt came to *outcome* (only the outcomes that ran or settled something count)."""
    if outcome in EXECUTION_OUTCOMES:
        EXECUTIONS.labels(environment, outcome).inc()


@_quiet
def audit_recorded(session: Session, kind: str) -> None:
    """An audit event added in *session*'s transaction: counted when that transaction commits."""
    session.info.setdefault(_AUDIT_PENDING, []).append(kind)


@event.listens_for(Session, "after_commit")
def _audit_committed(session: Session) -> None:
    for kind in session.info.pop(_AUDIT_PENDING, ()):
        _count_audit(kind)


@event.listens_for(Session, "after_rollback")
def _audit_rolled_back(session: Session) -> None:
    session.info.pop(_AUDIT_PENDING, None)


@_quiet
def _count_audit(kind: str) -> None:
    AUDIT_EVENTS.labels(kind).inc()


@_quiet
def process_started(process: str) -> None:
    """This process serves or works as *process* (web, worker) until it dies."""
    PROCESSES.labels(process).set(1)
