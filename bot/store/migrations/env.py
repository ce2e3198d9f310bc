"""Alembic environment. The app passes its own connection (`config.attributes["connection"]`); the
`alembic` command line (see bot/store/alembic.ini) connects to `-x url=…` or DATABASE_URL instead."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from bot.store.models import Base

config = context.config
target_metadata = Base.metadata


def run_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _command_line_url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url")
    if url:
        return url
    from bot.config import get_settings

    return get_settings().database_url


async def _run_from_command_line() -> None:
    from bot.store.engine import create_store_engine

    engine = create_store_engine(_command_line_url())
    try:
        async with engine.connect() as connection:
            await connection.run_sync(run_on)
            await connection.commit()
    finally:
        await engine.dispose()


def _run_offline() -> None:
    from bot.store.urls import normalise_database_url

    _, sync_url = normalise_database_url(_command_line_url())
    context.configure(url=sync_url, target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    _run_offline()
elif (given := config.attributes.get("connection")) is not None:
    run_on(given)
else:
    asyncio.run(_run_from_command_line())
