"""The fake APIs the simulator serves, found from the provider declarations.

Each declaration naming a ``fake`` module contributes that module's ``FAKE``
(:class:`simulator.fake.Fake`); nothing here names a provider. :data:`Credentials`
is built from the fakes' credential fields, so each fake declares its own.
"""

from __future__ import annotations

import importlib
from dataclasses import field, make_dataclass
from typing import Any

from simulator.fake import Fake
from simulator.state import SimState
from worker.providers import declarations


def _discover() -> dict[str, Fake]:
    return {
        d.name: importlib.import_module(f"{d.package}.{d.fake}").FAKE
        for d in declarations()
        if d.fake is not None
    }


FAKES = _discover()

# The only credentials the simulator accepts: every fake's fields, with their defaults.
Credentials: Any = make_dataclass(
    "Credentials",
    [
        (name, str, field(default=default))
        for fake in FAKES.values()
        for name, default in fake.credentials.items()
    ],
    frozen=True,
)
Credentials.__module__ = __name__
Credentials.__doc__ = "The only credentials each fake API accepts (its fields, from the fakes)."


def seed() -> SimState:
    """A fresh copy of every fake's seeded world."""
    return SimState({name: fake.seed() for name, fake in FAKES.items()})


def base_urls(root: str) -> dict[str, str]:
    """Each fake's SDK base URL (``<name>_url``) for a simulator reachable at ``root``."""
    return {f"{name}_url": f"{root}{fake.prefix}" for name, fake in FAKES.items()}


def provider_of(path: str) -> tuple[str, str] | None:
    """``(provider, provider-relative path)`` for a request path, or None."""
    for name, fake in FAKES.items():
        relative = fake.relative(path)
        if relative is not None:
            return name, relative
    return None
