"""The providers: one package each, discovered here, never listed by hand; ``shared/``
is what provider packages share.

Each provider package's ``__init__`` holds its declaration
(:class:`worker.providers.Declaration`, as ``DECLARATION``) and imports nothing
heavy: importing this package imports those and no tool. The catalog
(:func:`worker.runtime.catalog.catalog`) imports each of :data:`PROVIDER_MODULES`,
whose ``@provider.tool`` and ``@sync_kind`` declarations register the tools and
sync kinds; resolving one tool name imports only the modules :data:`TOOL_MODULES`
names for its prefix.

``FLEET_PROVIDER_PATH`` (directories, separated as ``PATH`` is) adds provider
packages kept outside this one: each subpackage there is found as ``tasks.<name>``.
"""

from __future__ import annotations

import importlib
import os
import pkgutil

from worker.providers import Declaration

# Not a provider: what provider packages share.
SHARED = "shared"
__path__ += [p for p in os.environ.get("FLEET_PROVIDER_PATH", "").split(os.pathsep) if p]


def _discover() -> tuple[Declaration, ...]:
    found = []
    names = sorted({m.name for m in pkgutil.iter_modules(__path__) if m.ispkg} - {SHARED})
    for name in names:
        declaration = importlib.import_module(f"{__name__}.{name}").DECLARATION
        if declaration.name != name:  # the package is found by the name it declares
            raise ValueError(f"{__name__}.{name} declares {declaration.name!r}")
        found.append(declaration)
    return tuple(found)


DECLARATIONS = _discover()
PROVIDER_MODULES = tuple(module for d in DECLARATIONS for module in d.modules)
# The modules declaring the tools of each name prefix: a process that calls one tool
# (`fleet call github.create_issue`) imports those alone. tests/test_layout.py checks
# them against the declarations.
TOOL_MODULES = {prefix: d.tool_modules for d in DECLARATIONS for prefix in d.prefixes}
