"""Composition root: builds services and transports and runs them on one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

from bot.config import Settings
from bot.optional import import_optional
from bot.services import Services, build_services

log = logging.getLogger(__name__)


class Transport(Protocol):
    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


# platform -> (setting that enables it, module that provides `build_transport(services) -> Transport`)
TRANSPORTS = {
    "telegram": ("telegram_bot_token", "handlers.telegram_bot"),
    "discord": ("discord_bot_token", "handlers.discord_bot"),
}


def configured_platforms(settings: Settings) -> list[str]:
    return [name for name, (setting, _) in TRANSPORTS.items() if getattr(settings, setting)]


async def open_store(settings: Settings) -> Any:
    """The store, migrated; None in a build without one."""
    store_module = import_optional("bot.store")
    if store_module is None:
        return None
    return await store_module.open_store(settings.database_url)


async def build_app(settings: Settings, *, with_store: bool = True) -> Services:
    store = await open_store(settings) if with_store else None
    services = build_services(settings, store)
    start_market = getattr(services.market, "start", None)
    if start_market is not None:
        await start_market()  # registers tickers users added (/assets add) before the first command
    if store is not None:
        from bot.alerts.service import AlertService

        services.alerts = AlertService(
            store, services.analysis, services.charts,
            delay=timedelta(minutes=settings.alert_delay_minutes),
            lease=timedelta(seconds=settings.delivery_lease_seconds),
        )
    return services


def build_transports(services: Services) -> list[Transport]:
    transports: list[Transport] = []
    for name in configured_platforms(services.settings):
        module = import_optional(TRANSPORTS[name][1])
        if module is None:
            log.warning("%s token is set, but this version has no %s transport yet", name, name)
            continue
        transports.append(module.build_transport(services))
    return transports


# ---- alert delivery: which Notifier serves which platform ------------------------------------------------

CONSOLE_PLATFORMS = ("console", "cli")  # chats of the terminal transport and of `python -m bot ask`


def webhook_notifier(settings: Settings) -> Any:
    """The webhook platform's notifier, or None without WEBHOOK_SECRET (its deliveries then stay pending)."""
    if settings.webhook_secret is None:
        return None
    from bot.notifier import PlatformLimits
    from bot.webhook import WEBHOOK_LIMITS, WebhookNotifier

    limits = PlatformLimits(settings.webhook_max_per_second, WEBHOOK_LIMITS.per_chat_per_second)
    return WebhookNotifier(settings.webhook_secret.get_secret_value(), limits=limits)


def console_notifiers(settings: Settings) -> dict[str, Any]:
    from bot.alerts.notifiers import ConsoleNotifier

    notifier = ConsoleNotifier(chart_dir=Path(settings.chart_dir))
    return dict.fromkeys(CONSOLE_PLATFORMS, notifier)


def transport_notifiers(transports: list[Transport]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Started transports that can deliver alerts expose `notifier` (and the `limiter` it shares)."""
    notifiers: dict[str, Any] = {}
    limiters: dict[str, Any] = {}
    for transport in transports:
        notifier = getattr(transport, "notifier", None)
        if notifier is None:
            continue
        notifiers[transport.name] = notifier
        if getattr(transport, "limiter", None) is not None:
            limiters[transport.name] = transport.limiter  # type: ignore[attr-defined]
    return notifiers, limiters


@contextlib.asynccontextmanager
async def running_alerts(
    services: Services, transports: list[Transport], *, console: bool
) -> AsyncIterator[None]:
    """Evaluate alerts on schedule and deliver them through the transports (and webhooks, the console)."""
    if services.alerts is None:
        yield
        return
    notifiers, limiters = transport_notifiers(transports)
    webhook = webhook_notifier(services.settings)
    if webhook is not None:
        notifiers["webhook"] = webhook
    if console:
        notifiers.update(console_notifiers(services.settings))
    services.alerts.start(notifiers, limiters)
    try:
        yield
    finally:
        await services.alerts.stop()
        if webhook is not None:
            await webhook.close()


@contextlib.asynccontextmanager
async def one_shot_notifiers(services: Services) -> AsyncIterator[tuple[dict[str, Any], dict[str, Any], list[str]]]:
    """Notifiers for `python -m bot alerts --run-once`: webhooks, the console, and every configured chat
    platform whose transport module offers `open_notifier(services)` (an async context manager giving
    `(notifier, limiter)` without starting to receive updates). Yields (notifiers, limiters, missing)."""
    notifiers: dict[str, Any] = dict(console_notifiers(services.settings))
    limiters: dict[str, Any] = {}
    missing: list[str] = []
    async with contextlib.AsyncExitStack() as stack:
        webhook = webhook_notifier(services.settings)
        if webhook is not None:
            notifiers["webhook"] = webhook
            stack.push_async_callback(webhook.close)
        else:
            missing.append("webhook (no WEBHOOK_SECRET)")
        for name in TRANSPORTS:
            module = import_optional(TRANSPORTS[name][1]) if name in configured_platforms(services.settings) else None
            opener = getattr(module, "open_notifier", None)
            if opener is None:
                missing.append(f"{name} (no token)" if module is None else f"{name} (no open_notifier)")
                continue
            notifier, limiter = await stack.enter_async_context(opener(services))
            notifiers[name], limiters[name] = notifier, limiter
        yield notifiers, limiters, missing


async def close_services(services: Services) -> None:
    close_market = getattr(services.market, "close", None)
    if close_market is not None:
        await close_market()  # ccxt / curl_cffi sessions
    if services.store is not None and hasattr(services.store, "close"):
        await services.store.close()


async def run_server(services: Services, with_console: bool = False) -> int:
    """Run the chat transports (and optionally the console) until SIGTERM/SIGINT, then stop cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    transports = build_transports(services)
    started: list[Transport] = []
    for transport in transports:
        try:
            await transport.start()
        except Exception as exc:  # one clear line; the transports keep secrets out of their messages
            log.error("%s transport could not start: %s", transport.name, exc)
            for running in reversed(started):
                await running.stop()
            return 1
        started.append(transport)
        log.info("%s transport started", transport.name)
    log.info("Decoupler server running (%d transports); SIGTERM or Ctrl-C stops it", len(transports))
    console_task = None
    async with running_alerts(services, transports, console=with_console):
        if with_console:
            from handlers.console import run_console

            console_task = asyncio.create_task(run_console(services))
        await stop.wait()
        log.info("shutting down")
        if console_task is not None:
            console_task.cancel()
    for transport in reversed(transports):
        try:
            await transport.stop()
        except Exception:
            log.exception("%s transport did not stop cleanly", transport.name)
    return 0


async def run_console_app(services: Services) -> int:
    """The terminal alone (no chat token), with alerts evaluated on schedule and printed there."""
    from handlers.console import run_console

    async with running_alerts(services, [], console=True):
        return await run_console(services)
