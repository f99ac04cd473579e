"""A Prisma project folder: where its schema and migrations are, and which Prisma it runs.

Prisma 7 keeps both paths in ``prisma.config.ts``; Prisma 6 projects may have one,
or the ``"prisma": {"schema": ...}`` key of package.json, or neither (Prisma's
defaults). The version comes from the lockfile found upward from the project, else
from package.json's range. Files are read through a ``Tree`` (a local folder, or a
git commit), with absolute POSIX paths; nothing here runs Node.
"""

from __future__ import annotations

import json
import posixpath
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from driftbot.engine import versions
from driftbot.engine.versions import PrismaVersion
from driftbot.errors import ConfigError

# Prisma 7.10's own order (@prisma/config's findPrismaConfigFile): prisma7 names first, then the legacy ones.
_EXTENSIONS = (".js", ".ts", ".mjs", ".cjs", ".mts", ".cts")
CONFIG_CANDIDATES = (
    *(f"prisma7.config{e}" for e in _EXTENSIONS),
    *(f".config/prisma7{e}" for e in _EXTENSIONS),
    *(f"{base}{tail}" for base in ("prisma.config", ".config/prisma", ".config/prisma.config")
      for tail in (*_EXTENSIONS, *(f"/index{e}" for e in _EXTENSIONS))),
)
DEFAULT_SCHEMAS = ("schema.prisma", "prisma/schema.prisma")  # Prisma's search when nothing names one
LOCKFILES = ("package-lock.json", "npm-shrinkwrap.json", "pnpm-lock.yaml", "yarn.lock", "bun.lock")


class Tree(Protocol):
    """Read-only files under absolute POSIX paths."""

    def read_text(self, path: str) -> str | None: ...

    def is_file(self, path: str) -> bool: ...

    def is_dir(self, path: str) -> bool: ...

    def show(self, path: str) -> str:
        """*path* as a person reads it in a message."""
        ...

    @property
    def root(self) -> str: ...


class LocalTree:
    """The machine's own files; the upward search stops at the filesystem root."""

    root = "/"

    def read_text(self, path: str) -> str | None:
        try:
            return Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None

    def is_file(self, path: str) -> bool:
        return Path(path).is_file()

    def is_dir(self, path: str) -> bool:
        return Path(path).is_dir()

    def show(self, path: str) -> str:
        return path


@dataclass(frozen=True)
class Located:
    """Where a project keeps its schema and migrations (absolute paths in its tree)."""

    folder: str
    schema: str | None
    migrations: str
    config: str | None  # the config file read, if any
    how: str  # "prisma.config.ts", "package.json", "default": for messages
    prisma8: bool = False  # a Prisma 8 config: ``schema`` is its contract source, ``migrations`` its migrations folder
    contract_output: str | None = None  # Prisma 8's ``output``: the folder of contract.json (default: the contract's)
    prisma7_schema: bool = False  # Prisma 8 reads a Prisma 7 schema as its contract (``prisma7Schema(...)``)


def find_config(tree: Tree, folder: str) -> str | None:
    """The config file Prisma would load when run in *folder*."""
    for name in CONFIG_CANDIDATES:
        path = posixpath.join(folder, name)
        if tree.is_file(path):
            return path
    return None


def _shown(tree: Tree, path: str) -> str:
    return tree.show(path)


def _default_migrations(tree: Tree, schema: str) -> str:
    """Migrations beside the schema file; inside a schema folder."""
    return posixpath.join(schema if tree.is_dir(schema) else posixpath.dirname(schema), "migrations")


