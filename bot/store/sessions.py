"""Session plumbing shared by the store's repositories: write and read sessions, dialect INSERTs, and turn
taking on a memory SQLite database (one shared connection)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.store.engine import READ_ONLY


class SessionPlumbing:
    def __init__(self, engine: AsyncEngine, turns: asyncio.Lock | None = None) -> None:
        self.engine = engine
        self._writer = async_sessionmaker(engine, expire_on_commit=False)
        self._reader = async_sessionmaker(engine.execution_options(**{READ_ONLY: True}), expire_on_commit=False)
        self._turns = turns
        self._postgres = engine.dialect.name == "postgresql"

    def _insert(self, table: type[Any]) -> Any:
        """The dialect's INSERT: both have on_conflict_do_nothing / on_conflict_do_update (and `excluded`)."""
        return (postgresql if self._postgres else sqlite).insert(table)

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncSession]:
        async with self._session(self._writer) as session, session.begin():
            yield session

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncSession]:
        async with self._session(self._reader) as session:
            yield session

    @asynccontextmanager
    async def _session(self, sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
        async with AsyncExitStack() as stack:
            if self._turns is not None:
                await stack.enter_async_context(self._turns)
            yield await stack.enter_async_context(sessions())
