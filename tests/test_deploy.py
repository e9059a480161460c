"""The deployment artifacts agree with their schemas and with the code.

Pure file checks: nothing is built, started or applied. Kubernetes objects are
validated against the schemas bundled with kubernetes-validate, docker-compose.yml
against the official Compose specification schema shipped with check-jsonschema
(both offline), KEDA ScaledObjects against the small JSON Schema below, which
covers the keys these files use. Then the files are held to the code: one worker
per queue of ``worker.queues.QUEUES``, setting names from ``Settings``, no
secret values anywhere, and least privilege: each process holds exactly the
secrets its work reads (derived from the queues and each provider's declared
``secret_settings``), Redis wants a password, and the network policies let only
the fleet's pods reach Redis and Postgres.
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
from pydantic import AliasChoices, BaseModel, SecretStr
from pydantic.fields import FieldInfo

from worker.queues import QUEUES, queue_for
from worker.runtime.catalog import Provider, catalog
from worker.settings import Settings
from worker.syncs.kinds import sync_kinds

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
K8S_VERSION = "1.30"  # the oldest Kubernetes the manifests are meant for
SECRET = "toolfleet-secrets"
# `fleet metrics` serves /metrics on FLEET_METRICS_PORT.
METRICS_PORT: int = Settings.model_fields["metrics_port"].default
MCP_PORT: int = Settings.model_fields["mcp_port"].default
BROKER, LEDGER = "FLEET_BROKER_URL", "FLEET_DATABASE_URL"
# The Secret's key for Redis' own password (requirepass, KEDA): not a setting of the code.
REDIS_PASSWORD = "REDIS_PASSWORD"
# What each kind of process holds besides its queues' provider credentials
# (worker/cli/processes.py): beat records the syncs' definitions in the ledger
# at start, the migration touches the ledger only.
PROCESS_SECRETS = {
    "worker": {BROKER, LEDGER},
    "beat": {BROKER, LEDGER},
    "flower": {BROKER, LEDGER, "FLEET_FLOWER_BASIC_AUTH"},
    "mcp": {BROKER, LEDGER, "FLEET_MCP_TOKEN"},
    "metrics": {BROKER, LEDGER},
    "migrate": {LEDGER},
}
SECRET_LOOKING_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|AUTH")
# A reference to the environment, never a value: ${NAME} or ${NAME:?message}.
ENV_REFERENCE = re.compile(r"\$\{[A-Z0-9_]+(:\?[^}]*)?\}")
# One that must be set: ${NAME:?message} (compose refuses to run without it).
REQUIRED_REFERENCE = re.compile(r"\$\{([A-Z0-9_]+):\?[^}]+\}")
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
    """A SecretStr, or a type holding one anywhere (dict[str, HttpCredential]...)."""
    if annotation is SecretStr:
        return True
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return any(_holds_secret(f.annotation) for f in annotation.model_fields.values())
    return any(_holds_secret(arg) for arg in get_args(annotation))


SETTINGS_ENV = set().union(*(_env_names(n, f) for n, f in Settings.model_fields.items()))
SECRET_FIELDS = {n for n, f in Settings.model_fields.items() if _holds_secret(f.annotation)}
# The secret-holding settings, plus the URLs: they carry Redis' and Postgres' passwords.
SECRET_ENV = {BROKER, "FLEET_RESULT_BACKEND", LEDGER}.union(
    *(_env_names(n, Settings.model_fields[n]) for n in SECRET_FIELDS)
)


def _providers_of(queue: str) -> dict[str, Provider]:
    """The providers whose tools or syncs (task ``sync.<kind>``) run on ``queue``."""
    found = {s.provider.name: s.provider for n, s in catalog().items() if queue_for(n) == queue}
    for name, kind in sync_kinds().items():
        if queue_for(f"sync.{name}") == queue:
            found[kind.provider.name] = kind.provider
    return found


def provider_secrets(queue: str) -> set[str]:
    """The env names of the credentials the providers of ``queue`` declare."""
    return {
        env
        for provider in _providers_of(queue).values()
        for field in provider.secret_settings
        for env in _env_names(field, Settings.model_fields[field])
    }


def expected_secrets(args: list[str]) -> set[str]:
    """The secrets a process started with ``fleet <args>`` needs, and may hold."""
    needed = set(PROCESS_SECRETS[args[0]])
    if args[0] == "worker":
        for queue in arg(args, "-Q").split(","):
            needed |= provider_secrets(queue)
    return needed


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
    """The fleet's own containers (the image's processes)."""
    workloads = of_kind("Deployment") + of_kind("Job")
    return [c for w in workloads for c in pod_spec(w)["containers"]]


def fleet_workloads() -> list[dict[str, Any]]:
    """Deployments and Jobs running the fleet's image, and the StatefulSets beside them."""
    return of_kind("Deployment") + of_kind("Job") + of_kind("StatefulSet")


