"""The real Prisma 7 CLI, installed from the npm registry into a cache folder.

Prisma 7 has no WebAssembly migrate mode: its CLI always spawns the native
``schema-engine`` binary and talks JSON-RPC to it over stdio, and that binary
cannot be downloaded here. ``schema-engine-shim.mjs`` (beside this file) stands
in for it: the same protocol, answered by the WebAssembly build of the same
engine (the ``schema_engine_bg.wasm`` each prisma release ships in ``build/``,
with the JS glue of ``@prisma/schema-engine-wasm``) through @prisma/adapter-pg.
It follows ../shared/tools/prisma7/setup; its caveats: it is not the native
engine, so a failed migration's error text (``logs``) is the adapter's.

@prisma/adapter-pg 7.x is patched in the installed copy, idempotently:
``"char"`` (OID 18) read as text; the shadow database's pool closed before the
database is dropped; ``executeScript`` sends a migration whole (upstream splits
on ``;``, breaking ``DO $$`` blocks); shadow databases named ``p7_shadow_*``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.conformance import prisma_cli
from tests.conformance.prisma_cli import DEFAULT_MODELS, PrismaProject, PrismaUnavailable, Run, cache_root

LATEST = "7.10.1"
# The CLIs either side of the rolled-back change (7.9.0, prisma/orm#29601).
BOUNDARY = ("7.8.0", "7.9.1")
# The JS glue of the engine build each CLI pins (@prisma/engines-version); 7.10.1's own build
# (8.1.0-1.d1b3f377) has no published glue, and the next one's glue loads its wasm.
GLUE = {
    "7.8.0": "7.8.0-6.3c6e192761c0362d496ed980de936e2f3cebcd3a",
    "7.9.1": "7.9.0-1.e922089b7d7502aff4249d5da3420f6fa55fc6ad",
    "7.10.1": "8.1.0-2.59be4fda12412a79eeb9c2ae727b6aa723593323",
}
SHIM = Path(__file__).with_name("schema-engine-shim.mjs")
SHADOW_PREFIX = "p7_shadow_"
PATCH_MARK = "/* driftbot-conformance-patched-7 */"


def patch_adapter_source(text: str) -> str:
    """@prisma/adapter-pg 7.x's bundled source with the four fixes; unchanged if already patched."""
    if PATCH_MARK in text:
        return text
    out = text
    if "case 18:" not in out:
        out = out.replace("    case ScalarColumnType.BPCHAR:\n", "    case 18:\n    case ScalarColumnType.BPCHAR:\n", 1)
    drop = '      await conn.executeScript(`DROP DATABASE "${database}"`);\n      await client.end();'
    closed_first = '      await client.end();\n      await conn.executeScript(`DROP DATABASE "${database}"`);'
    out = out.replace(drop, closed_first)
    split = 'const statements = script.split(";").map((stmt) => stmt.trim()).filter((stmt) => stmt.length > 0);'
    out = out.replace(split, "const statements = [script];")
    out, named = re.subn(r"const database = `[A-Za-z0-9_]*\$\{globalThis\.crypto\.randomUUID\(\)\}`;",
                         "const database = `" + SHADOW_PREFIX + "${globalThis.crypto.randomUUID()}`;", out)
    checks = ("case 18:" in out, closed_first in out, "const statements = [script];" in out, named == 1)
    if not all(checks):
        raise PrismaUnavailable(f"@prisma/adapter-pg 7.x does not look as expected (patches matched {checks}); "
                                "the conformance harness needs updating.")
    return PATCH_MARK + "\n" + out


def ensure_installed(version: str = LATEST, root: Path | None = None) -> Path:
    """The install folder of prisma *version* with the adapter, pg, the engine's glue and the shim."""
    if version not in GLUE:
        raise PrismaUnavailable(f"no engine glue pinned for prisma {version} (tests/conformance/prisma7_cli.py GLUE)")
    prisma_cli._tool("node")
    root = prisma_cli.install(
        root or cache_root(version), "driftbot-prisma7-conformance",
        (f"prisma@{version}", f"@prisma/adapter-pg@{version}", "pg@8", f"@prisma/schema-engine-wasm@{GLUE[version]}"),
        version, patch_adapter_source, {SHIM.name: SHIM.read_bytes()})
    (root / SHIM.name).chmod(0o755)
    return root


