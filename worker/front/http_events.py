"""``GET /events`` beside ``/mcp``: completion events for agents that speak only HTTP.

A long poll over the events stream (worker.events): ``?after=<id>`` (``0``:
every event kept; ``$``: only new ones), ``agent_task_id``, ``tool`` and
``wait`` (seconds to hold the request open when nothing matches yet, at most
:data:`MAX_WAIT_SECONDS`). The answer is ``{"events": [...], "next": <id>}``:
ask again with ``after=next``. Guarded by the same bearer token as ``/mcp``.
"""

from __future__ import annotations

import hmac
from typing import Any

MAX_WAIT_SECONDS = 30.0


def events_route(token: str | None) -> Any:
    """The Starlette route serving ``GET /events``."""
    import anyio
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from worker.events import page

    async def events(request: Request) -> JSONResponse:
        if token is not None:
            given = request.headers.get("authorization", "").removeprefix("Bearer ")
            if not hmac.compare_digest(given.encode(), token.encode()):
                return JSONResponse({"error": "a bearer token is required"}, status_code=401)
        query = request.query_params
        try:
            wait = min(MAX_WAIT_SECONDS, max(0.0, float(query.get("wait", "0"))))
        except ValueError:
            return JSONResponse({"error": "wait must be a number of seconds"}, status_code=400)
        found, cursor = await anyio.to_thread.run_sync(
            lambda: page(
                after=query.get("after", "0"),
                wait_seconds=wait,
                agent_task_id=query.get("agent_task_id"),
                tool=query.get("tool"),
            )
        )
        return JSONResponse({"events": found, "next": cursor})

    return Route("/events", events, methods=["GET"])
