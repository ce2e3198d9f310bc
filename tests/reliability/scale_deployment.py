"""A deployment for the scale-out runs (tests/reliability/scale_support.py has the whole picture): a PostgreSQL
database of its own, a Redis database number, the fake Telegram, and the bot processes started on them."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import random
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
from sqlalchemy.engine import make_url

from bot.server.leader import LEADER_LOCK
from tests.reliability.scale_support import (
    DEFAULT_REDIS,
    PUBLIC_WEBHOOK_URL,
    ROOT,
    STARTUP_SECONDS,
    WEBHOOK_SECRET,
    ScaleBotAPI,
    Worker,
    dsn,
    eventually,
    free_port,
    postgres_url,
)
from tests.telegram.fake_bot_api import TOKEN

if TYPE_CHECKING:
    from tests.reliability.scale_fan_out import Firing


@dataclass
class Deployment:
    database: str
    database_url: str
    admin: asyncpg.Connection  # on the deployment's database; excluded from `terminate_backends`
    redis_url: str | None  # None: each process keeps its own rate (no REDIS_URL)
    fake: ScaleBotAPI
    folder: Path
    lease: float
    workers: list[Worker] = field(default_factory=list)
    _chat_ids: Iterator[int] = field(default_factory=lambda: itertools.count(10_000_000))
    _numbers: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    async def start_worker(self, name: str | None = None) -> Worker:
        """Start a `python -m bot run` process; returns once its /healthz answers (it is fully started)."""
        name = name or f"w{next(self._numbers)}"  # taken now: several may be starting at once
        http_port, webhook_port = free_port(), free_port()
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("TELEGRAM_", "DISCORD_", "DATABASE_", "REDIS_", "HTTP_", "WEBHOOK_"))}
        env.update(
            DATABASE_URL=self.database_url, MARKET_DATA="snapshot", REDIS_URL=self.redis_url or "",
            TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_BASE_URL=self.fake.url_for(name),
            TELEGRAM_WEBHOOK_URL=PUBLIC_WEBHOOK_URL, TELEGRAM_WEBHOOK_SECRET=WEBHOOK_SECRET,
            TELEGRAM_WEBHOOK_LISTEN="127.0.0.1", TELEGRAM_WEBHOOK_PORT=str(webhook_port),
            HTTP_HOST="127.0.0.1", HTTP_PORT=str(http_port), DELIVERY_LEASE_SECONDS=f"{self.lease:g}",
            CHART_WORKERS="0", CHART_DIR=str(self.folder / f"charts-{name}"), LOG_LEVEL="INFO",
            PYTHONPATH=str(ROOT), MPLBACKEND="Agg",
        )
        log_path = self.folder / f"{name}.log"
        with log_path.open("wb") as stderr:  # the child keeps its own descriptor
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "run", cwd=self.folder, env=env,
                stdin=asyncio.subprocess.DEVNULL, stdout=stderr, stderr=stderr,
            )
        worker = Worker(name, process, http_port, webhook_port, log_path)
        self.workers.append(worker)

        async def answers() -> bool:
            if not worker.alive:
                raise AssertionError(f"{name} exited with {process.returncode}:\n{worker.tail()}")
            return await worker.health() is not None

        await eventually(answers, STARTUP_SECONDS, f"{name} serves /healthz", every=0.25)
        return worker

    async def leaders(self) -> list[Worker]:
        return [w for w in self.workers if await w.is_leader()]

    async def lock_held(self) -> bool:
        """Some session of this database holds the leader's advisory lock (pg_locks)."""
        return bool(await self.admin.fetchval(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1 "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
            "AND (classid::bigint << 32 | objid::bigint) = $1", LEADER_LOCK))

    async def one_leader(self, timeout: float = 60.0) -> tuple[Worker, float]:
        """Wait until the lock is held and exactly one live process says it leads; that one and the wait."""
        found: list[Worker] = []

        async def settled() -> bool:
            nonlocal found
            found = await self.leaders()
            return len(found) == 1 and await self.lock_held()

        waited = await eventually(settled, timeout, "exactly one process leads", every=0.25)
        return found[0], waited

    async def subscribe(self, count: int, firing: Firing) -> set[str]:
        """`count` new private Telegram chats subscribed to `firing`'s pair, window and kind: their chat ids."""
        chat_ids = [str(next(self._chat_ids)) for _ in range(count)]
        await self.admin.execute(
            "WITH new AS (INSERT INTO chats (platform, chat_id, kind) "
            "SELECT 'telegram', c, 'private' FROM unnest($1::text[]) AS c RETURNING id) "
            "INSERT INTO subscriptions (chat_pk, asset, benchmark, window_days, kinds) "
            "SELECT id, $2, $3, $4, $5 FROM new",
            chat_ids, firing.asset, firing.benchmark, firing.window_days, firing.kind)
        return set(chat_ids)

    async def delivery_statuses(self, chats: set[str]) -> dict[str, list[str]]:
        """Each chat's delivery statuses, from the outbox."""
        rows = await self.admin.fetch("SELECT c.chat_id, d.status FROM deliveries d JOIN chats c ON c.id = d.chat_pk "
                                      "WHERE c.platform = 'telegram'")
        found: dict[str, list[str]] = {}
        for row in rows:
            if row["chat_id"] in chats:
                found.setdefault(row["chat_id"], []).append(row["status"])
        return found

    async def alerts_recorded(self, firing: Firing) -> int:
        """Alerts of `firing`'s kind recorded for its session (evaluated once: one)."""
        return await self.admin.fetchval(
            "SELECT count(*) FROM alerts a JOIN rule_instances r ON r.id = a.rule_instance_id "
            "WHERE a.as_of = $1::text::date AND a.kind = $2 AND r.asset = $3 AND r.benchmark = $4 "
            "AND r.window_days = $5", firing.session, firing.kind, firing.asset, firing.benchmark, firing.window_days)

    async def terminate_backends(self) -> int:
        """pg_terminate_backend on every session of this database but our own: how many."""
        return await self.admin.fetchval(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()) AS killed")

    async def stop_all(self) -> dict[str, int]:
        """SIGTERM every live worker; their exit statuses."""
        codes = {}
        for worker in self.workers:
            if worker.alive:
                codes[worker.name] = await worker.terminate()
        return codes


