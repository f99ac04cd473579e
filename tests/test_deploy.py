"""The deployment files agree with the code: the Dockerfile's stages and user, compose's services,
healthchecks and start order, the Kubernetes Deployments' probes, Secret and ConfigMap."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml

from driftbot.settings import Settings, load_settings
from tests.manifests import validate

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
    assert re.search(r"^ARG EXTRAS=$", text, re.M)  # no extra (otel: traces) unless the build asks for one


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
    # The worker serves /metrics on the port it declares, by the variable the settings read.
    worker = deployments["driftbot-worker"]["spec"]["template"]["spec"]["containers"][0]
    port = next(p["containerPort"] for p in worker["ports"] if p["name"] == "metrics")
    for var in worker["env"]:
        if var["name"] != "DRIFTBOT_CONFIG":
            monkeypatch.setenv(var["name"], var["value"])
    assert Settings().worker_metrics_port == port
    # The ConfigMap's driftbot.toml is one driftbot accepts (the Secret supplies the URLs).
    config = next(d for d in docs if d["kind"] == "ConfigMap")["data"]["driftbot.toml"]
    (tmp_path / "driftbot.toml").write_text(config)
    monkeypatch.setenv("DRIFTBOT_ENVIRONMENTS__PROD__DATABASE_URL", "postgresql://ro@db/app")
    assert load_settings(str(tmp_path / "driftbot.toml")).environment("prod").git
    example = load_settings(str(ROOT / "deploy" / "driftbot.example.toml"))
    assert example.environment("prod").protected


def test_the_kubernetes_manifests_are_valid_for_the_kubernetes_versions_driftbot_supports():
    """Kubernetes' own schemas (kubernetes-validate, strict: an unknown or misspelt field is refused), for the
    oldest Kubernetes the Helm chart supports and the newest known; the same check as the chart's."""
    docs = [d for d in yaml.safe_load_all((ROOT / "deploy" / "kubernetes" / "driftbot.yaml").read_text()) if d]
    assert len(docs) == 6
    for doc in docs:
        validate(doc)
    broken = [d for d in docs if d["kind"] == "Deployment"][0]
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["periodSecond"] = 10
    with pytest.raises(AssertionError, match="'periodSecond' was unexpected"):
        validate(broken)


def test_the_offline_slack_flow_script_still_finds_the_test_helpers_it_uses():
    """deploy/offline/slack_flow.py runs only where a container engine does; its imports are checked here."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("slack_flow", ROOT / "deploy" / "offline" / "slack_flow.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert callable(module.main)


# --- the deploy files against the documented variables (docs/settings.md, "Process environment") ---

OPTIONAL = {"PORT", "DRIFTBOT_DEBUG", "DRIFTBOT_SLACK_API_URL", "DRIFTBOT_GITHUB_API_URL", "DRIFTBOT_LOG_FORMAT",
            "PROMETHEUS_MULTIPROC_DIR", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"}  # defaults that do


def documented_variables() -> set[str]:
    """The process environment as the configuration reference lists it, for an environment `prod`."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("gen_settings", ROOT / "docs" / "gen_settings.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    names = {name.replace("<ENV>", "PROD") for name in gen.process_variables()}
    page = (ROOT / "docs" / "settings.md").read_text()
    assert all(f"`{name.replace('PROD', '<ENV>')}`" in page for name in names)  # documented, not just known
    return names


def env_file(path: Path) -> dict[str, str]:
    pairs = [line.split("=", 1) for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]
    return {name: value for name, value in pairs}


def test_one_image_name_in_the_dockerfile_compose_kubernetes_and_the_docs():
    version = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M).group(1)
    image = f"driftbot:{version}"
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    assert {compose["services"][p]["image"] for p in PROCESSES} == {image}
    k8s = [d for d in yaml.safe_load_all((ROOT / "deploy" / "kubernetes" / "driftbot.yaml").read_text())]
    assert {c["image"] for d in k8s if d["kind"] == "Deployment" for c in d["spec"]["template"]["spec"]["containers"]} == {image}
    assert f"docker build -t {image} ." in (ROOT / "Dockerfile").read_text()
    texts = [ROOT / "README.md", ROOT / "Dockerfile", ROOT / "compose.yaml", *sorted((ROOT / "docs").glob("*.md")),
             *sorted((ROOT / "deploy").rglob("*")), ]
    named = set()
    for path in texts:
        if path.is_file() and path.suffix in ("", ".md", ".yaml", ".yml", ".toml", ".example"):
            named |= set(re.findall(r"(?<![\w/@.-])driftbot:(?:\d[\w.]*|local|latest)\b", path.read_text()))
    assert named == {image}, named
    assert image in (ROOT / "docs" / "deploying.md").read_text()


def test_compose_passes_every_documented_variable_through_its_env_file(monkeypatch, tmp_path):
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    example = env_file(ROOT / "deploy" / "driftbot.env.example")
    for process in PROCESSES:
        svc = compose["services"][process]
        files = svc["env_file"] if isinstance(svc["env_file"], list) else [svc["env_file"]]
        assert "driftbot.env" in files, process
        missing = documented_variables() - set(example) - set(svc["environment"])
        assert not missing, f"{process}: documented but neither in driftbot.env.example nor set by compose: {missing}"
    assert "driftbot.env" in (ROOT / ".gitignore").read_text().split()
    # The example works as it is, once its placeholders are replaced: the key it ships is refused.
    from driftbot.errors import ConfigError

    for name in list(os.environ):
        if name.startswith(("DRIFTBOT_", "SLACK_")) or name in ("REDIS_URL", "GITHUB_TOKEN", "PORT"):
            monkeypatch.delenv(name)
    for name, value in example.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("DRIFTBOT_CONFIG")
    with pytest.raises(ConfigError, match="token_hex"):
        load_settings(str(ROOT / "deploy" / "driftbot.example.toml"))
    monkeypatch.setenv("DRIFTBOT_AUDIT_KEY", "k" * 64)
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    settings = load_settings(str(ROOT / "deploy" / "driftbot.example.toml"))
    prod = settings.environment("prod")
    assert prod.admin_url.startswith("postgresql://driftbot_admin") and prod.git_token is None  # empty: unset
    assert settings.slack_app_token is None and settings.github_token is None and settings.port == 3000
    assert settings.slack_bot_token.get_secret_value() == "xoxb-1"


def test_the_kubernetes_secret_carries_every_documented_secret_and_url():
    docs = list(yaml.safe_load_all((ROOT / "deploy" / "kubernetes" / "driftbot.yaml").read_text()))
    secret = next(d for d in docs if d["kind"] == "Secret" and d["metadata"]["name"] == "driftbot")
    for dep in (d for d in docs if d["kind"] == "Deployment"):
        (container,) = dep["spec"]["template"]["spec"]["containers"]
        passed = set(secret["stringData"]) | {e["name"] for e in container.get("env", [])}
        missing = documented_variables() - OPTIONAL - passed
        assert not missing, f"{dep['metadata']['name']}: documented but not passed: {missing}"
    for name in ("DRIFTBOT_AUDIT_KEY", "SLACK_APP_TOKEN", "GITHUB_TOKEN"):
        assert name in secret["stringData"]
