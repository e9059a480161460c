"""The deployment artifacts agree with their schemas and with the code.

Pure file checks: nothing is built, started or applied. Kubernetes objects are
validated against the schemas bundled with kubernetes-validate, docker-compose.yml
against the official Compose specification schema shipped with check-jsonschema
(both offline), KEDA ScaledObjects against the small JSON Schema below, which
covers the keys these files use. Then the files are held to the code: one worker
per queue of ``worker.queues.QUEUES``, setting names from ``Settings``, no
secret values anywhere.
"""

from __future__ import annotations

import fnmatch
import json
import re
import subprocess
import sys
import tomllib
from functools import cache
from pathlib import Path
from typing import Any, get_args
from urllib.parse import urlsplit

import jsonschema
import kubernetes_validate
import pytest
import yaml
from pydantic import AliasChoices, SecretStr
from pydantic.fields import FieldInfo

from worker.queues import QUEUES
from worker.settings import Settings

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
K8S_VERSION = "1.30"  # the oldest Kubernetes the manifests are meant for
SECRET = "toolfleet-secrets"
# `fleet metrics` serves /metrics on FLEET_METRICS_PORT.
METRICS_PORT: int = Settings.model_fields["metrics_port"].default
MCP_PORT: int = Settings.model_fields["mcp_port"].default
# Each provider queue's own credential; a queue not listed gets none.
QUEUE_CREDENTIALS = {
    "github": {"GITHUB_TOKEN"},
    "slack": {"SLACK_BOT_TOKEN"},
    "jira": {"JIRA_API_TOKEN"},
    "http": {"FLEET_WEBHOOK_SECRETS"},
}
SECRET_LOOKING_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|AUTH")
# A reference to the environment, never a value: ${NAME} or ${NAME:?message}.
ENV_REFERENCE = re.compile(r"\$\{[A-Z0-9_]+(:\?[^}]*)?\}")
CREDENTIAL_LOOKING_TEXT = re.compile(
    r"gh[pousr]_[A-Za-z0-9]{20,}|github_pat_\w{20,}|xox[abposr]-[\w-]{10,}"
    r"|-----BEGIN [A-Z ]*PRIVATE KEY|://[^/\s:@]+:(?![<$])[^@\s/]+@"
)


# ---- the code's side ----------------------------------------------------------------


def _env_names(name: str, field: FieldInfo) -> set[str]:
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        return {choice for choice in alias.choices if isinstance(choice, str)}
    if isinstance(alias, str):
        return {alias}
    return {f"{Settings.model_config['env_prefix']}{name}".upper()}


def _holds_secret(annotation: Any) -> bool:
    return annotation is SecretStr or any(_holds_secret(arg) for arg in get_args(annotation))


SETTINGS_ENV = set().union(*(_env_names(n, f) for n, f in Settings.model_fields.items()))
# The SecretStr settings, plus the database URL: it carries the password.
SECRET_ENV = {"FLEET_DATABASE_URL"}.union(
    *(_env_names(n, f) for n, f in Settings.model_fields.items() if _holds_secret(f.annotation))
)


# ---- the files ----------------------------------------------------------------------


@cache
def k8s_objects() -> tuple[dict[str, Any], ...]:
    docs: list[dict[str, Any]] = []
    for path in sorted(DEPLOY.glob("*.yaml")):
        docs += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return tuple(docs)


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [obj for obj in k8s_objects() if obj["kind"] == kind]


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    return workload["spec"]["template"]["spec"]


def all_containers() -> list[dict[str, Any]]:
    workloads = of_kind("Deployment") + of_kind("Job")
    return [c for w in workloads for c in pod_spec(w)["containers"]]


def arg(args: list[str], flag: str) -> str:
    return args[args.index(flag) + 1]


def deployments_running(command: str) -> list[dict[str, Any]]:
    return [d for d in of_kind("Deployment") if pod_spec(d)["containers"][0]["args"][0] == command]


def service_for(workload: dict[str, Any]) -> dict[str, Any]:
    """The one Service selecting this workload's pods."""
    pod_labels = workload["spec"]["template"]["metadata"]["labels"]
    (service,) = [s for s in of_kind("Service") if s["spec"]["selector"] == pod_labels]
    return service


def worker_args(deployment: dict[str, Any]) -> list[str]:
    return pod_spec(deployment)["containers"][0]["args"]


