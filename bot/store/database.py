"""One DATABASE_URL as every repository sees it: the engine, opened (and migrated) on first use, sessions and
connections that take turns on a memory SQLite database, and the dialect's INSERT.

`Store`, `AlertsRepo` and `PriceCache` all share one `Database`, so they share its lock and its readiness: a
CLI call that never touches the database never connects, and a failure to connect is one `StoreUnavailable`
line, whichever repository met it first.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any

from sqlalchemy import Result
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from bot.store.engine import READ_ONLY, create_store_engine, sqlite_folder
from bot.store.errors import StoreUnavailable, describe_database_error
from bot.store.urls import redact_url

# Both dialects' INSERT have on_conflict_do_nothing / on_conflict_do_update and `excluded`
Insert = postgresql.Insert | sqlite.Insert


def affected(result: Result[Any]) -> int:
    """Rows an UPDATE or DELETE touched (`Session.execute` is typed as returning a plain `Result`)."""
    return int(getattr(result, "rowcount", 0) or 0)


class Database:
    def __init__(self, database_url: str, *, migrate: bool = True, schema: str | None = None) -> None:
        self.engine: AsyncEngine = create_store_engine(database_url, schema=schema)  # connects on first use
        self.schema = schema
        self.postgres = self.engine.dialect.name == "postgresql"
        memory = self.engine.dialect.name == "sqlite" and self.engine.url.database in (None, "", ":memory:")
        # A memory SQLite database is one shared connection: transactions must take turns on it.
        self.turns: asyncio.Lock | None = asyncio.Lock() if memory else None
        self._migrate = migrate
        self._ready = False
        self._opening = asyncio.Lock()
        self._writer = async_sessionmaker(self.engine, expire_on_commit=False)
        self._reader = async_sessionmaker(self.engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False)

    def __repr__(self) -> str:
        return f"Database({redact_url(self.engine.url)})"

    async def open(self) -> None:
        """Connect and bring the schema up to date, once; later calls return at once."""
        if self._ready:
            return
        async with self._opening:
            if self._ready:
                return
            from bot.store.migrate import ensure_schema

            try:
                folder = sqlite_folder(self.engine)
                if folder is not None:
                    try:
                        folder.mkdir(parents=True, exist_ok=True)
                    except OSError as exc:
                        raise StoreUnavailable(f"database unavailable: cannot create the folder {folder} for the "
                                               f"SQLite file ({(exc.strerror or type(exc).__name__).lower()})"
                                               ) from None
                await ensure_schema(self.engine, migrate=self._migrate)
            except StoreUnavailable:
                raise
            except Exception as exc:
                raise StoreUnavailable(describe_database_error(exc)) from None
            self._ready = True

    async def close(self) -> None:
        await self.engine.dispose()

    def insert(self, table: type[Any]) -> Insert:
        """The dialect's INSERT: both have on_conflict_do_nothing / on_conflict_do_update (and `excluded`)."""
        return postgresql.insert(table) if self.postgres else sqlite.insert(table)

    @asynccontextmanager
    async def session(self, *, write: bool) -> AsyncIterator[AsyncSession]:
        """An ORM session; a writing one is one transaction, committed at the end."""
        async with self._turn():
            try:
                async with (self._writer if write else self._reader)() as session:
                    if write:
                        async with session.begin():
                            yield session
                    else:
                        yield session
            except OSError as exc:  # connection refused or lost: one line, not a driver traceback
                raise StoreUnavailable(describe_database_error(exc)) from None

    @asynccontextmanager
    async def connection(self, *, write: bool) -> AsyncIterator[AsyncConnection]:
        """A Core connection (bulk reads and writes); a writing one is one transaction."""
        async with self._turn():
            engine = self.engine if write else self.engine.execution_options(**{READ_ONLY: True})
            async with engine.begin() if write else engine.connect() as conn:
                yield conn

    @asynccontextmanager
    async def _turn(self) -> AsyncIterator[None]:
        await self.open()
        async with AsyncExitStack() as stack:
            if self.turns is not None:
                await stack.enter_async_context(self.turns)
            yield


class Repository:
    """Base of the repositories: reads and writes through the shared `Database`."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @property
    def engine(self) -> AsyncEngine:
        return self.db.engine

    def _insert(self, table: type[Any]) -> Insert:
        return self.db.insert(table)

    def _write(self) -> AbstractAsyncContextManager[AsyncSession]:
        return self.db.session(write=True)

    def _read(self) -> AbstractAsyncContextManager[AsyncSession]:
        return self.db.session(write=False)
