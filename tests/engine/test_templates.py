"""Replay templates: after a migration is added or edited, only what follows the kept prefix is replayed."""

from __future__ import annotations

import uuid

import psycopg

from bot.engine import shadow, templates
from bot.engine.sources import read_folder
from tests.factory import write_migrations


# Templates live on the shared server, keyed by content: names unique to this run keep another
# run's templates (an earlier one, or CI on the same machine at the same time) out of these tests.
RUN = uuid.uuid4().hex[:6]


def history(tmp_path, n, edit_at=None, tag="h"):
    tag = f"{tag}{RUN}"
    scripts = {}
    for i in range(n):
        body = f'CREATE TABLE "{tag}_t{i}" ("id" SERIAL NOT NULL, "v{i}" TEXT, CONSTRAINT "{tag}_t{i}_pkey" PRIMARY KEY ("id"));\n'
        if edit_at == i:
            body += f'ALTER TABLE "{tag}_t{i}" ADD COLUMN "edited" INTEGER;\n'
        scripts[f"2025010100{i:04d}_m{i}"] = body
    return read_folder(write_migrations(tmp_path / f"m{n}_{edit_at}", scripts)).items


def test_an_added_migration_replays_only_itself_and_equals_a_full_replay(pg_url, tmp_path):
    first = shadow.replay(pg_url, history(tmp_path, 5), ("public",))
    assert first.snapshot is not None and first.reused == 0
    grown = shadow.replay(pg_url, history(tmp_path, 6), ("public",))
    assert grown.reused == 5
    full = shadow.replay(pg_url, history(tmp_path, 6), ("public",), keep_template=False)
    assert full.reused == 0 and grown.snapshot == full.snapshot


def test_an_edited_migration_invalidates_exactly_the_prefixes_that_hold_it(pg_url, tmp_path):
    shadow.replay(pg_url, history(tmp_path, 4, tag="e"), ("public",))  # kept: prefix 0..3
    assert shadow.replay(pg_url, history(tmp_path, 6, tag="e"), ("public",)).reused == 4  # kept: 0..5
    edited = shadow.replay(pg_url, history(tmp_path, 6, edit_at=4, tag="e"), ("public",))
    assert edited.reused == 4  # the 0..5 template holds the old migration 4; the 0..3 one is still exact
    table = edited.snapshot.table("public", f"e{RUN}_t4")
    assert table is not None and table.column("edited") is not None


def test_templates_are_pruned_to_the_newest_few(pg_url, tmp_path):
    for n in range(1, templates.KEEP + 4):
        shadow.replay(pg_url, history(tmp_path, 1, tag=f"p{n}"), ("public",))
    with psycopg.connect(pg_url) as conn:
        kept = conn.execute("SELECT count(*) FROM pg_database WHERE datname LIKE 'driftbot\\_tpl\\_%'").fetchone()[0]
    assert kept <= templates.KEEP


def test_a_failed_replay_keeps_nothing(pg_url, tmp_path):
    migrations = read_folder(write_migrations(tmp_path / "bad", {"20250101000000_bad": "CREATE TABLE oops (;"})).items
    digest = templates.chain(migrations, "public")[-1][:24]
    result = shadow.replay(pg_url, migrations, ("public",))
    assert result.error is not None
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM pg_database WHERE datname LIKE %s",
                            (f"driftbot\\_tpl\\_{digest}%",)).fetchone()[0] == 0
