"""schema.prisma: enums with @map/@@map/@@schema and the datasource's schemas; files and folders."""

from __future__ import annotations

import pytest

from driftbot.engine.prisma_schema import PrismaEnum, load, parse
from driftbot.errors import ConfigError

SCHEMA = '''
datasource db {
  provider = "postgresql"
  url      = env("DATABASE_URL")
  schemas  = ["public", "billing"]
}

/// Kinds of media. enum Fake { NO }
enum MediaKind {
  IMAGE
  AUDIO  @map("audio") // mapped
  VIDEO
  /* a block comment { } */
}

enum Plan {
  FREE
  PRO @map(name: "pro_plan")

  @@map("plan_kind")
  @@schema("billing")
}

model User {
  id   Int       @id
  kind MediaKind @default(IMAGE)
}
'''


def test_enums_with_maps_and_schemas():
    s = parse(SCHEMA)
    assert s.schemas == ("public", "billing")
    assert s.enums == (
        PrismaEnum("MediaKind", "MediaKind", ("IMAGE", "audio", "VIDEO")),
        PrismaEnum("Plan", "plan_kind", ("FREE", "pro_plan"), "billing"),
    )


def test_schema_folder_reads_every_prisma_file(tmp_path):
    folder = tmp_path / "schema"
    (folder / "models").mkdir(parents=True)
    (folder / "schema.prisma").write_text('datasource db {\n  provider = "postgresql"\n  url = env("X")\n}\n')
    (folder / "models" / "enums.prisma").write_text("enum Role {\n  USER\n  ADMIN\n}\n")
    assert load(folder).enums == (PrismaEnum("Role", "Role", ("USER", "ADMIN")),)


def test_missing_schema_is_a_clear_config_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load(tmp_path / "nope.prisma")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no \\*.prisma files"):
        load(tmp_path / "empty")
