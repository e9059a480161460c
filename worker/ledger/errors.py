"""The ledger's one failure callers handle: Postgres could not be reached.

A module of its own so that catching it imports neither SQLAlchemy nor psycopg.
"""


class LedgerUnavailable(RuntimeError):
    """Postgres could not be reached; try again later."""
