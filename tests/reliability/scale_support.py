"""Several `python -m bot run` processes on one PostgreSQL database and one Redis, against one fake Telegram that
enforces Telegram's limits: the harness of tests/reliability/test_scale_out.py and bench/scale_out.py.

- `deployment()`: a PostgreSQL database of its own on TEST_DATABASE_URL's server (created, migrated, dropped at
  the end; the leader's advisory lock is per database, so nothing else contends for it), a Redis database
  number picked from 1-13 on 127.0.0.1:6379 (TEST_REDIS_URL_BASE) for the shared send rate, and a `ScaleBotAPI`.
  `Deployment.start_worker()` starts a bot process in Telegram webhook mode (one public URL and one
  TELEGRAM_WEBHOOK_SECRET for all; each process listens on a port of its own) with HTTP_PORT for /healthz and
  /metrics. Its Bot API calls go to the fake under `/<worker name>/bot…`, so every call is known by who
  made it.
- `firing_pair()`: a pair, window and alert kind whose rule fires on the bundled snapshot's last session, so that
  a new subscription to it is one alert to send (the engine warms a new instance up over the history quietly
  and delivers only what fires on the session it evaluates).
- `fan_out()`: one alert to N subscribed chats through 1 or 2 workers, optionally SIGKILLing the leader midway;
  returns what the fake and the database saw (`FanOut`), figures included.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import random
import re
import signal
import socket
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from aiohttp import web
from sqlalchemy.engine import make_url

from bot.server.leader import LEADER_LOCK
from tests.telegram import updates
from tests.telegram.fake_bot_api import MESSAGE_METHODS, TOKEN, FakeBotAPI

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS = "redis://127.0.0.1:6379"
WEBHOOK_SECRET = "scale-out-webhook-secret"
PUBLIC_WEBHOOK_URL = "https://bot.example.test/telegram"  # what the load balancer would serve; only its path is used
SENDS = frozenset({"sendMessage", "sendPhoto"})
STARTUP_SECONDS = 90.0
# Pairs whose rule (default thresholds) fires on the snapshot's last session (2026-01-16): the first that does
# is used, checked at run time.
CANDIDATE_PAIRS = (("BTC", "RUT", 60), ("BTC", "IWM", 60))


def postgres_url() -> str:
    return os.environ.get("TEST_DATABASE_URL") or DEFAULT_POSTGRES_URL


def _dsn(url: str) -> str:
    """asyncpg's libpq-style DSN for a SQLAlchemy-style URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def eventually(condition: Callable[[], Awaitable[bool]], timeout: float, what: str,
                     every: float = 0.2) -> float:
    """Wait until `condition()` holds; the seconds it took. Fails with `what` after `timeout`."""
    start = time.monotonic()
    while not await condition():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not within {timeout:.0f} s: {what}")
        await asyncio.sleep(every)
    return time.monotonic() - start


# ---------------------------------------------------------------- the fake Telegram


@dataclass
class Sent:
    worker: str
    method: str
    chat_id: str | None
    status: int
    at: float


