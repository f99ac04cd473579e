"""The deployment files agree with the code: the Dockerfile's stages and user, compose's services,
healthchecks and start order, the Kubernetes Deployments' probes, Secret and ConfigMap."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from bot.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
PROCESSES = {"web", "worker", "clock"}


def procfile() -> dict[str, str]:
    return dict(line.split(": ", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line.strip())


def test_the_dockerfile_builds_in_one_stage_and_runs_in_a_slim_one_as_a_user():
    text = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM (\S+)(?: AS (\w+))?", text, re.M)
    assert len(stages) == 2 and stages[0][1] == "build"
    assert "slim" in re.search(r"^ARG BASE=(\S+)", text, re.M).group(1)
    final = text.split("\nFROM ${BASE}\n", 1)[1]
    assert "COPY --from=build /opt/driftbot /opt/driftbot" in final
    assert not re.search(r"\b(gcc|g\+\+|build-essential|python3-dev|libpq-dev)\b", final)
    user = re.search(r"^USER (\S+)", final, re.M).group(1)
    assert user not in ("root", "0")
    assert 'ENTRYPOINT ["driftbot"]' in final and re.search(r"^HEALTHCHECK .*check-ready", final, re.M)
    assert "-c constraints.txt" in text and "[demo]" not in text  # pinned; no embedded servers


def test_compose_runs_each_process_after_healthy_state_and_redis():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert PROCESSES | {"state", "redis"} <= services.keys()
    for name, svc in services.items():
        assert "healthcheck" in svc, name
    for name in PROCESSES:
        svc = services[name]
        assert f"driftbot {svc['command'][0]}" == procfile()[name]
        assert svc["depends_on"] == {"state": {"condition": "service_healthy"},
                                     "redis": {"condition": "service_healthy"}}
        assert svc["environment"]["DRIFTBOT_STATE_URL"].startswith("postgresql://driftbot:${")  # no password written
    assert "/readyz" in " ".join(services["web"]["healthcheck"]["test"])


def test_kubernetes_has_a_deployment_per_process_with_probes_a_secret_and_a_configmap(monkeypatch, tmp_path):
    docs = list(yaml.safe_load_all((ROOT / "deploy" / "kubernetes" / "driftbot.yaml").read_text()))
    kinds = {d["kind"] for d in docs}
    assert {"Secret", "ConfigMap", "Deployment"} <= kinds
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    assert set(deployments) == {f"driftbot-{p}" for p in PROCESSES}
    for name, dep in deployments.items():
        pod = dep["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert f"driftbot {container['args'][0]}" == procfile()[name.removeprefix("driftbot-")]
        assert "livenessProbe" in container and "readinessProbe" in container, name
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert {"secretRef": {"name": "driftbot"}} in container["envFrom"]
    web = deployments["driftbot-web"]["spec"]["template"]["spec"]["containers"][0]
    assert web["readinessProbe"]["httpGet"]["path"] == "/readyz" and web["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert deployments["driftbot-clock"]["spec"]["replicas"] == 1
    # The ConfigMap's driftbot.toml is one driftbot accepts (the Secret supplies the URLs).
    config = next(d for d in docs if d["kind"] == "ConfigMap")["data"]["driftbot.toml"]
    (tmp_path / "driftbot.toml").write_text(config)
    monkeypatch.setenv("DRIFTBOT_ENVIRONMENTS__PROD__DATABASE_URL", "postgresql://ro@db/app")
    assert load_settings(str(tmp_path / "driftbot.toml")).environment("prod").git
    example = load_settings(str(ROOT / "deploy" / "driftbot.example.toml"))
    assert example.environment("prod").protected


def test_the_offline_slack_flow_script_still_finds_the_test_helpers_it_uses():
    """deploy/offline/slack_flow.py runs only where a container engine does; its imports are checked here."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("slack_flow", ROOT / "deploy" / "offline" / "slack_flow.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert callable(module.main)