CONFIG_TS = """import path from "node:path";
import { defineConfig, env } from "prisma/config";

export default defineConfig({
  schema: path.join(__dirname, "schema.prisma"),
  migrations: { path: path.join(__dirname, "migrations") },
  datasource: { url: env("DATABASE_URL") },
});
"""


def cli_command(install: Path, folder: Path, database_url: str, *args: str) -> tuple[list[str], dict[str, str]]:
    """The argv and environment of the real Prisma 7 CLI of *install* running ``prisma ARGS`` in *folder*."""
    node = shutil.which("node") or "node"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "DATABASE_URL": database_url,
        "PRISMA_SCHEMA_ENGINE_BINARY": str(install / "schema-engine-shim.mjs"),
        "CHECKPOINT_DISABLE": "1",
        "PRISMA_HIDE_UPDATE_MESSAGE": "1",
        "NO_COLOR": "1",
        "CI": "1",
    }
    link = folder / "node_modules"
    if not link.exists():  # the config imports "prisma/config"
        link.symlink_to(install / "node_modules", target_is_directory=True)
    cli = install / "node_modules" / "prisma" / "build" / "index.js"
    return [node, str(cli), *args], env


def run_cli(install: Path, folder: Path, database_url: str, *args: str, timeout: int = 120) -> Run:
    """The real Prisma 7 CLI of *install*, run in *folder* (it loads that folder's own prisma.config.*)."""
    argv, env = cli_command(install, folder, database_url, *args)
    try:
        proc = subprocess.run(argv, cwd=folder, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        return Run(tuple(args), -1, exc.stdout or "", f"timed out after {timeout} s")
    return Run(tuple(args), proc.returncode, proc.stdout, proc.stderr)


class Prisma7Project(PrismaProject):
    """A Prisma 7 project: the datasource url lives in prisma.config.ts, not in schema.prisma."""

    major = 7

    def _write_config(self, url: str, schema: str) -> None:
        (self.folder / "prisma.config.ts").write_text(CONFIG_TS)
        self.database_url = url if schema == "public" else f"{url}{'&' if '?' in url else '?'}schema={schema}"

    def write_models(self, models: str) -> Path:
        path = self.folder / "schema.prisma"
        path.write_text('generator client {\n  provider = "prisma-client-js"\n}\n\n'
                        'datasource db {\n  provider = "postgresql"\n}\n' + models)
        return path

    def command(self, *args: str, unref_timers: bool = True) -> tuple[list[str], dict[str, str]]:
        return cli_command(self.install, self.folder, self.database_url, *args)

    def run(self, *args: str, timeout: int = 120, unref_timers: bool = True) -> Run:
        return run_cli(self.install, self.folder, self.database_url, *args, timeout=timeout)

    def dev_create_only(self) -> Run:
        before = set(self.migrations.iterdir())
        run = self.run("migrate", "dev", "--create-only", "--name", "probe")  # 7 has no --skip-generate/--skip-seed
        for created in set(self.migrations.iterdir()) - before:
            shutil.rmtree(created)
        return run

    def diff_migrations_to_models(self, models: Path | None = None) -> Run:
        return self.run(
            "migrate", "diff", "--from-migrations", str(self.migrations),
            "--to-schema", str(models or self.folder / "schema.prisma"), "--script", "--exit-code",
        )


@dataclass(frozen=True)
class Installed:
    """One installed Prisma CLI of the conformance suite."""

    version: str
    root: Path

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    @property
    def rolled_back_is_unapplied(self) -> bool:
        """Prisma 7.9.0 and later list a rolled-back migration as not yet applied."""
        return tuple(map(int, self.version.split("."))) >= (7, 9, 0)


def install(version: str) -> Installed:
    """Install (once) the real CLI of *version*: 6.19.3 in WebAssembly mode, 7.x with the engine shim."""
    if version == prisma_cli.VERSION:
        return Installed(version, prisma_cli.ensure_installed())
    return Installed(version, ensure_installed(version))


def project_for(installed: Installed, folder: Path, url: str, models: str = DEFAULT_MODELS,
                schema: str = "public") -> PrismaProject:
    cls = Prisma7Project if installed.major >= 7 else PrismaProject
    return cls(installed.root, folder, url, models, schema)
