"""What "Prisma would say" follows the Prisma version a project runs (pure: rows as Prisma writes them)."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

import pytest

from driftbot.engine import history, versions
from driftbot.engine.history import MigrationRow
from driftbot.engine.result import CheckResult, SchemaReport
from driftbot.engine.sources import LocalMigration
from driftbot.engine.versions import PrismaVersion

A, BAD, C = "20250101000000_init", "20250102120000_broken", "20250103000000_comments"
T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)


def local(*names: str) -> tuple[LocalMigration, ...]:
    return tuple(LocalMigration(n, f"-- {n}\n", f"sum-{n}") for n in names)


def row(name: str, minute: int, *, finished: bool = True, rolled_back: bool = False) -> MigrationRow:
    at = T0 + timedelta(minutes=minute)
    return MigrationRow(f"id-{name}-{minute}", f"sum-{name}", at if finished else None, name,
                        None if finished else "error", at if rolled_back else None, at, int(finished))


def rolled_back_history(version: str | None) -> history.HistoryVerdict:
    """A deployed, a failed migration resolved with `--rolled-back` (rows as Prisma writes them)."""
    v = history.classify(local(A, BAD), [row(A, 0), row(BAD, 1, finished=False, rolled_back=True)])
    return dataclasses.replace(v, prisma_version=PrismaVersion(version, "setting" if version else "unknown"))


@pytest.mark.parametrize("version, code", [("6.19.3", 0), ("7.8.0", 0), ("7.9.0", 1), ("7.9.1", 1), ("7.10.1", 1)])
def test_rolled_back_migration_is_up_to_date_before_7_9_and_not_yet_applied_from_it(version, code):
    v = rolled_back_history(version)
    says = v.prisma_status()
    assert says[0] == code
    if code == 0:
        assert says[1] == "Database schema is up to date!"
        assert any("rolled back and is pending again" in n for n in v.prisma_blind_spots)
    else:
        assert says[1] == f"Following migration have not yet been applied: {BAD}"
        assert not any("rolled back" in n for n in v.prisma_blind_spots)  # Prisma itself says it now
    assert v.rolled_back_pending == (BAD,)  # driftbot's own verdict does not depend on the version


def test_unknown_version_says_so_and_gives_both_answers():
    v = rolled_back_history(None)
    code, says = v.prisma_status()
    assert code == 1 and "unknown" in says and "Database schema is up to date!" in says and "not yet been applied" in says
    assert v.prisma_answers() == (("< 7.9.0", 0, "Database schema is up to date!"),
                                  (">= 7.9.0", 1, f"Following migration have not yet been applied: {BAD}"))
    assert any("Prisma before 7.9.0" in n for n in v.prisma_blind_spots)


def test_a_rolled_back_row_whose_file_is_gone_diverges_only_before_7_9():
    rows = [row(A, 0), row(BAD, 1, finished=False, rolled_back=True)]
    v = history.classify(local(A, C), rows)
    old = dataclasses.replace(v, prisma_version=PrismaVersion("7.8.0", "setting")).prisma_status()
    new = dataclasses.replace(v, prisma_version=PrismaVersion("7.9.1", "setting")).prisma_status()
    assert old[0] == 1 and old[1].startswith("Your local migration history and the migrations table")
    assert new == (1, f"Following migration have not yet been applied: {C}")


def test_versions_agree_elsewhere():
    v = history.classify(local(A, C), [row(A, 0)])
    assert len(v.prisma_answers()) == 1 and v.prisma_status() == (1, f"Following migration have not yet been applied: {C}")


def test_status_json_carries_the_version_and_its_source():
    v = rolled_back_history("7.9.1")
    body = CheckResult("prod", "pending", v, SchemaReport(checked=False, reason="x"), prisma_version=v.prisma_version).to_json()
    assert (body["history"]["prisma_version"], body["history"]["prisma_version_source"]) == ("7.9.1", "setting")
    assert body["history"]["prisma_status"]["exit_code"] == 1
    unknown = CheckResult("prod", "error", None, SchemaReport(checked=False, reason="x"), error="x").to_json()
    assert (unknown["history"]["prisma_version"], unknown["history"]["prisma_version_source"]) == (None, "unknown")


@pytest.mark.parametrize("spec, lowest", [
    ("^7.8.0", "7.8.0"), ("~6.19.0", "6.19.0"), (">=7.0.0 <8", "7.0.0"), ("7.x", "7.0.0"), ("6.19.3", "6.19.3"),
    ("^6.19.0 || ^7.0.0", "6.19.0"), ("npm:prisma@^7.9.0", "7.9.0"), ("latest", None), ("*", None),
    ("workspace:*", None), ("catalog:", None),
])
def test_lowest_version_of_a_range(spec, lowest):
    assert versions.lowest_of_range(spec) == lowest


def test_prereleases_count_as_their_release():
    assert versions.parse("8.0.0-rc.2") == (8, 0, 0) and versions.is_version("8.0.0-rc.2") and not versions.is_version("^8")
