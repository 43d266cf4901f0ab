"""deploy/: what an operator copies. Each file parses, names only settings the service has,
points its probes at real routes of the app, and keeps the graceful stop longer than the grace."""

from pathlib import Path

import yaml
from starlette.routing import Route as StarletteRoute

from api.app import create_app
from infra.settings import PROJECT_ROOT, Settings
from tests.support import app_settings

DEPLOY = PROJECT_ROOT / "deploy"
SETTINGS = {name.upper() for name in Settings.model_fields}
HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "RestrictSUIDSGID": "yes",
    "CapabilityBoundingSet": "",
}


def get_routes() -> set[str]:
    app = create_app(app_settings("postgresql://nobody@127.0.0.1:1/none"))  # routes only: no lifespan
    return {route.path for route in app.routes if isinstance(route, StarletteRoute) and "GET" in route.methods}


def manifests() -> dict[str, dict]:
    documents = {}
    for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            documents[document["kind"]] = document
    return documents


def unit() -> dict[str, dict[str, list[str]]]:
    """A systemd unit as {section: {key: [values, in order]}} (a key may repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for raw in (DEPLOY / "config-service.service").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, value = line.split("=", 1)
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def test_the_kubernetes_manifests_hold_what_the_deployment_needs():
    documents = manifests()
    assert set(documents) >= {"Deployment", "Service", "ConfigMap", "Secret", "PodDisruptionBudget", "Kustomization"}
    listed = set(documents["Kustomization"]["resources"])
    assert listed == {p.name for p in (DEPLOY / "kubernetes").glob("*.yaml")} - {"kustomization.yaml"}


def test_the_probes_point_at_real_routes_on_the_containers_port():
    deployment = manifests()["Deployment"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    port_names = {port["name"] for port in container["ports"]}
    probes = {name: container[name]["httpGet"] for name in ("livenessProbe", "readinessProbe", "startupProbe")}
    routes = get_routes()
    for name, probe in probes.items():
        assert probe["path"] in routes, (name, probe["path"])
        assert probe["port"] in port_names, name
    assert probes["readinessProbe"]["path"] == "/health/ready"
    assert probes["livenessProbe"]["path"] == "/health/live"


def test_every_setting_the_manifests_name_exists_and_the_grace_fits():
    documents = manifests()
    config = documents["ConfigMap"]["data"]
    secret = documents["Secret"]["stringData"]
    assert set(config) <= SETTINGS, set(config) - SETTINGS
    assert set(secret) == {"DATABASE_URL", "DATABASE_REPLICA_URLS"}
    Settings(_env_file=None, **{key.lower(): value for key, value in {**config, **secret}.items()})  # all valid
    spec = documents["Deployment"]["spec"]["template"]["spec"]
    container = spec["containers"][0]
    assert {env["name"] for env in container["env"]} <= SETTINGS
    assert container["envFrom"][0]["configMapRef"]["name"] == documents["ConfigMap"]["metadata"]["name"]
    assert container["env"][0]["valueFrom"]["secretKeyRef"]["name"] == documents["Secret"]["metadata"]["name"]
    assert spec["terminationGracePeriodSeconds"] > float(config["SHUTDOWN_GRACE"])
    assert int(config["WORKERS"]) <= int(container["resources"]["limits"]["cpu"])
    assert container["ports"][0]["containerPort"] == int(config["PORT"])


def test_the_service_and_the_disruption_budget_select_the_deployments_pods():
    documents = manifests()
    labels = documents["Deployment"]["spec"]["template"]["metadata"]["labels"]
    assert documents["Deployment"]["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert documents["Service"]["spec"]["selector"].items() <= labels.items()
    assert documents["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert documents["PodDisruptionBudget"]["spec"]["maxUnavailable"] < documents["Deployment"]["spec"]["replicas"]
    target = documents["Service"]["spec"]["ports"][0]["targetPort"]
    assert target in {
        port["name"] for port in documents["Deployment"]["spec"]["template"]["spec"]["containers"][0]["ports"]
    }


def test_the_systemd_unit_runs_the_service_hardened_with_settings_it_has():
    sections = unit()
    service = sections["Service"]
    assert service["ExecStart"][0].endswith(" -m api")
    for key, value in HARDENING.items():
        assert service.get(key) == [value], key
    environment = dict(item.split("=", 1) for item in service["Environment"])
    assert set(environment) <= SETTINGS, set(environment) - SETTINGS
    Settings(_env_file=None, **{key.lower(): value for key, value in environment.items()})  # all valid
    # The embedded cluster's folder, if used, is writable; nothing else is.
    assert Path(environment["PG_DATA_DIR"]).parent == Path(service["ReadWritePaths"][0])
    assert float(service["TimeoutStopSec"][0]) > float(environment["SHUTDOWN_GRACE"])
    assert service["KillMode"] == ["mixed"]  # SIGTERM to the parent alone: it stops the workers, then PostgreSQL
    assert "WantedBy" in sections["Install"]
