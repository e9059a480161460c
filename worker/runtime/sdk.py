"""Provider SDKs imported when first used, not when the catalog is read.

Provider SDKs take about half a second each to import and tens of MB once
loaded. The CLI, the MCP server and an agent's client read the catalog (names,
schemas, queues) and never call a provider; a worker of one provider's queue
never calls another. A provider module therefore binds its SDK with
:func:`lazy` (``sdk = lazy("vendor_sdk")``) and uses it as ``sdk.Client``
inside functions; the module is loaded by :func:`load`, which
:meth:`worker.runtime.catalog.Provider.connect` calls before building a client
and a worker calls at start for the providers its queues serve
(:func:`load_for_queues`).

Loading goes through one lock: the standard library's lazy modules are not
safe to load from two threads at once before Python 3.12, and a threads
worker has many.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
from collections.abc import Iterable
from types import ModuleType
from typing import Any

from worker.queues import queue_for

_lock = threading.Lock()


def lazy(name: str) -> ModuleType:
    """The top-level module ``name``, loaded on first attribute access (or now, if
    something has already imported it)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    spec.loader = importlib.util.LazyLoader(spec.loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def is_loaded(name: str) -> bool:
    """Whether ``name`` has really been imported (not just bound lazily)."""
    # The lazy type is private, but it is what LazyLoader gives a module until it loads
    # (type() does not trigger the load the way attribute access does).
    module = sys.modules.get(name)
    return module is not None and type(module).__name__ != "_LazyModule"


def load(names: tuple[str, ...]) -> None:
    """Finish importing each of ``names`` (once; safe from any thread)."""
    if all(is_loaded(name) for name in names):
        return
    with _lock:
        for name in names:
            if not is_loaded(name):
                # Any attribute access makes a lazy module execute its code.
                _ = importlib.import_module(name).__name__


def load_for_queues(specs: Iterable[Any], queues: Iterable[str]) -> tuple[list[str], list[str]]:
    """Load now the SDKs of the providers whose ``specs`` (ToolSpecs of tools and sync
    kinds, from the catalog this module must not import) run on ``queues``; return
    the SDKs loaded and those of the others, left unloaded.

    A worker calls it before its pool starts, so a fork inherits them loaded and
    a threads pool never loads one mid-call.
    """
    wanted, every, names = set(queues), set(), []
    for spec in specs:
        every.update(spec.provider.sdk)
        if queue_for(spec.name) in wanted:
            names += [name for name in spec.provider.sdk if name not in names]
    load(tuple(names))
    return names, sorted(name for name in every if not is_loaded(name))
