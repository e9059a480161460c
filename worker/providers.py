"""What a provider declares about itself, and the declarations found in the tools package.

Each provider package's ``__init__`` holds one :class:`Declaration`: its name, queue
and tool-name prefixes, the settings it reads (a pydantic model mixed into
:class:`worker.settings.Settings`), its SDK modules, its published rate limits and
how to run it against the simulator. Everything the machinery knows of providers
(queues, settings, secrets, `fleet up`'s simulated environment, the test
environment) is derived from these. Nothing here imports Celery, an SDK or the
settings: :mod:`worker.settings` itself is built from the declarations.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, get_args

from pydantic import BaseModel, BeforeValidator, SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import NoDecode

# The package holding one subpackage per provider (discovered by its __init__).
PROVIDERS_PACKAGE = "tasks"
ENV_PREFIX = "FLEET_"
# The fleet's own queue (syncs, housekeeping, the fleet's own tools): worker.queues.
FLEET_QUEUE = "syncs"


def _split(value: object) -> object:
    if isinstance(value, str):
        return [host.strip().lower() for host in value.split(",") if host.strip()]
    return value


# A setting given as "a.example, b.example" in the environment (no JSON needed).
HostList = Annotated[list[str], NoDecode, BeforeValidator(_split)]


@dataclass(frozen=True)
class Simulation:
    """How `fleet up` and the tests point a provider at the local simulator.

    ``env(base_url, credentials)`` is the environment doing it, given the
    simulator's URL and the credentials it accepts (``simulator.Credentials``);
    ``syncs`` are the demo syncs `fleet up` runs against it when none are configured.
    """

    env: Callable[[str, Any], dict[str, str]]
    syncs: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class Demo:
    """What a demo fleet (`fleet up` against the simulator) sets for this provider:
    ``env(settings)`` is the environment to add (empty when the settings already hold
    it), ``note`` the line `fleet up` prints when it does."""

    env: Callable[[Any], dict[str, str]]
    note: str


@dataclass(frozen=True)
class Declaration:
    """One provider, declared once in its package's ``__init__``.

    ``queue`` defaults to the name, ``prefixes`` to ``("<name>.",)``: the tool names
    routed to that queue. ``settings`` is a pydantic model of the provider's own
    settings (its fields become :class:`~worker.settings.Settings` fields);
    ``credential`` is the one of them without which the provider is not configured,
    ``api_setting`` the one holding where its API is (shown by `fleet doctor`).
    ``limits`` maps a rate-scope kind to the provider's published limits.
    ``tools`` and ``syncs`` name the package's modules that declare its tools and
    its sync kinds (a process calling one tool imports its provider's ``tools``);
    ``fake`` the one holding its fake API for the simulator (a ``simulator.fake.Fake``
    as ``FAKE``), imported by the simulator alone.
    """

    name: str
    title: str
    queue: str = ""
    prefixes: tuple[str, ...] = ()
    settings: type[BaseModel] | None = None
    credential: str | None = None
    api_setting: str | None = None
    sdk: tuple[str, ...] = ()
    limits: Mapping[str, Sequence[str]] = field(default_factory=dict)
    tools: tuple[str, ...] = ("tools",)
    syncs: str | None = None
    fake: str | None = None
    simulate: Simulation | None = None
    demo: Demo | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "queue", self.queue or self.name)
        object.__setattr__(self, "prefixes", self.prefixes or (f"{self.name}.",))

    @property
    def package(self) -> str:
        return f"{PROVIDERS_PACKAGE}.{self.name}"

    @property
    def tool_modules(self) -> tuple[str, ...]:
        """The modules whose import registers this provider's tools."""
        return tuple(f"{self.package}.{m}" for m in self.tools)

    @property
    def modules(self) -> tuple[str, ...]:
        """The modules whose import registers this provider's tools and sync kinds."""
        return self.tool_modules + ((f"{self.package}.{self.syncs}",) if self.syncs else ())

    @property
    def secret_settings(self) -> tuple[str, ...]:
        """The settings holding its credentials: every field of its model with a
        ``SecretStr`` in it (however deep)."""
        fields = self.settings.model_fields if self.settings else {}
        return tuple(name for name, info in fields.items() if holds_secret(info.annotation))

    def configured(self, settings: Any) -> bool:
        """Whether ``settings`` hold its credential (a provider needing none always is)."""
        return self.credential is None or getattr(settings, self.credential) is not None

    def credential_env(self) -> str | None:
        """The environment variable of :attr:`credential`."""
        if self.credential is None or self.settings is None:
            return None
        return env_name(self.credential, self.settings.model_fields[self.credential])


def holds_secret(annotation: Any) -> bool:
    """Whether a value of ``annotation`` may hold a ``SecretStr``."""
    if annotation is SecretStr:
        return True
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return any(holds_secret(f.annotation) for f in annotation.model_fields.values())
    return any(holds_secret(arg) for arg in get_args(annotation))


def env_name(name: str, info: FieldInfo) -> str:
    """The environment variable a settings field is read from."""
    alias = info.validation_alias
    choices = getattr(alias, "choices", None)
    if choices:
        return str(choices[0])
    return str(alias) if isinstance(alias, str) else f"{ENV_PREFIX}{name}".upper()


def declarations() -> tuple[Declaration, ...]:
    """Every provider's declaration, in the package's discovery order."""
    return importlib.import_module(PROVIDERS_PACKAGE).DECLARATIONS
