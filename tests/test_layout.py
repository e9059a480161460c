"""The layout's rules hold: worker/'s imports point down the layers it declares and form
no circle, declarations know no Celery, worker/ reaches providers only through the
catalog and the simulator only lazily, every room says what it is for (and a module list
in its docstring is whole), and the public names users rely on still work."""

from __future__ import annotations

import ast
import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REPO, RedisServer, WorkerProcess
from worker import ledger

WORKER = REPO / "worker"


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _sources(root: Path) -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(root.rglob("*.py")) if "migrations" not in p.parts}


MODULES = _sources(WORKER)


def _imported(node: ast.Import | ast.ImportFrom, here: str) -> list[str]:
    """The modules an import statement loads (``from pkg import sub`` loads ``pkg.sub``)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    assert not node.level, f"{here}: a relative import (the fleet imports absolutely)"
    base = node.module or ""
    found = [base]
    found += [f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in MODULES]
    return found


def _imports(path: Path, *, module_level_only: bool = False) -> set[str]:
    """Every module ``path`` imports; with ``module_level_only``, not those inside functions."""
    here = _module_name(path)
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if module_level_only and isinstance(
                child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
            ):
                continue
            if isinstance(child, ast.Import | ast.ImportFrom):
                found.update(_imported(child, here))
            visit(child)

    visit(ast.parse(path.read_text(), filename=str(path)))
    return found


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle in ``graph``, as a path that ends where it starts, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return [*path[path.index(target) :], target]
            if target not in state and (found := visit(target)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_worker_has_no_import_circle_even_through_late_imports():
    # Imports inside functions count too: a late import only hides a circle.
    graph = {
        name: {target for target in _imports(path) if target in MODULES and target != name}
        for name, path in MODULES.items()
    }

    assert _cycle(graph) is None, " → ".join(_cycle(graph) or [])


def test_the_circle_finder_finds_circles():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def _layer_table() -> list[tuple[str, list[str]]]:
    """The layers worker/__init__.py's docstring declares, lowest first: each layer's
    name and its entries (``name`` a module, ``name/`` a package), from the first
    literal block (a line indented past the layer names continues the layer above)."""
    doc = ast.get_docstring(ast.parse((WORKER / "__init__.py").read_text())) or ""
    block = doc.split("::\n\n", 1)[1].split("\n\n", 1)[0].splitlines()
    margin = min(len(line) - len(line.lstrip()) for line in block)
    layers: list[tuple[str, list[str]]] = []
    for line in block:
        if line[margin] == " ":
            layers[-1][1].extend(line.split())
        else:
            name, *entries = line.split()
            layers.append((name, entries))
    return layers


def _entry(module: str) -> str:
    """The layer table's entry for ``module``: its package under worker/ (``ledger/``),
    or the module itself (``settings``)."""
    room = module.split(".")[1]
    return f"{room}/" if (WORKER / room).is_dir() else room


def _layer_of(module: str, table: list[tuple[str, list[str]]]) -> int:
    """The index of ``module``'s layer in ``table``."""
    entry = _entry(module)
    found = [index for index, (_, entries) in enumerate(table) if entry in entries]
    assert found, f"{module}: {entry} is in no layer of worker/__init__.py"
    return found[0]


def _upward(graph: dict[str, set[str]], table: list[tuple[str, list[str]]]) -> list[str]:
    """Every import in ``graph`` from a lower layer to a higher one, said as text."""
    found = []
    for name in sorted(graph):
        here = _layer_of(name, table)
        for target in sorted(graph[name]):
            if (there := _layer_of(target, table)) > here:
                found.append(f"{name} ({table[here][0]}) imports {target} ({table[there][0]})")
    return found


def test_the_layer_table_places_every_worker_module_once():
    entries = [entry for _, names in _layer_table() for entry in names]
    rooms = {_entry(name) for name in MODULES if name != "worker"}

    assert len(entries) == len(set(entries)), f"named twice: {entries}"
    assert sorted(entries) == sorted(rooms), "worker/__init__.py's layers vs worker/'s rooms"


