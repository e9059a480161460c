"""Declaring tools: providers, the ``@provider.tool`` decorator and the catalog.

A tool is a plain function ``fn(client, params) -> dict`` plus a pydantic
params model (taken from the function's annotation). Declaring it once gives
a catalog entry: description (its docstring's first paragraph as plain text,
see worker.runtime.describe), JSON schema, MCP-style annotations, scopes;
``fleet tools`` prints it and exports it as MCP ``tools/list`` or OpenAI
function definitions. The app turns every entry into a Celery task of that
name, on the queue its name routes to, running under the one tool policy
(:class:`worker.runtime.policy.ToolTask`). Nothing here imports Celery: an
agent's client validates params against the catalog without it.

The provider object carries what every tool of a provider shares: how to
build its SDK client from settings and how to map its SDK's exceptions
into the taxonomy (one mapper per provider).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ValidationError

from worker.errors import BadParams, ToolError, bad_params
from worker.providers import PROVIDERS_PACKAGE, Declaration
from worker.queues import queue_for
from worker.runtime import describe, sdk
from worker.runtime.params import check_shape, parameter_model
from worker.settings import Settings

ClientFactory = Callable[[Settings, str], Any]
ErrorMapper = Callable[[Exception], ToolError]
# client -> the rate-limit headers of its last response (x-ratelimit-remaining...)
RateHeaders = Callable[[Any], dict[str, str]]
# (client, settings) -> who the fleet acts as and the limits the provider reports (doctor)
Probe = Callable[[Any, Settings], dict[str, Any]]
# (client, params, since) -> the result of a write an earlier attempt already made, or None
Reconciler = Callable[[Any, Any, datetime], dict[str, Any] | None]
# (params, credential) -> more values for the scope templates (the provider's own id of
# what the params name, however the agent spelled it); never raises
ScopeValues = Callable[[Any, str], Mapping[str, str]]
SAFE_SEPARATOR = "__"


@dataclass(frozen=True)
class ToolSpec:
    """Everything known about one tool; the catalog is a dict of these."""

    name: str
    provider: Provider
    func: Callable[[Any, Any], Any]
    params_model: type[BaseModel]
    description: str
    writes: bool
    destructive: bool
    idempotent: bool
    scopes: tuple[str, ...]
    max_attempts: int | None
    backoff_base_seconds: float | None = None
    backoff_cap_seconds: float | None = None
    reconcile: Reconciler | None = None
    reconcile_scopes: tuple[str, ...] = ()
    scope_values: ScopeValues | None = None

    @property
    def queue(self) -> str:
        return queue_for(self.name)

    @property
    def lost_response(self) -> str | None:
        """What a retry does after a write's response was lost: ``reconciled`` (an earlier
        attempt's write is found, not repeated) or ``may repeat``; ``None`` for reads."""
        if not self.writes:
            return None
        return "reconciled" if self.reconcile is not None else "may repeat"

    def parse(self, params: dict[str, Any], prefix: str = "") -> BaseModel:
        """``params`` as the tool's model, or :class:`~worker.errors.BadParams` (its
        message after ``prefix``): the fleet-wide rules (worker.runtime.params) first, then
        the model. The client and the worker both validate here."""
        try:
            check_shape(params)
            return self.params_model.model_validate(params)
        except ValidationError as exc:
            raise bad_params(exc, prefix) from None
        except BadParams as exc:
            raise BadParams(prefix + exc.message) from None

    def params_schema(self) -> dict[str, Any]:
        return self.params_model.model_json_schema()

    def example(self) -> dict[str, Any]:
        """The first example of the params model (every tool declares one)."""
        examples = self.params_schema().get("examples") or [{}]
        return examples[0]

    def annotations(self) -> dict[str, bool]:
        """MCP tool annotations."""
        return {
            "readOnlyHint": not self.writes,
            "destructiveHint": self.destructive,
            "idempotentHint": self.idempotent,
            "openWorldHint": True,
        }

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "queue": self.queue,
            "writes": self.writes,
            "lost_response": self.lost_response,
            "scopes": list(self.scopes),
            "annotations": self.annotations(),
            "params": self.params_schema(),
        }

    def as_mcp(self) -> dict[str, Any]:
        """As MCP's ``tools/list`` entry: the safe name (clients refuse dots), the
        catalog's name as the title (what ``fleet mcp`` serves)."""
        return {
            "name": self.safe_name,
            "title": self.name,
            "description": self.description,
            "inputSchema": self.params_schema(),
            "annotations": self.annotations(),
        }

    @property
    def safe_name(self) -> str:
        """The name where only ``[A-Za-z0-9_-]`` is allowed (OpenAI functions, several
        MCP clients): ``acme.list_issues`` → ``acme__list_issues``. Reversible:
        :func:`resolve` accepts it back."""
        return self.name.replace(".", SAFE_SEPARATOR)

    def as_openai(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {
                "name": self.safe_name,
                "description": self.description,
                "parameters": self.params_schema(),
            },
        }


_CATALOG: dict[str, ToolSpec] = {}
_all_loaded = False


