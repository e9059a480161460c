"""The tool runtime: declaring a tool and running one (the tools themselves are the
providers', in ``tasks/``).

- ``catalog``: ``Provider``, ``@provider.tool``, ``ToolSpec`` and the catalog —
  declarations only, no Celery import (clients and exports load it cheaply);
- ``params``: the rules every tool's params obey;
- ``describe``: a tool's description for agents, from its docstring;
- ``sdk``: provider SDKs bound lazily, loaded on first use or for a worker's queues;
- ``policy``: ``ToolTask``, the one base Task: the steps of one call;
- ``claim``, ``calling``, ``endings``: its steps (the claim, the provider call,
  retry, park or bury);
- ``headers``, ``context``: the message headers the policy reads; what a running
  tool may ask about its own call;
- ``deadline``: a total deadline for every provider call;
- ``admission``, ``governor``: rate scopes and circuits across the fleet;
- ``reconcile``: a write finds its own earlier effect instead of repeating it;
- ``retry``: the one retry policy (backoff with full jitter);
- ``telemetry``: run counters and histograms for the exporter.
"""
