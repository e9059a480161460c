"""The transport-free core: state, faults, request log and dispatch to the fakes behind one lock.

``Engine.dispatch`` is the whole request lifecycle - pick a fault, sleep its latency
(outside the lock, so a slow request never blocks others), check credentials, let the
fake answer, add its headers, record. The HTTP server only converts bytes.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from simulator.fake import FakeApi
from simulator.fakes import FAKES, Credentials, seed
from simulator.faults import Fault, FaultSet
from simulator.protocol import Request, Response, json_response
from simulator.recorder import RequestLog

__all__ = ["Credentials", "Engine", "Outcome"]

LOG = logging.getLogger("simulator")


@dataclass
class Outcome:
    """A dispatch result: the response to send, or ``drop`` to close the socket instead."""

    response: Response
    drop: bool = False


class Engine:
    """Owns everything mutable; all access goes through ``self.lock``."""

    def __init__(self, credentials: Any) -> None:
        self.lock = threading.RLock()
        self.state = seed()
        self.faults = FaultSet()
        self.log = RequestLog()
        self.providers: dict[str, FakeApi] = {
            name: fake.api(credentials) for name, fake in FAKES.items()
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

    def _handle(self, api: FakeApi, req: Request) -> Response:
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
            self.state = seed()
            self.faults.clear()
            self.log.clear()
