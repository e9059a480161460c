"""`fleet` commands: catalog exports, calls, runs, migrations and start-up refusal."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import jsonschema
import psycopg
import pytest
from click.testing import CliRunner

from tests.support import REPO, Reply, wait_final
from worker.cli import main


def fleet(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_tools_lists_the_catalog_as_a_table():
    code, output = fleet("tools")

    assert code == 0
    assert "http.request" in output and "webhook.send" in output
    assert "url*" in output  # required params are starred


def test_tools_json_exports_valid_json_schemas_and_annotations():
    code, output = fleet("tools", "--json")

    tools = {t["name"]: t for t in json.loads(output)}
    assert code == 0
    for tool in tools.values():
        jsonschema.Draft202012Validator.check_schema(tool["params"])
    assert tools["http.request"]["queue"] == "http"
    assert tools["http.request"]["params"]["required"] == ["url"]
    assert tools["webhook.send"]["annotations"]["idempotentHint"] is True


def test_tools_export_as_mcp_and_openai_functions():
    _, mcp = fleet("tools", "--json", "--format", "mcp")
    _, openai = fleet("tools", "--json", "--format", "openai")

    mcp_tools = json.loads(mcp)["tools"]
    assert {t["name"] for t in mcp_tools} >= {"http__request", "webhook__send"}
    assert {t["title"] for t in mcp_tools} >= {"http.request", "webhook.send"}
    assert all("inputSchema" in t and "annotations" in t for t in mcp_tools)
    names = [f["function"]["name"] for f in json.loads(openai)]
    assert "http__request" in names
    assert all(set(n) <= set("abcdefghijklmnopqrstuvwxyz0123456789_-") for n in names)


def test_call_rejects_params_that_are_not_json():
    code, output = fleet("call", "http.request", "{url: nope}")

    assert code != 0
    assert "PARAMS is not valid JSON" in output


@pytest.mark.usefixtures("fleet_worker")
def test_call_waits_and_prints_the_result_then_runs_lists_it(server):
    url = server.route("/cli", Reply(200, {"via": "cli"}))

    code, output = fleet(
        "call", "http.request", json.dumps({"url": url}), "--wait", "--agent-task-id", "agent-cli"
    )

    assert code == 0, output
    printed = json.loads(output)
    assert printed["result"]["body"] == {"via": "cli"}
    row = wait_final(printed["id"])
    assert row["agent_task_id"] == "agent-cli"
    code, listing = fleet("runs", "--tool", "http.request", "--status", "succeeded", "--json")
    assert printed["id"] in [r["id"] for r in json.loads(listing)]
    code, table = fleet("runs", "--limit", "50")
    assert printed["id"] in table


@pytest.mark.usefixtures("fleet_worker")
def test_call_wait_prints_the_classified_error_and_exits_nonzero(server):
    url = server.route("/cli-404", Reply(404))

    code, output = fleet("call", "http.request", json.dumps({"url": url}), "--wait")

    assert code == 1
    assert json.loads(output)["error"]["type"] == "NotFound"


def _fleet_process(*args: str, database: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "FLEET_DATABASE_URL": f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}",
    }
    return subprocess.run(
        [sys.executable, "-m", "worker.cli", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def scratch_database():
    name = "toolfleet_scratch"
    with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    yield name
    with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_worker_refuses_to_start_on_an_unmigrated_database(scratch_database):
    with psycopg.connect("host=127.0.0.1 user=postgres dbname=postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {scratch_database}")

    refused = _fleet_process("worker", "-Q", "http", database=scratch_database)

    assert refused.returncode != 0
    assert "is at migration none" in refused.stderr + refused.stdout
    assert "run `fleet migrate` first" in refused.stderr + refused.stdout


def test_migrate_creates_a_missing_database_and_is_repeatable(scratch_database):
    first = _fleet_process("migrate", database=scratch_database)
    second = _fleet_process("migrate", database=scratch_database)

    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    from alembic.script import ScriptDirectory

    from worker.ledger.schema import alembic_config

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert f"{scratch_database} is at migration {head}" in second.stdout
    with psycopg.connect(f"host=127.0.0.1 user=postgres dbname={scratch_database}") as conn:
        tables = {
            r[0]
            for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        }
    assert {"tool_runs", "dead_letters", "alembic_version"} <= tables


@pytest.mark.usefixtures("fleet_worker")
def test_call_accepts_the_exported_safe_name_back(server):
    url = server.route("/safe-name", Reply(200, {"named": "safely"}))

    code, output = fleet("call", "http__request", json.dumps({"url": url}), "--wait")

    assert code == 0, output
    printed = json.loads(output)
    assert printed["result"]["body"] == {"named": "safely"}
    assert wait_final(printed["id"])["tool"] == "http.request"