@dataclass
class ScaleBotAPI(FakeBotAPI):
    """The fake Bot API with Telegram's limits enforced (`per_second` a token, one message a second a chat) and
    one path prefix per worker; `log` has every call with who made it and how it was answered."""

    enforce_limits: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        self.log: list[Sent] = []
        self.open_requests: Counter[str] = Counter()

    def _route(self, app: web.Application) -> None:
        app.router.add_post("/{worker}/bot{token}/{method}", self._tagged)

    def url_for(self, worker: str) -> str:
        return f"http://127.0.0.1:{self.port}/{worker}/bot"

    async def _tagged(self, request: web.Request) -> web.Response:
        worker = request.match_info["worker"]
        self.open_requests[worker] += 1
        try:
            response = await self._handle(request)
            if request.content_type == "application/json":
                chat = (await request.json()).get("chat_id")
            else:
                chat = (await request.post()).get("chat_id")  # parsed once already: aiohttp keeps it
            self.log.append(Sent(worker, request.match_info["method"], None if chat is None else str(chat),
                                 response.status, time.monotonic()))
            return response
        finally:
            self.open_requests[worker] -= 1

    def delivered(self, chats: set[str], worker: str | None = None) -> list[Sent]:
        """Messages accepted (200) for `chats`, in order of arrival."""
        return [s for s in self.log if s.method in SENDS and s.status == 200 and s.chat_id in chats
                and (worker is None or s.worker == worker)]

    def refused(self) -> int:
        """Messages answered 429 for going over the limits."""
        return sum(1 for s in self.log if s.method in MESSAGE_METHODS and s.status == 429)

    async def settled(self, worker: str, quiet: float = 0.5) -> None:
        """Wait until `worker` has no request open and sent nothing for `quiet` seconds (after a kill: what was
        on the wire when it died is in the log)."""
        while True:
            last = max((s.at for s in self.log if s.worker == worker), default=0.0)
            if not self.open_requests[worker] and time.monotonic() - last >= quiet:
                return
            await asyncio.sleep(0.1)


# ---------------------------------------------------------------- bot processes


@dataclass
class Worker:
    name: str
    process: asyncio.subprocess.Process
    http_port: int
    webhook_port: int
    log_path: Path
    peak_rss_kb: int = 0

    @property
    def alive(self) -> bool:
        return self.process.returncode is None

    async def health(self) -> dict[str, Any] | None:
        """/healthz as JSON (200 ok or 503 fail), or None when it does not answer."""
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3)) as http, \
                    http.get(f"http://127.0.0.1:{self.http_port}/healthz") as response:
                return await response.json()
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return None

    async def is_leader(self) -> bool:
        health = await self.health() if self.alive else None
        return bool(health and health.get("leader") is True)

    async def metric(self, name: str, **labels: str) -> float:
        """The sum of one metric's samples from /metrics (those with `labels`, if given)."""
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http, \
                http.get(f"http://127.0.0.1:{self.http_port}/metrics") as response:
            text = await response.text()
        total = 0.0
        for match in re.finditer(rf"^{re.escape(name)}(?:{{([^}}]*)}})? (\S+)$", text, re.M):
            if all(f'{key}="{value}"' in (match.group(1) or "") for key, value in labels.items()):
                total += float(match.group(2))
        return total

    async def post_update(self, update: dict[str, Any]) -> int:
        """What the load balancer would do with an update Telegram posted: hand it to this process."""
        headers = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http, \
                http.post(f"http://127.0.0.1:{self.webhook_port}/telegram", json=update, headers=headers) as response:
            return response.status

    def sample_rss(self) -> int:
        """Peak resident memory so far (VmHWM, kB), kept in `peak_rss_kb`."""
        with contextlib.suppress(OSError, ValueError):
            for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    self.peak_rss_kb = max(self.peak_rss_kb, int(line.split()[1]))
        return self.peak_rss_kb

    async def kill(self) -> None:
        """SIGKILL: no clean-up of any kind."""
        self.sample_rss()
        if self.alive:
            self.process.kill()
        await self.process.wait()

    async def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait for the graceful stop; its exit status."""
        self.sample_rss()
        if self.alive:
            self.process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
            raise AssertionError(f"{self.name} did not stop within {timeout:.0f} s of SIGTERM:\n"
                                 f"{self.tail()}") from None

    def tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""


# ---------------------------------------------------------------- a deployment


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
    root = await asyncpg.connect(_dsn(base), timeout=5)
    folder.mkdir(parents=True, exist_ok=True)
    redis_url = f"{redis or os.environ.get('TEST_REDIS_URL_BASE', DEFAULT_REDIS)}/{random.randint(1, 13)}"
    try:
        await root.execute(f'CREATE DATABASE "{name}"')
        store = await open_store(url)  # migrates
        await store.close()
        admin = await asyncpg.connect(_dsn(url), timeout=5)
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


def service_problem(database_url: str | None = None, redis: str | None = None) -> str | None:
    """None when PostgreSQL and Redis answer; else what does not."""
    async def probe() -> None:
        connection = await asyncpg.connect(_dsn(database_url or postgres_url()), timeout=5)
        await connection.close()
        from redis.asyncio import Redis

        client = Redis.from_url(f"{redis or os.environ.get('TEST_REDIS_URL_BASE', DEFAULT_REDIS)}/1",
                                socket_timeout=2, socket_connect_timeout=2)
        try:
            await client.ping()
        finally:
            await client.aclose()

    try:
        asyncio.run(probe())
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


# ---------------------------------------------------------------- what to fan out


@dataclass(frozen=True)
class Firing:
    """A pair and window whose rule fires `kind` on the snapshot's last session (`session`)."""

    asset: str
    benchmark: str
    window_days: int
    kind: str
    session: str  # YYYY-MM-DD

    @property
    def subscribe_command(self) -> str:
        return f"/subscribe {self.asset} {self.benchmark} {self.kind} {self.window_days}d"