def test_worker_imports_point_down_the_layers_even_through_late_imports():
    # The package worker itself is no room: `from worker import ledger` imports worker.ledger.
    graph = {
        name: _imports(path) & MODULES.keys() - {"worker"}
        for name, path in MODULES.items()
        if name != "worker"
    }

    upward = _upward(graph, _layer_table())
    assert not upward, "imports against the layers:\n" + "\n".join(upward)


def test_the_layer_check_names_an_upward_import():
    table = [("base", ["settings"]), ("ledger", ["ledger/"]), ("app", ["app"])]
    graph = {
        "worker.settings": {"worker.ledger.db"},
        "worker.ledger.db": {"worker.settings"},
        "worker.app": {"worker.ledger", "worker.settings"},
    }

    assert _upward(graph, table) == ["worker.settings (base) imports worker.ledger.db (ledger)"]


def test_the_import_reader_sees_submodules_and_late_imports():
    policy = _imports(WORKER / "runtime" / "policy.py")
    transport = WORKER / "broker" / "transport.py"

    assert {"worker.ledger", "worker.ledger.outbox", "worker.runtime.catalog"} <= policy
    assert "worker.app" not in policy  # the policy does not register itself
    assert "worker.broker.intake" in _imports(transport)  # imported inside a method
    assert "worker.broker.intake" not in _imports(transport, module_level_only=True)


def test_worker_imports_no_provider_module_and_the_simulator_only_lazily():
    for name, path in MODULES.items():
        every = _imports(path)
        module_level = _imports(path, module_level_only=True)
        providers = sorted(m for m in every if m == "tasks" or m.startswith("tasks."))
        assert not providers, f"{name} imports {providers}: go through the catalog"
        simulator = sorted(m for m in module_level if m.split(".")[0] == "simulator")
        assert not simulator, f"{name} imports {simulator} at module level"


def test_declarations_and_provider_modules_load_without_celery():
    # The catalog is what an agent's client and `fleet tools` need: it must not
    # drag in Celery or kombu (and so neither may any provider module).
    probe = (
        "import sys\n"
        "from worker.runtime.catalog import catalog\n"
        "names = catalog()\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('celery', 'kombu'))\n"
        "print(len(names), heavy)\n"
    )

    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split(" ", 1)

    assert int(out[0]) >= 20
    assert out[1].strip() == "[]"


def test_each_tool_is_declared_in_the_module_named_for_its_prefix():
    from tasks import TOOL_MODULES
    from worker.runtime.catalog import catalog

    for name, spec in catalog().items():
        prefixes = [prefix for prefix in TOOL_MODULES if name.startswith(prefix)]
        assert len(prefixes) == 1, f"{name}: claimed by {prefixes}"
        assert spec.func.__module__ in TOOL_MODULES[prefixes[0]], name


def _fresh(code: str) -> str:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.strip()


def test_resolving_a_name_imports_only_its_module_and_listings_keep_one_order():
    provider_modules = "sorted(m for m in sys.modules if m in PROVIDER_MODULES)"
    probe = (
        "import sys\n"
        "from tasks import PROVIDER_MODULES\n"
        "from worker.runtime.catalog import catalog, resolve\n"
        "assert resolve('slack.post_message').name == 'slack.post_message'\n"
        "assert resolve('github__create_issue').name == 'github.create_issue'\n"
        f"print({provider_modules})\n"
        "assert resolve('github.no_such_tool') is None\n"
        f"print({provider_modules})\n"
        "print(list(catalog()))\n"
    )
    resolved, after_unknown, order = _fresh(probe).splitlines()

    assert resolved == str(
        ["tasks.github.reads", "tasks.github.writes", "tasks.slack.reads", "tasks.slack.writes"]
    )
    # A name its module does not declare: the whole catalog, for close names.
    assert "tasks.jira" in after_unknown and "tasks.http" in after_unknown
    assert order == _fresh("from worker.runtime.catalog import catalog; print(list(catalog()))")


PROVIDER_SDKS = ("github", "httpx", "jira", "requests", "slack_sdk")