@dataclass
class Provider:
    """One integration at work: its declaration (worker.providers: name, queue,
    settings, SDK modules, published limits, credentials) plus what calling it takes.

    ``rate_headers`` reads, after every call, what the provider said about its budget
    (``x-ratelimit-remaining``, ``-limit``, ``-reset``) for the governor; ``probe``
    makes the one cheap call ``fleet doctor`` checks the credentials with (returning
    ``acts_as`` and ``limits``); :meth:`connect` loads the SDK modules
    (worker.runtime.sdk) before building a client. ``secret_settings``: a deployment
    gives each process exactly those of the providers its queues run (tests/test_deploy.py).
    """

    declaration: Declaration
    client: ClientFactory
    map_error: ErrorMapper
    rate_headers: RateHeaders | None = None
    probe: Probe | None = None
    specs: list[ToolSpec] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.declaration.name

    @property
    def limits(self) -> Mapping[str, Sequence[str]]:
        return self.declaration.limits

    @property
    def sdk(self) -> tuple[str, ...]:
        return self.declaration.sdk

    @property
    def secret_settings(self) -> tuple[str, ...]:
        return self.declaration.secret_settings

    def configured(self, settings: Settings) -> bool:
        return self.declaration.configured(settings)

    def connect(self, settings: Settings, credential: str) -> Any:
        """A client for ``credential``, its SDK loaded first (the one way to get one)."""
        sdk.load(self.sdk)
        return self.client(settings, credential)

    def tool(
        self,
        name: str,
        *,
        writes: bool,
        destructive: bool = False,
        idempotent: bool | None = None,
        scopes: tuple[str, ...] | list[str] = (),
        max_attempts: int | None = None,
        backoff_base_seconds: float | None = None,
        backoff_cap_seconds: float | None = None,
        reconcile: Reconciler | None = None,
        reconcile_scopes: tuple[str, ...] | list[str] = (),
        scope_values: ScopeValues | None = None,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Declare ``fn(client, params)`` as the tool ``name``.

        ``scopes`` are the rate scopes every call takes (templates formatted
        with the params and ``credential``). ``reconcile`` is for writes a
        provider cannot de-duplicate: after an ambiguous failure (its response
        lost, its worker killed) it looks for the effect an earlier attempt had
        since the run started, and if found that becomes the result instead of
        writing again (see worker.runtime.reconcile); ``reconcile_scopes`` are the
        extra scopes that lookup spends. ``scope_values`` adds template values the
        params do not hold as such (a channel's ID for the name the agent gave).
        """

        def register(func: Callable[..., Any]) -> Callable[..., Any]:
            spec = ToolSpec(
                name=name,
                provider=self,
                func=func,
                params_model=_params_model(func),
                description=describe.from_docstring(func.__doc__, name),
                writes=writes,
                destructive=destructive,
                idempotent=(not writes) if idempotent is None else idempotent,
                scopes=tuple(scopes),
                max_attempts=max_attempts,
                backoff_base_seconds=backoff_base_seconds,
                backoff_cap_seconds=backoff_cap_seconds,
                reconcile=reconcile,
                reconcile_scopes=tuple(reconcile_scopes),
                scope_values=scope_values,
            )
            if name in _CATALOG:
                raise ValueError(f"tool {name!r} declared twice")
            if SAFE_SEPARATOR in name:  # the safe name must map back to exactly this one
                raise ValueError(f"tool {name!r}: {SAFE_SEPARATOR!r} is reserved")
            _CATALOG[name] = spec
            self.specs.append(spec)
            return func

        return register


def _params_model(func: Callable[..., Any]) -> type[BaseModel]:
    return parameter_model(func, -1, "the last")


def load_providers() -> None:
    """Import every provider module: their declarations register tools and sync kinds."""
    global _CATALOG, _all_loaded
    if _all_loaded:
        return
    modules = importlib.import_module(PROVIDERS_PACKAGE).PROVIDER_MODULES
    for module in modules:
        importlib.import_module(module)
    # In the modules' order, whichever :func:`resolve` imported first, so listings
    # (`fleet tools`, MCP, the README's table) never depend on what was called before.
    # A new dict, bound at once: a reader in another thread never sees it half-filled.
    rank = {module: i for i, module in enumerate(modules)}
    ordered = sorted(_CATALOG.values(), key=lambda spec: rank.get(spec.func.__module__, len(rank)))
    _CATALOG = {spec.name: spec for spec in ordered}
    _all_loaded = True


def catalog() -> Mapping[str, ToolSpec]:
    """Every declared tool, by name (imports the tool modules on first use)."""
    load_providers()
    return _CATALOG


def resolve(name: str) -> ToolSpec | None:
    """The tool called ``name`` or whose :attr:`ToolSpec.safe_name` it is.

    Imports only the modules declaring its prefix's tools (``tasks.TOOL_MODULES``),
    or, for a name they do not declare, the whole catalog."""
    names = dict.fromkeys((name, name.replace(SAFE_SEPARATOR, ".")))
    declaring = importlib.import_module(PROVIDERS_PACKAGE).TOOL_MODULES
    for candidate in names:
        modules = next((m for prefix, m in declaring.items() if candidate.startswith(prefix)), ())
        for module in modules:
            importlib.import_module(module)
        if (spec := _CATALOG.get(candidate)) is not None:
            return spec
    tools = catalog()
    return next((tools[candidate] for candidate in names if candidate in tools), None)
