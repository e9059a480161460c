"""``GET /events`` beside ``/mcp``: completion events for agents that speak only HTTP.

A long poll over the events stream (worker.events): ``?after=<id>`` (``0``:
every event kept; ``$``: only new ones), ``agent_task_id``, ``tool`` and
``wait`` (seconds to hold the request open when nothing matches yet, at most
:data:`MAX_WAIT_SECONDS`). The answer is ``{"events": [...], "next": <id>}``:
ask again with ``after=next``. A poll with a wait takes a place in the server's
long-poll lane (worker.front.mcp_lanes); with none free it is answered 503 with
``Retry-After`` at once. Host, Origin and the bearer token are checked in front
of it, as for ``/mcp`` (worker.front.mcp_http).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from worker.front.mcp_lanes import Busy, Lanes

MAX_WAIT_SECONDS = 30.0


def events_endpoint(lanes: Lanes) -> Callable[[Any], Awaitable[Any]]:
    """The Starlette endpoint serving ``GET /events``."""
    from starlette.requests import Request
    from starlette.responses import JSONResponse

    from worker.events import page

    async def events(request: Request) -> JSONResponse:
        query = request.query_params
        try:
            wait = min(MAX_WAIT_SECONDS, max(0.0, float(query.get("wait", "0"))))
        except ValueError:
            return JSONResponse({"error": "wait must be a number of seconds"}, status_code=400)
        read = partial(
            page,
            after=query.get("after", "0"),
            wait_seconds=wait,
            agent_task_id=query.get("agent_task_id"),
            tool=query.get("tool"),
        )
        try:
            found, cursor = await lanes.run(lanes.polls if wait > 0 else lanes.reads, read)
        except Busy as exc:
            retry = {"Retry-After": str(exc.retry_after_seconds)}
            return JSONResponse({"error": str(exc)}, status_code=503, headers=retry)
        return JSONResponse({"events": found, "next": cursor})

    return events
