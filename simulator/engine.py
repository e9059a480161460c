"""The transport-free core: state, faults, request log and provider dispatch behind one lock.

``Engine.dispatch`` is the whole request lifecycle - pick a fault, sleep its latency
(outside the lock, so a slow request never blocks others), check credentials, let the
provider answer, add provider headers, record. The HTTP server only converts bytes.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Protocol

from simulator.faults import Fault, FaultSet
from simulator.github import GithubApi
from simulator.jira import JiraApi
from simulator.protocol import Request, Response, json_response
from simulator.recorder import RequestLog
from simulator.seed import build_state
from simulator.slack import SlackApi
from simulator.state import SimState

LOG = logging.getLogger("simulator")


class Provider(Protocol):
    """What every fake API implements."""

    provider: str

    def authenticate(self, req: Request) -> bool: ...
    def unauthorized(self, req: Request) -> Response: ...
    def fault_response(self, fault: Fault, req: Request, st: SimState) -> Response: ...
    def handle(self, req: Request, st: SimState) -> Response: ...
    def finish(self, req: Request, resp: Response, st: SimState) -> None: ...


@dataclass(frozen=True)
class Credentials:
    """The only credentials each fake provider accepts (plus the Jira flavour to present)."""

    github_token: str = "sim-github-token"
    slack_token: str = "xoxb-sim-token"
    jira_user: str = "sim@example.com"
    jira_token: str = "sim-jira-token"
    jira_deployment: str = "Server"  # what /serverInfo reports: "Server" or "Cloud"


@dataclass
class Outcome:
    """A dispatch result: the response to send, or ``drop`` to close the socket instead."""

    response: Response
    drop: bool = False


class Engine:
    """Owns everything mutable; all access goes through ``self.lock``."""

    def __init__(self, credentials: Credentials) -> None:
        self.lock = threading.RLock()
        self.state = build_state()
        self.faults = FaultSet()
        self.log = RequestLog()
        self.providers: dict[str, Provider] = {
            "github": GithubApi(credentials.github_token),
            "slack": SlackApi(credentials.slack_token),
            "jira": JiraApi(
                credentials.jira_user, credentials.jira_token, credentials.jira_deployment
            ),
        }

    def dispatch(self, req: Request, url_path: str) -> Outcome:
        """Answer one provider request, applying any matching fault."""
        started = time.time()
        api = self.providers[req.provider]
        with self.lock:
            fault = self.faults.take(req.provider, req.method, req.path)
        if fault is not None and fault.latency:
            time.sleep(fault.latency)
        auth_valid = api.authenticate(req)
        with self.lock:
            if fault is not None and fault.responds:
                resp = api.fault_response(fault, req, self.state)
            elif not auth_valid:
                resp = api.unauthorized(req)
            else:
                resp = self._handle(api, req)
            api.finish(req, resp, self.state)
            dropped = fault is not None and fault.drop_response
            self.log.add(
                req,
                url_path=url_path,
                started=started,
                auth_valid=auth_valid,
                status=resp.status,
                fault_id=fault.id if fault else None,
                dropped=dropped,
            )
        if fault is not None and fault.slow_response:
            time.sleep(fault.slow_response)  # done, and recorded: only the answer is late
        return Outcome(resp, drop=dropped)

    def _handle(self, api: Provider, req: Request) -> Response:
        try:
            return api.handle(req, self.state)
        except Exception as exc:  # a simulator bug must not look like a dropped connection
            LOG.exception("simulator failed on %s %s %s", req.provider, req.method, req.path)
            return json_response(500, {"message": f"simulator error: {exc!r}"})

    def add_fault(self, fault: Fault) -> Fault:
        with self.lock:
            return self.faults.add(fault)

    def reset(self) -> None:
        """Seed state back, no faults, empty log."""
        with self.lock:
            self.state = build_state()
            self.faults.clear()
            self.log.clear()
