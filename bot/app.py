"""Composition root: builds services and transports and runs them on one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
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
    return build_services(settings, store)


def build_transports(services: Services) -> list[Transport]:
    transports: list[Transport] = []
    for name in configured_platforms(services.settings):
        module = import_optional(TRANSPORTS[name][1])
        if module is None:
            log.warning("%s token is set, but this version has no %s transport yet", name, name)
            continue
        transports.append(module.build_transport(services))
    return transports


async def close_services(services: Services) -> None:
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
    for transport in transports:
        await transport.start()
        log.info("%s transport started", transport.name)
    log.info("Decoupler server running (%d transports); SIGTERM or Ctrl-C stops it", len(transports))
    console_task = None
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
