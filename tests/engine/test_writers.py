"""resolve --applied / --rolled-back and ADD VALUE, compared with the rows Prisma writes
(prisma-facts.md, "The `_prisma_migrations` table")."""

from __future__ import annotations

import threading
import uuid
from datetime import datetime, timezone

import psycopg
import pytest

from driftbot.engine import writers
from driftbot.engine.sources import read_folder
from driftbot.errors import Busy, InvalidName, Refused
from tests.factory import ENUM, INIT, POSTS, deploy, execute, rows, write_migrations

M1, M2, M3 = "20250101000000_init", "20250102000000_posts", "20250103000000_media"


@pytest.fixture
def folder(tmp_path):
    return write_migrations(tmp_path / "migrations", {M1: INIT, M2: POSTS, M3: ENUM})


@pytest.fixture
def failed_db(db, folder):
    """M2 failed (its table already exists), M3 never ran."""
    execute(db, 'CREATE TABLE "Post" (id int)')
    assert deploy(db, folder) is not None
    return db


def _assert_fresh_applied_row(row, checksum, name, before):
    uuid.UUID(row["id"], version=4)
    assert row["checksum"] == checksum
    assert row["migration_name"] == name
    assert row["logs"] == "" and row["rolled_back_at"] is None  # Prisma writes an empty string
    assert row["applied_steps_count"] == 0
    assert row["started_at"] == row["finished_at"]  # both now(), one transaction
    assert row["started_at"] >= before


def test_resolve_applied_on_failed_migration(failed_db, folder):
    before = datetime.now(timezone.utc).replace(microsecond=0)
    failed_before = rows(failed_db, M2)
    done = writers.resolve_applied(failed_db, read_folder(folder), M2)
    after = rows(failed_db, M2)
    assert len(after) == 2
    old, new = after
    # the failed row: rolled_back_at set, nothing else changed
    assert old["rolled_back_at"] is not None
    assert {k: v for k, v in old.items() if k != "rolled_back_at"} == {
        k: v for k, v in failed_before[0].items() if k != "rolled_back_at"
    }
    _assert_fresh_applied_row(new, read_folder(folder).by_name()[M2].checksum, M2, before)
    assert done.statements[0].startswith("UPDATE") and done.statements[1].startswith("INSERT")


def test_resolve_applied_on_migration_without_row(failed_db, folder):
    before = datetime.now(timezone.utc).replace(microsecond=0)
    writers.resolve_applied(failed_db, read_folder(folder), M3)
    (row,) = rows(failed_db, M3)
    _assert_fresh_applied_row(row, read_folder(folder).by_name()[M3].checksum, M3, before)


def test_resolve_applied_creates_the_table_for_a_baseline(db, folder):
    writers.resolve_applied(db, read_folder(folder), M1)
    assert [r["migration_name"] for r in rows(db)] == [M1]


def test_resolve_applied_refuses_an_applied_migration_and_twice(failed_db, folder):
    with pytest.raises(Refused, match="P3008"):
        writers.resolve_applied(failed_db, read_folder(folder), M1)
    writers.resolve_applied(failed_db, read_folder(folder), M2)
    snapshot = rows(failed_db)
    with pytest.raises(Refused, match="P3008"):
        writers.resolve_applied(failed_db, read_folder(folder), M2)
    assert rows(failed_db) == snapshot


def test_resolve_applied_refuses_a_migration_not_in_the_folder(failed_db, folder):
    snapshot = rows(failed_db)
    with pytest.raises(Refused, match="P3017"):
        writers.resolve_applied(failed_db, read_folder(folder), "20990101000000_nope")
    assert rows(failed_db) == snapshot


def test_resolve_rolled_back_sets_only_rolled_back_at(failed_db):
    (before,) = rows(failed_db, M2)
    writers.resolve_rolled_back(failed_db, M2)
    (after,) = rows(failed_db, M2)
    assert after["rolled_back_at"] is not None
    assert {k: v for k, v in after.items() if k != "rolled_back_at"} == {k: v for k, v in before.items() if k != "rolled_back_at"}


def test_resolve_rolled_back_refusals(failed_db):
    with pytest.raises(Refused, match="P3012"):  # applied, not failed
        writers.resolve_rolled_back(failed_db, M1)
    with pytest.raises(Refused, match="P3011"):  # never ran
        writers.resolve_rolled_back(failed_db, M3)


def test_a_second_resolve_rolled_back_succeeds_and_changes_nothing(failed_db):
    """As Prisma 6.19.3 and 7.10.1 do: "marked as rolled back", exit 0, no row changed."""
    writers.resolve_rolled_back(failed_db, M2)
    snapshot = rows(failed_db)
    again = writers.resolve_rolled_back(failed_db, M2)
    assert again.statements == () and "marked as rolled back" in again.message
    assert rows(failed_db) == snapshot


def test_deploy_after_rolled_back_applies_again(failed_db, folder):
    execute(failed_db, 'DROP TABLE "Post"')
    writers.resolve_rolled_back(failed_db, M2)
    assert deploy(failed_db, folder) is None
    assert [r["finished_at"] is not None for r in rows(failed_db, M2)] == [False, True]


@pytest.mark.parametrize("bad", ["../etc", "a/b", "..", "x\\y", "", "a" * 256, "bad\nname"])
def test_hostile_migration_names_are_refused(failed_db, folder, bad):
    snapshot = rows(failed_db)
    with pytest.raises(InvalidName):
        writers.resolve_applied(failed_db, read_folder(folder), bad)
    with pytest.raises(InvalidName):
        writers.resolve_rolled_back(failed_db, bad)
    assert rows(failed_db) == snapshot


