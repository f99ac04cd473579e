"""Reading a Prisma 8 project without Node: its config, its migration hashes, its graph (pure)."""

from __future__ import annotations

import json

from driftbot.engine.config_ts import is_prisma8_config, read_prisma8_config
from driftbot.engine.prisma8.files import migration_hash, read_graph, source_only_names
from driftbot.engine.prisma8.model import EMPTY
from driftbot.engine.prisma8.verdict import find_path
from tests.prisma8_factory import ADOPT as ADOPT_DIR
from tests.prisma8_factory import FIXTURE

ADOPT = ADOPT_DIR / "prisma.config.ts"


def test_the_config_names_the_contract_relative_to_its_folder():
    config = FIXTURE / "prisma.config.ts"
    source = config.read_text()
    assert is_prisma8_config(source)
    read = read_prisma8_config(source, str(config))
    assert (read.contract, read.prisma7, read.output, read.migrations) == (
        str(FIXTURE / "src" / "prisma" / "contract.prisma"), False, None, None)


def test_a_prisma7_schema_as_the_contract():
    read = read_prisma8_config(ADOPT.read_text(), str(ADOPT))
    assert read.prisma7 and read.contract == str(ADOPT.parent / "prisma" / "schema.prisma")


def test_output_and_migrations_dir_are_read():
    source = ("import { definePrismaConfig } from '@prisma/cli-engine';\nimport { defineConfig } from '@prisma/orm-postgres/config';\n"
              "export default definePrismaConfig({ orm: defineConfig({ contract: './db/contract.prisma', output: './gen',"
              " migrations: { dir: './db/migrations' }, db: { connection: process.env['DATABASE_URL']! } }) });\n")
    read = read_prisma8_config(source, "/p/prisma.config.ts")
    assert (read.contract, read.output, read.migrations) == ("/p/db/contract.prisma", "/p/gen", "/p/db/migrations")
    assert not is_prisma8_config('import { defineConfig } from "prisma/config";\nexport default defineConfig({})')


def test_migration_hash_is_prismas():
    for folder in sorted((FIXTURE / "migrations" / "app").iterdir()):
        meta = json.loads((folder / "migration.json").read_text())
        assert migration_hash(meta, json.loads((folder / "ops.json").read_text())) == meta["migrationHash"]


def test_the_graph_and_its_path():
    graph = read_graph(FIXTURE / "migrations")
    assert [m.name for m in graph] == ["20261207T0304_init", "20261207T0305_enums", "20261207T0305_posts"]
    assert all(m.rehashed and not m.source_only for m in graph)
    assert [m.name for m in find_path(graph, EMPTY, graph[-1].destination)] == [m.name for m in graph]
    assert find_path(graph, graph[-1].destination, graph[0].destination) is None
    assert find_path(graph, graph[1].destination, graph[1].destination) == ()


def test_names_only_migration_ts_has():
    ops = (FIXTURE / "migrations" / "app" / "20261207T0305_posts" / "ops.json").read_text()
    source = (FIXTURE / "migrations" / "app" / "20261207T0305_posts" / "migration.ts").read_text()
    assert source_only_names(source, ops) == ()
    assert source_only_names(source.replace("col('title'", "col('headline'"), ops) == ("headline",)