def component(workload: dict[str, Any]) -> str:
    return workload["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]


def components_holding(key: str) -> set[str]:
    """The components whose pods get ``key`` of the Secret."""
    return {
        component(w)
        for w in of_kind("Deployment") + of_kind("Job")
        if any(key in secret_refs(c) for c in pod_spec(w)["containers"])
    }


def secret_entries(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """env name -> its secretKeyRef."""
    return {
        e["name"]: e["valueFrom"]["secretKeyRef"]
        for e in container.get("env", [])
        if "secretKeyRef" in e.get("valueFrom", {})
    }


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


def readme_secret_literals() -> dict[str, str]:
    """The keys and values deploy/README.md's `kubectl create secret` gives the Secret."""
    text = (DEPLOY / "README.md").read_text()
    return dict(re.findall(r"--from-literal=([A-Z0-9_]+)=[\"']([^\"']*)[\"']", text))


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
                        "required": ["type", "metadata", "authenticationRef"],
                        "additionalProperties": False,
                        "properties": {
                            "type": {"const": "redis"},
                            "authenticationRef": {
                                "type": "object",
                                "required": ["name"],
                                "additionalProperties": False,
                                "properties": {"name": STRING},
                            },
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


KEDA_TRIGGER_AUTHENTICATION = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "keda.sh/v1alpha1"},
        "kind": {"const": "TriggerAuthentication"},
        "metadata": {"type": "object", "required": ["name", "labels"]},
        "spec": {
            "type": "object",
            "required": ["secretTargetRef"],
            "additionalProperties": False,
            "properties": {
                "secretTargetRef": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["parameter", "name", "key"],
                        "additionalProperties": False,
                        "properties": {"parameter": STRING, "name": STRING, "key": STRING},
                    },
                },
            },
        },
    },
}
KEDA_SCHEMAS = {
    "ScaledObject": KEDA_SCALED_OBJECT,
    "TriggerAuthentication": KEDA_TRIGGER_AUTHENTICATION,
}


# ---- Kubernetes ---------------------------------------------------------------------


def _object_id(obj: dict[str, Any]) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


@pytest.mark.parametrize(
    "obj",
    [o for o in k8s_objects() if o["kind"] not in KEDA_SCHEMAS],
    ids=_object_id,
)
def test_every_standard_object_is_valid_kubernetes(obj):
    # Given a manifest object, when validated strictly (unknown fields refused)
    # against the bundled schema of its kind, then it is valid.
    kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


@pytest.mark.parametrize(
    "obj", [o for o in k8s_objects() if o["kind"] in KEDA_SCHEMAS], ids=_object_id
)
def test_every_keda_object_is_a_redis_list_scaler_or_its_authentication(obj):
    jsonschema.validate(obj, KEDA_SCHEMAS[obj["kind"]])


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
    # The workers' broker URL is in the Secret: the one deploy/README.md creates.
    broker = urlsplit(readme_secret_literals()[BROKER])
    (redis_set,) = of_kind("StatefulSet")
    (port,) = service_for(redis_set)["spec"]["ports"]

    assert broker.hostname.split(".")[0] == service_for(redis_set)["metadata"]["name"]
    assert (broker.port or 6379) == port["port"]
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
    assert secret_refs(container) == expected_secrets(container["args"])
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
    assert secret_refs(container) == expected_secrets(container["args"]) == {BROKER, LEDGER}


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
    # No Secret object (values) is committed, the ConfigMap holds no secret (no
    # secret setting, no URL carrying a password)...
    assert of_kind("Secret") == []
    assert set(configmap()) & SECRET_ENV == set()
    assert [k for k, v in configmap().items() if urlsplit(str(v)).password] == []
    # ...and every secret setting a container gets is a reference into the Secret.
    for workload in fleet_workloads():
        for container in pod_spec(workload)["containers"]:
            for entry in container.get("env", []):
                if entry["name"] in SECRET_ENV | {REDIS_PASSWORD}:
                    assert "value" not in entry, entry["name"]
                    assert entry["valueFrom"]["secretKeyRef"]["name"] == SECRET
                    assert entry["valueFrom"]["secretKeyRef"]["key"] == entry["name"]


