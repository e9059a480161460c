"""Incremental polling syncs: keep Postgres current with what changed at the providers.

- ``kinds``: how a provider module declares a sync kind (``fetch`` one page
  of "changed since"); no Celery import;
- ``config``: the syncs an operator configured (``FLEET_SYNCS`` /
  ``FLEET_SYNCS_FILE``), validated at start;
- ``store``: ``sync_state`` (cursor, checkpoint, lease) and ``synced_items``
  (upserts by content hash), each page and its checkpoint in one transaction;
- ``runner``: one sync run under the tool policy, page by page, paced by the
  governor, one run at a time per sync.
"""
