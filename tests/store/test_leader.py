"""Leader election on PostgreSQL (bot/server/leader.py): two `PostgresLeadership`s, each on an engine of its own as two
processes would have, on the test database.

Each test takes a lock key of its own (and its engines an application_name of their own), so tests running
beside it on other pytest-xdist workers — or another test's bot processes — never contend for its lock.
Short retry/check periods; the only timing is a generous bounded wait for what must eventually happen.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import asyncpg
import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bot.server.leader import PostgresLeadership
from bot.store import normalise_database_url
from tests.store.conftest import _asyncpg_dsn, postgres_url, require_postgres

RETRY = CHECK = 0.1  # seconds
# The first node, which leads first, retries slowly: when its connection dies it notices within CHECK, and
# the takeover is then the other's (it could otherwise win the lock back first, which would be fine too).
FIRST_RETRY = 2.0
PATIENCE = 20.0  # seconds: far more than a takeover needs (a few RETRY periods), for a loaded machine


@dataclass
class Node:
    """One would-be leader, as one process of the bot would have it."""

    name: str
    engine: AsyncEngine
    leadership: PostgresLeadership
    changes: list[bool] = field(default_factory=list)  # what on_change was told, in order


@dataclass
class Cluster:
    key: int
    admin: asyncpg.Connection
    nodes: list[Node]

    async def backends(self, node: Node) -> list[int]:
        rows = await self.admin.fetch("SELECT pid FROM pg_stat_activity WHERE application_name = $1", node.name)
        return [row["pid"] for row in rows]

    async def holder(self) -> int | None:
        """The backend holding the lock, from pg_locks (a bigint key is classid:objid, objsubid 1)."""
        return await self.admin.fetchval(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1 "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND (classid::bigint << 32 | objid::bigint) = $1", self.key)

    async def terminate(self, pids: list[int]) -> None:
        for pid in pids:
            assert await self.admin.fetchval("SELECT pg_terminate_backend($1)", pid)

    def leaders(self) -> list[Node]:
        return [node for node in self.nodes if node.leadership.is_leader]


async def eventually(condition: Callable[[], bool], what: str) -> None:
    async with asyncio.timeout(PATIENCE):
        while not condition():
            await asyncio.sleep(RETRY / 2)
    assert condition(), what


def _engine(application_name: str) -> AsyncEngine:
    async_url, _ = normalise_database_url(postgres_url())
    return create_async_engine(async_url, pool_pre_ping=True,
                               connect_args={"server_settings": {"application_name": application_name}})


@pytest_asyncio.fixture
async def cluster() -> AsyncIterator[Cluster]:
    require_postgres()
    key = random.randrange(1, 2**62)  # a bigint of this test's own
    admin = await asyncpg.connect(_asyncpg_dsn(), timeout=5)
    nodes = []
    for letter, retry in (("a", FIRST_RETRY), ("b", RETRY)):
        name = f"leader-test-{letter}-{uuid.uuid4().hex[:10]}"
        engine = _engine(name)
        node = Node(name, engine, PostgresLeadership(engine, retry=retry, check=CHECK, key=key))

        async def record(leader: bool, node: Node = node) -> None:
            node.changes.append(leader)

        node.leadership.on_change.append(record)
        nodes.append(node)
    try:
        yield Cluster(key, admin, nodes)
    finally:
        for node in nodes:
            await node.leadership.stop()
            await node.engine.dispose()
        await admin.close()


async def _start(cluster: Cluster) -> Node:
    """The first node starts alone and leads; then the second starts, and follows."""
    first, second = cluster.nodes
    await first.leadership.start()
    await eventually(lambda: first.leadership.is_leader, "the first node leads")
    await second.leadership.start()
    async with asyncio.timeout(PATIENCE):  # it has tried, and holds a connection to try again on
        while not await cluster.backends(second):
            await asyncio.sleep(RETRY / 2)
    return first


def _other(cluster: Cluster, node: Node) -> Node:
    return next(n for n in cluster.nodes if n is not node)


async def test_exactly_one_of_two_leads(cluster: Cluster) -> None:
    leader = await _start(cluster)
    for _ in range(10):  # many retry periods of the follower: it keeps failing to take the lock
        await asyncio.sleep(RETRY)
        assert cluster.leaders() == [leader]
    follower = _other(cluster, leader)
    assert leader.changes == [True] and follower.changes == []
    assert await cluster.holder() in await cluster.backends(leader)


async def test_a_terminated_lock_connection_hands_the_lead_over(cluster: Cluster) -> None:
    leader = await _start(cluster)
    follower = _other(cluster, leader)
    holder = await cluster.holder()
    assert holder is not None
    await cluster.terminate([holder])  # as an operator (or a failover of PostgreSQL itself) would
    await eventually(lambda: follower.leadership.is_leader, "the follower takes over")
    await eventually(lambda: leader.changes == [True, False], "the old leader notices it no longer leads")
    assert not leader.leadership.is_leader
    assert await cluster.holder() in await cluster.backends(follower)
    await asyncio.sleep(5 * RETRY)  # the old leader tries again, and must not get the lock back meanwhile
    assert cluster.leaders() == [follower]


async def test_a_stopped_leader_hands_the_lead_over(cluster: Cluster) -> None:
    leader = await _start(cluster)
    follower = _other(cluster, leader)
    await leader.leadership.stop()
    assert not leader.leadership.is_leader and leader.changes == [True, False]
    await eventually(lambda: follower.leadership.is_leader, "the follower takes over")
    assert await cluster.holder() in await cluster.backends(follower)


async def test_every_connection_killed_then_one_leads_again_and_either_can(cluster: Cluster) -> None:
    """All of the database's connections of both nodes terminated at once (a PostgreSQL restart, a proxy
    reset): exactly one leads again; and the one that follows can still take over later — its connection,
    killed too, must not leave it unable to lead."""
    leader = await _start(cluster)
    await cluster.terminate([pid for node in cluster.nodes for pid in await cluster.backends(node)])
    await eventually(lambda: leader.changes[-1] is False, "the old leader notices")
    await eventually(lambda: len(cluster.leaders()) == 1, "one leads again")
    second = cluster.leaders()[0]
    await second.leadership.stop()
    await eventually(lambda: _other(cluster, second).leadership.is_leader, "the other one can take over too")


async def test_a_follower_whose_connection_was_killed_can_still_take_over(cluster: Cluster) -> None:
    leader = await _start(cluster)
    follower = _other(cluster, leader)
    pids = await cluster.backends(follower)
    assert pids, "the follower keeps a connection to try the lock on"
    await cluster.terminate(pids)
    await asyncio.sleep(5 * RETRY)  # it meets the dead connection on its next tries
    await leader.leadership.stop()
    await eventually(lambda: follower.leadership.is_leader, "the follower takes over")


@pytest.mark.parametrize("role", ["leader", "follower"])
async def test_the_lock_connection_is_never_left_idle_in_a_transaction(cluster: Cluster, role: str) -> None:
    """An idle-in-transaction session would be ended by idle_in_transaction_session_timeout (losing the lead
    for nothing) and shows as a stuck transaction to whoever watches pg_stat_activity."""
    leader = await _start(cluster)
    node = leader if role == "leader" else _other(cluster, leader)
    await asyncio.sleep(20 * CHECK)
    stuck = await cluster.admin.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND state = 'idle in transaction' "
        "AND xact_start < now() - interval '1 second'", node.name)
    assert stuck == 0
