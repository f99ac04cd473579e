"""Optional OpenTelemetry traces: a slash command, the job it enqueues, the check and the Slack posts, one trace.

On when ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set and the ``otel``
extra is installed: spans leave over OTLP/HTTP (protobuf) through the SDK's batch processor, configured by
the standard ``OTEL_*`` variables (headers, timeout, service name). Otherwise every hook below is a no-op
and nothing of ``opentelemetry`` is imported (tests/ops/test_tracing.py checks).

The hooks at the seams, each a line:

- ``span("/drift status", ...)``: the command's intake (driftbot.handlers.intake.commands), the check
  (driftbot.work.jobs), each Slack Web API call (driftbot.slack.client);
- ``job_meta()``: the W3C trace context (``traceparent``) an enqueued job carries in its RQ meta, inside
  the enqueue's span (driftbot.work.queues);
- ``job(rq_job)``: the worker continues that trace around the job, then sends its spans at once
  (driftbot.work.workers): a work horse ends with ``os._exit``, which no exit handler outlives.

What a span says: names and ids only (``driftbot.environment``, ``driftbot.check_id``, ``driftbot.job_id``,
the queue, the verb, the Slack method), every string redacted; an exception is recorded as its type and
its redacted first line with any URL taken out, never a traceback.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from contextlib import contextmanager
from typing import Any, Iterator

from driftbot.errors import redact

log = logging.getLogger(__name__)
ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
META_KEY = "trace"  # job.meta[META_KEY]: {"traceparent": ..., "tracestate": ...}
# The longest a finished job waits for its spans to leave: a collector nearby answers in milliseconds; one
# that is away costs each job this much (the exporter's own retries would take 10 s), and its spans are dropped.
FLUSH_S = 1.0
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+", re.I)
_state: dict[str, Any] = {"decided": False, "tracer": None, "provider": None, "propagator": None}
_lock = threading.Lock()


def endpoint_set() -> bool:
    """An OTLP endpoint is configured: traces are wanted."""
    return any(os.environ.get(name, "").strip() for name in ENDPOINT_VARIABLES)


def enabled() -> bool:
    """Traces are on in this process (decided once, at the first hook: the SDK is imported then)."""
    return _tracer() is not None


def _tracer():
    if not _state["decided"]:
        with _lock:
            if not _state["decided"]:
                _start()
                _state["decided"] = True
    return _state["tracer"]


def _start() -> None:
    if not endpoint_set():
        return
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
    except ImportError:
        log.warning("an OTLP endpoint is set but the otel extra is not installed: no traces "
                    "(pip install 'driftbot[otel]')")
        return
    # The SDK's own batch processor starts its thread again in a forked child (gunicorn's workers, RQ's horses).
    provider = TracerProvider(resource=Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME") or "driftbot"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    _state.update(provider=provider, tracer=provider.get_tracer("driftbot"), propagator=TraceContextTextMapPropagator())


class _Span:
    """What a hook may do with its span: add attributes (cleaned as at the start)."""

    def __init__(self, span=None) -> None:
        self._span = span

    def set(self, **attributes: Any) -> None:
        if self._span is not None:
            self._span.set_attributes(_attributes(attributes))


_NOTHING = _Span()


def _attributes(given: dict[str, Any]) -> dict[str, Any]:
    """``driftbot.<name>`` for each known value: numbers and flags as they are, strings shown (``_shown``)."""
    return {f"driftbot.{name}": value if isinstance(value, (bool, int, float)) else _shown(str(value))
            for name, value in given.items() if value is not None}


def _shown(text: str) -> str:
    """*text* redacted, without any URL (a database's, a webhook's: its host and user are nobody's business)."""
    return _URL.sub("<url>", redact(text))[:300]


def _said(exc: BaseException) -> str:
    """An exception's first line, as ``_shown``."""
    return _shown((str(exc).strip().splitlines() or [""])[0])


@contextmanager
def span(name: str, *, parent=None, **attributes: Any) -> Iterator[_Span]:
    """The code inside as one span named *name*, a child of the current one (or of *parent*, an extracted
    context); *attributes* become ``driftbot.<name>``. A no-op without traces."""
    tracer = _tracer()
    if tracer is None:
        yield _NOTHING
        return
    from opentelemetry.trace import Status, StatusCode

    with tracer.start_as_current_span(name, context=parent, attributes=_attributes(attributes),
                                      record_exception=False, set_status_on_exception=False) as current:
        try:
            yield _Span(current)
        except Exception as exc:
            current.add_event("exception", {"exception.type": type(exc).__name__, "exception.message": _said(exc)})
            current.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {_said(exc)}"))
            raise


def job_meta() -> dict:
    """What an enqueued job carries in its RQ meta: the current trace context (W3C ``traceparent``); {} when off."""
    if _tracer() is None:
        return {}
    carrier: dict[str, str] = {}
    _state["propagator"].inject(carrier)
    return {META_KEY: carrier} if carrier else {}


@contextmanager
def job(rq_job) -> Iterator[None]:
    """Run *rq_job* inside a span continuing the trace its enqueue started, then send the spans."""
    if _tracer() is None:
        yield
        return
    meta = getattr(rq_job, "meta", None) or {}
    parent = _state["propagator"].extract(meta.get(META_KEY) or {})
    try:  # a recorded job runs through acked_job: named by the entry point it runs
        entry = (rq_job.kwargs or {}).get("acked_job") or rq_job.func_name.rsplit(".", 1)[-1]
    except Exception:  # a job RQ cannot read fails in RQ's hands, with RQ's report, not in this hook
        entry = "unreadable"
    try:
        with span(f"job {entry}", parent=parent, job_id=rq_job.id, queue=getattr(rq_job, "origin", None), job=entry):
            yield
    finally:
        flush()


def flush(within: float = FLUSH_S) -> None:
    """Send the spans ended so far, waiting at most *within* seconds (the exporter's own retries go on longer)."""
    provider = _state["provider"]
    if provider is None:
        return
    sending = threading.Thread(target=provider.force_flush, name="driftbot-trace-flush", daemon=True)
    sending.start()
    sending.join(within)
    if sending.is_alive():
        log.warning("traces not sent within %.0f s: the OTLP endpoint does not answer", within)