def test_a_held_migration_lock_refuses_instead_of_waiting(failed_db, folder):
    with psycopg.connect(failed_db) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (writers.PRISMA_ADVISORY_LOCK,))
        snapshot = rows(failed_db)
        with pytest.raises(Busy):
            writers.resolve_applied(failed_db, read_folder(folder), M2)
        assert rows(failed_db) == snapshot


def test_two_writers_racing_apply_once(failed_db, folder):
    migrations = read_folder(folder)
    outcomes: list[str] = []

    def attempt():
        try:
            writers.resolve_applied(failed_db, migrations, M2)
            outcomes.append("ran")
        except (Refused, Busy) as exc:
            outcomes.append(type(exc).__name__)

    threads = [threading.Thread(target=attempt) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("ran") == 1
    assert sum(1 for r in rows(failed_db, M2) if r["finished_at"] is not None) == 1


@pytest.mark.parametrize(
    "enum, value",
    [("MediaKind", "VIDEO"), ("MediaKind", "it's"), ("MediaKind", "with space"), ("MediaKind", "vidéo 🎬"),
     ('Quo"ted', "x'); DROP TABLE \"User\"; --"), ("Média", "back\\slash")],
)
def test_add_enum_value_with_awkward_names(db, enum, value):
    execute(db, f'CREATE TABLE "User" (id int)')
    quoted = '"' + enum.replace('"', '""') + '"'
    execute(db, f"CREATE TYPE {quoted} AS ENUM ('IMAGE')")
    done = writers.add_enum_value(db, enum, value)
    with psycopg.connect(db) as conn:
        labels = [r[0] for r in conn.execute(
            "SELECT e.enumlabel FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid WHERE t.typname = %s ORDER BY e.enumsortorder",
            (enum,),
        )]
        assert labels == ["IMAGE", value]
        assert conn.execute("SELECT to_regclass('\"User\"')").fetchone()[0] is not None
    assert "ADD VALUE IF NOT EXISTS" in done.statements[0]
    with pytest.raises(Refused, match="already has"):
        writers.add_enum_value(db, enum, value)


def test_render_add_enum_value_round_trips_through_postgres(db):
    execute(db, 'CREATE TYPE "Média" AS ENUM (\'A\')')
    statement = writers.render_add_enum_value("Média", "it's a \\ value")
    execute(db, statement)
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT enum_range(NULL::\"Média\")::text[]").fetchone()[0] == ["A", "it's a \\ value"]


def test_add_enum_value_refuses_unknown_enum_and_bad_names(db):
    execute(db, 'CREATE TABLE "User" (id int)')
    with pytest.raises(Refused, match="no enum"):
        writers.add_enum_value(db, "Nope", "X")
    with pytest.raises(Refused) as err:  # a quote in the name is quoted, never pasted: just no such enum
        writers.add_enum_value(db, 'Media"; DROP TABLE "User"; --', "X")
    assert "\n" not in str(err.value) and "nothing was changed" in str(err.value)
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT to_regclass('\"User\"')").fetchone()[0] is not None
    with pytest.raises(InvalidName):
        writers.add_enum_value(db, "E" * 64, "X")
    with pytest.raises(InvalidName):
        writers.add_enum_value(db, "E", "")


LOOK_ALIKES = [
    ("VIDЕO", "mixes scripts: U+0415 CYRILLIC CAPITAL LETTER IE at position 4 among Latin letters"),
    ("VID\x1bO", "a control character, U+001B ESC, at position 4"),
    ("VI\x07DEO", "a control character, U+0007 BEL, at position 3"),
    ("VID\u200bEO", "an invisible format character (zero-width or bidi), U+200B ZERO WIDTH SPACE, at position 4"),
    ("VIDEO\u202e", "U+202E RIGHT-TO-LEFT OVERRIDE, at position 6"),
    ("VIDEO\u00a0", "U+00A0 NO-BREAK SPACE, at position 6"),
]


@pytest.mark.parametrize("value, says", LOOK_ALIKES)
def test_look_alike_and_invisible_enum_values_are_refused_naming_the_character(db, value, says):
    """#14 case 6: such values were added to the production enum, and showed as a plain `VIDEO`."""
    from driftbot.requests.plans import make_plan

    execute(db, "CREATE TYPE \"MediaKind\" AS ENUM ('IMAGE')")
    for attempt in (lambda: writers.add_enum_value(db, "MediaKind", value),        # the writer itself
                    lambda: make_plan("prod", "add_enum_value", {"enum": "MediaKind", "value": value}, "f"),  # a button
                    lambda: writers.check_enum_value(value)):                      # a typed command
        with pytest.raises(InvalidName) as err:
            attempt()
        assert says in str(err.value) and "\n" not in str(err.value) and "nothing was changed" in str(err.value)
        assert "\x1b" not in str(err.value) and "\x07" not in str(err.value) and "\u200b" not in str(err.value)
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT enum_range(NULL::\"MediaKind\")::text[]").fetchone()[0] == ["IMAGE"]


@pytest.mark.parametrize("bad", ["20250102000000_posts\u200b", "20250102000000_pоsts", "2025\x1b_x"])
def test_look_alike_migration_names_are_refused(failed_db, folder, bad):
    snapshot = rows(failed_db)
    for attempt in (lambda: writers.resolve_applied(failed_db, read_folder(folder), bad),
                    lambda: writers.resolve_rolled_back(failed_db, bad)):
        with pytest.raises(InvalidName, match="U\\+"):
            attempt()
    assert rows(failed_db) == snapshot


@pytest.mark.parametrize("fine", ["写真_フォト", "vidéo 🎬", "In Progress", "ΑΒΓ"])
def test_one_script_values_are_accepted(fine):
    assert writers.check_enum_value(fine) == fine