@cache
def firing_pair() -> Firing:
    """The first of CANDIDATE_PAIRS whose rule (default thresholds) fires one of the default kinds on the bundled
    snapshot's last session; subscriptions made by `Deployment.subscribe` want that kind alone, so every chat has
    exactly one alert to get."""
    from bot.alerts.kinds import DEFAULT_KINDS, in_order
    from bot.alerts.replay import replay
    from bot.alerts.rules import RuleParams
    from bot.analysis.analyzer import PairAnalyzer
    from bot.assets import find_asset
    from bot.market.data import SnapshotMarketData
    from bot.store.preferences import effective_thresholds

    analyzer = PairAnalyzer(SnapshotMarketData())
    for asset, benchmark, days in CANDIDATE_PAIRS:
        last = analyzer.pair(find_asset(asset), find_asset(benchmark)).returns.index[-1]
        events = replay(analyzer, RuleParams(asset, benchmark, days, effective_thresholds({})), None, None)
        fired = frozenset(e.kind for e in events if e.as_of == last) & DEFAULT_KINDS
        if fired:
            return Firing(asset, benchmark, days, in_order(fired)[0], f"{last:%Y-%m-%d}")
    raise RuntimeError("no candidate pair fires on the bundled snapshot's last session: add one to CANDIDATE_PAIRS "
                       "(`python -m bot alerts --pair A:B --window Nd` lists what a pair fires)")


# ---------------------------------------------------------------- one fan-out


@dataclass
class FanOut:
    workers: int
    chats: int
    per_second: int
    reached: int = 0
    messages: int = 0  # accepted by the fake (200): reached + duplicates
    refused: int = 0  # 429s drawn
    seconds: float = 0.0  # first to last accepted message
    statuses: Counter[str] = field(default_factory=Counter)  # the outbox at the end, one status per delivery
    alerts: int = 0  # alerts recorded for the session (one: evaluated once)
    killed: str | None = None
    killed_after: int = 0  # messages accepted when the kill came
    victim_sent: int = 0  # of which by the killed process
    in_flight: int = 0  # accepted from the killed process, not recorded as sent at the kill
    failover: float | None = None  # seconds from the kill until another process led
    peak_rss_mb: dict[str, float] = field(default_factory=dict)
    exit_codes: dict[str, int] = field(default_factory=dict)  # of the graceful stop at the end

    @property
    def duplicates(self) -> int:
        return self.messages - self.reached

    @property
    def lost(self) -> int:
        return self.chats - self.reached

    @property
    def rate(self) -> float:
        return (self.messages - 1) / self.seconds if self.seconds > 0 else 0.0

    @property
    def fraction(self) -> float:
        return self.rate / self.per_second

    def summary(self) -> str:
        text = (f"{self.workers} worker(s), {self.chats} chats: {self.rate:.1f} msg/s = {self.fraction:.0%} of the "
                f"enforced {self.per_second}/s ({self.messages} messages in {self.seconds:.1f} s, {self.refused} "
                f"answered 429); lost {self.lost}, duplicates {self.duplicates}")
        if self.killed:
            text += (f"; {self.killed} (the leader) SIGKILLed after {self.killed_after} messages ({self.victim_sent} "
                     f"its own), {self.in_flight} in flight at the kill; failover {self.failover:.1f} s")
        rss = ", ".join(f"{name} {mb:.0f} MB" for name, mb in self.peak_rss_mb.items())
        return f"{text}; peak RSS {rss}"


