"""The composition root: every service is built here, from `Settings`, once, when first asked for.

The CLI (bot/cli) and the server ask an `App` for what they need: a snapshot-only `ask` never connects to
the database or imports the live sources; a server gets the store, the alert service and the transports.
It is the only module of `bot` that imports `handlers` (the chat transports and the command layer); see
docs/architecture.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import date, timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from bot.config import ConfigError, MarketDataMode, Settings
from bot.ports.notifier import Notifier
from bot.ports.reply import Reply
from bot.ports.services import Services
from bot.ports.transport import Transport

if TYPE_CHECKING:  # the services' modules are imported when first built: a CLI call pays only for what it uses
    from bot.alerts.service import AlertService
    from bot.alerts.webhook import WebhookNotifier
    from bot.analysis.analyzer import PairAnalyzer
    from bot.analysis.scan import UniverseScanner
    from bot.market.cache import PriceCache
    from bot.market.data import MarketData
    from bot.market.sources import SourceSet
    from bot.ports.activity import Activity
    from bot.render.alert_messages import AlertContent
    from bot.render.chart_cache import ChartRenderer
    from bot.sending.shared_rate import SharedRate
    from bot.server.leader import Leadership
    from bot.store import Store
    from bot.telemetry.metrics import Metrics

log = logging.getLogger(__name__)

# chats of the terminal transport and of `python -m bot ask`: alerts for them are printed
CONSOLE_PLATFORMS = ("console", "cli")


class App:
    def __init__(self, settings: Settings, *, store: Store | None = None, market: MarketData | None = None) -> None:
        """`store` and `market` replace the ones built from settings (tests hand in fakes of the outside)."""
        self.settings = settings
        self.serving = False  # set by run(): long-lived, so worth render processes
        if store is not None:
            self.store = store
        if market is not None:
            self.market = market

    # ------------------------------------------------------------ services

    @cached_property
    def store(self) -> Store:
        from bot.store import Database, Store

        return Store(Database(self.settings.database_url))  # connects (and migrates) on first use

    @cached_property
    def price_cache(self) -> PriceCache:
        from bot.market.cache import PriceCache

        return PriceCache(self.store.db)

    def sources(self, *, retries: int = 0) -> SourceSet:
        from bot.market.sources import build_sources

        return build_sources(self.settings, retries=retries)

    @cached_property
    def market(self) -> MarketData:
        """`snapshot`: the bundled snapshot, never the network. `auto`/`live`: live sources over the price
        cache in the store (auto falls back to the cache and the snapshot; live says so instead)."""
        settings = self.settings
        if settings.market_data is MarketDataMode.SNAPSHOT:
            from bot.market.data import SnapshotMarketData

            return SnapshotMarketData(settings.market_data)
        from bot.market.live import LiveMarketData

        market = LiveMarketData(
            settings.market_data, self.price_cache, self.sources(),
            budget_seconds=settings.market_budget_seconds, cooldown_seconds=settings.source_cooldown_seconds,
            max_custom_assets=settings.max_custom_assets,
        )
        market.updater.on_source_error = lambda source: self.metrics.source_errors.labels(source).inc()
        return market

    @cached_property
    def analysis(self) -> PairAnalyzer:
        from bot.analysis.analyzer import PairAnalyzer

        return PairAnalyzer(self.market)

    @cached_property
    def scanner(self) -> UniverseScanner:
        from bot.analysis.scan import UniverseScanner

        return UniverseScanner(self.analysis)  # the universe scan and matrix, over the analyzer's pair caches

    @cached_property
    def charts(self) -> ChartRenderer:
        from bot.render.chart_cache import ChartRenderer

        # a server renders in a process pool (CHART_WORKERS); a one-off command draws its one chart in a thread
        return ChartRenderer(workers=self.settings.chart_workers if self.serving else 0)

    @cached_property
    def alert_messages(self) -> AlertContent:
        from bot.render.alert_messages import AlertContent

        return AlertContent(self.analysis, self.charts, scanner=self.scanner)

    @cached_property
    def alerts(self) -> AlertService:
        from bot.alerts.service import AlertService

        settings = self.settings
        return AlertService(
            self.store, self.analysis, self.alert_messages,
            delay=timedelta(minutes=settings.alert_delay_minutes),
            lease=timedelta(seconds=settings.delivery_lease_seconds), metrics=self.metrics,
            retention=timedelta(days=settings.retention_days), scanner=self.scanner,
        )

    @cached_property
    def metrics(self) -> Metrics:
        from bot.telemetry.metrics import Metrics

        return Metrics()

    @cached_property
    def activity(self) -> Activity:
        from bot.ports.activity import Activity

        return Activity()

    @cached_property
    def services(self) -> Services:
        return Services(self)  # each service built when first used

    async def start(self) -> None:
        await self.market.start()  # registers tickers users added (/assets add) before the first command

    async def close(self) -> None:
        """Close what was opened (nothing that was never built is built now)."""
        if "charts" in self.__dict__:
            await self.charts.aclose()  # the render workers
        if "market" in self.__dict__:
            await self.market.close()  # ccxt / curl_cffi sessions
        if "store" in self.__dict__:
            await self.store.close()

    # ------------------------------------------------------------ one command

    async def ask(self, text: str, *, as_of: date | None = None, want_chart: bool = True,
                  theme: str = "light") -> Reply:
        """`python -m bot ask`: one command, answered as in a private chat of the CLI."""
        from handlers.commands import dispatch, is_static
        from handlers.registry import ChatContext

        if not is_static(text):
            await self.start()
        chat = ChatContext(platform="cli", chat_id="cli", chat_kind="private", title="cli")
        return await dispatch(self.services, text, chat, as_of=as_of, want_chart=want_chart, theme=theme)

    # ------------------------------------------------------------ chat platforms

    def platforms(self) -> list[str]:
        """The chat platforms whose token is set."""
        return [name for name, token in (("telegram", self.settings.telegram_bot_token),
                                         ("discord", self.settings.discord_bot_token)) if token]

    def build_transports(self) -> list[Transport]:
        """One transport per chat platform whose token is set."""
        transports: list[Transport] = []
        for name in self.platforms():
            if name == "telegram":
                from handlers import telegram

                transports.append(telegram.build_transport(self.services))
            else:
                from handlers import discord

                transports.append(discord.build_transport(self.services))
        return transports

    async def sync_discord_commands(self) -> int:
        """`python -m bot discord sync`: publish the slash commands now; how many."""
        if self.settings.discord_bot_token is None:
            raise ConfigError("Invalid setting DISCORD_BOT_TOKEN: it is not set, so there is nothing to sync")
        from handlers import discord

        return await discord.sync_commands(self.services)

    @contextlib.asynccontextmanager
    async def notifiers(self, transports: list[Transport] | None, *, console: bool
                        ) -> AsyncIterator[tuple[dict[str, Notifier], list[str]]]:
        """Who delivers alerts on which platform, and the platforms that can't (their deliveries stay pending).

        `transports`: the running transports' notifiers. None (`alerts --run-once`): each configured chat
        platform's notifier opened without its server (sending only, no updates received)."""
        notifiers: dict[str, Notifier] = {}
        missing: list[str] = []
        async with contextlib.AsyncExitStack() as stack:
            if console:
                from bot.alerts.console_notifier import ConsoleNotifier

                printer = ConsoleNotifier(chart_dir=Path(self.settings.chart_dir))
                notifiers.update(dict.fromkeys(CONSOLE_PLATFORMS, printer))
            webhook = self._webhook_notifier()
            notifiers["webhook"] = webhook
            stack.push_async_callback(webhook.close)
            if self.settings.webhook_secret is None:
                missing.append("generic webhooks without their own secret (no WEBHOOK_SECRET)")
            if transports is not None:
                notifiers.update({t.name: t.notifier for t in transports})
                if "console" in notifiers:  # the terminal also prints what `python -m bot ask` subscribed to
                    notifiers.setdefault("cli", notifiers["console"])
            else:
                await self._open_transport_notifiers(stack, notifiers, missing)
            for platform, notifier in notifiers.items():
                notifier.limiter.on_429 = self.metrics.platform_429.labels(platform).inc
                if self.settings.redis_url is not None and platform in ("telegram", "discord"):
                    notifier.limiter.shared = await self._shared_rate(stack, platform)
            yield notifiers, missing

    async def _open_transport_notifiers(
        self, stack: contextlib.AsyncExitStack, notifiers: dict[str, Notifier], missing: list[str]
    ) -> None:
        configured = self.platforms()
        for name in ("telegram", "discord"):
            if name not in configured:
                missing.append(f"{name} (no token)")
            elif name == "telegram":
                from handlers import telegram

                notifiers[name] = await stack.enter_async_context(telegram.open_notifier(self.services))
            else:
                from handlers import discord

                notifiers[name] = await stack.enter_async_context(discord.open_notifier(self.services))

    async def _shared_rate(self, stack: contextlib.AsyncExitStack, platform: str) -> SharedRate:
        from bot.sending.shared_rate import SharedRate

        assert self.settings.redis_url is not None
        shared = SharedRate(self.settings.redis_url.get_secret_value(), platform)
        stack.push_async_callback(shared.close)
        return shared

    def _webhook_notifier(self) -> WebhookNotifier:
        """Slack and Discord hooks carry their own secret; generic ones sign with theirs (or WEBHOOK_SECRET)."""
        from bot.alerts.webhook import WEBHOOK_LIMITS, WebhookNotifier
        from bot.sending.ratelimit import PlatformLimits

        settings = self.settings
        limits = PlatformLimits(settings.webhook_max_per_second, WEBHOOK_LIMITS.per_chat_per_second)
        secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
        from bot.store.hook_secrets import HookSecrets

        return WebhookNotifier(secret, limits=limits, allow_private=settings.allow_private_webhooks,
                               hook_secret=HookSecrets(self.store.db).secret_for)

    # ------------------------------------------------------------ running

    async def run(self, *, with_console: bool = False) -> int:
        """With chat tokens: the transports until SIGTERM/SIGINT (and the console too, if asked). Without:
        the console alone, until its input ends. Alerts are evaluated on schedule and delivered either way.
        A database that can't be opened, or a transport that can't start, ends it with one line (status 2)."""
        self.serving = True
        # The render workers boot (a forkserver that imports matplotlib: about 2 s of work) while the store opens
        # and the transports connect, rather than in front of the first user's chart.
        workers = asyncio.create_task(self.charts.start_workers(), name="render-workers")
        try:
            return await self._serve(with_console)
        finally:
            await asyncio.gather(workers, return_exceptions=True)

    async def _serve(self, with_console: bool) -> int:
        await self.store.open()  # now, not at the first command: a broken DATABASE_URL is a start-up error
        await self.start()
        transports = self.build_transports()
        console_only = not transports
        if console_only:
            log.info("no chat token set: running the console on %s data", self.settings.market_data.value)
        if with_console or console_only:
            from handlers import console

            terminal = console.build_transport(self.services)
            transports.append(terminal)
        from bot.server.runtime import Runtime

        runtime = Runtime(self, transports)
        if console_only:
            terminal.finished = runtime.stopping  # end of input ends the run
        return await runtime.serve()

    def leadership(self) -> Leadership:
        """Who runs the scheduler: on PostgreSQL the holder of an advisory lock; on SQLite this process."""
        from bot.server.leader import Leadership, PostgresLeadership

        return PostgresLeadership(self.store.engine) if self.store.db.postgres else Leadership()

    @contextlib.asynccontextmanager
    async def alerts_running(self, transports: list[Transport], *, schedule: Leadership | None = None
                             ) -> AsyncIterator[None]:
        """Deliver alerts through the transports (and webhooks) meanwhile, and evaluate them on schedule when
        this process leads (`schedule`; without one, it does)."""
        async with self.notifiers(transports, console=False) as (notifiers, _):
            self.alerts.start(notifiers, scheduling=schedule is None)
            if schedule is not None:
                async def follow(leader: bool) -> None:
                    if leader:
                        self.alerts.start_scheduler()
                    else:
                        await self.alerts.stop_scheduler()

                schedule.on_change.append(follow)
            try:
                yield
            finally:
                await self.alerts.stop()
