"""driftbot's warnings header against the one ``prisma migrate dev --create-only`` writes (6.19.3 and
7.10.1, each run on a pseudo-terminal: it refuses to write a migration with warnings without one).

Prisma writes its warnings as a comment block at the top of a new migration file, in its own
words, one line per step that can lose data or fail on existing rows. The real CLI writes a
migration from one schema.prisma to another; driftbot replays both migrations, diffs the two
schemas and renders its header; the lines must be Prisma's, in Prisma's order.
"""

from __future__ import annotations

import psycopg
import pytest

from driftbot.engine import diff as d
from driftbot.engine.inspect import introspect
from driftbot.engine.render import render_migration, render_sql
from driftbot.engine.render.warnings import prisma_warnings
from tests.conformance.prisma_cli import run_in_terminal

pytestmark = pytest.mark.conformance

BEFORE = """
enum Kind {
  A
  B
  C
}

model User {
  id    Int     @id @default(autoincrement())
  email String
  bio   String?
  name  String?
  big   BigInt?
  label String?
  wide  Int?
  kind  Kind    @default(A)
}

model Post {
  id Int @id @default(autoincrement())
}

model Tag {
  a Int
  b Int

  @@id([a])
}
"""

# Every kind of warning Prisma writes for PostgreSQL that a drift check can meet: enum values
# removed, a dropped column, a primary key changed, column types changed (risky casts; a safe
# one, Int to BigInt, gets none), a dropped table, a unique constraint on an existing table
# (none on a new one), a required column added without a default (none with a default, none on
# a new table), a column made required.
AFTER = """
enum Kind {
  A
  C
}

model User {
  id    Int     @id @default(autoincrement())
  email String  @unique
  name  String
  big   Int?
  label String? @db.VarChar(300)
  wide  BigInt?
  kind  Kind    @default(A)
  title String
  safe  Int     @default(0)
}

model Tag {
  a Int
  b Int

  @@id([a, b])
}

model Fresh {
  id    Int    @id @default(autoincrement())
  email String @unique
  need  String
}
"""


def _header_lines(script: str) -> tuple[str, ...]:
    assert script.startswith("/*\n  Warnings:\n\n"), script[:200]
    block = script[: script.index("*/")]
    return tuple(ln[4:] for ln in block.splitlines() if ln.startswith("  - "))


def _snapshot(url: str, scripts: list[str]):
    with psycopg.connect(url, autocommit=True) as conn:
        for script in scripts:
            conn.execute(script.encode())
        return introspect(conn, ("public",))


def _dev(s, *args: str) -> tuple[str, ...]:
    """``migrate dev ARGS`` with the flags of the scenario's Prisma (7 has no --skip-generate/--skip-seed)."""
    return ("migrate", "dev", *args) + (("--skip-generate", "--skip-seed") if s.prisma.major == 6 else ())


def test_the_header_has_prisma_s_words_for_every_kind_of_warning(make_scenario, databases):
    s = make_scenario(models=BEFORE)
    init = s.prisma.run(*_dev(s, "--name", "init"))
    assert init.code == 0, init.output
    s.prisma.write_models(AFTER)
    made = run_in_terminal(s.prisma, *_dev(s, "--create-only", "--name", "second"))
    files = sorted(s.prisma.migrations.glob("*/migration.sql"))
    assert len(files) == 2 and files[1].parent.name.endswith("_second"), made.output[-2000:]
    first, second = files[0].read_text(), files[1].read_text()
    prisma = _header_lines(second)
    assert len(prisma) == 9, prisma  # one line per kind above, and a cast for each of two columns

    ops = d.diff(_snapshot(databases.create("warn_a"), [first]), _snapshot(databases.create("warn_b"), [first, second]))
    assert prisma_warnings(ops) == prisma
    ours = render_migration(ops)
    assert _header_lines(ours)[: len(prisma)] == prisma
    assert ours.endswith(render_sql(ops)) and "Warning" not in render_sql(ops)


def test_no_header_when_nothing_can_lose_data(make_scenario, databases):
    s = make_scenario(models=BEFORE)
    assert s.prisma.run(*_dev(s, "--name", "init")).code == 0
    s.prisma.write_models(BEFORE.replace("  kind  Kind    @default(A)\n", "  kind  Kind    @default(A)\n  note  String?\n"))
    made = run_in_terminal(s.prisma, *_dev(s, "--create-only", "--name", "second"))
    files = sorted(s.prisma.migrations.glob("*/migration.sql"))
    assert len(files) == 2, made.output[-2000:]
    assert not files[1].read_text().startswith("/*")
    ops = d.diff(_snapshot(databases.create("warn_a"), [files[0].read_text()]),
                 _snapshot(databases.create("warn_b"), [files[0].read_text(), files[1].read_text()]))
    assert prisma_warnings(ops) == () and not render_migration(ops).startswith("/*")
