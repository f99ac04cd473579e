"""One import package: the distribution installs the repository's bot/ and handlers/ as ``driftbot`` and
``driftbot.handlers`` (pyproject's package-dir mapping), never as the generic top-level names ``bot`` and
``handlers``, which would shadow a team's own packages of those names in site-packages."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = {"driftbot": ROOT / "bot", "driftbot.handlers": ROOT / "handlers"}


def _setuptools() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def _package_folders() -> set[str]:
    """Every importable folder under bot/ and handlers/ (a package, or SQL queries kept beside code)."""
    found = set()
    for name, top in FOLDERS.items():
        for init in top.rglob("*"):
            if init.is_dir() and "__pycache__" not in init.parts and "examples" not in init.relative_to(top).parts:
                if (init / "__init__.py").exists() or any(init.glob("*.sql")):
                    found.add(".".join([name, *init.relative_to(top).parts]))
        found.add(name)
    return found


def test_every_package_folder_is_in_the_distribution():
    cfg = _setuptools()
    assert cfg["package-dir"] == {"driftbot": "bot", "driftbot.handlers": "handlers"}
    assert set(cfg["packages"]) == _package_folders()


def test_no_module_imports_the_repository_folder_names():
    """``import bot`` would load a second copy of every module (the editable install maps driftbot to bot/)."""
    offenders = []
    for path in [*ROOT.joinpath("bot").rglob("*.py"), *ROOT.joinpath("handlers").rglob("*.py"),
                 *ROOT.joinpath("tests").rglob("*.py"), *ROOT.joinpath("benchmarks").rglob("*.py")]:
        if "examples" in path.parts or "fixtures" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            offenders += [f"{path.relative_to(ROOT)}:{node.lineno} {n}" for n in names
                          if n.split(".")[0] in ("bot", "handlers")]
    assert offenders == []


def test_the_console_script_names_the_package():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"driftbot": "driftbot.cli:main"}


@pytest.mark.slow
def test_the_wheel_holds_one_top_level_package(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path),
                    str(ROOT)], check=True, capture_output=True)
    wheel = next(tmp_path.glob("driftbot-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"driftbot"}
    assert "driftbot/handlers/app.py" in names
    assert "driftbot/state/migrations/env.py" in names
    assert any(n.startswith("driftbot/engine/inspect/queries/") and n.endswith(".sql") for n in names)
    assert "driftbot/examples/shop/prisma/schema.prisma" in names
