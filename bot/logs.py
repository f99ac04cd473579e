"""Logging that never carries a secret: every record is redacted when it is made.

The record factory is the one choke point: every configured secret (by value,
see ``driftbot.errors.register_secret``) and every URL password is masked in the
message, its arguments, the traceback and the stack before any handler sees it.

Installed once by the ``driftbot`` command, so it covers the web, worker and
clock processes and the libraries they log through (RQ, gunicorn, Bolt,
SQLAlchemy), including the text of tracebacks.

``DRIFTBOT_LOG_FORMAT=json`` (``configure``) makes every process write one JSON object a line: time,
level, logger, message, process, and the environment, request id, check id and job id where known
(``context``; the RQ job's id is read from RQ itself), ``trace_id`` and ``span_id`` while a span is
active (traces on: driftbot.ops.tracing), the traceback as ``exc_info``. Text stays the default. The same
redaction applies: the record is masked before any formatter sees it. docs/operating.md shows a line.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import sys
import traceback
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any, Iterator

from driftbot.errors import ConfigError, redact

FORMAT_VARIABLE = "DRIFTBOT_LOG_FORMAT"
FORMATS = ("text", "json")
_CONTEXT: contextvars.ContextVar[dict[str, str]] = contextvars.ContextVar("driftbot_log_context", default={})
_FIELDS = ("environment", "request_id", "check_id", "job_id")
_process = {"name": "driftbot"}


def install() -> None:
    """Wrap the log record factory so messages and tracebacks are redacted (idempotent)."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "driftbot_redacts", False):
        return

    def factory(*args, **kwargs) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a malformed call: leave it to logging's own error report
            return record
        record.msg, record.args = redact(message), None
        record.process_name = _process["name"]
        if record.exc_info and record.exc_info[0] is not None:
            record.exc_text = redact("".join(traceback.format_exception(*record.exc_info))).rstrip("\n")
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return record

    factory.driftbot_redacts = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


def log_format() -> str:
    """``text`` (the default) or ``json``, from ``DRIFTBOT_LOG_FORMAT``; anything else is refused at start."""
    value = os.environ.get(FORMAT_VARIABLE, "").strip().lower() or "text"
    if value not in FORMATS:
        raise ConfigError(f"{FORMAT_VARIABLE}={value!r} is not a log format: use text (the default) or json.")
    return value


@contextmanager
def context(**fields: Any) -> Iterator[None]:
    """Name the environment, request id, check id or job id of what is logged inside (None: unknown)."""
    unknown = set(fields) - set(_FIELDS)
    if unknown:
        raise ValueError(f"unknown log fields {sorted(unknown)}")
    token = _CONTEXT.set({**_CONTEXT.get(), **{k: str(v) for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def _trace() -> dict[str, str]:
    """The active span's trace and span ids (hex, as a tracing backend shows them); {} without one."""
    otel = sys.modules.get("opentelemetry.trace")  # only where traces are on: never imported for it
    if otel is None:
        return {}
    found = otel.get_current_span().get_span_context()
    if not found.is_valid:
        return {}
    return {"trace_id": format(found.trace_id, "032x"), "span_id": format(found.span_id, "016x")}


def _job_id() -> str | None:
    rq_job = sys.modules.get("rq.job")  # only where RQ runs: never imported for it
    if rq_job is None:
        return None
    try:
        job = rq_job.get_current_job()
    except Exception:  # no connection, no job: not known
        return None
    return job.id if job is not None else None


class JsonFormatter(logging.Formatter):
    """One JSON object a line; the record is already redacted by ``install``'s factory."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname, "logger": record.name, "message": record.getMessage(),
            "process": getattr(record, "process_name", _process["name"]),
        }
        known = {**_CONTEXT.get(), **{k: getattr(record, k) for k in _FIELDS if getattr(record, k, None)}}
        if "job_id" not in known:
            job = _job_id()
            if job:
                known["job_id"] = job
        out.update({k: known[k] for k in _FIELDS if k in known})
        out.update(_trace())
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(self.formatException(record.exc_info))
        if record.exc_text:
            out["exc_info"] = record.exc_text
        if record.stack_info:
            out["stack_info"] = record.stack_info
        return json.dumps(out, default=str, ensure_ascii=False)


def configure(process: str, text_format: str | None = None, settings: Any = None) -> None:
    """The one logging set-up of a process (web, worker, clock, sweeper): redaction installed; in json,
    the root logger writes JSON lines to stderr, INFO and up; in text, *text_format* (when given) as
    before. *settings*: a process started without the ``driftbot`` command's loading (the spawned
    sweeper) registers its secrets again, so they are masked there too."""
    install()
    if settings is not None:
        settings._register_secrets()
    _process["name"] = process
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # its set-up chatter, once a start
    if log_format() != "json":
        if text_format:
            logging.basicConfig(level=logging.INFO, format=text_format)
        return
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(logging.INFO)


def gunicorn_logconfig() -> dict | None:
    """gunicorn's logging (its error and access logs) in JSON too, through the root's handler; None in text."""
    if log_format() != "json":
        return None
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {"version": 1, "disable_existing_loggers": False,
            "formatters": {"json": {"()": "driftbot.logs.JsonFormatter"}},
            "handlers": {"console": handler, "error_console": handler},
            "root": {"level": "INFO", "handlers": ["console"]},
            "loggers": {name: {"level": "INFO", "handlers": ["console"], "propagate": False, "qualname": name}
                        for name in ("gunicorn.error", "gunicorn.access")}}


def fatal(who: str, line: str) -> None:
    """The one line a command ends with on an error: as it always was in text, a JSON object in json."""
    try:
        as_json = log_format() == "json"
    except Exception:  # a bad DRIFTBOT_LOG_FORMAT is itself the error being said
        as_json = False
    if as_json:
        record = logging.getLogRecordFactory()("driftbot", logging.ERROR, __file__, 0, f"{who}: {line}", None, None)
        record.process_name = who.removeprefix("driftbot ").strip() or "driftbot"
        sys.stderr.write(JsonFormatter().format(record) + "\n")
    else:
        sys.stderr.write(redact(f"{who}: {line}") + "\n")
