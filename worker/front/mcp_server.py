"""The MCP server onto the fleet (``fleet mcp``): the catalog as MCP tools, each call
going through the same client validation, broker, policy and ledger as every other door.

Built on the official ``mcp`` SDK's low-level :class:`mcp.server.lowlevel.Server`, not
its ``MCPServer`` (FastMCP): FastMCP derives a tool's schema from a Python function's
signature and wraps what it returns, while the fleet's tools are data — the catalog
already holds each one's JSON schema and annotations — and a call's answer must be shaped
exactly (``structuredContent``, ``isError``, a run id in ``_meta``). The low-level
handlers list the catalog as it is and answer ``tools/call`` with those results.

- **Names.** Clients refuse dots in tool names, so tools are listed by their safe name
  (``acme__list_issues``; ``title`` keeps ``acme.list_issues``); calls accept both.
- **Errors.** An unknown tool, invalid params (the client's one validation path) and a
  run that failed (its classified ``ToolError``) answer ``isError: true`` with the
  taxonomy type and message, never a protocol error: the model can read and correct it.
- **Long calls.** A call is waited on for up to ``FLEET_MCP_WAIT_SECONDS``; one still
  going is answered ``{"run_id", "status", "hint"}`` and the run goes on. The server's
  own tool ``fleet.get_run`` (``fleet__get_run``) reads its outcome from the ledger. The
  2025-11-25 spec's experimental tasks utility would do the same job, but this SDK does
  not implement it (its method tables leave ``tasks/*`` out, and the 2026-07-28 revision
  dropped it) and few clients speak it; a tool works with every client.
- **Progress.** With a progress token (recorded as the run's ``agent_task_id``; else
  ``mcp:<request id>``), each change of the run's ledger state is a progress
  notification: queued → running → parked / retrying, with the reason.
- **Threads.** Waits, ledger reads and event polls are synchronous and run in worker
  threads, each kind in its own bounded lane (worker.front.mcp_lanes): long waits cannot
  take the threads a ``fleet__get_run`` or a new call needs.
- **Transports.** stdio, and Streamable HTTP (worker.front.mcp_http: every route behind
  the SDK's Host/Origin check and, with ``FLEET_MCP_TOKEN``, its bearer check); the CLI
  refuses to listen beyond loopback without a token.
"""

from __future__ import annotations

import contextlib
import json
import threading
from functools import partial
from typing import Any

import anyio
import anyio.from_thread
import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from pydantic import BaseModel

from worker.front.client import FleetClient
from worker.front.mcp_calls import (
    Events,
    EventsPage,
    GetRun,
    Outcome,
    RunView,
    call_and_wait,
    events_page,
    failure,
    get_run,
)
from worker.front.mcp_lanes import Busy, Lanes
from worker.providers import FLEET_QUEUE, declarations
from worker.runtime.catalog import SAFE_SEPARATOR, catalog

SERVER_NAME = "toolfleet"
GET_RUN = "fleet.get_run"
EVENTS = "fleet.events"
# Tools the server answers itself (not runs on the fleet): by catalog-style name.
OWN_TOOLS = {GET_RUN: get_run, EVENTS: events_page}
RUN_ID_META = "toolfleet/run_id"  # in every answer's _meta that concerns a run
INSTRUCTIONS = (
    f"Integration tools ({', '.join(d.title for d in declarations() if d.queue != FLEET_QUEUE)}) "
    "run by a worker fleet with retries and rate limits. A call that takes long answers "
    "with a run_id: pass it to fleet__get_run later for the outcome; fleet__events "
    "follows every run's end."
)


def _safe(name: str) -> str:
    return name.replace(".", SAFE_SEPARATOR)


def tool_listing() -> list[types.Tool]:
    """``tools/list``: every catalog tool by its safe name, then ``fleet.get_run``."""
    specs = sorted(catalog().values(), key=lambda spec: spec.name)
    if any(spec.name in OWN_TOOLS for spec in specs):
        raise RuntimeError(f"a catalog tool has a name the MCP server serves: {list(OWN_TOOLS)}")
    # No outputSchema for catalog tools: they declare no result model, and a call that
    # outlives the wait answers {"run_id", "status", "hint"} instead of the result.
    listed = [types.Tool.model_validate(spec.as_mcp()) for spec in specs]
    listed.append(
        _own_tool(
            EVENTS,
            "Completion events (each run's end: tool, status, attempts, result or error), "
            "filtered by agent_task_id or tool; wait up to 30 s for the first one. "
            'Read on with after = the "next" of the previous page.',
            EventsPage,
            Events,
        )
    )
    listed.append(
        _own_tool(
            GET_RUN,
            "Where a run stands (status, attempts, parks) and, once final, its "
            "result or error and dead letter: for run ids that tools/call answered with.",
            GetRun,
            RunView,
        )
    )
    return listed


