"""The operator's side of the fleet.

- ``deadletters``: replay (re-validated, as a new run) or discard;
- ``status``: the fleet at a glance (workers, queues, runs, dead letters, outbox);
- ``doctor``: can the fleet work, and as whom;
- ``inspect``: queue depths and who consumes what, right now;
- ``metrics``: the Prometheus exporter;
- ``flower_guard``: Flower run in-process behind the fleet's origin check.
"""
