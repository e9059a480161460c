"""A provider is one package, declared once: the machinery names none, and a new one
needs no other file edited."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from simulator import SimulatorClient
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


# The machinery, and the simulator's shared parts: each provider's fake is in its package.
@pytest.mark.parametrize("folder", ["worker", "simulator"])
def test_the_machinery_names_no_provider(folder):
    patterns = _forbidden()
    found = []
    for path in sorted((REPO / folder).rglob("*.py")):
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
    return {"ACME_TOKEN": credentials.acme_token, "ACME_API_URL": f"{base}/acme"}


DECLARATION = Declaration(
    "acme",
    title="Acme",
    settings=AcmeSettings,
    credential="acme_token",
    api_setting="acme_api_url",
    limits={"acme": ["100/s burst 10"]},
    fake="fake",
    simulate=Simulation(_simulated),
)
'''
# Its fake API, which the simulator serves under /acme: things by id, one switch.
ACME_FAKE = '''
"""Acme's fake API."""

from simulator.fake import Fake, Switch
from simulator.protocol import json_response


class AcmeApi:
    def __init__(self, token):
        self.token = token

    def authenticate(self, req):
        return req.headers.get("authorization") == f"Bearer {self.token}"

    def unauthorized(self, req):
        return json_response(401, {"error": "bad token"})

    def fault_response(self, fault, req, st):
        return json_response(fault.status or 429, {"error": "injected"})

    def handle(self, req, st):
        if st.acme["closed"]:
            return json_response(503, {"error": "closed"})
        thing = st.acme["things"].get(req.path)
        return json_response(200, thing) if thing else json_response(404, {"error": "none"})

    def finish(self, req, resp, st):
        resp.default_header("X-Acme", "fake")


def seed():
    return {"things": {"/things/7": {"id": 7, "name": "anvil"}}, "closed": False}


FAKE = Fake(
    "/acme",
    api=lambda credentials: AcmeApi(credentials.acme_token),
    seed=seed,
    credentials={"acme_token": "acme-simulated-token"},
    switches=(Switch("acme_closed", lambda st: st["closed"], lambda st, v: st.update(closed=v)),),
)
'''
ACME_TOOLS = '''
"""Acme's one tool."""

import json
import urllib.request

from pydantic import BaseModel, Field

from tasks.acme import DECLARATION
from worker.errors import ToolError, Unavailable
from worker.runtime.catalog import Provider
from worker.runtime.params import params_config


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
from worker.runtime.catalog import catalog
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
    (package / "fake").mkdir()
    (package / "fake" / "__init__.py").write_text(textwrap.dedent(ACME_FAKE))
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


def test_the_simulator_serves_the_new_providers_fake(acme, ledger_db, redis_clean, tmp_path):
    # given the simulator, run as `fleet sim` runs it, and a worker pointed where it says
    sim = subprocess.Popen(
        [sys.executable, "-m", "simulator", "--port", "0", "--acme-token", "acme-sim-token"],
        cwd=REPO,
        env={**os.environ, **acme},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert sim.stdout is not None
        printed: dict[str, str] = {}
        while "SIMULATOR_URL" not in printed:  # its last line
            name, value = sim.stdout.readline().strip().split("=", 1)
            printed[name] = value
        root = printed["SIMULATOR_URL"].split()[0]
        control = SimulatorClient(root).wait_ready()
        health = control.health()
        env = {**acme, "ACME_TOKEN": "acme-sim-token", "ACME_API_URL": printed["ACME_API_URL"]}
        worker = WorkerProcess(tmp_path / "worker.log", env=env, queues="acme", name="acme")
        try:
            worker.wait_ready()
            # when
            called = fleet_cli("call", "acme.get_thing", '{"id": 7}', "--wait", env=env)
            control.inject("acme", "GET", r"^/things/", status=500)
            injected = urllib_status(f"{printed['ACME_API_URL']}/things/7", "acme-sim-token")
            refused = urllib_status(f"{printed['ACME_API_URL']}/things/7", "not-the-token")
            switched = control.configure(acme_closed=True)
            closed = urllib_status(f"{printed['ACME_API_URL']}/things/7", "acme-sim-token")
            seen = control.requests(provider="acme")
            control.reset()
            settings_after_reset = control.settings()
        finally:
            worker.stop()
    finally:
        sim.terminate()
        sim.wait(timeout=5)

    # then
    assert printed["ACME_API_URL"] == f"{root}/acme"
    assert health["acme_url"] == f"{root}/acme"
    assert json.loads(called.stdout)["result"] == {"id": 7, "name": "anvil"}
    assert (injected, refused, closed) == (500, 401, 503)
    assert switched["acme_closed"] is True and settings_after_reset["acme_closed"] is False
    assert [(r["path"], r["auth_valid"], r["status"]) for r in seen] == [
        ("/things/7", True, 200),
        ("/things/7", True, 500),
        ("/things/7", False, 401),
        ("/things/7", True, 503),
    ]


def urllib_status(url: str, token: str) -> int:
    """The status a plain GET with ``token`` gets."""
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code
