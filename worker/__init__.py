"""toolfleet's machinery: the Celery app, the tool policy, the ledger. Knows no provider.

Rooms, and the way dependencies point (a test keeps them acyclic)::

    cli/ front/ ops/  →  app  →  tools/ (policy)  →  ledger/  →  settings, errors, redact

- ``app.py``: wiring only — settings → Celery app; registers the catalog's tasks.
- ``settings.py``, ``queues.py``, ``errors.py``, ``redact.py``, ``loopback.py``: what
  everything reads.
- ``tools/``: declaring a tool (the catalog, no Celery) and running one (the policy).
- ``ledger/``: the system of record in Postgres, and the Redis outbox beside it.
- ``broker/``: the Redis transport and the intake of messages no tool can run.
- ``front/``: the agents' doors (the Python client).
- ``ops/``: the operator's actions (dead-letter replay and discard).
- ``cli/``: the ``fleet`` command and the ``fleet up`` supervisor.
"""