def locate(tree: Tree, folder: str, *, schema: str | None = None, migrations: str | None = None) -> Located:
    """Find a project's schema and migrations as Prisma does; *schema* / *migrations* (absolute, from
    driftbot's settings) win over the project's own. Raises ``ConfigError`` naming the file, the line and
    the settings to use instead when the config computes a path driftbot cannot follow."""
    folder = posixpath.normpath(folder)
    if not tree.is_dir(folder):
        raise ConfigError(f"Project folder {_shown(tree, folder)} does not exist (setting `project`).")
    config = find_config(tree, folder)
    how = "default"
    if config is not None:
        from driftbot.engine.config_ts import Unevaluable, is_prisma8_config, read_config, read_prisma8_config  # a deliberate start-up saving: only a project with a prisma.config.* imports the evaluator

        source = tree.read_text(config) or ""
        if is_prisma8_config(source):
            return _locate_prisma8(tree, folder, config, read_prisma8_config(source, config), Unevaluable, migrations)
        read = read_config(source, config)
        how = posixpath.basename(config)
        for key, value, explicit in (("schema", read.schema, schema), ("migrations", read.migrations, migrations)):
            if isinstance(value, Unevaluable) and explicit is None:
                raise ConfigError(
                    f"{_shown(tree, config)}, line {value.line}: driftbot cannot evaluate `{key}` without Node "
                    f"(`{value.text}`). Set `schema` and `migrations` for this environment in driftbot.toml instead."
                )
        found_schema = schema or (read.schema if isinstance(read.schema, str) else None)
        found_migrations = migrations or (read.migrations if isinstance(read.migrations, str) else None)
    else:
        found_schema, found_migrations = schema, migrations
        if found_schema is None:
            found_schema = _package_json_schema(tree, folder)
            how = "package.json" if found_schema else how
    if found_schema is None:
        found_schema = next((p for p in (posixpath.join(folder, d) for d in DEFAULT_SCHEMAS)
                             if tree.is_file(p) or tree.is_dir(p)), None)
    if found_migrations is None:
        if found_schema is None:
            raise ConfigError(
                f"No Prisma schema found in project {_shown(tree, folder)} (no prisma.config.ts, no package.json "
                "`prisma.schema`, no prisma/schema.prisma). Set `schema` and `migrations` in driftbot.toml."
            )
        found_migrations = _default_migrations(tree, found_schema)
    return Located(folder, found_schema, posixpath.normpath(found_migrations), config, how)


def _locate_prisma8(tree: Tree, folder: str, config: str, read, unevaluable: type, migrations: str | None) -> Located:
    """A Prisma 8 project (*read*: its config's ``Prisma8Paths``): its contract source and its migrations
    folder (``migrations/`` beside the config unless ``migrations.dir`` says otherwise; *migrations* from
    driftbot's settings wins)."""
    for key, value, explicit in (("contract", read.contract, None), ("output", read.output, None),
                                 ("migrations.dir", read.migrations, migrations)):
        if isinstance(value, unevaluable) and explicit is None:
            raise ConfigError(f"{_shown(tree, config)}, line {value.line}: driftbot cannot evaluate `{key}` without Node "
                              f"(`{value.text}`).")
    if read.contract is None:
        raise ConfigError(f"{_shown(tree, config)}: no `contract` in `orm: defineConfig({{...}})`; Prisma 8 needs one too.")
    found = migrations or (read.migrations if isinstance(read.migrations, str) else None) \
        or posixpath.join(posixpath.dirname(config), "migrations")
    return Located(folder, read.contract, posixpath.normpath(found), config, posixpath.basename(config), prisma8=True,
                   contract_output=read.output, prisma7_schema=read.prisma7)


def _package_json_schema(tree: Tree, folder: str) -> str | None:
    """Prisma 6's ``"prisma": {"schema": "..."}`` in package.json (Prisma 7 no longer reads it)."""
    data = _json(tree.read_text(posixpath.join(folder, "package.json")))
    prisma = data.get("prisma") if isinstance(data, dict) else None
    if isinstance(prisma, dict) and isinstance(prisma.get("schema"), str):
        return posixpath.normpath(posixpath.join(folder, prisma["schema"]))
    return None


def _json(text: str | None):
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


# --- the version ------------------------------------------------------------------------


def _upward(tree: Tree, folder: str):
    """*folder*, then each parent up to the tree's root."""
    here, root = posixpath.normpath(folder), posixpath.normpath(tree.root)
    while True:
        yield here
        parent = posixpath.dirname(here)
        if here == root or parent == here or not (parent == root or parent.startswith(root.rstrip("/") + "/")):
            return
        here = parent


