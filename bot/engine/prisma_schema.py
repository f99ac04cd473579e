"""Just enough of schema.prisma: enums (with ``@map``/``@@map``/``@@schema``) and the
datasource's ``schemas``, from one file or a folder of ``*.prisma`` files."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from driftbot.errors import ConfigError

_BLOCK = re.compile(r"^\s*(enum|datasource)\s+(\w+)\s*\{(.*?)^\s*\}", re.S | re.M)
_MAP = re.compile(r'@map\(\s*(?:name\s*:\s*)?"((?:[^"\\]|\\.)*)"\s*\)')
_BLOCK_MAP = re.compile(r'@@map\(\s*(?:name\s*:\s*)?"((?:[^"\\]|\\.)*)"\s*\)')
_BLOCK_SCHEMA = re.compile(r'@@schema\(\s*"((?:[^"\\]|\\.)*)"\s*\)')
_SCHEMAS = re.compile(r"^\s*schemas\s*=\s*\[(.*?)\]", re.S | re.M)
_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class PrismaEnum:
    name: str  # the name in schema.prisma
    db_name: str  # the type's name in the database (@@map)
    values: tuple[str, ...]  # the values as stored in the database (@map applied)
    schema: str | None = None  # @@schema, for multi-schema projects


@dataclass(frozen=True)
class PrismaSchema:
    enums: tuple[PrismaEnum, ...] = ()
    schemas: tuple[str, ...] = ()  # the datasource's `schemas`


def _strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)  # also strips `///` doc comments


def _unescape(text: str) -> str:
    return text.replace('\\"', '"').replace("\\\\", "\\")


def parse(text: str) -> PrismaSchema:
    """Parse the text of one or more schema files (pure)."""
    text = _strip_comments(text)
    enums, schemas = [], []
    for kind, name, body in _BLOCK.findall(text):
        if kind == "datasource":
            m = _SCHEMAS.search(body)
            if m:
                schemas += [_unescape(s) for s in _STRING.findall(m[1])]
            continue
        values, db_name, schema = [], name, None
        for line in body.splitlines():
            line = line.strip()
            if not line:
                continue
            if line.startswith("@@"):
                if (m := _BLOCK_MAP.search(line)):
                    db_name = _unescape(m[1])
                if (m := _BLOCK_SCHEMA.search(line)):
                    schema = _unescape(m[1])
                continue
            value = line.split()[0]
            m = _MAP.search(line)
            values.append(_unescape(m[1]) if m else value)
        enums.append(PrismaEnum(name, db_name, tuple(values), schema))
    return PrismaSchema(tuple(enums), tuple(schemas))


def load(path: str | Path) -> PrismaSchema:
    """Read a schema.prisma file, or every ``*.prisma`` file under a folder (Prisma's schema folder)."""
    p = Path(path)
    if p.is_dir():
        files = sorted(p.rglob("*.prisma"))
        if not files:
            raise ConfigError(f"Schema folder {p} holds no *.prisma files (setting `schema`).")
    elif p.is_file():
        files = [p]
    else:
        raise ConfigError(f"Schema file {p} does not exist (setting `schema`).")
    try:
        return parse("\n".join(f.read_text(encoding="utf-8") for f in files))
    except UnicodeDecodeError:
        raise ConfigError(f"A schema file under {p} is not UTF-8.") from None
