"""toolfleet's machinery: the Celery app, the tool policy, the ledger. Knows no provider.

Its modules and rooms stand in layers, lowest first. Each imports only from its own
layer and the ones below, late imports inside functions included (a test reads this
table and holds every import to it; README's layout says what each one is for)::

    base     providers settings errors redact queues loopback fleet_redis
             rate_limits events
    ledger   ledger/
    runtime  runtime/ broker/ syncs/
    app      app results signals housekeeping control
    doors    front/ ops/ cli/ client

- base: what everything reads (the providers' declarations, settings, the error
  taxonomy, the redactor, queue names, the fleet's own Redis, completion events);
- ledger: the system of record in Postgres, and the Redis outbox beside it;
- runtime: declaring and running a tool (the policy), the broker side (transport,
  intake, recovery of what the broker lost) and the syncs, which run under the policy;
- app: the Celery app and what it wires into every process (result backend, signal
  handlers, housekeeping tasks, remote control);
- doors: the agents' (front), the operator's (ops) and the ``fleet`` command (cli).
"""
