"""Declaring a tool and running one.

- ``catalog``: ``Provider``, ``@provider.tool``, ``ToolSpec`` and the catalog —
  declarations only, no Celery import (clients and exports load it cheaply);
- ``context``: what a running tool may ask about its own call;
- ``policy``: ``ToolTask``, the one base Task: the steps of one call;
- ``retry``: the one retry policy (backoff with full jitter);
- ``governor``: the fleet-wide rate governor's seam.
"""