def workers_by_queue() -> dict[str, dict[str, Any]]:
    return {arg(worker_args(d), "-Q"): d for d in deployments_running("worker")}


def secret_refs(container: dict[str, Any]) -> set[str]:
    return {
        e["valueFrom"]["secretKeyRef"]["key"]
        for e in container.get("env", [])
        if "secretKeyRef" in e.get("valueFrom", {})
    }


def configmap() -> dict[str, str]:
    (config,) = of_kind("ConfigMap")
    return config["data"]


@cache
def compose() -> dict[str, Any]:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def compose_services_running(command: str) -> dict[str, dict[str, Any]]:
    return {n: s for n, s in compose()["services"].items() if s.get("command", [""])[0] == command}


def fleet_services() -> dict[str, dict[str, Any]]:
    """The services running the fleet's own image (built from the Dockerfile)."""
    return {n: s for n, s in compose()["services"].items() if "build" in s}


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (REPO / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (op.upper(), rest.strip())
        for op, _, rest in (line.partition(" ") for line in lines)
        if op and not op.startswith("#")
    ]


def seconds(duration: str) -> int:
    """A Compose duration ("5m", "90s", "1m30s") in seconds."""
    units = {"h": 3600, "m": 60, "s": 1}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([hms])", duration))


# ---- schemas for what kubernetes-validate does not know ----------------------------