def _sdks_loaded_after(code: str) -> list[str]:
    """The provider SDKs really imported (not just bound lazily) after ``code`` runs
    in a fresh interpreter."""
    probe = (
        f"{code}\n"
        "from worker.runtime import sdk\n"
        f"print(','.join(m for m in {PROVIDER_SDKS!r} if sdk.is_loaded(m)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.strip()
    return out.split(",") if out else []


def test_reading_the_catalog_and_publishing_by_name_load_no_provider_sdk():
    # What `fleet tools`, `fleet call`, MCP and an agent's client do.
    code = (
        "from worker.app import app\n"
        "from worker.client import FleetClient\n"
        "FleetClient(app).validate('github.create_issue', {'repo': 'o/r', 'title': 't'})\n"
    )
    assert _sdks_loaded_after(code) == []


def test_a_process_that_only_publishes_imports_no_sqlalchemy_and_still_records_queued(
    ledger_db, tmp_path
):
    # `fleet call`'s start-up: the app is not finalized (no policy, no tables) and the
    # queued row goes through psycopg alone (worker.ledger.queued). A broker of the
    # test's own: no worker takes the call before its row is read.
    broker = RedisServer(tmp_path)
    probe = (
        "from worker.client import FleetClient\n"
        "from worker.runtime.sdk import is_loaded\n"
        "call = FleetClient().call('fleet.echo', {'message': 'hi'}, agent_task_id='lean')\n"
        "print(call.id, [m for m in ('sqlalchemy', 'httpx') if is_loaded(m)])\n"
    )
    try:
        out = subprocess.run(
            [sys.executable, "-c", probe],
            cwd=REPO,
            env={**os.environ, "FLEET_BROKER_URL": broker.url},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split(" ", 1)
        assert broker.client().llen("syncs") == 1  # published, and not consumed
    finally:
        broker.stop()

    assert out[1].strip() == "[]"
    run = ledger.get_run(out[0])
    assert (run["status"], run["tool"], run["agent_task_id"]) == ("queued", "fleet.echo", "lean")
    assert run["params"] == {"message": "hi"}


def test_the_ledger_names_load_from_their_modules_on_first_use():
    assert sorted(ledger.__all__) == sorted(ledger._HOME)
    for name in ledger.__all__:
        home = importlib.import_module(f"worker.ledger.{ledger._HOME[name]}")
        assert getattr(ledger, name) is getattr(home, name)
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        _ = ledger.nothing


@pytest.mark.parametrize(
    ("queues", "loaded"),
    [
        (["slack"], ["slack_sdk"]),
        (["github"], ["github", "requests"]),
        (["jira", "http"], ["httpx", "jira", "requests"]),
        (["http"], ["httpx"]),
        (["default"], []),
        (["syncs"], ["github", "jira", "requests", "slack_sdk"]),  # every sync kind's
    ],
)
def test_a_worker_loads_the_sdks_of_its_queues_and_no_other(queues, loaded):
    code = (
        "from worker.app import app\n"
        "from worker.runtime.sdk import load_for_queues\n"
        "specs = [task.spec for task in app.tasks.values() if hasattr(task, 'spec')]\n"
        f"load_for_queues(specs, {queues!r})"
    )
    assert _sdks_loaded_after(code) == loaded


def test_a_real_worker_says_which_sdks_it_loaded_and_which_it_left(ledger_db, tmp_path):
    worker = WorkerProcess(tmp_path / "worker.log", env={}, queues="slack", name="sdks")
    try:
        worker.wait_ready()
    finally:
        worker.stop()
    expected = (
        "queues slack: provider SDKs loaded: slack_sdk; "
        "not loaded: github, httpx, jira, requests, tasks.shared.safehttp"
    )
    assert expected in worker.text()


@pytest.mark.parametrize(
    "folder",
    [
        p
        for p in sorted(WORKER.rglob("*"))
        # migrations/ is Alembic's script directory, not a package
        if p.is_dir() and p.name != "__pycache__" and "migrations" not in p.parts
    ]
    + [REPO / "tasks", REPO / "tasks" / "shared"],
    ids=lambda p: str(p.relative_to(REPO)),
)
def test_every_room_says_what_it_is_for(folder):
    init = folder / "__init__.py"

    assert init.exists(), f"{folder.relative_to(REPO)} has no __init__.py"
    assert ast.get_docstring(ast.parse(init.read_text())), f"{init} has no docstring"


def _listed_modules(docstring: str) -> set[str]:
    """The modules a package docstring's bullets name: each ````name```` before a
    bullet's first ``: `` (``- ``up`` (with ``supervisor``): ...`` names two)."""
    heads = [
        line.strip()[2:].split(": ", 1)[0]
        for line in docstring.splitlines()
        if line.strip().startswith("- ")
    ]
    return {name.removesuffix("/") for head in heads for name in re.findall(r"``([^`]+)``", head)}


def test_the_module_list_reader_reads_each_bullets_head():
    doc = "Intro ``not_a_module``.\n\n- ``a``, ``b/`` (with ``c``): uses ``d``;\n  ``e``: more\n"
    assert _listed_modules(doc) == {"a", "b", "c"}


@pytest.mark.parametrize(
    "init",
    [p for p in sorted(WORKER.rglob("__init__.py")) if "migrations" not in p.parts],
    ids=lambda p: str(p.parent.relative_to(REPO)),
)
def test_a_package_docstring_that_lists_modules_lists_exactly_those_there(init):
    listed = _listed_modules(ast.get_docstring(ast.parse(init.read_text())) or "")
    present = {
        p.stem if p.is_file() else p.name
        for p in init.parent.iterdir()
        if (p.suffix == ".py" and p.stem not in ("__init__", "__main__"))
        or (p.is_dir() and p.name != "__pycache__")
    }

    assert not listed or listed == present, (
        f"{init.relative_to(REPO)} lists {sorted(listed - present)} that are not there "
        f"and leaves out {sorted(present - listed)}"
    )


def test_every_worker_module_has_a_docstring_and_stays_small():
    for name, path in MODULES.items():
        source = path.read_text()
        assert ast.get_docstring(ast.parse(source)), f"{name} has no docstring"
        assert len(source.splitlines()) <= 300, f"{name} is over 300 lines: split it"


def test_public_names_keep_working():
    # `celery -A worker.app`, `from worker.client import FleetClient`, `python -m worker.cli`
    # and the `fleet` console script (the Docker entrypoint).
    from celery import Celery

    from worker.app import app
    from worker.client import FleetClient, ToolCall, UnknownTool
    from worker.front import client as front

    assert isinstance(app, Celery)
    assert (FleetClient, ToolCall, UnknownTool) == (
        front.FleetClient,
        front.ToolCall,
        front.UnknownTool,
    )
    for argv in (
        [str(Path(sys.executable).with_name("fleet")), "--help"],
        [sys.executable, "-m", "worker.cli", "--help"],
    ):
        out = subprocess.run(argv, capture_output=True, text=True, check=True, cwd=REPO).stdout
        assert "worker" in out
        assert "dlq" in out
    report = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "worker.app", "report"],
        capture_output=True,
        text=True,
        check=True,
        cwd="/",
    ).stdout
    assert "broker_url: 'redis://" in report  # a scheme Flower and other tools know
    probe = "from worker.app import app; print(type(app.connection().transport).__module__)"
    transport = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd="/"
    ).stdout
    assert transport.strip() == "worker.broker.transport"


def test_the_app_registers_every_catalog_tool_sync_kind_and_housekeeping_task():
    from worker.app import app
    from worker.runtime.catalog import catalog
    from worker.runtime.policy import ToolTask
    from worker.syncs.kinds import sync_kinds

    tools = {name for name, task in app.tasks.items() if isinstance(task, ToolTask)}

    assert tools == set(catalog()) | {f"sync.{kind}" for kind in sync_kinds()}
    assert "sync.github.issues" in tools
    assert "fleet.drain_outbox" in app.tasks
    assert not isinstance(app.tasks["fleet.drain_outbox"], ToolTask)
