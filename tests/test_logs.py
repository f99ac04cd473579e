"""No secret reaches a log line, not even through a traceback."""

from __future__ import annotations

import psycopg
import pytest

from tests.support import captured_log


@pytest.fixture
def captured():
    with captured_log("driftbot.test.logs") as logged:
        yield logged


def test_messages_and_arguments_are_redacted(captured):
    logger, stream = captured
    logger.info("connecting to %s", "postgresql://admin:hunter2@db.internal:5432/app")
    logger.warning("retry with password=s3cr3t for %s", "prod")
    text = stream.getvalue()
    assert "hunter2" not in text and "s3cr3t" not in text
    assert "postgresql://admin:***@db.internal:5432/app" in text and "password=***" in text


def test_tracebacks_are_redacted(captured):
    logger, stream = captured
    try:
        psycopg.connect("postgresql://u:topsecret@127.0.0.1:1/x", connect_timeout=1)
    except psycopg.OperationalError:
        try:
            raise RuntimeError("while using postgresql://u:topsecret@127.0.0.1:1/x")
        except RuntimeError:
            logger.exception("check failed")
    text = stream.getvalue()
    assert "Traceback" in text and "check failed" in text and "topsecret" not in text
