"""A PostgreSQL connection terminated in the middle of a statement (pg_terminate_backend, as a restart, a failover
or a proxy would): the unit of work is tried once more on a fresh connection and the change is saved; lost twice,
it is the one-line database error (StoreUnavailable), never a driver's DBAPIError."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import pytest

from bot.alerts.kinds import DEFAULT_KINDS
from bot.store import Store, StoreUnavailable
from tests.store.conftest import _asyncpg_dsn

WAIT = 20.0  # a bound on the test, not a timing assertion


@asynccontextmanager
async def subscriptions_locked(schema: str) -> AsyncIterator[asyncpg.Connection]:
    """Another session holds the subscriptions table: the store's next INSERT into it waits, mid-statement."""
    admin = await asyncpg.connect(_asyncpg_dsn(), timeout=5)
    transaction = admin.transaction()
    await transaction.start()
    await admin.execute(f'LOCK TABLE "{schema}".subscriptions IN ACCESS EXCLUSIVE MODE')
    try:
        yield admin
    finally:
        await transaction.rollback()
        await admin.close()


async def terminate_the_waiting_statement(admin: asyncpg.Connection, seen: set[int]) -> int:
    """Terminate the backend that waits for the lock (a new one each time); its pid."""
    async with asyncio.timeout(WAIT):
        while True:
            await admin.execute("SELECT pg_stat_clear_snapshot()")  # a transaction keeps one snapshot otherwise
            pids = await admin.fetch("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                     "AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO subscriptions%' "
                                     "AND pid <> pg_backend_pid()")
            fresh = [row["pid"] for row in pids if row["pid"] not in seen]
            if fresh:
                await admin.execute("SELECT pg_terminate_backend($1)", fresh[0])
                seen.add(fresh[0])
                return fresh[0]
            await asyncio.sleep(0.05)


def _postgres_only(store: Store) -> str:
    if not store.db.postgres:
        pytest.skip("terminating a server backend is PostgreSQL's")
    assert store.db.schema is not None
    return store.db.schema


async def test_a_connection_terminated_mid_statement_is_retried_once_and_the_change_is_saved(store: Store) -> None:
    schema = _postgres_only(store)
    chat = await store.upsert_chat("telegram", "42", "private")
    seen: set[int] = set()
    async with subscriptions_locked(schema) as admin:
        subscribing = asyncio.create_task(store.subscribe(chat, "ETH", "RUT", window_days=90, kinds=DEFAULT_KINDS))
        await terminate_the_waiting_statement(admin, seen)
        await asyncio.sleep(0.3)  # the retry waits for the lock in its turn; the lock goes with the block
    async with asyncio.timeout(WAIT):
        _, created = await subscribing  # today: sqlalchemy.exc.DBAPIError (ConnectionDoesNotExist…)
    assert created and [s.pair for s in await store.list_subscriptions(chat)] == ["ETH:RUT"]


async def test_a_connection_lost_twice_is_the_one_line_database_error(store: Store) -> None:
    schema = _postgres_only(store)
    chat = await store.upsert_chat("telegram", "43", "private")
    seen: set[int] = set()
    async with subscriptions_locked(schema) as admin:
        subscribing = asyncio.create_task(store.subscribe(chat, "ETH", "RUT", window_days=90, kinds=DEFAULT_KINDS))
        await terminate_the_waiting_statement(admin, seen)
        await terminate_the_waiting_statement(admin, seen)  # the retry's connection too
        with pytest.raises(StoreUnavailable) as raised:
            async with asyncio.timeout(WAIT):
                await subscribing
    assert str(raised.value) == "database unavailable: the connection to it was lost"
