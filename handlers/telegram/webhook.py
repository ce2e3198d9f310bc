"""Telegram's webhook mode: Telegram POSTs each update to TELEGRAM_WEBHOOK_URL; a reverse proxy (TLS) passes it
to TELEGRAM_WEBHOOK_LISTEN:TELEGRAM_WEBHOOK_PORT, where this receiver (aiohttp, on the bot's loop) checks the
secret header and hands the update to PTB's update queue.

Receiving and registering are separate: every process behind a load balancer receives, but only one — the
leader — calls setWebhook (`register`), so processes never fight over the registration. Every process must
have the same TELEGRAM_WEBHOOK_SECRET (required on PostgreSQL, where several processes may run).
"""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from telegram import Update
from telegram.ext import Application

log = logging.getLogger(__name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_UPDATE_BYTES = 1 << 20


class WebhookReceiver:
    def __init__(
        self, application: Application[Any, Any, Any, Any, Any, Any], *, url: str, listen: str, port: int, secret: str
    ) -> None:
        self.application = application
        self.path = urlsplit(url).path or "/"
        self.listen, self.port = listen, port
        self._secret = secret.encode()
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application(client_max_size=MAX_UPDATE_BYTES)
        app.router.add_post(self.path, self._receive)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.listen, self.port).start()
        log.info("telegram: receiving updates on %s:%d%s", self.listen, self.port, self.path)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _receive(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, self._secret):
            return web.Response(status=403, text="wrong or missing secret token")
        try:
            payload = json.loads(await request.read())
            update = Update.de_json(payload, self.application.bot)
        except (ValueError, TypeError, KeyError):
            return web.Response(status=400, text="not an update")
        if update is None:
            return web.Response(status=400, text="not an update")
        await self.application.update_queue.put(update)
        return web.Response(status=200)
