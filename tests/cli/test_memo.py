"""A warm `driftbot status` answers from its memo only while nothing the answer came from has changed."""

from __future__ import annotations

import json

import psycopg
import pytest

from driftbot.cli import memo
from tests.cli.test_cli import M1, M2, project, run  # noqa: F401 - the fixture: a three-migration project and its config
from tests.cli.test_startup import loaded_by
from tests.factory import deploy
from tests.support import child_pids

STAMPS = ("checked_at", "duration_ms")


def _answer(out: str) -> dict:
    body = json.loads(out)
    return {k: v for k, v in body.items() if k not in STAMPS}


@pytest.fixture
def memoised(project, db, capsys, monkeypatch):
    """The project deployed and its status memoised (files written just now count as settled)."""
    monkeypatch.setattr(memo, "RACY_S", 0.0)
    deploy(db, project)
    code, out, _ = run(capsys, "status", "prod", "--json")
    assert code == 0 and json.loads(out)["state"] == "in_sync"
    assert len(list((project.parent / "cache" / "status").glob("*.json"))) == 1
    return _answer(out)


def test_an_unchanged_status_is_answered_again_without_the_engine(memoised, project, tmp_path):
    code, modules = loaded_by(tmp_path, "status", "prod", "--json")
    assert code == 0
    assert not {"driftbot.engine.check", "driftbot.engine.diff", "driftbot.engine.inspect"} & modules
    code, modules = loaded_by(tmp_path, "status", "prod")  # the terminal's text too
    assert code == 0 and "driftbot.engine.check" not in modules


def test_the_memoised_answer_is_the_checks_own(memoised, capsys):
    code, out, _ = run(capsys, "status", "prod", "--json")
    assert code == 0 and _answer(out) == memoised
    code, text, _ = run(capsys, "status", "prod")
    assert code == 0 and text.startswith("prod ")


def _alter_target(db, project):
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute('ALTER TABLE "User" ADD COLUMN "nickname" TEXT')


def _forget_a_row(db, project):
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("DELETE FROM _prisma_migrations WHERE migration_name = %s", (M2,))


def _edit_a_migration(db, project):
    script = project / M2 / "migration.sql"
    text = script.read_text()
    script.write_text(text.replace("TEXT NOT NULL", "text NOT NULL", 1))  # same size, other bytes


def _add_a_migration(db, project):
    (project / "20250109000000_more").mkdir()
    (project / "20250109000000_more" / "migration.sql").write_text('CREATE TABLE "More" ("id" INTEGER);\n')


def _pin_prisma(db, project):
    (project.parent / "package.json").write_text(json.dumps({"devDependencies": {"prisma": "7.9.1"}}))


def _change_config(db, project):
    config = project.parent / "driftbot.toml"
    config.write_text(config.read_text() + 'prisma_version = "6.19.3"\n')


@pytest.mark.parametrize("change", [_alter_target, _forget_a_row, _edit_a_migration, _add_a_migration, _pin_prisma,
                                    _change_config])
def test_any_change_to_what_the_answer_came_from_gets_a_new_answer(memoised, project, db, capsys, change):
    change(db, project)
    code, out, _ = run(capsys, "status", "prod", "--json")
    fresh = _answer(out)
    assert fresh != memoised
    for stored in (project.parent / "cache" / "status").glob("*.json"):  # the new answer is the check's own
        stored.unlink()
    again_code, again, _ = run(capsys, "status", "prod", "--json")
    assert (again_code, _answer(again)) == (code, fresh)


def test_an_error_is_never_memoised(project, db, capsys, monkeypatch):
    monkeypatch.setattr(memo, "RACY_S", 0.0)
    deploy(db, project)
    monkeypatch.setenv("DRIFTBOT_ENVIRONMENTS__PROD__SHADOW_URL", "postgresql://nobody@127.0.0.1:1/x")
    code, out, _ = run(capsys, "status", "prod", "--json")
    assert code == 2 and json.loads(out)["state"] == "error"
    assert not list((project.parent / "cache" / "status").glob("*.json"))


def test_files_written_within_their_timestamps_granularity_are_not_trusted(project, db, capsys, monkeypatch):
    monkeypatch.setattr(memo, "RACY_S", 3600.0)  # "just now", however long this machine takes to check
    deploy(db, project)  # the files were written just now: a write in the same tick could keep their stat
    code, _, _ = run(capsys, "status", "prod", "--json")
    assert code == 0
    assert not list((project.parent / "cache" / "status").glob("*.json"))


def test_the_caches_are_written_after_the_answer_by_a_child(project, db, tmp_path):
    """The real command prints its answer and exits; a child it leaves writes the caches the next
    check hits (bot/engine/later.py)."""
    import subprocess
    import sys
    import time

    deploy(db, project)
    done = subprocess.run([sys.executable, "-m", "driftbot.cli", "status", "prod", "--json"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    cache = project.parent / "cache"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (list(cache.glob("shadow/*.json")) and list(cache.glob("live/*.json"))):
        time.sleep(0.1)
    assert list(cache.glob("shadow/*.json")) and list(cache.glob("live/*.json"))


def test_a_status_inside_a_long_lived_process_leaves_it_no_child_to_reap(project, db, capsys):
    """The housekeeping after a status runs in a grandchild: the process that ran the command (a test
    run, a script's own Python) is left no child of it, so none piles up there as a zombie."""
    deploy(db, project)
    before = child_pids()
    code, _, _ = run(capsys, "status", "prod", "--json")
    assert code == 0
    assert child_pids() - before == set()
