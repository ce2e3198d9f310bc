"""Alembic, configured in code: works from an installed package and from any working directory.

Two processes may start at once (the bot and a CLI command): the upgrade runs in one transaction that
first takes a lock — BEGIN IMMEDIATE on SQLite, an advisory lock on PostgreSQL — so the second waits and
then finds the schema current.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.store.engine import create_store_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_PG_MIGRATION_LOCK = 0x0DEC_0091E5  # any constant bigint, the same in every process


def alembic_config() -> Config:
    config = Config()
    # ConfigParser interpolates `%`; a path containing one must be escaped.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def migrate_engine(engine: AsyncEngine) -> None:
    """Bring the database behind `engine` to the latest revision."""
    async with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
        await connection.run_sync(_upgrade_to_head)


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as connection:
        return await connection.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )


def _upgrade_to_head(connection: Connection) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def upgrade(database_url: str) -> None:
    """Blocking upgrade for the CLI (`python -m bot db upgrade`). In async code use `open_store`."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(_upgrade(database_url))
        return
    raise RuntimeError("upgrade() blocks: inside an event loop, `await open_store(url)` instead")


async def _upgrade(database_url: str) -> None:
    engine = create_store_engine(database_url)
    try:
        await migrate_engine(engine)
    finally:
        await engine.dispose()
