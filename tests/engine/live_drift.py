"""Random drift for the round-trip property: statements a person (or `db push`) might
run against a database, each chosen from the schema as it is at that moment."""

from __future__ import annotations

import random

from driftbot.engine.inspect import Snapshot

_SIMPLE_DEFAULTS = {"integer": "7", "text": "'x'", "boolean": "true", "bigint": "9"}


def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _plain_columns(table, snap: Snapshot):
    fk_cols = {c for f in snap.foreign_keys if f.key[:2] == table.key for c in f.columns}
    pk = set(table.primary_key.columns) if table.primary_key else set()
    return [c for c in table.columns if c.name not in pk and c.name not in fk_cols and not c.serial and not c.generated]


def drift_statement(r: random.Random, snap: Snapshot, n: int, fresh: set[str]) -> str | None:
    """One random change to the database whose schema is *snap* (None when the pick does not apply).

    *fresh* holds enum values added in this transaction: PostgreSQL refuses to use them before commit.
    """
    tables = [t for t in snap.tables if t.schema == "public"]
    enums = [e for e in snap.enums if e.schema == "public"]
    t = r.choice(tables) if tables else None
    kind = r.randrange(29)
    if kind == 0 or t is None:
        cols = ['"id" SERIAL NOT NULL', '"label" TEXT', '"amount" INTEGER NOT NULL DEFAULT 0']
        if enums and r.random() < 0.5:
            e = r.choice(enums)
            usable = [v for v in e.values if v not in fresh]
            if usable:
                cols.append(f'"kind" {q(e.name)} NOT NULL DEFAULT \'{usable[0]}\'')
        if t is not None and t.primary_key and r.random() < 0.5:
            cols.append(f'"parentId" INTEGER REFERENCES {q(t.name)}({q(t.primary_key.columns[0])}) ON DELETE CASCADE')
        return f'CREATE TABLE "drift_{n}" ({", ".join(cols)}, CONSTRAINT "drift_{n}_pkey" PRIMARY KEY ("id"))'
    if kind == 1:
        return f"DROP TABLE {q(t.name)} CASCADE"
    if kind == 2:
        col = r.choice([f'"c{n}" TEXT', f'"c{n}" INTEGER NOT NULL DEFAULT 5', f'"c{n}" BOOLEAN',
                        f'"c{n}" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP', f'"c{n}" JSONB', f'"c{n}" DECIMAL(10,2)'])
        return f"ALTER TABLE {q(t.name)} ADD COLUMN {col}"
    plain = _plain_columns(t, snap)
    c = r.choice(plain) if plain else None
    if kind == 3 and c:
        return f"ALTER TABLE {q(t.name)} DROP COLUMN {q(c.name)} CASCADE"
    if kind == 4 and c:
        if c.default is not None and r.random() < 0.5:
            return f"ALTER TABLE {q(t.name)} ALTER COLUMN {q(c.name)} DROP DEFAULT"
        if c.type in _SIMPLE_DEFAULTS:
            return f"ALTER TABLE {q(t.name)} ALTER COLUMN {q(c.name)} SET DEFAULT {_SIMPLE_DEFAULTS[c.type]}"
    if kind == 5 and c:
        return f"ALTER TABLE {q(t.name)} ALTER COLUMN {q(c.name)} {'DROP' if c.not_null else 'SET'} NOT NULL"
    if kind == 6 and c and c.type in ("integer", "character varying(255)", "text"):
        new = {"integer": "BIGINT", "character varying(255)": "TEXT", "text": "VARCHAR(300)"}[c.type]
        return f"ALTER TABLE {q(t.name)} ALTER COLUMN {q(c.name)} TYPE {new}"
    if kind == 7 and t.columns:
        cols = r.sample([x.name for x in t.columns], k=min(len(t.columns), r.randint(1, 2)))
        unique = "UNIQUE " if r.random() < 0.3 else ""
        where = ' WHERE "id" > 10' if r.random() < 0.2 and t.column("id") else ""
        desc = " DESC" if r.random() < 0.2 else ""
        return f'CREATE {unique}INDEX "ix_{n}" ON {q(t.name)}({", ".join(q(x) for x in cols)}{desc}){where}'
    if kind == 8:
        own = [i for i in snap.indexes if i.schema == "public"]
        if own:
            i = r.choice(own)
            if i.constraint:
                return f"ALTER TABLE {q(i.table)} DROP CONSTRAINT {q(i.name)} CASCADE"
            return f"DROP INDEX {q(i.name)} CASCADE"
    if kind == 9 and c:
        return f'ALTER TABLE {q(t.name)} ADD CONSTRAINT "uq_{n}" UNIQUE ({q(c.name)})'
    if kind == 10 and len(tables) > 1:
        other = r.choice(tables)
        if other.primary_key and len(other.primary_key.columns) == 1 and other.column(other.primary_key.columns[0]).type == "integer":
            action = r.choice(["CASCADE", "SET NULL", "RESTRICT", "NO ACTION"])
            return (f'ALTER TABLE {q(t.name)} ADD COLUMN "fk{n}" INTEGER, ADD CONSTRAINT "fk_{n}" FOREIGN KEY ("fk{n}") '
                    f"REFERENCES {q(other.name)}({q(other.primary_key.columns[0])}) ON DELETE {action} ON UPDATE CASCADE")
    own_fks = [f for f in snap.foreign_keys if f.schema == "public"]
    if kind == 11 and own_fks:
        f = r.choice(own_fks)
        return f"ALTER TABLE {q(f.table)} DROP CONSTRAINT {q(f.name)}"
    if kind == 12:
        return f"CREATE TYPE \"DriftEnum{n}\" AS ENUM ('A{n}', 'B{n}')"
    if kind == 13 and enums:
        e = r.choice(enums)
        fresh.add(f"N{n}")
        if r.random() < 0.4:
            return f"ALTER TYPE {q(e.name)} ADD VALUE 'N{n}' BEFORE '{r.choice(e.values)}'"
        return f"ALTER TYPE {q(e.name)} ADD VALUE 'N{n}'"
    if kind == 14 and enums:
        e = r.choice(enums)
        if len(e.values) > 1 and not (set(e.values) & fresh):
            return _remove_enum_value(snap, e, r.choice(e.values))
    if kind == 15 and enums:
        return f"DROP TYPE {q(r.choice(enums).name)} CASCADE"
    if kind == 16 and t.column("id"):
        return f'ALTER TABLE {q(t.name)} ADD CONSTRAINT "ck_{n}" CHECK ("id" > 0)'
    if kind == 17 and t.checks:
        return f"ALTER TABLE {q(t.name)} DROP CONSTRAINT {q(t.checks[0].name)}"
    if kind == 18 and c:
        return f'ALTER TABLE {q(t.name)} RENAME COLUMN {q(c.name)} TO "renamed_{n}"'
    if kind == 19 and enums:
        e = r.choice(enums)
        value = r.choice(e.values)
        if value not in fresh:
            return f"ALTER TYPE {q(e.name)} RENAME VALUE '{value}' TO 'RV{n}'"
    functions = [f for f in snap.functions if f.schema == "public" and f.language == "plpgsql"]
    triggers = [x for x in snap.triggers if x.schema == "public"]
    if kind == 20 and functions:
        f = r.choice(functions)
        return (f"CREATE OR REPLACE FUNCTION {q(f.name)}({f.arguments}) RETURNS {f.result} AS $$\n"
                f"BEGIN\n  -- edited by hand {n}\n  RETURN NEW;\nEND;\n$$ LANGUAGE plpgsql")
    if kind == 21 and triggers:
        x = r.choice(triggers)
        return f"DROP TRIGGER {q(x.name)} ON {q(x.table)}"
    if kind == 22 and triggers:
        x = r.choice(triggers)
        return f"ALTER TABLE {q(x.table)} {'ENABLE' if x.enabled == 'D' else 'DISABLE'} TRIGGER {q(x.name)}"
    if kind == 23:
        return (f'CREATE FUNCTION "hand_{n}"() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$; '
                f'CREATE TRIGGER "hand_{n}_trg" BEFORE INSERT ON {q(t.name)} FOR EACH ROW EXECUTE FUNCTION "hand_{n}"()')
    if kind == 24 and functions:
        return f"DROP FUNCTION {q(r.choice(functions).name)} CASCADE"
    secured = {x.table: x for x in snap.row_security if x.schema == "public"}
    policies = [x for x in snap.policies if x.schema == "public"]
    if kind == 25:
        on = secured.get(t.name)
        switch = r.choice(["ENABLE", "FORCE"] if on is None else (["DISABLE"] if on.enabled else ["ENABLE"])
                          + (["NO FORCE"] if on.forced else ["FORCE"]))
        return f"ALTER TABLE {q(t.name)} {switch} ROW LEVEL SECURITY"
    if kind == 26 and t.column("id"):
        how = r.choice(['FOR SELECT USING ("id" > 0)', "AS RESTRICTIVE FOR INSERT TO CURRENT_USER WITH CHECK (true)",
                        'FOR UPDATE USING ("id" > 1) WITH CHECK ("id" > 2)', "FOR ALL TO PUBLIC USING (false)"])
        return f'CREATE POLICY "pol_{n}" ON {q(t.name)} {how}'
    if kind == 27 and policies:
        x = r.choice(policies)
        return f"DROP POLICY {q(x.name)} ON {q(x.table)}"
    if kind == 28 and policies:
        x = r.choice(policies)
        if x.command != "a":  # an INSERT policy has no USING
            return f"ALTER POLICY {q(x.name)} ON {q(x.table)} USING ({n} > 0)"
    return None


def _remove_enum_value(snap: Snapshot, enum, value: str) -> str:
    keep = ", ".join(f"'{v}'" for v in enum.values if v != value)
    parts = [f'ALTER TYPE {q(enum.name)} RENAME TO "tmp_enum"', f"CREATE TYPE {q(enum.name)} AS ENUM ({keep})"]
    for t in snap.tables:
        for c in t.columns:
            if c.is_enum and c.type.strip('"').removesuffix("[]").strip('"') == enum.name:
                arr = "[]" if c.type.endswith("[]") else ""
                parts.append(f"ALTER TABLE {q(t.name)} ALTER COLUMN {q(c.name)} DROP DEFAULT")
                parts.append(f"ALTER TABLE {q(t.name)} ALTER COLUMN {q(c.name)} TYPE {q(enum.name)}{arr} "
                             f"USING ({q(c.name)}::text{arr}::{q(enum.name)}{arr})")
    parts.append('DROP TYPE "tmp_enum"')
    return ";\n".join(parts)
