"""A tiny OTLP/HTTP trace receiver: what a collector is to driftbot, on a free port of 127.0.0.1.

It accepts ``POST /v1/traces`` with a protobuf ``ExportTraceServiceRequest`` (as OpenTelemetry's OTLP/HTTP
exporter sends it), decodes it with opentelemetry-proto and keeps every span as a plain ``Span``, and the
raw bodies, so a test can look for a planted secret in every byte that left. Below it, what the trace
tests (tests/ops/test_tracing.py, tests/slack/test_traces.py) ask of what it received.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import urlsplit, urlunsplit

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from driftbot.engine.result import STATES
from tests.local_http import LocalHTTPServer


@dataclass(frozen=True)
class Span:
    name: str
    trace_id: str
    span_id: str
    parent_id: str  # "" for a root
    attributes: dict[str, Any]
    events: tuple[tuple[str, dict[str, Any]], ...]
    status: str  # "" unless set; the description of an error
    resource: dict[str, Any] = field(default_factory=dict)


def _value(v) -> Any:
    kind = v.WhichOneof("value")
    return getattr(v, kind) if kind in ("string_value", "int_value", "double_value", "bool_value") else str(v)


def _attributes(kvs) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in kvs}


class OtlpReceiver:
    """``endpoint``: the base URL (OTEL_EXPORTER_OTLP_ENDPOINT); ``spans``: every span received."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        self.bodies: list[bytes] = []
        self.refused: list[str] = []
        self._lock = threading.Lock()
        self._http = LocalHTTPServer(self._handle)
        self.endpoint = self._http.url

    def _handle(self, request) -> None:
        body = request.rfile.read(int(request.headers.get("Content-Length") or 0))
        if request.command != "POST" or request.path != "/v1/traces" or \
                request.headers.get("Content-Type") != "application/x-protobuf":
            with self._lock:
                self.refused.append(f"{request.command} {request.path} {request.headers.get('Content-Type')}")
            request.send_response(404)
            request.end_headers()
            return
        export = ExportTraceServiceRequest.FromString(body)
        spans = []
        for rs in export.resource_spans:
            resource = _attributes(rs.resource.attributes)
            for ss in rs.scope_spans:
                for s in ss.spans:
                    spans.append(Span(
                        name=s.name, trace_id=s.trace_id.hex(), span_id=s.span_id.hex(),
                        parent_id=s.parent_span_id.hex(), attributes=_attributes(s.attributes),
                        events=tuple((e.name, _attributes(e.attributes)) for e in s.events),
                        status=s.status.message if s.status.code == s.status.STATUS_CODE_ERROR else "",
                        resource=resource))
        with self._lock:
            self.bodies.append(body)
            self.spans.extend(spans)
        answer = ExportTraceServiceResponse().SerializeToString()
        request.send_response(200)
        request.send_header("Content-Type", "application/x-protobuf")
        request.send_header("Content-Length", str(len(answer)))
        request.end_headers()
        request.wfile.write(answer)

    def named(self, name: str) -> list[Span]:
        with self._lock:
            return [s for s in self.spans if s.name == name]

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 30.0, what: str = "spans") -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = predicate()
            if found:
                return found
            time.sleep(0.1)
        raise AssertionError(f"no {what} within {timeout:g} s; received: {[s.name for s in self.spans]}")

    def close(self) -> None:
        self._http.close()


# --- what the trace tests ask of what was received -------------------------------------------

def planted(url: str, password: str) -> str:
    """*url* with *password* in it: the test server trusts local connections, so the check still connects."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{parts.username or 'postgres'}:{password}@{parts.hostname}:{parts.port or 5432}"))


def assert_nothing_secret(receiver: OtlpReceiver, password: str) -> None:
    """Not the password in any byte sent, and no URL in any attribute, event or status."""
    assert receiver.bodies and not any(password.encode() in body for body in receiver.bodies)
    for s in receiver.spans:
        said = [*s.attributes.values(), *(v for _, attrs in s.events for v in attrs.values()), s.status]
        assert not [v for v in said if isinstance(v, str) and ("://" in v or password in v)], s


def by_name(spans, name):
    found = [s for s in spans if s.name == name]
    assert len(found) == 1, (name, [s.name for s in spans])
    return found[0]


def assert_one_trace(spans, environment: str, *, snippet: bool) -> None:
    """/drift status -> enqueue check -> job check_job -> check, and the job's Slack posts: one trace."""
    command = by_name(spans, "/drift status")
    trace = [s for s in spans if s.trace_id == command.trace_id]
    ids = {s.span_id: s for s in trace}
    enqueue, run, check = by_name(trace, "enqueue check"), by_name(trace, "job check_job"), by_name(trace, "check")
    assert command.parent_id == "" and command.attributes == {"driftbot.verb": "status", "driftbot.environment": environment}
    assert enqueue.parent_id == command.span_id and run.parent_id == enqueue.span_id and check.parent_id == run.span_id
    assert run.attributes["driftbot.job_id"] == enqueue.attributes["driftbot.job_id"]
    assert check.attributes["driftbot.environment"] == environment and check.attributes["driftbot.check_id"] >= 1
    assert check.attributes["driftbot.state"] in STATES

    def under_job(s) -> bool:
        while s.parent_id in ids:
            s = ids[s.parent_id]
            if s is run:
                return True
        return False

    posts = [s for s in trace if s.name == "slack chat.postMessage"]
    assert posts and all(under_job(s) for s in posts)
    assert all(s.attributes["driftbot.slack_method"] == "chat.postMessage" for s in posts)
    if snippet:  # the result's SQL, uploaded in the same trace
        assert [s for s in trace if s.name == "slack files_upload_v2" and under_job(s)]
