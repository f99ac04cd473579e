"""Kubernetes manifests against Kubernetes' own OpenAPI schemas (kubernetes-validate bundles them: no cluster,
no network), strictly: an unknown or misspelt field is refused. Used for deploy/kubernetes and for the Helm
chart's rendered manifests, for the oldest Kubernetes the chart supports and the newest known."""

from __future__ import annotations

import re
from pathlib import Path

import kubernetes_validate
import yaml

CHART = Path(__file__).resolve().parent.parent / "deploy" / "helm" / "driftbot"


def kube_versions() -> tuple[str, str]:
    """The oldest Kubernetes the chart says it runs on (Chart.yaml's kubeVersion) and the newest schemas known."""
    oldest = re.match(r">=(\d+\.\d+)", yaml.safe_load((CHART / "Chart.yaml").read_text())["kubeVersion"]).group(1)
    return f"{oldest}.0", f"{kubernetes_validate.latest_version()}.0"


def validate(doc: dict) -> None:
    """One object, for each of ``kube_versions()``; an AssertionError naming the object and the field."""
    for v in kube_versions():
        try:
            kubernetes_validate.validate(doc, v, strict=True)
        except kubernetes_validate.ValidationError as exc:
            raise AssertionError(f"{doc['kind']} {doc['metadata']['name']} is not valid Kubernetes {v}: {exc}") from None
