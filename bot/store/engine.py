"""The async engine for a DATABASE_URL, tuned per backend.

SQLite: WAL journal and a busy timeout, so the running bot and a CLI command can share one file; every
writing transaction starts with BEGIN IMMEDIATE, so writers queue on the busy timeout instead of failing
when a read turns into a write. Read-only sessions (see `READ_ONLY`) keep a plain deferred BEGIN.
A memory database lives on one shared connection (StaticPool) so it survives across sessions.
Statement parameters (webhook URLs with their tokens, per-hook secrets) never reach a log or an error's text:
`hide_parameters=True` on every engine.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from bot.store.urls import is_memory_sqlite, normalise_database_url, redact_url

log = logging.getLogger(__name__)

BUSY_TIMEOUT_SECONDS = 15.0
CONNECT_TIMEOUT_SECONDS = 5.0
READ_ONLY = "decoupler_read_only"  # execution option: this connection only reads


def create_store_engine(database_url: str, *, schema: str | None = None) -> AsyncEngine:
    """An engine for `database_url`; `schema` (PostgreSQL only) becomes the connection's search_path."""
    async_url, _ = normalise_database_url(database_url)
    url = make_url(async_url)
    if url.get_backend_name() == "sqlite":
        if schema is not None:
            raise ValueError("a schema applies to PostgreSQL only")
        engine = _sqlite_engine(async_url)
    else:
        # asyncpg's `timeout` bounds the whole connect: a server that accepts and never answers fails in seconds
        connect_args: dict[str, Any] = {"timeout": CONNECT_TIMEOUT_SECONDS}
        if schema is not None:
            connect_args["server_settings"] = {"search_path": schema}
        engine = create_async_engine(async_url, pool_pre_ping=True, connect_args=connect_args, hide_parameters=True)
    log.debug("database engine for %s", redact_url(url))
    return engine


def sqlite_folder(engine: AsyncEngine) -> Path | None:
    """The folder a SQLite file will live in (created before the first connection), or None."""
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database or ""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).expanduser().parent


def _sqlite_engine(async_url: str) -> AsyncEngine:
    if is_memory_sqlite(async_url):
        engine = create_async_engine(
            async_url, poolclass=StaticPool, connect_args={"check_same_thread": False}, hide_parameters=True
        )
    else:
        engine = create_async_engine(async_url, connect_args={"timeout": BUSY_TIMEOUT_SECONDS}, hide_parameters=True)
    event.listen(engine.sync_engine, "connect", _on_sqlite_connect)
    event.listen(engine.sync_engine, "begin", _on_sqlite_begin)
    return engine


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Take transaction control away from the driver: `_on_sqlite_begin` issues BEGIN itself.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_SECONDS * 1000)}")
        cursor.execute("PRAGMA journal_mode=WAL")  # persistent in the file; a no-op once set
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def _on_sqlite_begin(connection: Connection) -> None:
    read_only = connection.get_execution_options().get(READ_ONLY, False)
    connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")
