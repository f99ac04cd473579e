"""A Prisma project folder: its config (read without Node), its defaults, and the Prisma it runs."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from driftbot.engine import project, sources
from driftbot.engine.config_ts import Unevaluable, read_config
from driftbot.engine.project import LocalTree, detect_version, locate, lockfile_version
from driftbot.errors import ConfigError
from driftbot.settings import Settings

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "prisma7-monorepo"


# --- prisma.config.ts, evaluated without Node -----------------------------------------------


@pytest.mark.parametrize("source, schema, migrations", [
    ('import path from "node:path";\nimport { defineConfig } from "prisma/config";\n'
     'export default defineConfig({\n  schema: path.join(__dirname, "prisma", "schema.prisma"),\n'
     '  migrations: { path: path.join(__dirname, "prisma", "migrations") },\n});\n',
     "/p/prisma/schema.prisma", "/p/prisma/migrations"),
    ('import { defineConfig } from "prisma/config";\nexport default defineConfig({ schema: "./db/schema.prisma" });\n',
     "/p/db/schema.prisma", None),
    ('import * as path from "path";\nexport default { schema: path.resolve(import.meta.dirname, "db"), '
     'migrations: { path: path.resolve(import.meta.dirname, "db") + "/migrations" } } satisfies PrismaConfig;\n',
     "/p/db", "/p/db/migrations"),
    ('import { join } from "node:path";\nconst root = join(__dirname, "..", "shared");\n'
     'export default defineConfig({ schema: join(root, "schema.prisma"), migrations: { path: `${root}/migrations`, seed: "tsx seed.ts" },\n'
     '  datasource: { url: process.env.DATABASE_URL || process.env.POSTGRES_URL } });\n',
     "/shared/schema.prisma", "/shared/migrations"),
    ('const path = require("path");\nmodule.exports = { schema: path.join(__dirname, "schema.prisma") };\n',
     "/p/schema.prisma", None),
    ('import path from "node:path";\nimport { fileURLToPath } from "node:url";\n'
     'const __dirname = path.dirname(fileURLToPath(import.meta.url));\n'
     'const config = defineConfig({ schema: path.join(__dirname, "prisma") });\nexport default config;\n',
     "/p/prisma", None),
    ("// schema: 'commented/out.prisma'\nexport default defineConfig({ migrations: { path: 'migrations' }, schema: 'schema.prisma' })\n",
     "/p/schema.prisma", "/p/migrations"),
])
def test_config_paths_are_evaluated_as_prisma_does(source, schema, migrations):
    read = read_config(source, "/p/prisma.config.ts")
    assert (read.schema, read.migrations) == (schema, migrations)


def test_a_computed_path_driftbot_cannot_follow_names_its_line():
    source = ('import { defineConfig } from "prisma/config";\nimport { dirs } from "./dirs";\n\n'
              'export default defineConfig({\n  schema: dirs.schema(),\n  migrations: { path: "db/migrations" },\n});\n')
    read = read_config(source, "/p/prisma.config.ts")
    assert isinstance(read.schema, Unevaluable) and read.schema.line == 5
    assert read.migrations == "/p/db/migrations"


def _project(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_unevaluable_config_is_one_line_naming_file_line_and_settings(tmp_path):
    root = _project(tmp_path, {"prisma.config.ts": 'export default defineConfig({\n  schema: getSchema(),\n});\n'})
    with pytest.raises(ConfigError) as err:
        locate(LocalTree(), str(root))
    message = str(err.value)
    assert "\n" not in message
    assert f"{root}/prisma.config.ts, line 2" in message and "`schema`" in message and "`migrations`" in message
    # Explicit settings win, so the same project is readable once both are set.
    found = locate(LocalTree(), str(root), schema=str(root / "s.prisma"), migrations=str(root / "m"))
    assert (found.schema, found.migrations) == (str(root / "s.prisma"), str(root / "m"))


# --- discovery and Prisma's defaults ---------------------------------------------------------


def test_config_discovery_follows_prisma_7_order(tmp_path):
    root = _project(tmp_path, {
        "prisma.config.ts": 'export default { schema: "legacy.prisma" }',
        ".config/prisma7.ts": 'export default { schema: "dot.prisma" }',
    })
    assert project.find_config(LocalTree(), str(root)) == str(root / ".config/prisma7.ts")
    (root / "prisma7.config.mts").write_text('export default { schema: "seven.prisma" }')
    assert project.find_config(LocalTree(), str(root)) == str(root / "prisma7.config.mts")
    (root / "prisma7.config.mts").unlink()
    (root / ".config/prisma7.ts").unlink()
    assert project.find_config(LocalTree(), str(root)) == str(root / "prisma.config.ts")


def test_defaults_migrations_beside_the_schema_file_or_inside_a_schema_folder(tmp_path):
    root = _project(tmp_path, {"a/prisma.config.ts": 'export default { schema: "db/schema.prisma" }',
                               "a/db/schema.prisma": "", "b/prisma.config.ts": 'export default { schema: "models" }',
                               "b/models/user.prisma": ""})
    assert locate(LocalTree(), str(root / "a")).migrations == str(root / "a/db/migrations")
    assert locate(LocalTree(), str(root / "b")).migrations == str(root / "b/models/migrations")


def test_prisma_6_project_without_config_uses_package_json_then_prisma_folder(tmp_path):
    root = _project(tmp_path, {"package.json": json.dumps({"prisma": {"schema": "src/db/schema.prisma"}}),
                               "src/db/schema.prisma": "", "prisma/schema.prisma": ""})
    found = locate(LocalTree(), str(root))
    assert (found.schema, found.migrations, found.how) == (str(root / "src/db/schema.prisma"), str(root / "src/db/migrations"), "package.json")
    (root / "package.json").write_text("{}")
    found = locate(LocalTree(), str(root))
    assert (found.schema, found.migrations) == (str(root / "prisma/schema.prisma"), str(root / "prisma/migrations"))


def test_no_schema_anywhere_is_a_clear_line(tmp_path):
    with pytest.raises(ConfigError, match="No Prisma schema found in project"):
        locate(LocalTree(), str(tmp_path))
    with pytest.raises(ConfigError, match="does not exist"):
        locate(LocalTree(), str(tmp_path / "nope"))


# --- the version --------------------------------------------------------------------------------


def test_version_from_a_pinned_package_json(tmp_path):
    root = _project(tmp_path, {"package.json": json.dumps({"devDependencies": {"prisma": "7.9.1"}})})
    v = detect_version(LocalTree(), str(root))
    assert (v.version, v.source, v.note) == ("7.9.1", "package.json", None)


def test_version_from_a_lockfile_resolving_a_range(tmp_path):
    shutil.copytree(FIXTURE, tmp_path / "repo")
    v = detect_version(LocalTree(), str(tmp_path / "repo" / "apps" / "api"))
    assert (v.version, v.source, v.where) == ("7.10.1", "lockfile", str(tmp_path / "repo" / "pnpm-lock.yaml"))


def test_a_range_without_lockfile_is_its_lowest_version_with_a_note(tmp_path):
    root = _project(tmp_path, {"package.json": json.dumps({"dependencies": {"prisma": "^7.8.0"}})})
    v = detect_version(LocalTree(), str(root))
    assert (v.version, v.source) == ("7.8.0", "package.json") and "^7.8.0" in v.note


def test_the_setting_wins_and_nothing_is_unknown(tmp_path):
    root = _project(tmp_path, {"a/package.json": json.dumps({"dependencies": {"prisma": "7.9.1"}}), "b/.keep": ""})
    assert detect_version(LocalTree(), str(root / "a"), "6.19.3").source == "setting"
    v = detect_version(LocalTree(), str(root / "b"))
    assert (v.version, v.source) == (None, "unknown")


@pytest.mark.parametrize("name, text, importer, expected", [
    ("package-lock.json", json.dumps({"lockfileVersion": 3, "packages": {
        "": {}, "node_modules/prisma": {"version": "7.9.1"}, "apps/web/node_modules/prisma": {"version": "6.19.3"}}}),
     "apps/web", "6.19.3"),
    ("package-lock.json", json.dumps({"lockfileVersion": 3, "packages": {"node_modules/prisma": {"version": "7.9.1"}}}),
     ".", "7.9.1"),
    ("package-lock.json", json.dumps({"lockfileVersion": 1, "dependencies": {"prisma": {"version": "5.22.0"}}}), ".", "5.22.0"),
    ("pnpm-lock.yaml", "lockfileVersion: '9.0'\n\npackages:\n\n  prisma@7.8.0:\n    resolution: {integrity: x}\n", ".", "7.8.0"),
    ("pnpm-lock.yaml", "lockfileVersion: '6.0'\n\npackages:\n\n  /prisma@6.19.3:\n    resolution: {integrity: x}\n", ".", "6.19.3"),
    ("yarn.lock", '# yarn lockfile v1\n\n"@prisma/client@^7.8.0":\n  version "7.10.1"\n\nprisma@^7.8.0:\n  version "7.8.0"\n', ".", "7.8.0"),
    ("yarn.lock", '__metadata:\n  version: 8\n\n"prisma@npm:^7.8.0":\n  version: 7.9.1\n  resolution: "prisma@npm:7.9.1"\n', ".", "7.9.1"),
    ("bun.lock", '{\n  "lockfileVersion": 1,\n  "packages": {\n    "prisma": ["prisma@7.10.1", "", {}, "sha512-x"],\n  }\n}\n', ".", "7.10.1"),
    ("yarn.lock", '"@prisma/client@^7.8.0":\n  version "7.10.1"\n', ".", None),
])
def test_lockfiles(name, text, importer, expected):
    assert lockfile_version(name, text, importer) == expected


# --- settings and sources -------------------------------------------------------------------------


def test_project_alone_is_a_complete_environment(tmp_path):
    shutil.copytree(FIXTURE, tmp_path / "repo")
    api = tmp_path / "repo" / "apps" / "api"
    settings = Settings(environments={"prod": {"database_url": "postgresql://ro@db/app", "project": str(api)}})
    settled = sources.settle(settings.environment("prod"), tmp_path / "cache")
    assert settled.env.migrations == str(api / "db" / "migrations")
    assert settled.env.schema_path == str(api / "db" / "schema")
    assert settled.prisma_version.version == "7.10.1"
    assert sources.load(settings.environment("prod"), tmp_path / "cache").names == ("20250101000000_init", "20250102000000_posts")


def test_explicit_migrations_win_over_the_config(tmp_path):
    shutil.copytree(FIXTURE, tmp_path / "repo")
    api = tmp_path / "repo" / "apps" / "api"
    other = tmp_path / "other"
    (other / "20240101000000_x").mkdir(parents=True)
    (other / "20240101000000_x" / "migration.sql").write_text("SELECT 1;")
    settings = Settings(environments={"prod": {"database_url": "postgresql://ro@db/app", "project": str(api),
                                               "migrations": str(other), "prisma_version": "6.19.3"}})
    settled = sources.settle(settings.environment("prod"), tmp_path / "cache")
    assert (settled.env.migrations, settled.prisma_version.source) == (str(other), "setting")


def test_prisma_version_setting_must_be_a_version():
    from driftbot.errors import ConfigError as Err
    from driftbot.settings import load_settings

    with pytest.raises(Err, match="prisma_version"):
        load_settings(None, environments={"p": {"database_url": "postgresql://x@h/d", "project": ".", "prisma_version": "^7"}})


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                   env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@t", "PATH": "/usr/bin:/bin", "HOME": str(cwd)})


def test_git_source_reads_the_project_folder_at_the_ref(tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(FIXTURE, repo)
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "init")
    settings = Settings(environments={"prod": {"database_url": "postgresql://ro@db/app", "git": str(repo), "project": "apps/api"}})
    settled = sources.settle(settings.environment("prod"), tmp_path / "cache")
    assert settled.env.path == "apps/api/db/migrations"
    assert (settled.prisma_version.version, settled.prisma_version.where) == ("7.10.1", "pnpm-lock.yaml")
    migrations = sources.open_source(settled.env, tmp_path / "cache").read(fetch=False)
    assert migrations.names == ("20250101000000_init", "20250102000000_posts")
    # The schema folder at the ref is read too (its enums feed case C).
    schema = Path(settled.env.schema_path)
    assert schema.is_dir() and sorted(p.name for p in schema.iterdir()) == ["base.prisma", "posts.prisma", "users.prisma"]


def test_project_in_driftbot_toml_is_relative_to_the_file_but_not_inside_a_repository(tmp_path, monkeypatch):
    from driftbot.settings import load_settings

    monkeypatch.delenv("DRIFTBOT_CONFIG", raising=False)
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "driftbot.toml").write_text(
        '[environments.local]\ndatabase_url = "postgresql://ro@db/app"\nproject = "apps/api"\n\n'
        '[environments.repo]\ndatabase_url = "postgresql://ro@db/app"\ngit = "https://example.com/acme.git"\nproject = "apps/api"\n'
    )
    settings = load_settings(str(tmp_path / "conf" / "driftbot.toml"))
    assert settings.environment("local").project == str(tmp_path / "conf" / "apps" / "api")
    assert settings.environment("repo").project == "apps/api"
