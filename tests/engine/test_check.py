"""run_check end to end on real databases: the result every view renders."""

from __future__ import annotations


import pytest

from driftbot.engine.check import run_check
from driftbot.settings import Settings
from tests.factory import INIT, POSTS, committed_migrations, deploy, git, write_migrations

M1, M2, HOTFIX = "20250101000000_init", "20250102000000_posts", "20250103000000_hotfix"


@pytest.fixture
def repo(tmp_path):
    """main has M1, M2; branch hotfix adds HOTFIX on top."""
    work = committed_migrations(tmp_path / "app", {M1: INIT, M2: POSTS})
    git(work, "checkout", "-qb", "hotfix")
    write_migrations(work / "prisma" / "migrations", {HOTFIX: 'ALTER TABLE "User" ADD COLUMN "x" TEXT;'})
    git(work, "add", ".")
    git(work, "commit", "-qm", "hotfix")
    git(work, "checkout", "-q", "main")
    return work


def settings_for(db, repo, tmp_path, ref="main"):
    return Settings(
        environments={"prod": {"database_url": db, "git": f"file://{repo}", "ref": ref}},
        cache_dir=tmp_path / "cache",
    )


def test_database_only_migration_deployed_from_another_branch(db, repo, tmp_path):
    deploy(db, write_migrations(tmp_path / "deployed", {M1: INIT, M2: POSTS, HOTFIX: 'ALTER TABLE "User" ADD COLUMN "x" TEXT;'}))
    s = settings_for(db, repo, tmp_path)
    result = run_check(s, s.environment("prod"), schema=False)
    body = result.to_json()
    assert body["history"]["missing_locally"] == [HOTFIX]
    assert body["history"]["prisma_status"]["exit_code"] == 0  # Prisma: "up to date"
    assert body["history"]["missing_locally_details"] == [{"name": HOTFIX, "refs": ["hotfix"], "found": True}]
    (finding,) = [f for f in result.findings if f.case == "history"]
    assert f"{HOTFIX}: deployed from hotfix" in finding.detail and "up to date" in finding.detail
    assert result.state == "drifted" and result.exit_code == 1


def test_database_only_migration_found_nowhere(db, repo, tmp_path):
    ghost = "20250104000000_ghost"
    deploy(db, write_migrations(tmp_path / "deployed", {M1: INIT, M2: POSTS, ghost: "SELECT 1;"}))
    s = settings_for(db, repo, tmp_path)
    result = run_check(s, s.environment("prod"), schema=False)
    assert result.to_json()["history"]["missing_locally_details"] == [{"name": ghost, "refs": [], "found": False}]
    assert "not found anywhere" in [f for f in result.findings if f.case == "history"][0].detail


def test_vanished_ref_is_a_clear_error(db, repo, tmp_path):
    deploy(db, write_migrations(tmp_path / "deployed", {M1: INIT}))
    s = settings_for(db, repo, tmp_path, ref="hotfix")
    assert run_check(s, s.environment("prod"), schema=False).state == "pending"
    git(repo, "branch", "-D", "hotfix")
    result = run_check(s, s.environment("prod"), schema=False)
    assert result.state == "error" and result.exit_code == 2
    assert result.error == f"Git ref `hotfix` was not found in file://{repo}."


def test_unreachable_target_is_an_error_result_not_an_exception(tmp_path):
    folder = write_migrations(tmp_path / "m", {M1: INIT})
    s = Settings(environments={"prod": {"database_url": "postgresql://u:pw@127.0.0.1:1/x", "migrations": str(folder)}},
                 cache_dir=tmp_path / "c")
    result = run_check(s, s.environment("prod"))
    assert result.state == "error" and "Cannot connect" in result.error and "pw@" not in result.error