def detect_version(tree: Tree, folder: str, setting: str | None = None) -> PrismaVersion:
    """``prisma_version`` from the settings; else the lockfile found upward from *folder*; else the
    lowest version of package.json's range (with a note); else unknown."""
    if setting:
        return PrismaVersion(setting, "setting")
    spec, spec_file = None, None
    for here in _upward(tree, folder):
        if spec is None:
            spec = _declared(tree, here)
            spec_file = posixpath.join(here, "package.json") if spec else None
        for name in LOCKFILES:
            path = posixpath.join(here, name)
            text = tree.read_text(path)
            if text is None:
                continue
            found = lockfile_version(name, text, posixpath.relpath(folder, here))
            if found:
                return PrismaVersion(found, "lockfile", _shown(tree, path))
    if spec is None:
        return PrismaVersion(None, "unknown", note="no lockfile or package.json names prisma")
    shown = _shown(tree, spec_file)
    if versions.is_version(spec):
        return PrismaVersion(spec.lstrip("v="), "package.json", shown)
    lowest = versions.lowest_of_range(spec)
    if lowest is None:
        return PrismaVersion(None, "unknown", shown, note=f"package.json asks for prisma {spec!r} and no lockfile resolves it")
    return PrismaVersion(lowest, "package.json", shown, note=f"the lowest version {spec} allows; no lockfile resolves it")


def _declared(tree: Tree, folder: str) -> str | None:
    data = _json(tree.read_text(posixpath.join(folder, "package.json")))
    if not isinstance(data, dict):
        return None
    for key in ("devDependencies", "dependencies", "optionalDependencies"):
        deps = data.get(key)
        if isinstance(deps, dict) and isinstance(deps.get("prisma"), str):
            return deps["prisma"]
    return None


def lockfile_version(name: str, text: str, importer: str = ".") -> str | None:
    """The prisma version a lockfile resolved, preferring the entry of the project at *importer*
    (its path relative to the lockfile's folder)."""
    importer = posixpath.normpath(importer)
    if name in ("package-lock.json", "npm-shrinkwrap.json"):
        return _npm_lock(_json(text), importer)
    if name == "pnpm-lock.yaml":
        return _pnpm_lock(text, importer)
    if name == "yarn.lock":
        return _yarn_lock(text)
    if name == "bun.lock":
        m = re.search(r'"prisma"\s*:\s*\[\s*"prisma@([^"]+)"', text)
        return m.group(1) if m and versions.is_version(m.group(1)) else None
    return None


def _npm_lock(data, importer: str) -> str | None:
    if not isinstance(data, dict):
        return None
    packages = data.get("packages")
    if isinstance(packages, dict):  # lockfileVersion 2 and 3
        keys = ([f"{importer}/node_modules/prisma"] if importer != "." else []) + ["node_modules/prisma"]
        for key in keys:
            entry = packages.get(key)
            if isinstance(entry, dict) and isinstance(entry.get("version"), str):
                return entry["version"]
    deps = data.get("dependencies")  # lockfileVersion 1
    entry = deps.get("prisma") if isinstance(deps, dict) else None
    return entry.get("version") if isinstance(entry, dict) and isinstance(entry.get("version"), str) else None


def _pnpm_lock(text: str, importer: str) -> str | None:
    # importers:\n  apps/web:\n    devDependencies:\n      prisma:\n        specifier: ^7.8.0\n        version: 7.8.0(...)
    lines = text.splitlines()
    wanted = {importer, f"'{importer}'", f'"{importer}"'}
    current, in_importers, in_prisma = None, False, False
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        indent = len(line) - len(line.lstrip())
        key = line.strip().rstrip(":")
        if indent == 0:
            in_importers = line.startswith("importers:")
            current, in_prisma = None, False
        elif in_importers and indent == 2:
            current, in_prisma = key, False
        elif in_importers and current in wanted and indent == 6:
            in_prisma = key == "prisma"
        elif in_prisma and indent == 8 and line.strip().startswith("version:"):
            version = line.split(":", 1)[1].strip().strip("'\"").split("(")[0]
            if versions.is_version(version):
                return version
    found = sorted({m.group(1) for m in re.finditer(r"^\s{2}['\"]?/?prisma[@/](\d[^:('\"\s]*)", text, re.M)})
    return found[0] if len(found) == 1 else None


def _yarn_lock(text: str) -> str | None:
    for block in re.split(r"\n(?=\S)", text):
        header = block.split("\n", 1)[0]
        if re.search(r'(^|[\s,"])prisma@', header):
            m = re.search(r'^\s+version:?\s+"?([^"\s]+)"?', block, re.M)
            if m and versions.is_version(m.group(1)):
                return m.group(1)
    return None
