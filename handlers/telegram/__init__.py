"""The Telegram transport: `build_transport(services)` for the server, `open_notifier(services)` to deliver
alerts without it (`python -m bot alerts --run-once`: sends only, receives no updates)."""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import AsyncIterator

from telegram import Bot
from telegram.warnings import PTBDeprecationWarning

from bot.ports.services import Services
from bot.sending.ratelimit import TELEGRAM_LIMITS, PlatformLimiter
from handlers.chats import ChatBook
from handlers.telegram.send import TelegramNotifier, TelegramSender
from handlers.telegram.transport import TelegramTransport, file_base_url, mask_token_in_library_logs

__all__ = ["TelegramTransport", "build_transport", "open_notifier"]


def build_transport(services: Services) -> TelegramTransport:
    # PTB warns about its own int retry_after on every 429: noise in a server's log
    warnings.filterwarnings("ignore", category=PTBDeprecationWarning)
    return TelegramTransport(services)


@contextlib.asynccontextmanager
async def open_notifier(services: Services) -> AsyncIterator[TelegramNotifier]:
    settings = services.settings
    if settings.telegram_bot_token is None:
        raise ValueError("TELEGRAM_BOT_TOKEN is not set")
    warnings.filterwarnings("ignore", category=PTBDeprecationWarning)
    token = settings.telegram_bot_token.get_secret_value()
    mask_token_in_library_logs(token)
    bot = Bot(token, base_url=settings.telegram_api_base_url,
              base_file_url=file_base_url(settings.telegram_api_base_url))
    async with bot:
        sender = TelegramSender(bot, PlatformLimiter(TELEGRAM_LIMITS))
        yield TelegramNotifier(sender, on_moved=ChatBook(services.store, "telegram").moved)