def test_each_process_holds_exactly_the_secrets_its_work_reads():
    # Given every fleet process, the Secret's keys it receives are those of its
    # kind (the broker, the ledger, its own front door's) plus the credentials
    # of the providers whose tools and syncs its queues run: no other.
    for workload in of_kind("Deployment") + of_kind("Job"):
        (container,) = pod_spec(workload)["containers"]

        assert secret_refs(container) == expected_secrets(container["args"]), component(workload)


def test_the_http_worker_holds_the_named_credentials_and_no_provider_token():
    (container,) = pod_spec(workers_by_queue()["http"])["containers"]
    refs = secret_refs(container)

    assert {"FLEET_WEBHOOK_SECRETS", "FLEET_HTTP_CREDENTIALS"} <= refs
    assert refs & {"GITHUB_TOKEN", "SLACK_BOT_TOKEN", "JIRA_API_TOKEN"} == set()


def test_every_provider_declares_the_secret_settings_its_code_reads():
    # The sets above are only as true as the declarations: each provider's code
    # (its tools', its syncs' and its client factory's modules) reads no secret
    # setting it does not declare, and declares only secret settings.
    providers: dict[str, Provider] = {}
    modules: dict[str, set[str]] = {}
    for spec in catalog().values():
        providers[spec.provider.name] = spec.provider
        modules.setdefault(spec.provider.name, set()).add(spec.func.__module__)
    for kind in sync_kinds().values():
        modules.setdefault(kind.provider.name, set()).add(kind.fetch.__module__)
    reads = re.compile(rf"\.({'|'.join(sorted(SECRET_FIELDS))})\b")

    for name, provider in providers.items():
        sources = modules[name] | {provider.client.__module__}
        read = {
            m for mod in sources for m in reads.findall(Path(sys.modules[mod].__file__).read_text())
        }
        assert read <= set(provider.secret_settings), name
        assert set(provider.secret_settings) <= SECRET_FIELDS, name


def test_the_deploy_readme_lists_each_pods_secrets_as_the_manifests_give_them():
    text = (DEPLOY / "README.md").read_text()
    table = text.split("| pod | keys of `toolfleet-secrets` |", 1)[1].split("\n\n", 1)[0]
    documented: dict[str, set[str]] = {}
    for row in table.splitlines()[2:]:
        pods, keys = row.split("|")[1:3]
        for pod in re.findall(r"`([\w-]+)`", pods):
            documented[pod] = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", keys))

    given = {
        component(w): set().union(*(secret_refs(c) for c in pod_spec(w)["containers"]))
        for w in fleet_workloads()
    }
    assert documented == given


# ---- Redis' password ----------------------------------------------------------------


def test_redis_requires_its_password_from_the_secret():
    (redis_set,) = of_kind("StatefulSet")
    (container,) = pod_spec(redis_set)["containers"]
    entries = secret_entries(container)

    # Redis runs with requirepass, expanded from an env entry of the Secret
    # that must exist (not optional: no password, no Redis pod).
    variable = re.fullmatch(r"\$\((\w+)\)", arg(container["args"], "--requirepass"))
    assert variable, container["args"]
    assert entries[variable.group(1)] == {"name": SECRET, "key": REDIS_PASSWORD}
    # Its probes authenticate and want PONG (redis-cli exits 0 on NOAUTH).
    assert entries["REDISCLI_AUTH"] == {"name": SECRET, "key": REDIS_PASSWORD}
    for probe in (container["readinessProbe"], container["livenessProbe"]):
        assert "PONG" in " ".join(probe["exec"]["command"])
    assert "appendonly" in " ".join(container["args"])


