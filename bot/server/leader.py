"""Which process runs the alert scheduler. Every process answers commands and drains the outbox (its claims
are exclusive); exactly one evaluates sessions on schedule — the leader.

PostgreSQL: the leader holds a session-level advisory lock on a connection of its own. When that process dies
(or its connection does), PostgreSQL releases the lock and another process, trying every `RETRY` seconds,
takes over; its scheduler starts with a catch-up run, and what has been evaluated lives in the store, so a
missed session is evaluated exactly once. A leader whose lock connection was killed (but whose process lives)
notices within `CHECK` seconds and stops its scheduler; until then two schedulers may overlap, which the store
tolerates (a run's writes are checked against the state it read: `EvaluationConflict`). A follower whose
connection dies opens a new one for its next try. SQLite: one host, one database file — this process leads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger(__name__)

LEADER_LOCK = 0x0DEC_0001EADE  # any constant bigint, the same in every process (not the migration lock)
RETRY = 10.0  # seconds between a follower's attempts to take the lead
CHECK = 5.0  # seconds between the leader's checks that its lock connection is alive

Change = Callable[[bool], Awaitable[None]]


class Leadership:
    """Always the leader (SQLite, or one process)."""

    is_leader = True

    def __init__(self) -> None:
        self.on_change: list[Change] = []

    async def start(self) -> None:
        for callback in self.on_change:
            await callback(True)

    async def stop(self) -> None:
        return None


class PostgresLeadership(Leadership):
    def __init__(self, engine: AsyncEngine, *, retry: float = RETRY, check: float = CHECK,
                 key: int = LEADER_LOCK) -> None:
        super().__init__()
        self.engine = engine
        self.key = key
        self.retry, self.check = retry, check
        self.is_leader = False
        self._connection: AsyncConnection | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._hold(), name="leader-lease")

    async def stop(self) -> None:
        """Give the lead up now (another process may take it at its next try); the callbacks hear of it."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        was_leader = self.is_leader
        await self._let_go()
        if was_leader:
            await self._become(False)

    async def _hold(self) -> None:
        while True:
            try:
                if self.is_leader:
                    await asyncio.wait_for(self._still_connected(), self.check)
                elif await self._try_lock():
                    await self._become(True)
                await asyncio.sleep(self.check if self.is_leader else self.retry)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the lock's connection is gone: so is the lock
                # A follower's connection can die too (a PostgreSQL restart, pg_terminate_backend): it is let go
                # as well, or every later try would meet the same dead connection and this process could never
                # lead again.
                was_leader = self.is_leader
                await self._let_go()
                if was_leader:
                    log.warning("leader: lost the lock's connection (%s); following until it can lead again",
                                type(exc).__name__)
                    await self._become(False)
                else:
                    log.info("leader: could not try for the lead (%s); trying again in %g s", type(exc).__name__,
                             self.retry)
                await asyncio.sleep(self.retry)

    async def _try_lock(self) -> bool:
        if self._connection is None:
            self._connection = await self.engine.connect()
        got = (await self._connection.execute(text("SELECT pg_try_advisory_lock(:key)"),
                                              {"key": self.key})).scalar()
        await self._connection.commit()  # the lock is the session's, not the transaction's
        return bool(got)

    async def _still_connected(self) -> None:
        assert self._connection is not None
        await self._connection.execute(text("SELECT 1"))
        # Ended at once: a session left idle in a transaction would be ended by idle_in_transaction_session_timeout
        # (and the lead lost for nothing).
        await self._connection.commit()

    async def _become(self, leader: bool) -> None:
        self.is_leader = leader
        log.info("leader: this process %s the alert scheduler", "runs" if leader else "no longer runs")
        for callback in self.on_change:
            await callback(leader)

    async def _let_go(self) -> None:
        connection, self._connection = self._connection, None
        self.is_leader = False
        if connection is not None:
            with contextlib.suppress(Exception):
                # Closed for good, not returned to the pool: ending the session is what releases the lock.
                await connection.invalidate()
                await connection.close()
