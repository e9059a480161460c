"""Runtime switches: what the simulated identities may do, changed while the simulator runs.

Real bot identities are refused things a personal token may do; switches make the
simulator refuse them too. Each fake declares its own (:class:`simulator.fake.Switch`,
documented in its package); set them with ``Simulator.configure(...)`` in process or
``POST /_sim/settings`` (``SimulatorClient.configure``) from another. ``reset()`` puts
the defaults back, since they live in the state the seed rebuilds.
"""

from __future__ import annotations

from typing import Any

from simulator.fake import Switch
from simulator.fakes import FAKES
from simulator.state import SimState

SWITCHES: dict[str, tuple[str, Switch]] = {
    switch.name: (provider, switch) for provider, fake in FAKES.items() for switch in fake.switches
}


class SettingsError(ValueError):
    """A setting the simulator does not know, or a value of the wrong type."""


def current(st: SimState) -> dict[str, Any]:
    """Every switch with its value."""
    return {name: switch.get(st[provider]) for name, (provider, switch) in SWITCHES.items()}


def apply(st: SimState, changes: dict[str, Any]) -> dict[str, Any]:
    """Set the given switches (all validated before any is set); returns them all."""
    unknown = set(changes) - set(SWITCHES)
    if unknown:
        raise SettingsError(f"unknown settings: {sorted(unknown)}")
    for name, value in changes.items():
        if not SWITCHES[name][1].valid(value):
            raise SettingsError(f"{name} must be {SWITCHES[name][1].expects}")
    for name, value in changes.items():
        provider, switch = SWITCHES[name]
        switch.set(st[provider], value)
    return current(st)
