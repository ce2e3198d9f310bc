"""One DATABASE_URL as every repository sees it: the engine, opened (and migrated) on first use, sessions and
connections that take turns on a memory SQLite database, and the dialect's INSERT.

`Store`, `AlertsRepo` and `PriceCache` all share one `Database`, so they share its lock and its readiness: a
CLI call that never touches the database never connects, and a failure to connect is one `StoreUnavailable`
line, whichever repository met it first.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import Result
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from bot.store.engine import BUSY_TIMEOUT_SECONDS, READ_ONLY, create_store_engine, sqlite_folder
from bot.store.errors import ConnectionLost, StoreUnavailable, describe_database_error, unavailable
from bot.store.urls import redact_url

log = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")
_IN_UNIT = contextvars.ContextVar("decoupler_unit_of_work", default=False)


def unit_of_work(method: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """An idempotent unit of work (one repository call: running it twice leaves what running it once does): run
    once more, on a fresh connection, when the connection was lost under it. A second loss, or any other
    failure, goes to the caller (ConnectionLost is a StoreUnavailable: one line for the user). Nested units
    (a repository call that makes another) retry only at the outermost."""

    @functools.wraps(method)
    async def run(*args: P.args, **kwargs: P.kwargs) -> R:
        if _IN_UNIT.get():
            return await method(*args, **kwargs)
        token = _IN_UNIT.set(True)
        try:
            try:
                return await method(*args, **kwargs)
            except ConnectionLost:
                log.info("database connection lost under %s; trying it once more", method.__name__)
                return await method(*args, **kwargs)
        finally:
            _IN_UNIT.reset(token)

    return run
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
        # A SQLite file has one writer at a time. This process's writers queue here, first come first served,
        # rather than in SQLite's busy handler, whose retries sleep up to 100 ms each: 25 new chats a second
        # waited 0.4 to 2.8 s for their row that way. Other processes (the CLI) still meet the busy timeout.
        sqlite_file = self.engine.dialect.name == "sqlite" and not memory
        self.write_turns: asyncio.Lock | None = asyncio.Lock() if sqlite_file else None
        self.write_wait_seconds = BUSY_TIMEOUT_SECONDS  # as long as SQLite's own busy timeout, then one line
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
        async with self._turn(write):
            try:
                async with (self._writer if write else self._reader)() as session:
                    if write:
                        async with session.begin():
                            yield session
                    else:
                        yield session
            except (OSError, DBAPIError) as exc:
                _raise_unavailable(exc)
                raise

    @asynccontextmanager
    async def connection(self, *, write: bool) -> AsyncIterator[AsyncConnection]:
        """A Core connection (bulk reads and writes); a writing one is one transaction."""
        async with self._turn(write):
            engine = self.engine if write else self.engine.execution_options(**{READ_ONLY: True})
            try:
                async with engine.begin() if write else engine.connect() as conn:
                    yield conn
            except (OSError, DBAPIError) as exc:
                _raise_unavailable(exc)
                raise

    @asynccontextmanager
    async def _turn(self, write: bool) -> AsyncIterator[None]:
        await self.open()
        async with AsyncExitStack() as stack:
            if self.turns is not None:
                await stack.enter_async_context(self.turns)
            if write and self.write_turns is not None:
                try:
                    await asyncio.wait_for(self.write_turns.acquire(), self.write_wait_seconds)
                except TimeoutError:
                    raise StoreUnavailable(
                        f"the SQLite file is busy: a write of this process did not finish in "
                        f"{self.write_wait_seconds:g} s") from None
                stack.callback(self.write_turns.release)
            yield


def _raise_unavailable(exc: BaseException) -> None:
    """A connection refused or lost becomes one line, not a driver traceback; other errors stay as they are."""
    down = unavailable(exc)
    if down is not None:
        raise down from None


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
