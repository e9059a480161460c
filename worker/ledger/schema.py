"""The ledger's schema: create the database, migrate it (Alembic), refuse to run unmigrated."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from worker.ledger.db import engine
from worker.settings import get_settings

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


class DatabaseNotReady(RuntimeError):
    """The ledger database is missing or not migrated to the code's schema."""


def ensure_database(url: str | None = None) -> bool:
    """Create the ledger database if it does not exist. Returns True if created."""
    target = make_url(url or get_settings().database_url)
    maintenance = create_engine(
        target.set(database="postgres"), isolation_level="AUTOCOMMIT", poolclass=NullPool
    )
    try:
        with maintenance.connect() as conn:
            exists = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"),
                {"name": target.database},
            ).scalar()
            if exists:
                return False
            quoted = conn.dialect.identifier_preparer.quote(target.database)
            conn.execute(text(f"CREATE DATABASE {quoted}"))
            return True
    finally:
        maintenance.dispose()


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # '%' is alembic's interpolation character; URLs may contain it.
    config.set_main_option(
        "sqlalchemy.url", (url or get_settings().database_url).replace("%", "%%")
    )
    return config


def migrate(url: str | None = None) -> str:
    """Create the database if needed and upgrade it to head. Returns the head revision."""
    ensure_database(url)
    config = alembic_config(url)
    command.upgrade(config, "head")
    return ScriptDirectory.from_config(config).get_current_head() or ""


def require_migrated() -> str:
    """The schema's revision; :class:`DatabaseNotReady` with a clear message unless it is
    the code's head."""
    settings = get_settings()
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    where = make_url(settings.database_url).render_as_string(hide_password=True)
    try:
        with engine().connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
    except DBAPIError as exc:
        raise DatabaseNotReady(
            f"cannot reach the ledger database {where}: {exc.orig}. "
            "Is PostgreSQL running? Then run `fleet migrate`."
        ) from None
    if current != head:
        raise DatabaseNotReady(
            f"the ledger database {where} is at migration {current or 'none'}, "
            f"this code needs {head}: run `fleet migrate` first."
        )
    return head or ""
