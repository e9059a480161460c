"""The agent-side client: call a tool by name, validated before anything is sent.

    from worker.client import FleetClient
    fleet = FleetClient()
    result = fleet.call("fleet.echo", {"message": "ping"}, wait=True)

A tool is named as in the catalog or by its safe name (``acme__list_issues``,
as exported for OpenAI). An unknown name raises :class:`UnknownTool` (with
the closest names); invalid params raise :class:`~worker.errors.BadParams`
with pydantic's message — both before any message is published.
``wait=True`` returns the result dict or raises the tool's classified error
(``NotFound``, ``RateLimited``...).
The client needs only the broker (and result backend): no database.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from celery import Celery
from celery.result import AsyncResult
from kombu.exceptions import OperationalError
from kombu.utils.url import maybe_sanitize_url

from worker.errors import BadParams
from worker.runtime.catalog import ToolSpec, catalog, resolve
from worker.runtime.headers import check_correlation

# A caller waiting on a publish wants an answer in seconds, not Celery's default
# of retrying for as long as the broker takes to come back.
PUBLISH_RETRY = {"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 1}


class BrokerUnavailable(ConnectionError):
    """The call could not be published: nothing was sent, nothing recorded."""


class UnknownTool(LookupError):
    """No tool has this name."""

    def __init__(self, name: str, known: list[str]) -> None:
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        super().__init__(f"unknown tool {name!r}{hint} (`fleet tools` lists them all)")
        self.name = name
        self.suggestions = close


@dataclass(frozen=True)
class ToolCall:
    """A handle on a published call."""

    id: str
    tool: str
    async_result: AsyncResult

    @property
    def status(self) -> str:
        return self.async_result.status

    def get(self, timeout: float | None = None) -> dict[str, Any]:
        """The result, or the tool's error raised (Celery's ``TimeoutError`` on timeout)."""
        return self.async_result.get(timeout=timeout, propagate=True, disable_sync_subtasks=False)

    def release(self) -> None:
        """Stop listening for the result. A process that gave up waiting should call
        this before it exits: otherwise Celery unsubscribes from the garbage collector
        during interpreter shutdown, which fails noisily."""
        backend = self.async_result.backend
        if backend is not None:
            backend.remove_pending_result(self.async_result)


class FleetClient:
    """Publishes tool calls by name on the fleet's broker."""

    def __init__(self, app: Celery | None = None) -> None:
        if app is None:
            from worker.app import app as fleet_app

            app = fleet_app
        self.app = app

    def spec(self, tool: str) -> ToolSpec:
        """The tool by its name or its safe name (``acme__list_issues``)."""
        spec = resolve(tool)
        if spec is None:
            raise UnknownTool(tool, sorted(catalog()))
        return spec

    def validate(self, tool: str, params: dict[str, Any] | None) -> dict[str, Any]:
        """Check ``params`` against the tool's schema; returns them unchanged if valid."""
        spec = self.spec(tool)
        params = {} if params is None else params
        if not isinstance(params, dict):
            raise BadParams(f"params must be a JSON object, not {type(params).__name__}")
        spec.parse(params, prefix=f"{tool}: ")
        return params

    def call(
        self,
        tool: str,
        params: dict[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
        agent_task_id: str | None = None,
        step_id: str | None = None,
        wait: bool = False,
        timeout: float | None = None,
        task_id: str | None = None,
    ) -> Any:
        """Publish ``tool(**params)``; a :class:`ToolCall`, or its result with ``wait=True``."""
        tool = self.spec(tool).name  # the safe name travels as the real one
        params = self.validate(tool, params)
        headers = {
            k: v
            for k, v in {
                "idempotency_key": idempotency_key,
                "agent_task_id": agent_task_id,
                "step_id": step_id,
            }.items()
            if v is not None
        }
        check_correlation(headers)  # what the ledger could not keep is refused here
        try:
            result = self.app.send_task(
                tool,
                kwargs=params,
                headers=headers,
                task_id=task_id,
                retry=True,
                retry_policy=PUBLISH_RETRY,
            )
        except (OperationalError, OSError, RuntimeError) as exc:
            # RuntimeError: the result backend (the same Redis) gave up reconnecting.
            where = maybe_sanitize_url(self.app.conf.broker_url or "")
            reason = exc.__cause__ or exc  # what Redis said, not Celery's wrapper
            raise BrokerUnavailable(f"cannot reach the broker {where}: {reason}") from None
        call = ToolCall(id=result.id, tool=tool, async_result=result)
        return call.get(timeout=timeout) if wait else call

    def events(
        self,
        *,
        agent_task_id: str | None = None,
        tool: str | None = None,
        after: str = "0",
        follow: bool = False,
        group: str | None = None,
        consumer: str = "reader",
    ) -> Iterator[dict[str, Any]]:
        """Completion events (each run's end), oldest first, from stream id ``after``
        (``"$"``: only new ones); ``follow`` waits for more. With ``group``, several
        readers share the events, each acknowledged when the next is asked for (see
        worker.events). Delivery is at least once: de-duplicate by ``run_id``."""
        from worker.events import iterate

        name = self.spec(tool).name if tool is not None else None
        return iterate(
            after=after,
            follow=follow,
            agent_task_id=agent_task_id,
            tool=name,
            group=group,
            consumer=consumer,
        )

    def result(self, run_id: str) -> ToolCall:
        """A handle on an earlier call, by its run id."""
        async_result = self.app.AsyncResult(run_id)
        return ToolCall(id=run_id, tool=async_result.name or "", async_result=async_result)