STRING = {"type": "string"}
KEDA_SCALED_OBJECT = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "keda.sh/v1alpha1"},
        "kind": {"const": "ScaledObject"},
        "metadata": {"type": "object", "required": ["name", "labels"]},
        "spec": {
            "type": "object",
            "required": ["scaleTargetRef", "minReplicaCount", "maxReplicaCount", "triggers"],
            "additionalProperties": False,
            "properties": {
                "scaleTargetRef": {
                    "type": "object",
                    "required": ["name"],
                    "additionalProperties": False,
                    "properties": {"name": STRING, "kind": {"const": "Deployment"}},
                },
                "minReplicaCount": {"type": "integer", "minimum": 0},
                "maxReplicaCount": {"type": "integer", "minimum": 1},
                "pollingInterval": {"type": "integer", "minimum": 1},
                "cooldownPeriod": {"type": "integer", "minimum": 0},
                "advanced": {"type": "object"},
                "triggers": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["type", "metadata"],
                        "additionalProperties": False,
                        "properties": {
                            "type": {"const": "redis"},
                            # KEDA reads trigger metadata as strings only.
                            "metadata": {
                                "type": "object",
                                "required": ["address", "listName", "listLength"],
                                "additionalProperties": False,
                                "properties": {
                                    "address": {"type": "string", "pattern": r"^[^:/\s]+:\d+$"},
                                    "databaseIndex": {"type": "string", "pattern": r"^\d+$"},
                                    "listName": {"enum": sorted(QUEUES)},
                                    "listLength": {"type": "string", "pattern": r"^[1-9]\d*$"},
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}


# ---- Kubernetes ---------------------------------------------------------------------


def _object_id(obj: dict[str, Any]) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


@pytest.mark.parametrize(
    "obj",
    [o for o in k8s_objects() if o["kind"] != "ScaledObject"],
    ids=_object_id,
)
def test_every_standard_object_is_valid_kubernetes(obj):
    # Given a manifest object, when validated strictly (unknown fields refused)
    # against the bundled schema of its kind, then it is valid.
    kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


@pytest.mark.parametrize("obj", of_kind("ScaledObject"), ids=_object_id)
def test_every_scaled_object_is_a_keda_redis_list_scaler(obj):
    jsonschema.validate(obj, KEDA_SCALED_OBJECT)


def test_every_queue_has_exactly_one_worker_deployment_consuming_only_it():
    # Given the worker Deployments, each identified by what it consumes (-Q)
    queues = [arg(worker_args(d), "-Q") for d in deployments_running("worker")]

    # Then they are the code's queues, each once, each worker named after its own
    assert sorted(queues) == sorted(QUEUES)
    for queue, deployment in workers_by_queue().items():
        args = worker_args(deployment)
        assert deployment["metadata"]["name"] == f"toolfleet-worker-{queue}"
        assert arg(args, "-n") == f"{queue}@%h"
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert labels["app.kubernetes.io/component"] == f"worker-{queue}"


def test_every_queue_scales_on_its_own_redis_list_in_steps_of_one_worker():
    workers = workers_by_queue()
    scalers = of_kind("ScaledObject")
    lists = [s["spec"]["triggers"][0]["metadata"]["listName"] for s in scalers]

    assert sorted(lists) == sorted(QUEUES)
    for scaler in scalers:
        trigger = scaler["spec"]["triggers"][0]["metadata"]
        target = workers[trigger["listName"]]
        # It scales the Deployment that consumes the list it measures...
        assert scaler["spec"]["scaleTargetRef"]["name"] == target["metadata"]["name"]
        # ...and one replica per full worker's worth (-c threads) of waiting calls.
        assert trigger["listLength"] == arg(worker_args(target), "-c")
        assert scaler["spec"]["minReplicaCount"] <= scaler["spec"]["maxReplicaCount"]


def test_the_autoscaler_measures_the_redis_the_workers_consume():
    broker = urlsplit(configmap()["FLEET_BROKER_URL"])

    for scaler in of_kind("ScaledObject"):
        trigger = scaler["spec"]["triggers"][0]["metadata"]
        assert trigger["address"] == f"{broker.hostname}:{broker.port or 6379}"
        assert trigger.get("databaseIndex", "0") == (broker.path.strip("/") or "0")


def test_every_queue_has_a_disruption_budget_that_never_blocks_a_node_drain():
    budgets = of_kind("PodDisruptionBudget")
    min_replicas = {
        s["spec"]["scaleTargetRef"]["name"]: s["spec"]["minReplicaCount"]
        for s in of_kind("ScaledObject")
    }

    assert len(budgets) == len(QUEUES)
    for queue, deployment in workers_by_queue().items():
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        guarding = [b for b in budgets if b["spec"]["selector"]["matchLabels"] == pod_labels]
        assert len(guarding) == 1, f"{queue}: {len(guarding)} budgets select its pods"
        assert guarding[0]["spec"]["minAvailable"] == 1
        # More pods than the budget keeps: a drain can always evict one.
        assert min_replicas[deployment["metadata"]["name"]] > 1


def test_exactly_one_beat_is_ever_scheduled():
    (beat,) = deployments_running("beat")

    assert beat["spec"]["replicas"] == 1
    # Recreate: the old beat is gone before the new one starts, never two at once.
    assert beat["spec"]["strategy"]["type"] == "Recreate"
    scaled = {s["spec"]["scaleTargetRef"]["name"] for s in of_kind("ScaledObject")}
    assert beat["metadata"]["name"] not in scaled


def test_flower_requires_basic_auth_from_the_secret_and_stays_inside_the_cluster():
    (flower,) = deployments_running("flower")
    (container,) = pod_spec(flower)["containers"]
    env = {e["name"]: e for e in container["env"]}

    assert env["FLEET_FLOWER_ADDRESS"]["value"] == "0.0.0.0"
    auth = env["FLEET_FLOWER_BASIC_AUTH"]["valueFrom"]["secretKeyRef"]
    assert auth["name"] == SECRET
    assert not auth.get("optional", False)  # no auth configured, no Flower pod
    service = service_for(flower)
    assert service["spec"]["type"] == "ClusterIP"
    port_names = {p["name"] for p in container["ports"]}
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= port_names


def test_the_mcp_server_requires_its_token_from_the_secret_and_stays_inside_the_cluster():
    (server,) = deployments_running("mcp")
    (container,) = pod_spec(server)["containers"]
    env = {e["name"]: e for e in container["env"]}
    (port,) = container["ports"]

    assert container["args"] == ["mcp", "--http"]
    assert server["spec"]["replicas"] == 1  # sessions live in the server that opened them
    assert port["containerPort"] == MCP_PORT
    assert env["FLEET_MCP_ADDRESS"]["value"] == "0.0.0.0"
    token = env["FLEET_MCP_TOKEN"]["valueFrom"]["secretKeyRef"]
    assert token["name"] == SECRET and not token.get("optional", False)
    assert secret_refs(container) == {"FLEET_MCP_TOKEN", "FLEET_DATABASE_URL"}
    assert service_for(server)["spec"]["type"] == "ClusterIP"


def test_exactly_one_metrics_exporter_serves_metrics_on_its_port():
    (exporter,) = deployments_running("metrics")
    (container,) = pod_spec(exporter)["containers"]
    (port,) = container["ports"]

    # One replica, never two at once: every scrape reads fleet-wide state.
    assert exporter["metadata"]["name"] == "toolfleet-metrics"
    assert exporter["spec"]["replicas"] == 1
    assert exporter["spec"]["strategy"]["type"] == "Recreate"
    scaled = {s["spec"]["scaleTargetRef"]["name"] for s in of_kind("ScaledObject")}
    assert exporter["metadata"]["name"] not in scaled
    assert container["args"] == ["metrics"]
    assert port["containerPort"] == METRICS_PORT
    for probe in (container["readinessProbe"], container["livenessProbe"]):
        assert probe["httpGet"] == {"path": "/metrics", "port": port["name"]}
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    # It reads the ledger and Redis, and calls no provider.
    assert secret_refs(container) == {"FLEET_DATABASE_URL"}


def test_the_metrics_service_is_annotated_for_scraping_inside_the_cluster():
    (exporter,) = deployments_running("metrics")
    (container,) = pod_spec(exporter)["containers"]
    service = service_for(exporter)

    assert service["spec"]["type"] == "ClusterIP"
    (port,) = service["spec"]["ports"]
    assert port["port"] == METRICS_PORT
    assert port["targetPort"] == container["ports"][0]["name"]
    assert service["metadata"]["annotations"] == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(METRICS_PORT),
        "prometheus.io/path": "/metrics",
    }
    # Annotated on the Service only, or a Prometheus discovering pods too scrapes it twice.
    assert not any(
        key.startswith("prometheus.io/")
        for key in exporter["spec"]["template"]["metadata"].get("annotations", {})
    )


def test_secrets_come_only_from_the_secret_reference():
    # No Secret object (values) is committed, the ConfigMap holds no secret...
    assert of_kind("Secret") == []
    assert set(configmap()) & SECRET_ENV == set()
    # ...and every secret setting a container gets is a reference into the Secret.
    for container in all_containers():
        for entry in container.get("env", []):
            if entry["name"] in SECRET_ENV:
                assert "value" not in entry, entry["name"]
                assert entry["valueFrom"]["secretKeyRef"]["name"] == SECRET
                assert entry["valueFrom"]["secretKeyRef"]["key"] == entry["name"]


def test_each_worker_holds_only_its_own_providers_credential():
    for queue, deployment in workers_by_queue().items():
        (container,) = pod_spec(deployment)["containers"]

        allowed = {"FLEET_DATABASE_URL"} | QUEUE_CREDENTIALS.get(queue, set())
        assert secret_refs(container) == allowed, queue


def test_every_setting_the_manifests_set_is_a_setting_of_the_code():
    names = set(configmap()) | {e["name"] for c in all_containers() for e in c.get("env", [])}

    assert names - SETTINGS_ENV == set()


def test_labels_are_consistent_and_every_selector_selects_its_own_pods():
    for obj in k8s_objects():
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/name"] == "toolfleet", _object_id(obj)
        assert labels["app.kubernetes.io/component"], _object_id(obj)
    for workload in of_kind("Deployment") + of_kind("Job"):
        pod_labels = workload["spec"]["template"]["metadata"]["labels"]
        assert pod_labels == workload["metadata"]["labels"]
        if workload["kind"] == "Deployment":
            assert workload["spec"]["selector"]["matchLabels"] == pod_labels
    deployments = of_kind("Deployment")
    components = {d["metadata"]["labels"]["app.kubernetes.io/component"] for d in deployments}
    assert len(components) == len(deployments)


def test_workers_are_given_time_to_finish_their_running_calls():
    from tasks.http import HttpRequest

    longest_timeout = max(
        m.le for m in HttpRequest.model_fields["timeout"].metadata if hasattr(m, "le")
    )
    compose_workers = compose_services_running("worker").values()
    compose_grace = {seconds(service["stop_grace_period"]) for service in compose_workers}

    for deployment in deployments_running("worker"):
        grace = pod_spec(deployment)["terminationGracePeriodSeconds"]
        # A warm shutdown waits for running calls; the longest may time out per hop.
        assert grace >= 2 * longest_timeout
        assert compose_grace == {grace}


def test_every_container_runs_the_one_image_as_the_images_non_root_user():
    uid = int(next(a for op, a in dockerfile() if op == "USER").split(":")[0])

    assert len({c["image"] for c in all_containers()}) == 1
    for workload in of_kind("Deployment") + of_kind("Job"):
        security = pod_spec(workload)["securityContext"]
        assert security["runAsNonRoot"] is True
        assert security["runAsUser"] == uid


def test_the_migration_job_runs_fleet_migrate_once():
    (job,) = of_kind("Job")

    assert pod_spec(job)["containers"][0]["args"] == ["migrate"]
    assert pod_spec(job)["restartPolicy"] == "Never"


# ---- docker compose -----------------------------------------------------------------


def check_compose_schema(path: Path) -> list[str]:
    """The Compose specification's complaints about a file (none: it is valid)."""
    schema = ["--builtin-schema", "vendor.compose-spec", "--output-format", "json"]
    checked = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", *schema, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    report = json.loads(checked.stdout)
    errors = [f"{e['path']}: {e['message']}" for e in report.get("errors", [])]
    errors += [str(e) for e in report.get("parse_errors", [])]
    assert (checked.returncode == 0) == (not errors), checked.stderr
    return errors


def test_the_compose_file_matches_the_compose_specification():
    assert "version" not in compose()  # obsolete: the specification ignores it
    assert check_compose_schema(REPO / "docker-compose.yml") == []


@pytest.mark.parametrize(
    ("service", "complaint"),
    [
        ({"image": "redis:7", "ports": "not-a-list"}, "is not of type 'array'"),
        ({"image": "redis:7", "stop_grace_perod": "5m"}, "'stop_grace_perod' was unexpected"),
    ],
    ids=["ports-not-a-list", "misspelt-key"],
)
def test_the_compose_check_rejects_a_broken_file(tmp_path, service, complaint):
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(yaml.safe_dump({"services": {"redis": service}}))

    errors = check_compose_schema(broken)

    assert any(complaint in error for error in errors), errors


def test_compose_runs_one_worker_service_per_queue_each_on_its_own_queue():
    workers = compose_services_running("worker")

    assert set(workers) == {f"worker-{q}" for q in QUEUES}
    for name, service in workers.items():
        queue = name.removeprefix("worker-")
        assert arg(service["command"], "-Q") == queue
        assert arg(service["command"], "-n") == f"{queue}@%h"


def test_compose_workers_start_after_the_migration_and_a_healthy_redis():
    services = compose()["services"]

    for service in compose_services_running("worker").values():
        assert service["depends_on"] == {
            "migrate": {"condition": "service_completed_successfully"},
            "redis": {"condition": "service_healthy"},
        }
    (migrate,) = compose_services_running("migrate").values()
    assert migrate["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert migrate["restart"] == "no"
    assert "pg_isready" in services["postgres"]["healthcheck"]["test"]
    assert "healthcheck" in services["redis"]
    # Every dependency exists, every named volume is declared.
    for service in services.values():
        assert set(service.get("depends_on", {})) <= set(services)
        for volume in service.get("volumes", []):
            assert volume.split(":")[0] in compose()["volumes"]


def test_compose_runs_exactly_one_beat_that_cannot_be_scaled():
    (beat,) = compose_services_running("beat").values()

    # A fixed container name makes `docker compose up --scale beat=2` an error.
    assert beat["container_name"]


def test_compose_runs_exactly_one_metrics_exporter_published_on_loopback():
    (metrics,) = compose_services_running("metrics").values()

    assert metrics["command"] == ["metrics"]
    assert metrics["container_name"]  # `--scale metrics=2` fails, like beat's
    assert metrics["ports"] == [f"127.0.0.1:{METRICS_PORT}:{METRICS_PORT}"]
    assert metrics["depends_on"] == {"redis": {"condition": "service_healthy"}}


def test_compose_flower_requires_basic_auth_and_is_published_on_loopback_only():
    (flower,) = compose_services_running("flower").values()
    env = flower["environment"]

    assert env["FLEET_FLOWER_ADDRESS"] == "0.0.0.0"
    assert re.fullmatch(r"\$\{FLEET_FLOWER_BASIC_AUTH:\?[^}]+\}", env["FLEET_FLOWER_BASIC_AUTH"])
    assert flower["ports"] and all(p.startswith("127.0.0.1:") for p in flower["ports"])
    published = {n for n, s in compose()["services"].items() if s.get("ports")}
    # Redis and Postgres stay on the compose network.
    assert published == {"flower", "metrics", "mcp"}


def test_compose_mcp_requires_its_token_and_is_published_on_loopback_only():
    (mcp,) = compose_services_running("mcp").values()
    env = mcp["environment"]

    assert mcp["command"] == ["mcp", "--http"]
    assert env["FLEET_MCP_ADDRESS"] == "0.0.0.0"
    assert re.fullmatch(r"\$\{FLEET_MCP_TOKEN:\?[^}]+\}", env["FLEET_MCP_TOKEN"])
    assert mcp["ports"] == [f"127.0.0.1:{MCP_PORT}:{MCP_PORT}"]


def test_compose_passes_secrets_through_from_the_environment_never_literally():
    for name, service in compose()["services"].items():
        for key, value in service.get("environment", {}).items():
            if key in SECRET_ENV - {"FLEET_DATABASE_URL"} or SECRET_LOOKING_NAME.search(key):
                assert value is None or ENV_REFERENCE.fullmatch(value), f"{name}: {key}"
    for service in fleet_services().values():
        password = urlsplit(service["environment"]["FLEET_DATABASE_URL"]).password
        assert password is None or ENV_REFERENCE.fullmatch(password)


def test_every_setting_compose_sets_is_a_setting_of_the_code():
    for name, service in fleet_services().items():
        assert set(service["environment"]) - SETTINGS_ENV == set(), name


# ---- the image ----------------------------------------------------------------------


def test_the_image_is_python_slim_installs_the_project_and_runs_fleet_as_non_root():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    python = project["requires-python"].removeprefix(">=")
    instructions = dockerfile()
    ops = [op for op, _ in instructions]

    assert instructions[0] == ("FROM", f"python:{python}-slim")
    assert any(op == "RUN" and "pip install" in a for op, a in instructions)
    user = next(a for op, a in instructions if op == "USER")
    assert user.split(":")[0] not in ("root", "0")
    assert ops.index("USER") < ops.index("ENTRYPOINT")
    entrypoint = next(a for op, a in instructions if op == "ENTRYPOINT")
    assert entrypoint == '["fleet"]'
    assert "fleet" in project["scripts"]


def test_the_image_copies_everything_the_package_is_built_from_and_nothing_ignored():
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    setuptools = pyproject["tool"]["setuptools"]
    needed = {
        "pyproject.toml",
        pyproject["project"]["readme"],
        *(f"{m}.py" for m in setuptools["py-modules"]),
        *(p.rstrip("*").split(".")[0] for p in setuptools["packages"]["find"]["include"]),
    }
    copied = {
        src.strip("/")
        for op, a in dockerfile()
        if op == "COPY"
        for src in a.split()[:-1]
        if not src.startswith("--")
    }
    ignored = [
        line.strip().strip("/")
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]

    assert needed <= copied
    assert {".git", ".venv"} <= set(ignored)
    for src in copied:
        assert not any(fnmatch.fnmatch(src, pattern) for pattern in ignored), src


def test_the_image_bakes_in_no_secret():
    for op, arguments in dockerfile():
        if op in ("ENV", "ARG"):
            names = set(re.findall(r"([A-Z_][A-Z0-9_]*)=", arguments)) or {arguments.split()[0]}
            assert not names & SECRET_ENV
            assert not any(SECRET_LOOKING_NAME.search(n) for n in names)


# ---- everything ---------------------------------------------------------------------


ARTIFACTS = [
    REPO / "Dockerfile",
    REPO / ".dockerignore",
    REPO / "docker-compose.yml",
    *sorted(p for p in DEPLOY.rglob("*") if p.is_file()),
]


@pytest.mark.parametrize("path", ARTIFACTS, ids=lambda p: str(p.relative_to(REPO)))
def test_no_artifact_contains_a_credential(path):
    assert CREDENTIAL_LOOKING_TEXT.findall(path.read_text()) == []


def test_the_secret_settings_are_recognised():
    # The checks above are only as good as this list: the credentials are in it.
    assert {
        "GITHUB_TOKEN",
        "SLACK_BOT_TOKEN",
        "JIRA_API_TOKEN",
        "FLEET_WEBHOOK_SECRETS",
        "FLEET_FLOWER_BASIC_AUTH",
        "FLEET_DATABASE_URL",
    } <= SECRET_ENV
    assert set(QUEUE_CREDENTIALS) <= set(QUEUES)
    assert set().union(*QUEUE_CREDENTIALS.values()) <= SECRET_ENV
