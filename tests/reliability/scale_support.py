"""Several `python -m bot run` processes on one PostgreSQL database and one Redis, against one fake Telegram that
enforces Telegram's limits: the harness of tests/reliability/test_scale_out.py and bench/scale_out.py.

- `deployment()` (tests/reliability/scale_deployment.py): a PostgreSQL database of its own on TEST_DATABASE_URL's
  server (created, migrated, dropped at the end; the leader's advisory lock is per database, so nothing else
  contends for it), a Redis database number picked from 1-13 on 127.0.0.1:6379 (TEST_REDIS_URL_BASE) for the shared
  send rate, and a `ScaleBotAPI`. `Deployment.start_worker()` starts a bot process in Telegram webhook mode (one
  public URL and one TELEGRAM_WEBHOOK_SECRET for all; each process listens on a port of its own) with HTTP_PORT for
  /healthz and /metrics. Its Bot API calls go to the fake under `/<worker name>/bot…`, so every call is known by
  who made it.
- `firing_pair()` (tests/reliability/scale_fan_out.py): a pair, window and alert kind whose rule fires on the
  bundled snapshot's last session, so that a new subscription to it is one alert to send (the engine warms a new
  instance up over the history quietly and delivers only what fires on the session it evaluates).
- `fan_out()` (scale_fan_out.py too): one alert to N subscribed chats through 1 or 2 workers, optionally SIGKILLing
  the leader midway; returns what the fake and the database saw (`FanOut`), figures included.

This module has what they share: the fake Telegram (`ScaleBotAPI`), a bot process (`Worker`), the settings and
`eventually`, and `service_problem`, which says whether PostgreSQL and Redis answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from aiohttp import web
from sqlalchemy.engine import make_url

from tests.telegram import updates
from tests.telegram.fake_bot_api import MESSAGE_METHODS, FakeBotAPI

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS = "redis://127.0.0.1:6379"
WEBHOOK_SECRET = "scale-out-webhook-secret"
PUBLIC_WEBHOOK_URL = "https://bot.example.test/telegram"  # what the load balancer would serve; only its path is used
SENDS = frozenset({"sendMessage", "sendPhoto"})
STARTUP_SECONDS = 90.0


def postgres_url() -> str:
    return os.environ.get("TEST_DATABASE_URL") or DEFAULT_POSTGRES_URL


def dsn(url: str) -> str:
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


# ---------------------------------------------------------------- the services


def service_problem(database_url: str | None = None, redis: str | None = None) -> str | None:
    """None when PostgreSQL and Redis answer; else what does not."""
    async def probe() -> None:
        connection = await asyncpg.connect(dsn(database_url or postgres_url()), timeout=5)
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


# ---------------------------------------------------------------- Telegram updates


def command(text: str, user_id: int) -> dict[str, Any]:
    """An update with `text` from a private chat of a user."""
    return updates.command(text, updates.private_chat(updates.user(user_id)), updates.user(user_id))