def test_every_fleet_process_reaches_redis_with_the_password_from_the_secret():
    literals = readme_secret_literals()

    # The broker URL is never in the ConfigMap; every process holding it gets
    # it from the Secret, never optional...
    assert {BROKER, "FLEET_RESULT_BACKEND"} & set(configmap()) == set()
    for container in all_containers():
        for name in {BROKER, "FLEET_RESULT_BACKEND"} & secret_refs(container):
            assert not secret_entries(container)[name].get("optional", False)
    # ...and the URL deploy/README.md puts in the Secret carries Redis' password.
    assert literals[REDIS_PASSWORD]
    assert urlsplit(literals[BROKER]).password == literals[REDIS_PASSWORD]


def test_keda_reads_redis_password_from_the_secret():
    auths = {a["metadata"]["name"]: a for a in of_kind("TriggerAuthentication")}

    for scaler in of_kind("ScaledObject"):
        for trigger in scaler["spec"]["triggers"]:
            refs = auths[trigger["authenticationRef"]["name"]]["spec"]["secretTargetRef"]
            assert {"parameter": "password", "name": SECRET, "key": REDIS_PASSWORD} in refs


# ---- network policies ---------------------------------------------------------------

KEDA_OPERATOR = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "keda"}},
    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "keda-operator"}},
}


def policies_selecting(labels: dict[str, str]) -> list[dict[str, Any]]:
    """The NetworkPolicies naming these pods (the namespace-wide one aside)."""
    found = []
    for policy in of_kind("NetworkPolicy"):
        selector = policy["spec"]["podSelector"]
        if not selector:
            continue
        assert set(selector) == {"matchLabels"}, policy["metadata"]["name"]
        if selector["matchLabels"].items() <= labels.items():
            found.append(policy)
    return found


def fleet_peer(peer: dict[str, Any]) -> set[str] | None:
    """The fleet components a `from` peer admits; None for a peer outside the fleet."""
    if set(peer) != {"podSelector"}:
        return None  # another namespace (or addresses): not the fleet's pods
    selector = peer["podSelector"]
    if selector.get("matchLabels", {}).get("app.kubernetes.io/name") != "toolfleet":
        return None
    (expression,) = selector["matchExpressions"]
    assert expression["key"] == "app.kubernetes.io/component"
    assert expression["operator"] == "In"
    return set(expression["values"])


def ingress_of(policy: dict[str, Any]) -> tuple[set[str], list[dict[str, Any]], list[Any]]:
    """(fleet components admitted, other peers, ports) of a one-rule policy."""
    (rule,) = policy["spec"]["ingress"]
    peers = rule["from"]
    fleet = [fleet_peer(p) for p in peers]
    admitted = set().union(*(f for f in fleet if f is not None))
    return admitted, [p for p, f in zip(peers, fleet, strict=True) if f is None], rule["ports"]


def test_the_namespace_denies_every_ingress_not_allowed_by_name():
    catch_all = [p for p in of_kind("NetworkPolicy") if not p["spec"]["podSelector"]]

    (deny,) = catch_all
    assert deny["spec"]["policyTypes"] == ["Ingress"]
    assert not deny["spec"].get("ingress")  # no rule: nothing comes in
    # Every other policy has rules, each naming its peers and ports (a rule
    # without `from` or `ports` would admit anyone, or any port).
    for policy in of_kind("NetworkPolicy"):
        for rule in policy["spec"].get("ingress", []):
            assert rule.get("from") and rule.get("ports"), policy["metadata"]["name"]
            for peer in rule["from"]:
                assert "ipBlock" not in peer
                assert peer.get("podSelector"), policy["metadata"]["name"]  # never all pods


def test_only_the_fleet_pods_holding_the_broker_url_and_keda_reach_redis():
    (redis_set,) = of_kind("StatefulSet")
    (container,) = pod_spec(redis_set)["containers"]
    (policy,) = policies_selecting(redis_set["spec"]["template"]["metadata"]["labels"])

    admitted, others, ports = ingress_of(policy)

    assert admitted == components_holding(BROKER)
    assert others == [KEDA_OPERATOR]  # it measures the queues' lists
    assert ports == [{"port": container["ports"][0]["containerPort"], "protocol": "TCP"}]


def test_only_the_fleet_pods_holding_the_database_url_reach_postgres():
    ledger = urlsplit(readme_secret_literals()[LEDGER])
    (policy,) = policies_selecting({"app.kubernetes.io/name": "postgresql"})

    admitted, others, ports = ingress_of(policy)

    assert admitted == components_holding(LEDGER)
    assert others == []
    assert ports == [{"port": ledger.port or 5432, "protocol": "TCP"}]


