"""`driftbot demo` end to end: the README's first command shows the whole job."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

# The whole demo as a process: embedded servers, a worker, the two halves.
pytestmark = pytest.mark.slow


def test_demo_shows_history_problems_schema_drift_sql_and_the_queue(pg_url, redis_url, tmp_path):
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path), "REDIS_URL": redis_url,
           "DRIFTBOT_QUEUE_PREFIX": f"demo-test-{os.getpid()}:"}
    done = subprocess.run([str(Path(sys.executable).parent / "driftbot"), "demo", "--database-url", pg_url],
                          capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    for needle in (
        "prod has a FAILED migration",
        "1 pending · 1 failed · 1 edited after apply",
        "[+] Added tables\n    - case_milestones\n    - staff\n    - vendor_candidates",
        "[+] Added triggers\n    - case_ref_upper on Case",
        "Prisma does not say:",
        "function case_ref_upper() exists only in the database",
        "[C] Enum `MediaKind` lacks the value `VIDEO` that schema.prisma has.",
        "Deploy preview: 20250120000000_unique_case_ref would fail: P3009",
        '-- CreateTable\nCREATE TABLE "staff" (',
        "fix: driftbot enum prod MediaKind VIDEO",
        "Through the worker queue",
    ):
        assert needle in out, needle
    catch_up = out.split("The catch-up migration", 1)[1].split("Through the worker queue", 1)[0]
    assert "only what the database has beyond the migrations" in catch_up
    assert "DROP INDEX" not in catch_up  # case 4: never a drop of what B restores
    assert "/drift enum" not in out and "/drift resolve" not in out  # case 5: terminal commands
    queued = out.rsplit("Through the worker queue", 1)[1]
    assert "prod has a failed migration" in queued  # case 6: what was found, and it agrees
    # It says what it broke on purpose before the report, and ends on what to do next, not on ids.
    broke = out.split("broke it on purpose", 1)[1].split("\n\n", 1)[0]
    for what in ("20250120000000_unique_case_ref", "20250115000000_user_nickname", "MediaKind", "trigger",
                 "20250125000000_vendors"):
        assert what in broke, what
    ending = out.rsplit("What to do next", 1)[1]
    assert "driftbot status" in ending and "driftbot.toml" in ending and "docs/" in ending
    assert not re.search(r"[0-9a-f]{32}|redis://|fingerprint", out), "internal ids in the demo's report"
