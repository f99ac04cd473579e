"""Logging that never carries a secret: every record is redacted when it is made.

The record factory is the one choke point: every configured secret (by value,
see ``bot.errors.register_secret``) and every URL password is masked in the
message, its arguments, the traceback and the stack before any handler sees it.

Installed once by the ``driftbot`` command, so it covers the web, worker and
clock processes and the libraries they log through (RQ, gunicorn, Bolt,
SQLAlchemy), including the text of tracebacks.
"""

from __future__ import annotations

import logging
import traceback

from bot.errors import redact


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
        if record.exc_info and record.exc_info[0] is not None:
            record.exc_text = redact("".join(traceback.format_exception(*record.exc_info))).rstrip("\n")
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return record

    factory.driftbot_redacts = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
