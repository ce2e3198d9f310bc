"""Alembic, configured in code: works from an installed package and from any working directory.

Two processes may start at once (the bot and a CLI command): the upgrade runs in one transaction that
first takes a lock — BEGIN IMMEDIATE on SQLite, an advisory lock on PostgreSQL — so the second waits and
then finds the schema current. A start-up that finds the schema at `HEAD_REVISION` reads one row and never
imports Alembic (tests check that the constant is Alembic's head).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
HEAD_REVISION = "0008"  # the newest file in migrations/versions
_PG_MIGRATION_LOCK = 0x0DEC_0091E5  # any constant bigint, the same in every process


async def ensure_schema(engine: AsyncEngine, *, migrate: bool = True) -> None:
    """Connect; with `migrate`, bring the schema to the head revision unless it is there already."""
    revision = await stored_revision(engine)
    if migrate and revision != HEAD_REVISION:
        await migrate_engine(engine)


async def stored_revision(engine: AsyncEngine) -> str | None:
    """The revision in `alembic_version`, or None on a new database (read without Alembic)."""
    async with engine.connect() as connection:
        try:
            return (await connection.execute(text("SELECT version_num FROM alembic_version"))).scalar()
        except DBAPIError as exc:
            if "alembic_version" in str(exc.orig) or "no such table" in str(exc.orig).lower():
                return None
            raise


def alembic_config() -> Config:
    from alembic.config import Config

    config = Config()
    # ConfigParser interpolates `%`; a path containing one must be escaped.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    return config


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def migrate_engine(engine: AsyncEngine) -> None:
    """Bring the database behind `engine` to the latest revision."""
    async with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
        await connection.run_sync(_upgrade_to_head)


def _upgrade_to_head(connection: Connection) -> None:
    from alembic import command

    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
