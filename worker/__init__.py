"""toolfleet's machinery: the Celery app, the tool policy, the ledger. Knows no provider."""
