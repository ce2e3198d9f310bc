"""A running bot: the transports, the alert scheduler and outbox, the HTTP server and the leader lease, all on one
event loop, until SIGTERM/SIGINT; then a graceful stop within seconds.

Start: transports first (a token refused is one line, status 2), then — if this process leads (bot/server/leader.py)
— the scheduler; every process drains the outbox; the HTTP server last. Stop: give up the lead (the scheduler
stops; another process may take over at once), stop the outbox (messages under way finish through the transports,
which are still open; claimed ones not yet sent are given back, and the log says how many), then the transports,
the HTTP server, and the database and HTTP sessions (App.close, by the CLI).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

import pandas as pd

from bot.ports.transport import Transport, TransportStartError
from bot.server.prewarm import keep_warm
from bot.server.web.health import DATABASE_TIMEOUT, Health, LoopWatch

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager

    from bot.alerts.service import AlertService
    from bot.config import Settings
    from bot.market.data import MarketData
    from bot.ports.services import Services
    from bot.sending.shared_rate import SharedRate
    from bot.server.leader import Leadership
    from bot.server.web.server import WebServer
    from bot.store import Store
    from bot.telemetry.metrics import Metrics

log = logging.getLogger(__name__)


class RuntimeHost(Protocol):
    """What a running server needs of the composition root (bot.app.App provides it)."""

    settings: Settings

    @property
    def services(self) -> Services: ...
    @property
    def metrics(self) -> Metrics: ...
    @property
    def store(self) -> Store: ...
    @property
    def alerts(self) -> AlertService: ...
    @property
    def market(self) -> MarketData: ...
    def leadership(self) -> Leadership: ...
    def alerts_running(self, transports: list[Transport], *, schedule: Leadership | None = None
                       ) -> AbstractAsyncContextManager[None]: ...


class Runtime:
    def __init__(self, app: RuntimeHost, transports: list[Transport]):
        self.app = app
        self.transports = transports
        self.stopping = asyncio.Event()
        self.started: list[Transport] = []
        self.loop_watch = LoopWatch()
        self.web: WebServer | None = None
        self.leader = app.leadership()
        self._shared_rate: SharedRate | None = None  # a Redis client of its own, for /healthz

    async def serve(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, self.stopping.set)
        self.loop_watch.start()
        try:
            if not await self._start_transports():
                return 2
            self.app.metrics.gauges.leader = lambda: self.leader.is_leader
            self.app.metrics.gauges.price_ages = self._price_ages
            async with self.app.alerts_running(self.transports, schedule=self.leader):
                self.leader.on_change.append(self._lead)
                await self.leader.start()  # the scheduler follows it (on PostgreSQL, one process of many)
                await self._start_web()
                names = ", ".join(t.name for t in self.transports)
                log.info("Decoupler running (%s); SIGTERM or Ctrl-C stops it", names)
                warming = asyncio.create_task(keep_warm(self.app.services, self.stopping), name="prewarm")
                await self.stopping.wait()
                log.info("shutting down")
                warming.cancel()
                await asyncio.gather(warming, return_exceptions=True)
                # Lead no more before the outbox winds down: the scheduler stops now, not after the last sends
                # (a process that took the lead meanwhile would otherwise start one here too), and the lock is
                # free for another process's next try.
                await self.leader.stop()
                # The outbox before the transports: its sends go through them (a closed Telegram client fails
                # every send still under way); what it has claimed and not sent is given back.
                await self.app.alerts.stop()
                await self._stop_transports()
            return 0
        finally:
            await self._stop_transports()
            if self.web is not None:
                await self.web.stop()
            await self.leader.stop()
            await self.loop_watch.stop()
            await self.close_checks()

    async def close_checks(self) -> None:
        """Close what the health check opened (its Redis client)."""
        if self._shared_rate is not None:
            await self._shared_rate.close()
            self._shared_rate = None

    async def _start_transports(self) -> bool:
        for transport in self.transports:
            try:
                await transport.start()
            except Exception as exc:
                if isinstance(exc, TransportStartError):  # one clear line; it never holds a secret
                    log.error("%s transport could not start: %s", transport.name, exc)
                else:  # not a failure we know: the traceback is what finds the cause
                    log.exception("%s transport could not start: %s", transport.name, type(exc).__name__)
                return False
            self.started.append(transport)
            log.info("%s transport started", transport.name)
        return True

    async def _lead(self, leader: bool) -> None:
        if leader:
            for transport in self.started:
                await transport.lead()

    async def _stop_transports(self) -> None:
        while self.started:
            transport = self.started.pop()
            try:
                await transport.stop()
            except Exception:
                log.exception("%s transport did not stop cleanly", transport.name)

    async def _start_web(self) -> None:
        settings = self.app.settings
        if settings.http_port is None:
            return
        from bot.server.web.server import WebServer

        self.web = WebServer(self.app.services, self.app.metrics, self.health, host=settings.http_host,
                             port=settings.http_port, timeout=settings.http_timeout_seconds,
                             max_connections=settings.http_max_connections)
        await self.web.start()

    # ------------------------------------------------------------ health

    async def health(self) -> Health:
        reasons: list[str] = []
        database = await self._database()
        if database != "ok":
            reasons.append(database)
        lag = self.loop_watch.lag
        if lag > self.loop_watch.limit:
            reasons.append(f"the event loop fell {lag:.1f} s behind")
        degraded = [] if await self._shared_rate_reachable() else ["shared rate unavailable"]
        running = {t.name for t in self.started}
        transports = {t.name: ("running" if t.name in running else "stopped") for t in self.transports}
        status = "fail" if reasons else "degraded" if degraded else "ok"
        return Health(
            status=status, leader=self.leader.is_leader, database=database,
            transports=transports, data=dict(self._price_ages()), last_run=await self._last_run(),
            loop_lag=lag, reasons=reasons + degraded,
        )

    async def _shared_rate_reachable(self) -> bool:
        """With REDIS_URL set, whether Redis answers: without it every process keeps its own send rate (they
        still work, but together they may exceed a platform's limit) — degraded, not failed."""
        redis_url = self.app.settings.redis_url
        if redis_url is None:
            return True
        if self._shared_rate is None:
            from bot.sending.shared_rate import SharedRate

            self._shared_rate = SharedRate(redis_url.get_secret_value(), "health")
        return await self._shared_rate.reachable()

    async def _database(self) -> str:
        from bot.store.errors import describe_database_error

        try:
            await asyncio.wait_for(self.app.store.ping(), DATABASE_TIMEOUT)
        except TimeoutError:
            return "database unavailable: it did not answer in time"
        except Exception as exc:
            return describe_database_error(exc)
        return "ok"

    async def _last_run(self) -> dict[str, Any] | None:
        try:
            status = await asyncio.wait_for(self.app.alerts.status(), DATABASE_TIMEOUT)
        except Exception:
            return None
        if not status.evaluated:
            return None
        newest = max(status.evaluated, key=lambda e: e.at)
        return {"calendar": newest.calendar, "session": f"{newest.session:%Y-%m-%d}",
                "at": newest.at.astimezone(UTC).isoformat(), "alerts": newest.alerts}

    def _price_ages(self) -> list[tuple[str, float]]:
        """Seconds since the newest price of each asset of the default pair and the subscribed ones (as far
        as this process has them in memory)."""
        from bot.assets import find_asset
        from bot.market.data import price_time
        from bot.market.errors import NoData

        now = pd.Timestamp(datetime.now(UTC))
        ages = []
        for symbol in self.app.settings.default_pair.split(":"):
            asset = find_asset(symbol)
            if asset is None:
                continue
            try:
                ages.append((symbol, round((now - price_time(asset, self.app.market.leg(asset))).total_seconds())))
            except NoData:
                continue
        return ages