@contextlib.asynccontextmanager
async def deployment(folder: Path, *, per_second: int = 30, lease: float = 10.0, database_url: str | None = None,
                     redis: str | None = None, shared_rate: bool = True) -> AsyncIterator[Deployment]:
    """A fresh PostgreSQL database (migrated), a Redis database number (unless not `shared_rate`), a fake
    Telegram; all gone afterwards."""
    from bot.store import open_store

    base = database_url or postgres_url()
    name = f"scale_{uuid.uuid4().hex[:10]}"
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    root = await asyncpg.connect(dsn(base), timeout=5)
    folder.mkdir(parents=True, exist_ok=True)
    redis_url = f"{redis or os.environ.get('TEST_REDIS_URL_BASE', DEFAULT_REDIS)}/{random.randint(1, 13)}"
    try:
        await root.execute(f'CREATE DATABASE "{name}"')
        store = await open_store(url)  # migrates
        await store.close()
        admin = await asyncpg.connect(dsn(url), timeout=5)
        try:
            async with ScaleBotAPI(per_second=per_second) as fake:
                setup = Deployment(name, url, admin, redis_url if shared_rate else None, fake, folder, lease)
                try:
                    yield setup
                finally:
                    for worker in setup.workers:
                        await worker.kill()
        finally:
            await admin.close()
    finally:
        with contextlib.suppress(Exception):
            await root.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await root.close()
        await _forget_rates(redis_url)


async def _forget_rates(redis_url: str) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
    try:
        keys = [key async for key in client.scan_iter(match="decoupler:rate*")]
        if keys:
            await client.delete(*keys)
    except Exception:  # the keys expire on their own within two minutes
        pass
    finally:
        await client.aclose()
