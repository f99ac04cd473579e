"""`driftbot status` imports only what it needs: no Slack, no SQLAlchemy, no RQ or Redis.

The start-up cost of a warm `driftbot status` is mostly imports (issue #17); these
keep the heavy parts of the long-running processes out of it for good.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.cli.test_cli import M1, project  # noqa: F401 - the fixture: a three-migration project and its config
from tests.factory import INIT, deploy, write_migrations

NOT_FOR_STATUS = ("slack_bolt", "slack_sdk", "sqlalchemy", "rq", "redis")

_PROBE = """
import json, sys
from driftbot.cli import main
code = main(sys.argv[1:])
with open({out!r}, "w") as f:
    json.dump({{"code": code, "modules": sorted(sys.modules)}}, f)
"""


def loaded_by(tmp_path, *argv) -> tuple[int, set[str]]:
    """Run the real command in a fresh interpreter; return its exit code and every module it imported."""
    out = tmp_path / "modules.json"
    done = subprocess.run([sys.executable, "-c", _PROBE.format(out=str(out)), *argv],
                          capture_output=True, text=True, timeout=120)
    assert out.exists(), done.stderr
    body = json.loads(out.read_text())
    return body["code"], set(body["modules"])


def heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in NOT_FOR_STATUS)


@pytest.mark.parametrize("argv", [("status", "prod", "--json"), ("status", "prod")])
def test_status_imports_no_slack_sqlalchemy_rq_or_redis(project, db, tmp_path, argv):
    deploy(db, project)
    code, modules = loaded_by(tmp_path, *argv)
    assert code == 0
    assert "psycopg" in modules  # it did check the database
    assert heavy(modules) == []


def test_status_with_pending_migrations_imports_none_of_them_either(project, db, tmp_path):
    deploy(db, write_migrations(tmp_path / "first", {M1: INIT}))
    code, modules = loaded_by(tmp_path, "status", "prod", "--json")
    assert code == 1
    assert heavy(modules) == []


def test_an_in_sync_status_imports_neither_the_deploy_preview_nor_the_config_evaluator(project, db, tmp_path):
    deploy(db, project)
    code, modules = loaded_by(tmp_path, "status", "prod", "--json")
    assert code == 0
    assert {"driftbot.engine.preview", "driftbot.engine.config_ts"} & modules == set()
