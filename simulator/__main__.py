"""``python -m simulator``: run the provider simulator in the foreground.

Prints the base URLs to export (``GITHUB_API_URL``, ``SLACK_API_URL``, ``JIRA_BASE_URL``)
and the control API root, then serves until interrupted.
"""

from __future__ import annotations

import argparse
import sys

from simulator.core import Simulator
from simulator.engine import Credentials


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m simulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default: loopback)")
    parser.add_argument("--port", type=int, default=8900, help="0 picks a free port")
    parser.add_argument("--github-token", default=Credentials.github_token)
    parser.add_argument("--slack-token", default=Credentials.slack_token)
    parser.add_argument("--jira-user", default=Credentials.jira_user)
    parser.add_argument("--jira-token", default=Credentials.jira_token)
    parser.add_argument("--jira-deployment", default="Server", choices=["Server", "Cloud"])
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv``, start the simulator, print its URLs, serve until Ctrl-C."""
    args = build_parser().parse_args(argv)
    sim = Simulator(
        args.host,
        args.port,
        github_token=args.github_token,
        slack_token=args.slack_token,
        jira_user=args.jira_user,
        jira_token=args.jira_token,
        jira_deployment=args.jira_deployment,
    ).start()
    print(f"GITHUB_API_URL={sim.github_url}")  # noqa: T201 - the CLI's whole output
    print(f"SLACK_API_URL={sim.slack_url}")  # noqa: T201
    print(f"JIRA_BASE_URL={sim.jira_url}")  # noqa: T201
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
