"""Migrations sources: a local folder and a real git repository (file://)."""

from __future__ import annotations

import hashlib

import pytest

from driftbot.engine.sources import GitSource, read_folder
from driftbot.errors import MigrationsSourceError
from tests.factory import INIT, POSTS, committed_migrations, git, write_migrations


def test_folder_sorted_by_byte_order_and_stray_files_ignored(tmp_path):
    root = write_migrations(tmp_path / "m", {"20250102_b": POSTS, "20250101_a": INIT, "20240126184148_new_models copy": "SELECT 1;"})
    (root / "README.md").write_text("stray file")
    m = read_folder(root)
    assert m.names == ("20240126184148_new_models copy", "20250101_a", "20250102_b")
    assert m.provider == "postgresql"
    assert m.by_name()["20250101_a"].checksum == hashlib.sha256(INIT.encode()).hexdigest()


def test_checksum_is_of_the_bytes_as_stored(tmp_path):
    crlf = INIT.replace("\n", "\r\n").encode()
    m = read_folder(write_migrations(tmp_path / "m", {"1_a": crlf}))
    assert m.items[0].checksum == hashlib.sha256(crlf).hexdigest()


def test_other_provider_is_refused(tmp_path):
    with pytest.raises(MigrationsSourceError, match="PostgreSQL only"):
        read_folder(write_migrations(tmp_path / "m", {"1_a": INIT}, provider="mysql"))


def test_missing_folder_and_non_utf8_file(tmp_path):
    with pytest.raises(MigrationsSourceError, match="does not exist"):
        read_folder(tmp_path / "nope")
    with pytest.raises(MigrationsSourceError, match="not UTF-8"):
        read_folder(write_migrations(tmp_path / "m", {"1_a": b"SELECT '\xff';"}))


def test_folder_without_script_is_an_error(tmp_path):
    root = write_migrations(tmp_path / "m", {"1_a": INIT})
    (root / "2_empty").mkdir()
    with pytest.raises(MigrationsSourceError, match="has no migration.sql"):
        read_folder(root)


@pytest.fixture
def repo(tmp_path):
    return committed_migrations(tmp_path / "work", {"20250101_a": INIT})


def test_git_source_reads_a_ref_and_follows_new_commits(repo, tmp_path):
    source = GitSource(f"file://{repo}", "main", "prisma/migrations", tmp_path / "cache")
    first = source.read()
    assert first.names == ("20250101_a",) and first.revision
    write_migrations(repo / "prisma" / "migrations", {"20250102_b": POSTS})
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "posts")
    second = source.read()
    assert second.names == ("20250101_a", "20250102_b") and second.revision != first.revision
    assert second.by_name()["20250102_b"].checksum == hashlib.sha256(POSTS.encode()).hexdigest()


def test_git_source_finds_a_migration_on_another_branch(repo, tmp_path):
    git(repo, "checkout", "-qb", "hotfix")
    write_migrations(repo / "prisma" / "migrations", {"20250103_hotfix": "SELECT 1;"})
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "hotfix")
    git(repo, "checkout", "-q", "main")
    source = GitSource(f"file://{repo}", "main", "prisma/migrations", tmp_path / "cache")
    assert "20250103_hotfix" not in source.read().names
    assert source.refs_containing("20250103_hotfix") == ["hotfix"]
    assert source.refs_containing("20990101_nowhere") == []


def test_git_source_errors(repo, tmp_path):
    with pytest.raises(MigrationsSourceError, match="was not found"):
        GitSource(f"file://{repo}", "no-such-branch", "prisma/migrations", tmp_path / "c").read()
    with pytest.raises(MigrationsSourceError, match="not a valid ref"):
        GitSource(f"file://{repo}", "--upload-pack=evil", "prisma/migrations", tmp_path / "c")
    with pytest.raises(MigrationsSourceError, match="git fetch of file:.* failed: .*does not appear to be a git repository"):
        GitSource(f"file://{tmp_path}/missing", "main", "prisma/migrations", tmp_path / "c").read()
    with pytest.raises(MigrationsSourceError, match="No migrations"):
        GitSource(f"file://{repo}", "main", "elsewhere", tmp_path / "c").read()