def _own_tool(
    name: str, description: str, params: type[BaseModel], answer: type[BaseModel]
) -> types.Tool:
    """A tool this server answers itself: a read of the fleet's own ledger or events."""
    return types.Tool(
        name=_safe(name),
        title=name,
        description=description,
        input_schema=params.model_json_schema(),
        output_schema=answer.model_json_schema(),
        annotations=types.ToolAnnotations(
            read_only_hint=True,
            destructive_hint=False,
            idempotent_hint=True,
            open_world_hint=False,  # the fleet's own ledger and stream, no provider
        ),
    )


def build_server(client: FleetClient, wait_seconds: float, lanes: Lanes) -> Server[Any]:
    """The low-level server: the listing is made once (the catalog does not change)."""
    listing = types.ListToolsResult(tools=tool_listing())

    async def list_tools(
        ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return listing

    async def call_tool(
        ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        name = params.name.replace(SAFE_SEPARATOR, ".")
        own = OWN_TOOLS.get(name)
        try:
            if own is not None:  # answered here, from the ledger or the events stream
                polls = name == EVENTS and _waits(params.arguments)
                lane = lanes.polls if polls else lanes.reads
                outcome = await lanes.run(lane, partial(own, params.arguments))
            else:
                outcome = await _call(ctx, client, params, wait_seconds, lanes)
        except Busy as exc:  # nothing was published: the agent may ask again
            retry = exc.retry_after_seconds
            outcome = failure("Busy", str(exc), retryable=True, retry_after_seconds=retry)
        return _as_result(outcome)

    return Server(
        SERVER_NAME,
        version=_version(),
        instructions=INSTRUCTIONS,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )


def _waits(arguments: dict[str, Any] | None) -> bool:
    """Whether a ``fleet.events`` call asks to wait (invalid values are refused quickly)."""
    wait = (arguments or {}).get("wait")
    return isinstance(wait, int | float) and wait > 0


async def _call(
    ctx: ServerRequestContext[Any],
    client: FleetClient,
    params: types.CallToolRequestParams,
    wait_seconds: float,
    lanes: Lanes,
) -> Outcome:
    """Publish and wait in a worker thread (Celery is synchronous), telling progress back.

    With every call wait taken, the call is still published, in the reads lane, and
    answered at once with its run id, as one that outlived its wait."""
    progress_token = (ctx.meta or {}).get("progress_token")
    stop = threading.Event()
    sent = 0

    def tell(line: str) -> None:
        nonlocal sent
        if progress_token is None or stop.is_set():  # none: the client wants no progress
            return
        sent += 1
        # Progress is a courtesy: a client gone away must not fail the call.
        with contextlib.suppress(Exception):
            anyio.from_thread.run(ctx.session.report_progress, sent, None, line)

    agent_task_id = f"mcp:{ctx.request_id}" if progress_token is None else str(progress_token)
    wait = partial(
        call_and_wait,
        client,
        params.name,
        params.arguments,
        agent_task_id=agent_task_id,
        tell=tell,
        stop=stop,
    )
    try:
        # A cancelled request does not wait for the thread: ``stop`` ends its wait soon.
        try:
            waited = partial(wait, wait_seconds=wait_seconds)
            return await lanes.run(lanes.calls, waited, abandon_on_cancel=True)
        except Busy:  # every call wait is taken: published all the same, answered at once
            return await lanes.run(lanes.reads, partial(wait, wait_seconds=0))
    finally:
        stop.set()


def _as_result(outcome: Outcome) -> types.CallToolResult:
    """The answer as MCP has it: JSON text for the model, structured content for programs."""
    text = outcome.text or json.dumps(outcome.structured, default=str)
    return types.CallToolResult(
        content=[types.TextContent(text=text)],
        structured_content=outcome.structured,
        is_error=outcome.is_error,
        meta={RUN_ID_META: outcome.run_id} if outcome.run_id else None,
    )


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("toolfleet")
    except PackageNotFoundError:
        return ""


def serve_stdio(server: Server[Any]) -> None:
    """Serve one client over stdin/stdout (the SDK diverts stray prints off stdout)."""
    from mcp.server.stdio import stdio_server

    async def main() -> None:
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())

    anyio.run(main)
