"""``python -m simulator``: run the provider simulator in the foreground.

Prints the base URLs to export (each simulated provider's, as its declaration points
`fleet up` at the simulator) and the control API root, then serves until interrupted.
Each fake's credentials are options (``--<field>``, dashes for underscores).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

from simulator.core import Simulator
from simulator.fakes import FAKES, Credentials
from worker.providers import declarations


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m simulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default: loopback)")
    parser.add_argument("--port", type=int, default=8900, help="0 picks a free port")
    choices = {name: c for fake in FAKES.values() for name, c in fake.choices.items()}
    for credential in dataclasses.fields(Credentials):
        option = "--" + credential.name.replace("_", "-")
        parser.add_argument(
            option, default=credential.default, choices=choices.get(credential.name)
        )
    return parser


def url_variables(sim: Simulator) -> dict[str, str]:
    """The variables pointing each simulated provider at ``sim`` (its URLs only)."""
    return {
        name: value
        for d in declarations()
        if d.simulate is not None and d.name in FAKES
        for name, value in d.simulate.env(sim.url, sim.credentials).items()
        if value.startswith(sim.url)
    }


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv``, start the simulator, print its URLs, serve until Ctrl-C."""
    args = vars(build_parser().parse_args(argv))
    host, port = args.pop("host"), args.pop("port")
    sim = Simulator(host, port, **args).start()
    for name, value in url_variables(sim).items():
        print(f"{name}={value}")  # noqa: T201 - the CLI's whole output
    print(f"SIMULATOR_URL={sim.url}  (control API under /_sim/)", flush=True)  # noqa: T201
    try:
        sim.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