def test_only_the_front_doors_accept_connections_each_on_its_own_port_from_named_peers():
    doors = {"mcp": MCP_PORT, "metrics": METRICS_PORT}

    for workload in of_kind("Deployment") + of_kind("Job"):
        policies = policies_selecting(workload["spec"]["template"]["metadata"]["labels"])
        if component(workload) not in doors:
            # Workers, beat, the migration and Flower (port-forward only) take no ingress.
            assert policies == [], component(workload)
            continue
        (policy,) = policies
        admitted, others, ports = ingress_of(policy)
        (container,) = pod_spec(workload)["containers"]
        assert admitted == set()
        assert others and all(peer["podSelector"]["matchLabels"] for peer in others)
        assert ports == [{"port": doors[component(workload)], "protocol": "TCP"}]
        assert container["ports"][0]["containerPort"] == doors[component(workload)]


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
    from tasks.http.tools import HttpRequest

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


def url_password(url: str) -> str | None:
    """A compose URL's password, an env reference such as ${X:?...} kept whole."""
    references = [m.group() for m in ENV_REFERENCE.finditer(url)]
    for i, reference in enumerate(references):
        url = url.replace(reference, f"reference{i}", 1)
    password = urlsplit(url).password
    for i, reference in enumerate(references):
        password = password and password.replace(f"reference{i}", reference)
    return password


def test_compose_passes_secrets_through_from_the_environment_never_literally():
    urls = {BROKER, "FLEET_RESULT_BACKEND", LEDGER}
    for name, service in compose()["services"].items():
        for key, value in service.get("environment", {}).items():
            if key in SECRET_ENV - urls or SECRET_LOOKING_NAME.search(key):
                assert value is None or ENV_REFERENCE.fullmatch(value), f"{name}: {key}"
    for name, service in fleet_services().items():
        for key in urls & set(service["environment"]):
            # A required reference: the URL always carries a password, never a written one.
            password = url_password(service["environment"][key])
            assert password and REQUIRED_REFERENCE.fullmatch(password), f"{name}: {key}"


def test_each_compose_service_holds_exactly_the_secrets_its_work_reads():
    for name, service in fleet_services().items():
        held = set(service["environment"]) & SECRET_ENV

        assert held == expected_secrets(service["command"]), name


def test_compose_redis_requires_a_password_that_every_fleet_service_uses():
    redis = compose()["services"]["redis"]
    required = REQUIRED_REFERENCE.fullmatch(arg(redis["command"], "--requirepass"))

    # requirepass from a variable that must be set (no default: compose refuses to start)...
    assert required, redis["command"]
    variable = required.group(1)
    # ...which the health check authenticates with, wanting PONG (redis-cli exits 0 on NOAUTH)...
    assert REQUIRED_REFERENCE.fullmatch(redis["environment"]["REDISCLI_AUTH"]).group(1) == variable
    assert "PONG" in " ".join(redis["healthcheck"]["test"])
    # ...and every fleet service's broker URL carries it.
    for name, service in fleet_services().items():
        if BROKER in service["environment"]:
            password = url_password(service["environment"][BROKER])
            assert REQUIRED_REFERENCE.fullmatch(password).group(1) == variable, name


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
        "FLEET_HTTP_CREDENTIALS",
        "FLEET_FLOWER_BASIC_AUTH",
        "FLEET_MCP_TOKEN",
        "FLEET_DATABASE_URL",
        "FLEET_BROKER_URL",
    } <= SECRET_ENV
    # ...and so are the sets derived from the declarations: each provider queue's
    # own credential, all three for the syncs, none of a provider's for http.
    assert provider_secrets("github") == {"GITHUB_TOKEN"}
    assert provider_secrets("slack") == {"SLACK_BOT_TOKEN"}
    assert provider_secrets("jira") == {"JIRA_API_TOKEN"}
    assert provider_secrets("http") == {"FLEET_WEBHOOK_SECRETS", "FLEET_HTTP_CREDENTIALS"}
    assert provider_secrets("syncs") == {"GITHUB_TOKEN", "SLACK_BOT_TOKEN", "JIRA_API_TOKEN"}