async def fan_out(setup: Deployment, *, workers: int, chats: int, kill_after: int | None = None,
                  timeout: float = 300.0) -> FanOut:
    """One alert to `chats` subscribers through `workers` processes; with `kill_after`, the leader is SIGKILLed
    once that many messages were accepted (and each process has sent some), and the others carry on."""
    firing = firing_pair()
    subscribers = await setup.subscribe(chats, firing)
    result = FanOut(workers, chats, setup.fake.per_second)
    started = await asyncio.gather(*(setup.start_worker() for _ in range(workers)))
    failover: asyncio.Task[float] | None = None
    if kill_after is not None:
        def from_every_worker() -> bool:
            return {s.worker for s in setup.fake.delivered(subscribers)} == {w.name for w in started}

        async def ready_to_kill() -> bool:
            sent = len(setup.fake.delivered(subscribers))
            return sent >= len(subscribers) or (sent >= kill_after and from_every_worker())

        await eventually(ready_to_kill, timeout, f"{kill_after} messages out, from every worker", every=0.02)
        if len(setup.fake.delivered(subscribers)) >= len(subscribers):
            raise AssertionError(f"the fan-out ended before every worker had sent after {kill_after} messages: "
                                 "more chats, or kill earlier")
        victim, _ = await setup.one_leader()
        await victim.kill()
        killed_at = time.monotonic()
        result.killed, result.killed_after = victim.name, len(setup.fake.delivered(subscribers))

        async def takeover() -> float:
            await eventually(lambda: _any_leader(setup), 120, "another process takes the lead", every=0.1)
            return time.monotonic() - killed_at

        failover = asyncio.create_task(takeover())
        await setup.fake.settled(victim.name)  # what was on the wire when it died is in the log now
        # Read at once, long before the victim's claims run out (the lease) and the others take them over.
        recorded = await setup.delivery_statuses(subscribers)
        by_victim = {s.chat_id for s in setup.fake.delivered(subscribers, victim.name)}
        result.victim_sent = len(by_victim)
        result.in_flight = sum(1 for chat in by_victim if "sent" not in recorded.get(chat, []))

    async def everyone_reached() -> bool:
        return {s.chat_id for s in setup.fake.delivered(subscribers)} == subscribers

    async def outbox_done() -> bool:
        statuses = await setup.delivery_statuses(subscribers)
        return len(statuses) == len(subscribers) and all(s == ["sent"] for s in statuses.values())

    with contextlib.suppress(AssertionError):  # a shortfall is reported by the figures, and asserted by the test
        await eventually(everyone_reached, timeout, "every chat reached", every=0.25)
        await eventually(outbox_done, 30, "the outbox records every send", every=0.25)
    if failover is not None:
        result.failover = await failover
    await asyncio.sleep(1.0)  # a late duplicate would show now
    sent = setup.fake.delivered(subscribers)
    result.messages, result.reached = len(sent), len({s.chat_id for s in sent})
    result.seconds = sent[-1].at - sent[0].at if len(sent) > 1 else 0.0
    result.refused = setup.fake.refused()
    result.statuses = Counter(s for statuses in (await setup.delivery_statuses(subscribers)).values() for s in statuses)
    result.alerts = await setup.alerts_recorded(firing)
    for worker in started:
        worker.sample_rss()
    result.exit_codes = await setup.stop_all()
    result.peak_rss_mb = {w.name: w.peak_rss_kb / 1024 for w in started}
    return result


async def _any_leader(setup: Deployment) -> bool:
    return bool(await setup.leaders())


def command(text: str, user_id: int) -> dict[str, Any]:
    """An update with `text` from a private chat of a user."""
    return updates.command(text, updates.private_chat(updates.user(user_id)), updates.user(user_id))
