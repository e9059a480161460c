"""A provider is one package, declared once: the machinery names none, and a new one
needs no other file edited."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support import REPO, Reply, ScriptedServer, WorkerProcess, fleet_cli
from worker.providers import FLEET_QUEUE, declarations, env_name

# Providers named for the protocol they speak rather than a vendor: the machinery speaks
# HTTP too (its servers, URL schemes), so for them only their tool names count (a quoted
# prefix: "http.request"), beside their settings.
PROTOCOL_WORDS = {"http", "webhook"}


def _forbidden() -> dict[str, re.Pattern[str]]:
    """What would name a provider in worker/: its name, queue and prefixes, its settings
    and their environment variables (the fleet's own tools excepted: they are the fleet)."""
    patterns = {}
    for d in declarations():
        if d.queue == FLEET_QUEUE:
            continue
        words = {d.name, d.queue, *(prefix.rstrip(".") for prefix in d.prefixes)}
        for word in words:
            if word in PROTOCOL_WORDS:
                quoted = rf"""["']{re.escape(word)}\."""
                patterns[f"{d.name}: {word!r} quoted"] = re.compile(quoted)
            else:
                around = rf"(?<![a-z0-9]){re.escape(word)}(?![a-z0-9])"
                patterns[f"{d.name}: {word}"] = re.compile(around, re.I)
        for field, info in (d.settings.model_fields if d.settings else {}).items():
            for name in (field, env_name(field, info)):
                patterns[f"{d.name}: {name}"] = re.compile(rf"\b{re.escape(name)}\b")
    return patterns


def test_the_machinery_names_no_provider():
    patterns = _forbidden()
    found = []
    for path in sorted((REPO / "worker").rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            found += [
                f"{path.relative_to(REPO)}:{number}: {what}"
                for what, pattern in patterns.items()
                if pattern.search(line)
            ]

    assert len(patterns) > 10  # the declarations were found
    assert found == []


def test_each_provider_package_is_found_by_the_name_it_declares():
    names = [d.name for d in declarations()]
    packages = sorted(p.name for p in (REPO / "tasks").iterdir() if (p / "__init__.py").exists())

    assert names == [p for p in packages if p != "shared"]


# A provider of the test's own, in a directory outside the repository: one read tool
# against a server of the test's own (what the simulator is for the others).
ACME_INIT = '''
"""Acme: a provider that exists only in a test."""

from pydantic import AliasChoices, BaseModel, Field, SecretStr

from worker.providers import Declaration, Simulation


class AcmeSettings(BaseModel):
    acme_token: SecretStr | None = Field(default=None, validation_alias=AliasChoices("ACME_TOKEN"))
    acme_api_url: str = Field(
        default="https://api.acme.example", validation_alias=AliasChoices("ACME_API_URL")
    )


def _simulated(base, credentials):
    return {"ACME_TOKEN": "acme-simulated-token", "ACME_API_URL": f"{base}/acme"}


DECLARATION = Declaration(
    "acme",
    title="Acme",
    settings=AcmeSettings,
    credential="acme_token",
    api_setting="acme_api_url",
    limits={"acme": ["100/s burst 10"]},
    simulate=Simulation(_simulated),
)
'''
ACME_TOOLS = '''
"""Acme's one tool."""

import json
import urllib.request

from pydantic import BaseModel, Field

from tasks.acme import DECLARATION
from worker.errors import ToolError, Unavailable
from worker.tools.catalog import Provider
from worker.tools.params import params_config


def make_client(settings, credential):
    return settings


def map_error(exc):
    return Unavailable(f"Acme: {exc}") if isinstance(exc, OSError) else ToolError(str(exc))


provider = Provider(DECLARATION, client=make_client, map_error=map_error)


class GetThing(BaseModel):
    id: int = Field(ge=1)
    model_config = params_config({"id": 1})


@provider.tool("acme.get_thing", writes=False, scopes=["acme:{credential}"])
def get_thing(settings, p: GetThing) -> dict:
    """One thing, by its id."""
    request = urllib.request.Request(
        f"{settings.acme_api_url}/things/{p.id}",
        headers={"Authorization": f"Bearer {settings.acme_token.get_secret_value()}"},
    )
    with urllib.request.urlopen(request, timeout=5) as answer:
        return json.load(answer)
'''
PROBE = """
import json, os
from worker.cli.up import _simulate_unconfigured_providers
from worker.front.mcp_server import tool_listing
from worker.queues import QUEUES
from worker.settings import Settings
from worker.tools.catalog import catalog
import tests.conftest as conftest

os.environ.pop("ACME_TOKEN", None)
simulated = [d.name for d in _simulate_unconfigured_providers(8900)]
print(json.dumps({
    "catalog": catalog()["acme.get_thing"].queue,
    "queues": QUEUES["acme"],
    "simulated": "acme" in simulated,
    "simulated_url": os.environ["ACME_API_URL"],
    "secret": Settings().secret_values(),
    "mcp": [tool.name for tool in tool_listing() if tool.name.startswith("acme")],
    "test_env": conftest.TEST_ENV["ACME_API_URL"],
    "relaxed": "acme" in conftest.RELAXED_KINDS,
    "worker_queues": conftest.QUEUES.get("acme"),
}))
"""


@pytest.fixture
def acme(tmp_path: Path) -> dict[str, str]:
    """The environment that makes the throw-away provider discoverable."""
    package = tmp_path / "providers" / "acme"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(textwrap.dedent(ACME_INIT))
    (package / "tools.py").write_text(textwrap.dedent(ACME_TOOLS))
    return {"FLEET_PROVIDER_PATH": str(tmp_path / "providers")}


def test_a_new_provider_package_is_all_it_takes(acme):
    out = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=REPO,
        env={**__import__("os").environ, **acme},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    found = json.loads(out.strip().splitlines()[-1])

    assert found["catalog"] == "acme"
    assert found["queues"] == ["acme."]
    assert found["simulated"] and found["simulated_url"] == "http://127.0.0.1:8900/acme"
    assert "acme-simulated-token" in found["secret"]  # redacted like any credential
    assert found["mcp"] == ["acme__get_thing"]
    assert found["test_env"].endswith("/acme") and found["relaxed"]
    assert found["worker_queues"] == ["acme."]
    listed = fleet_cli("tools", env=acme).stdout
    assert "acme.get_thing" in listed


def test_a_real_worker_runs_the_new_providers_tool(acme, ledger_db, redis_clean, tmp_path):
    server = ScriptedServer()
    server.route("/things/7", Reply(200, {"id": 7, "name": "anvil"}))
    env = {**acme, "ACME_TOKEN": "acme-token-of-the-test", "ACME_API_URL": server.url("")}
    worker = WorkerProcess(tmp_path / "worker.log", env=env, queues="acme", name="acme")
    try:
        worker.wait_ready()
        called = fleet_cli("call", "acme.get_thing", '{"id": 7}', "--wait", env=env)
    finally:
        worker.stop()
        server.close()

    assert json.loads(called.stdout)["result"] == {"id": 7, "name": "anvil"}
    (seen,) = server.requests_to("/things/7")
    assert seen.headers["Authorization"] == "Bearer acme-token-of-the-test"
