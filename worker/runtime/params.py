"""Params models: their config, finding a function's, and the rules every one obeys.

:func:`params_config` is every params model's config and
:func:`parameter_model` finds the model a tool (or sync kind) function is
annotated with. :func:`check_shape` checks the rules every tool's params
obey, whatever its model says, before the model.

A tool's pydantic model says what its fields are; these rules bound what no
single model can, the same for every tool, on the client and in the worker
alike (:meth:`worker.runtime.catalog.ToolSpec.parse`):

- no string, key or value, holds a NUL character: PostgreSQL stores none in
  JSONB or text, and no provider API takes one;
- no object or array is nested more than :data:`MAX_DEPTH` levels deep
  (the params object itself is level 1): free-form fields (``fleet.echo``'s
  ``data``, ``webhook.send``'s ``payload``, ``http.request``'s ``json``) stay
  within what every JSON parser and a recursive walk handle;
- the params are at most :data:`MAX_CHARS` characters as JSON text (counted
  as their strings plus a few characters for each other value), so no call
  takes megabytes of the broker and the ledger.

A break is :class:`~worker.errors.BadParams` naming where it is.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any, get_type_hints

from pydantic import BaseModel, ConfigDict

from worker.errors import BadParams

MAX_DEPTH = 32
MAX_CHARS = 1_000_000
# What a non-string value or a container's brackets and separators count for.
OTHER_CHARS = 4


def check_shape(params: dict[str, Any]) -> None:
    """Raise :class:`BadParams` if ``params`` break a fleet-wide rule (see above)."""
    size = 0
    # (value, its depth, where it is): iterative, so a deep value cannot exhaust the stack.
    todo: list[tuple[Any, int, tuple[str, ...]]] = [(params, 1, ())]
    while todo:
        value, depth, path = todo.pop()
        if isinstance(value, str):
            if "\x00" in value:
                raise BadParams(f"{_where(path)}: NUL characters are refused")
            size += len(value) + 2
        elif isinstance(value, dict | list | tuple):
            if depth > MAX_DEPTH:
                raise BadParams(f"{_where(path)}: nested deeper than {MAX_DEPTH} levels")
            size += OTHER_CHARS
            if isinstance(value, dict):
                for key, item in value.items():
                    name = str(key)
                    if "\x00" in name:
                        raise BadParams(f"{_where(path)}: NUL characters are refused in keys")
                    size += len(name) + OTHER_CHARS
                    todo.append((item, depth + 1, (*path, name)))
            else:
                todo.extend((item, depth + 1, (*path, str(i))) for i, item in enumerate(value))
        else:
            size += OTHER_CHARS
        if size > MAX_CHARS:
            raise BadParams(f"params: larger than {MAX_CHARS:,} characters as JSON")


def _where(path: tuple[str, ...]) -> str:
    """A location as pydantic writes it (``data.a.0``), shortened if very deep."""
    if len(path) > 8:
        path = (*path[:4], "...", *path[-3:])
    return ".".join(path) or "params"


def params_config(*examples: dict[str, Any], **config: Any) -> ConfigDict:
    """A params model's config: unknown fields refused, and the catalog examples
    (the first one is the README's example call; a test runs each). Validators are
    built when the model is first used: a process that calls one tool (``fleet
    call``) builds one, not the whole catalog's."""
    examples_extra = {"examples": list(examples)}
    return ConfigDict(extra="forbid", json_schema_extra=examples_extra, defer_build=True, **config)


def parameter_model(func: Callable[..., Any], position: int, which: str) -> type[BaseModel]:
    """The pydantic model annotating ``func``'s parameter at ``position``.

    Only that one annotation is evaluated: the client parameter's annotation names
    an SDK class that provider modules import for type checkers only
    (worker.runtime.sdk).
    """
    params = list(inspect.signature(func).parameters)
    name = params[position] if params else ""
    one = SimpleNamespace(
        __annotations__={name: func.__annotations__.get(name)}, __globals__=func.__globals__
    )
    model = get_type_hints(one).get(name) if name else None
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise TypeError(f"{func.__qualname__}: {which} parameter must be a pydantic model")
    return model
