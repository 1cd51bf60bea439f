"""Alembic environment for the modsweep store.

``modsweep.store.upgrade_schema`` builds the Alembic ``Config`` in code and hands over an open
connection (already inside a locked transaction) as ``config.attributes["connection"]``.  Run by hand,
``alembic -x url=...`` or ``sqlalchemy.url`` (falling back to the settings' URL) names the database.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from modsweep.store.models import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from modsweep.config import get_settings

    return get_settings().sqlalchemy_url


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite needs batch mode for ALTER
        compare_type=True,
    )


def run_migrations_offline() -> None:
    """Emit the migration SQL for ``_url()`` without connecting."""
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the migrations on the handed-over connection, or on a fresh engine."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return

    from modsweep.store.engine import make_engine

    engine = make_engine(_url())
    try:
        with engine.connect() as conn:
            _configure(conn)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
