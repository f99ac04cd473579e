"""The pure half of compare: two histories' rows -> the gap, and the result's one-line headline."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from driftbot.engine.comparison import Comparison, HistoryGap, SchemaDifference, history_gap
from driftbot.engine.history import MigrationRow

T0 = datetime(2025, 1, 1, tzinfo=timezone.utc)


def row(name: str, minute: int, checksum: str = "c", finished: bool = True, rolled_back: bool = False) -> MigrationRow:
    at = T0 + timedelta(minutes=minute)
    return MigrationRow(f"{name}-{minute}", checksum, at if finished else None, name, None,
                        at if rolled_back else None, at, 1 if finished else 0)


def test_a_migration_failed_then_rolled_back_and_applied_again_counts_as_applied():
    retried = (row("a", 0), row("b", 1, finished=False, rolled_back=True), row("b", 2))
    gap = history_gap(retried, (row("a", 0), row("b", 5)))
    assert gap.equal and gap.from_applied == gap.to_applied == 2


def test_the_latest_applied_checksum_is_compared():
    gap = history_gap((row("a", 0, "old"), row("a", 3, "new")), (row("a", 0, "new"),))
    assert gap.checksum_differs == () and gap.equal
    gap = history_gap((row("a", 0, "old"),), (row("a", 0, "new"),))
    assert [(c.migration, c.from_checksum, c.to_checksum) for c in gap.checksum_differs] == [("a", "old", "new")]
    assert not gap.same_applied


def test_a_database_without_the_table_against_an_empty_history_differs_in_one_line():
    gap = history_gap(None, ())
    assert not gap.equal and gap.migrations == () and gap.same_applied
    result = Comparison("staging", "prod", gap, SchemaDifference())
    assert (result.state, result.exit_code) == ("different", 1)
    assert result.headline == "staging and prod differ: only prod has a `_prisma_migrations` table."


def test_failed_only_on_one_side_is_in_the_gap_but_builds_the_same_schema():
    gap = history_gap((row("a", 0),), (row("a", 0), row("b", 1, finished=False)))
    assert gap.failed_only_in_to == ("b",) and gap.same_applied and not gap.equal
    assert Comparison("staging", "prod", gap, SchemaDifference()).headline == "staging and prod differ by 1 migration."
    assert HistoryGap(True, True, 0, 0).to_json()["migrations"] == []


def test_the_gap_is_described_one_line_per_kind_naming_the_environments():
    gap = history_gap((row("a", 0, "x"), row("b", 1), row("c", 2, finished=False, rolled_back=True)),
                      (row("a", 0, "y"), row("d", 3), row("e", 4, finished=False)))
    assert gap.describe("staging", "prod") == (
        "applied in staging only: b", "applied in prod only: d", "failed in prod only: e",
        "rolled back in staging only: c",
        "applied with different checksums (edited after it was applied in one of them): a")
