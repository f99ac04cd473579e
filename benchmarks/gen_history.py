"""A seeded generator of realistic Prisma migration histories (PostgreSQL).

    from benchmarks.gen_history import generate, project, write, write_schema
    scripts = generate(700, seed=1)          # {folder name: migration.sql}, ~300 tables
    write("prisma/migrations", scripts)      # the folder Prisma (and driftbot) read
    scripts, files = project(700, seed=1)    # the same history and its schema.prisma folder
    write_schema("prisma/schema", files)

The histories use what real ones contain (prisma-facts.md): Prisma's own SQL
layout, enums with ADD VALUE and RENAME VALUE, foreign keys, unique and
composite indexes, a lone CREATE INDEX CONCURRENTLY, explicit BEGIN/COMMIT,
DO blocks, functions and triggers, the five extensions real histories use
(and a trigram index and citext columns once they exist), a second
PostgreSQL schema (``billing``, with its own enum and a foreign key into
``public``), a folder name with a space, and identifiers longer than 63
bytes; ``project`` adds schema.prisma split across several files (the
``prismaSchemaFolder`` layout) with every enum as the history leaves it.
Every history replays cleanly on an empty PostgreSQL 15 database, each file
sent whole as one script. Pass ``extensions=`` to use fewer extensions: a
server built without OpenSSL or libuuid (the embedded wheel) has no pgcrypto
or uuid-ossp.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path

EXTENSIONS = ("pgcrypto", "citext", "pg_trgm", "btree_gist", "uuid-ossp")  # all in PostgreSQL's contrib
SECOND_SCHEMA = "billing"
_EXTENSION_AT = (3, 7, 11, 13)  # the migrations that add the second, third, ... extension
_WORDS = ("user", "account", "order", "invoice", "case", "media", "vendor", "staff", "ticket", "note", "tag",
          "project", "task", "comment", "event", "payment", "address", "team", "role", "session", "report",
          "asset", "device", "region", "plan", "price", "coupon", "review", "message", "channel")
_TYPES = ("TEXT", "INTEGER", "BOOLEAN", "TIMESTAMP(3)", "DOUBLE PRECISION", "JSONB", "BIGINT", "DECIMAL(65,30)",
          "VARCHAR(255)", "UUID")
_DEFAULTS = {"TEXT": "''", "INTEGER": "0", "BOOLEAN": "false", "TIMESTAMP(3)": "CURRENT_TIMESTAMP",
             "DOUBLE PRECISION": "0", "BIGINT": "0", "JSONB": "'{}'", "DECIMAL(65,30)": "0", "VARCHAR(255)": "''",
             "UUID": "gen_random_uuid()"}


def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def qn(key: tuple[str, str]) -> str:
    """A (schema, name) as SQL: unqualified in public, as Prisma writes it."""
    schema, name = key
    return q(name) if schema == "public" else f"{q(schema)}.{q(name)}"



# What one step of a generated migration does: the first whose bound the draw is below.
MIX = ((0.2, "create_table"), (0.62, "add_column"), (0.70, "unique_index"), (0.74, "create_enum"),
       (0.82, "add_value"), (0.84, "rename_value"), (0.88, "do_block"), (0.92, "function_trigger"),
       (0.95, "nullability"), (float("inf"), "long_identifier_table"))
# With ``reshape=True``: later migrations also drop, rename and retype what earlier ones made.
RESHAPE_MIX = ((0.17, "create_table"), (0.50, "add_column"), (0.56, "unique_index"), (0.59, "create_enum"),
               (0.64, "add_value"), (0.66, "rename_value"), (0.69, "do_block"), (0.72, "function_trigger"),
               (0.75, "nullability"), (0.77, "long_identifier_table"), (0.85, "drop_column"),
               (0.90, "rename_column"), (0.95, "retype_column"), (0.97, "rename_table"), (float("inf"), "drop_table"))

class _History:
    def __init__(self, seed: int, extensions: tuple[str, ...] = EXTENSIONS, reshape: bool = False) -> None:
        self.r = random.Random(seed)
        self.mix = RESHAPE_MIX if reshape else MIX
        self.tables: dict[str, list[str]] = {}  # table -> columns
        self.keys: set[tuple[str, str]] = set()  # (table, column) a foreign key uses: never retyped
        self.enums: dict[tuple[str, str], list[str]] = {}  # (schema, name) -> values
        self.wanted = tuple(extensions)
        self.extensions: list[str] = []
        self.n = 0

    def name(self, kind: str) -> str:
        self.n += 1
        return f"{self.r.choice(_WORDS).capitalize()}{kind}{self.n}"

    # --- statements, in Prisma's layout ----------------------------------------------
    def create_enum(self) -> str:
        key = ("public", self.name("Kind"))
        values = [f"V{i}" for i in range(self.r.randint(2, 5))]
        self.enums[key] = values
        return f"-- CreateEnum\nCREATE TYPE {qn(key)} AS ENUM ({', '.join(repr(v) for v in values)});"

    def create_table(self) -> str:
        name = self.name("")
        cols = ['    "id" SERIAL NOT NULL']
        names = ["id"]
        fk = index = ""
        for _ in range(self.r.randint(1, 6)):
            col = f"{self.r.choice(_WORDS)}{self.r.choice(['', 'Id', 'At', 'Name', 'Count'])}{len(names)}"
            if self.enums and self.r.random() < 0.15:
                enum = self.r.choice(sorted(self.enums))
                cols.append(f'    {q(col)} {qn(enum)} NOT NULL DEFAULT {self.enums[enum][0]!r}')
            else:
                typ = self.r.choice(_TYPES)
                null = self.r.random() < 0.5
                default = f" DEFAULT {_DEFAULTS[typ]}" if not null and self.r.random() < 0.4 else ""
                cols.append(f"    {q(col)} {typ}{'' if null else ' NOT NULL'}{default}")
            names.append(col)
        if self.tables and self.r.random() < 0.5:
            parent = self.r.choice(sorted(self.tables))
            col = f"{parent[0].lower()}{parent[1:24]}Id"
            cols.append(f"    {q(col)} INTEGER")
            names.append(col)
            self.keys.add((name, col))
            fk = (f"\n\n-- AddForeignKey\nALTER TABLE {q(name)} ADD CONSTRAINT {q(name + '_' + col + '_fkey')} FOREIGN KEY ({q(col)}) "
                  f"REFERENCES {q(parent)}(\"id\") ON DELETE {self.r.choice(['RESTRICT', 'CASCADE', 'SET NULL'])} ON UPDATE CASCADE;")
            index = f"\n\n-- CreateIndex\nCREATE INDEX {q(name + '_' + col + '_idx')} ON {q(name)}({q(col)});"
        self.tables[name] = names
        body = ",\n".join(cols)
        return f"-- CreateTable\nCREATE TABLE {q(name)} (\n{body},\n\n    CONSTRAINT {q(name + '_pkey')} PRIMARY KEY (\"id\")\n);{index}{fk}"

    def add_column(self) -> str:
        table = self.r.choice(sorted(self.tables))
        col = f"{self.r.choice(_WORDS)}Extra{self.n}"
        self.n += 1
        self.tables[table].append(col)
        typ = self.r.choice(_TYPES)
        if typ == "TEXT" and "citext" in self.extensions and self.r.random() < 0.3:
            typ = "CITEXT"
        elif typ == "UUID" and "uuid-ossp" in self.extensions and self.r.random() < 0.5:
            typ = "UUID NOT NULL DEFAULT uuid_generate_v4()"
        return f"-- AlterTable\nALTER TABLE {q(table)} ADD COLUMN     {q(col)} {typ};"

    def unique_index(self) -> str:
        table = self.r.choice(sorted(self.tables))
        cols = self.r.sample(self.tables[table][1:] or ["id"], k=min(len(self.tables[table]) - 1 or 1, self.r.randint(1, 2)))
        self.n += 1
        if "pg_trgm" in self.extensions and self.r.random() < 0.1:  # a search column, as real histories add
            col = f"search{self.n}"
            self.tables[table].append(col)
            return (f"-- AlterTable\nALTER TABLE {q(table)} ADD COLUMN     {q(col)} TEXT;\n\n"
                    f"-- CreateIndex\nCREATE INDEX {q(f'{table[:24]}_{col}_trgm_idx')} ON {q(table)} USING GIN ({q(col)} gin_trgm_ops);")
        name = f"{table[:24]}_{'_'.join(c[:20] for c in cols)}_{self.n}_key"
        if self.r.random() < 0.2:  # PostgreSQL truncates it to 63 bytes, with a NOTICE, as real histories show
            name = f"u{self.n}_{table[:24]}_with_an_index_name_longer_than_sixty_three_bytes_key"
        return f"-- CreateIndex\nCREATE UNIQUE INDEX {q(name)} ON {q(table)}({', '.join(q(c) for c in cols)});"

    def long_identifier_table(self) -> str:
        name = f"t{self.n}_very_long_table_name_that_goes_on_and_on_past_the_postgres_limit_of_sixty_three_bytes"
        self.n += 1
        real = name.encode()[:63].decode()
        self.tables[real] = ["id"]
        return (f"-- CreateTable\nCREATE TABLE {q(name)} (\n    \"id\" SERIAL NOT NULL,\n\n"
                f"    CONSTRAINT {q(real[:50] + '_pkey')} PRIMARY KEY (\"id\")\n);")

    def concurrent_index(self) -> str:
        table = self.r.choice(sorted(self.tables))
        col = self.r.choice(self.tables[table])
        self.n += 1
        return f"-- CreateIndex\nCREATE INDEX CONCURRENTLY {q(f'{table[:24]}_{col[:20]}_c{self.n}_idx')} ON {q(table)}({q(col)});"

    def add_value(self) -> str:
        enum = self.r.choice(sorted(self.enums))
        value = f"V{len(self.enums[enum])}x{self.n}"
        self.n += 1
        self.enums[enum].append(value)
        return f"-- AlterEnum\nALTER TYPE {qn(enum)} ADD VALUE '{value}';"

    def rename_value(self) -> str:
        enum = self.r.choice(sorted(self.enums))
        i = self.r.randrange(len(self.enums[enum]))
        old, new = self.enums[enum][i], f"R{self.n}"
        self.n += 1
        self.enums[enum][i] = new
        return f"ALTER TYPE {qn(enum)} RENAME VALUE '{old}' TO '{new}';"

    def do_block(self) -> str:
        table = self.r.choice(sorted(self.tables))
        return ("DO $$\nBEGIN\n  IF NOT EXISTS (SELECT 1 FROM pg_class WHERE relname = 'nothing_here') THEN\n"
                f"    RAISE NOTICE 'checked %;', '{table}';\n  END IF;\nEND\n$$;")

    def function_trigger(self) -> str:
        table = self.r.choice(sorted(self.tables))
        fn = f"touch_{self.n}"
        self.n += 1
        return (f"CREATE OR REPLACE FUNCTION {fn}() RETURNS trigger AS $$\nBEGIN\n  -- a semicolon; inside a body\n"
                f"  RETURN NEW;\nEND;\n$$ LANGUAGE plpgsql;\n\n"
                f"CREATE TRIGGER {q(fn + '_trg')} BEFORE UPDATE ON {q(table)} FOR EACH ROW EXECUTE FUNCTION {fn}();")

    def extension(self) -> str:
        ext = next(e for e in self.wanted if e not in self.extensions)
        self.extensions.append(ext)
        return f'-- CreateExtension\nCREATE EXTENSION IF NOT EXISTS "{ext}";'

    def second_schema(self) -> str:
        """A PostgreSQL schema next to public (Prisma's multiSchema), with a foreign key into public."""
        enum = (SECOND_SCHEMA, "InvoiceState")
        self.enums[enum] = ["DRAFT", "OPEN", "PAID"]
        parent = self.r.choice(sorted(self.tables))
        table = qn((SECOND_SCHEMA, "Invoice"))
        return (f"-- CreateSchema\nCREATE SCHEMA IF NOT EXISTS {q(SECOND_SCHEMA)};\n\n"
                f"-- CreateEnum\nCREATE TYPE {qn(enum)} AS ENUM ('DRAFT', 'OPEN', 'PAID');\n\n"
                f"-- CreateTable\nCREATE TABLE {table} (\n    \"id\" SERIAL NOT NULL,\n"
                f"    \"state\" {qn(enum)} NOT NULL DEFAULT 'DRAFT',\n    \"ownerId\" INTEGER NOT NULL,\n"
                f"    \"total\" DECIMAL(65,30) NOT NULL DEFAULT 0,\n\n    CONSTRAINT \"Invoice_pkey\" PRIMARY KEY (\"id\")\n);\n\n"
                f"-- AddForeignKey\nALTER TABLE {table} ADD CONSTRAINT \"Invoice_ownerId_fkey\" FOREIGN KEY (\"ownerId\") "
                f"REFERENCES {q(parent)}(\"id\") ON DELETE RESTRICT ON UPDATE CASCADE;")

    def schema_files(self) -> dict[str, str]:
        """schema.prisma as a folder of files: the datasource, then the enums of each schema."""
        schemas = sorted({s for s, _ in self.enums})
        multi = len(schemas) > 1
        listed = f"\n  schemas  = [{', '.join(chr(34) + s + chr(34) for s in schemas)}]" if multi else ""
        files = {"schema.prisma": (
            'generator client {\n  provider        = "prisma-client-js"\n'
            f'  previewFeatures = ["prismaSchemaFolder"{", " + chr(34) + "multiSchema" + chr(34) if multi else ""}]\n}}\n\n'
            f'datasource db {{\n  provider = "postgresql"\n  url      = env("DATABASE_URL"){listed}\n}}\n')}
        for schema in schemas:
            blocks = []
            for (s, name), values in sorted(self.enums.items()):
                if s == schema:
                    body = "".join(f"  {v}\n" for v in values)
                    blocks.append(f"enum {name} {{\n{body}" + (f'\n  @@schema("{s}")\n' if multi else "") + "}\n")
            files[f"{schema}_enums.prisma"] = "\n".join(blocks)
        return files

    # --- what later migrations do to what earlier ones made (reshape=True) -------------
    def _reshapeable(self) -> tuple[str, str] | None:
        """A (table, column) that is neither an id nor part of a foreign key, or None."""
        choices = [(t, c) for t in sorted(self.tables) for c in self.tables[t] if c != "id" and (t, c) not in self.keys]
        return self.r.choice(choices) if choices else None

    def drop_column(self) -> str:
        picked = self._reshapeable()
        if picked is None:
            return self.add_column()
        table, col = picked
        self.tables[table].remove(col)
        return f"-- AlterTable\nALTER TABLE {q(table)} DROP COLUMN {q(col)};"

    def rename_column(self) -> str:
        picked = self._reshapeable()
        if picked is None:
            return self.add_column()
        table, col = picked
        new = f"{col[:40]}Renamed{self.n}"
        self.n += 1
        cols = self.tables[table]
        cols[cols.index(col)] = new
        return f"-- AlterTable\nALTER TABLE {q(table)} RENAME COLUMN {q(col)} TO {q(new)};"

    def retype_column(self) -> str:
        picked = self._reshapeable()
        if picked is None:
            return self.add_column()
        table, col = picked
        typ = self.r.choice(("TEXT", "VARCHAR(500)"))
        return (f"-- AlterTable\nALTER TABLE {q(table)} ALTER COLUMN {q(col)} DROP DEFAULT,\n"
                f"ALTER COLUMN {q(col)} SET DATA TYPE {typ} USING {q(col)}::text;")

    def rename_table(self) -> str:
        table = self.r.choice(sorted(self.tables))
        new = f"{table[:40]}Renamed{self.n}"
        self.n += 1
        self.tables[new] = self.tables.pop(table)
        self.keys = {(new if t == table else t, c) for t, c in self.keys}
        return f"-- RenameTable\nALTER TABLE {q(table)} RENAME TO {q(new)};"

    def drop_table(self) -> str:
        if len(self.tables) < 6:
            return self.create_table()
        table = self.r.choice(sorted(self.tables))
        del self.tables[table]
        self.keys = {(t, c) for t, c in self.keys if t != table}
        # CASCADE drops the foreign keys of other tables into it (Prisma drops them first, one by one)
        return f"-- DropTable\nDROP TABLE {q(table)} CASCADE;"

    def nullability(self) -> str:
        table = self.r.choice(sorted(self.tables))
        col = self.r.choice(self.tables[table])
        if col == "id":
            return self.add_column()
        return f"-- AlterTable\nALTER TABLE {q(table)} ALTER COLUMN {q(col)} DROP NOT NULL;"

    def migration(self, i: int) -> str:
        """One migration's script."""
        if i == 0:
            first = [self.extension()] if self.wanted else []
            return "\n\n".join([*first, self.create_enum(), self.create_table(), self.create_table()]) + "\n"
        if i in _EXTENSION_AT and len(self.extensions) < len(self.wanted):
            return self.extension() + "\n"
        if i == 5:
            return self.second_schema() + "\n"
        roll = self.r.random()
        if roll < 0.04:
            return self.concurrent_index() + "\n"  # alone: PostgreSQL refuses it inside a multi-statement script
        parts = []
        for _ in range(self.r.choice((1, 1, 2, 2, 3))):
            pick = self.r.random()
            parts.append(getattr(self, next(step for below, step in self.mix if pick < below))())
        body = "\n\n".join(parts)
        if 0.04 <= roll < 0.09 and "ADD VALUE" not in body:
            body = f"BEGIN;\n\n{body}\n\nCOMMIT;"
        return body + "\n"


def generate(n_migrations: int, seed: int = 0, extensions: tuple[str, ...] = EXTENSIONS,
             reshape: bool = False) -> dict[str, str]:
    """``{folder name: migration.sql}`` for a history of *n_migrations*, the same for the same seed.
    *reshape*: later migrations also drop, rename and retype columns and tables earlier ones made."""
    return project(n_migrations, seed, extensions, reshape)[0]


def project(n_migrations: int, seed: int = 0, extensions: tuple[str, ...] = EXTENSIONS,
            reshape: bool = False) -> tuple[dict[str, str], dict[str, str]]:
    """The history of ``generate`` and its schema.prisma folder (``{file name: text}``), whose
    enums are the ones the history leaves in the database."""
    h = _History(seed, extensions, reshape)
    start = datetime(2022, 1, 1)
    out = {}
    for i in range(n_migrations):
        stamp = (start + timedelta(hours=7 * i, seconds=i)).strftime("%Y%m%d%H%M%S")
        slug = h.r.choice(_WORDS) + "_" + h.r.choice(("models", "index", "fields", "enum", "fix"))
        if i % 97 == 50:
            slug += " copy"  # seen in real histories: a copied folder, with a space
        out[f"{stamp}_{slug}"] = h.migration(i)
    return out, h.schema_files()


def write(folder: str | Path, scripts: dict[str, str]) -> Path:
    """Write *scripts* as a Prisma migrations folder (with migration_lock.toml)."""
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    (root / "migration_lock.toml").write_text('# Please do not edit this file manually\nprovider = "postgresql"\n')
    for name, script in scripts.items():
        (root / name).mkdir(exist_ok=True)
        (root / name / "migration.sql").write_text(script, encoding="utf-8")
    return root


def write_schema(folder: str | Path, files: dict[str, str]) -> Path:
    """Write a schema.prisma folder (the ``prismaSchemaFolder`` layout)."""
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (root / name).write_text(text, encoding="utf-8")
    return root


if __name__ == "__main__":
    import sys

    n, seed, folder = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    write(folder, generate(n, seed))
    print(f"wrote {n} migrations to {folder}")
