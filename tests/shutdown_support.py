"""SIGTERM in the middle of an alert fan-out, in process: a running bot (Runtime.serve) with a fake chat transport
whose client, like python-telegram-bot's, refuses to send once the transport has stopped."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from bot.alerts.delivery import DeliveryWorker
from bot.app import App
from bot.clock import utcnow
from bot.config import load_settings
from bot.ports.notifier import SendResult, TransientError
from bot.ports.reply import Reply
from bot.render.alert_messages import AlertContent
from bot.sending.ratelimit import PlatformLimits
from bot.server.runtime import Runtime
from bot.store.alerts_repo import AlertsRepo
from tests.alerts.support import RecordingNotifier, add_chats, fire

PER_SECOND = 100  # the fake platform's rate: a fan-out lasts long enough to be cut
WAIT = 60.0  # a bound on the scenario, not a timing assertion


class ClosingNotifier(RecordingNotifier):
    """Sends through the transport's client; once the transport has stopped, the client is gone (PTB raises
    RuntimeError('This HTTPXRequest is not initialized!'), which its notifier reports as a transient error)."""

    def __init__(self) -> None:
        super().__init__(limits=PlatformLimits(per_second=PER_SECOND, per_chat_per_second=PER_SECOND))
        self.open = True
        self.refused = 0

    async def send(self, chat_id: str, reply: Reply, media: str | None = None, *, is_group: bool = False
                   ) -> SendResult:
        async with self.limiter.slot(chat_id, is_group):
            await asyncio.sleep(0.005)  # on the wire
            if not self.open:
                self.refused += 1
                raise TransientError("RuntimeError: This HTTPXRequest is not initialized!")
            return self._record(chat_id, reply, media)


class FakeTransport:
    name = "fake"

    def __init__(self) -> None:
        self.notifier = ClosingNotifier()

    async def start(self) -> None:
        self.notifier.open = True

    async def stop(self) -> None:
        self.notifier.open = False

    async def lead(self) -> None:
        return None


@dataclass
class Outcome:
    sent_before_stop: int
    refused_by_the_closed_client: int
    attempted_and_failed: int  # deliveries whose attempts went up (a failed try), or that failed outright
    errors_logged: list[str]
    given_back_logged: list[str]
    received: Counter[str]  # chat -> messages, after a second process finished the fan-out


async def sigterm_mid_fan_out(tmp_path: Path, chats: int, stop_after: int,
                              records: list[logging.LogRecord]) -> Outcome:
    """`chats` subscribers get one alert; SIGTERM after `stop_after` sends; then another worker sends the rest."""
    app = App(load_settings(market_data="snapshot", database_url=f"sqlite:///{tmp_path}/stop.sqlite3"))
    transport = FakeTransport()
    runtime = Runtime(app, [transport])
    try:
        await app.store.open()  # migrated
        await add_chats(app.store, chats, platform="fake")
        repo = AlertsRepo.for_store(app.store)
        await fire(repo, [("regime", date(2026, 1, 16))], now=utcnow() - timedelta(minutes=1))
        serving = asyncio.create_task(runtime.serve())
        async with asyncio.timeout(WAIT):
            while len(transport.notifier.sent) < stop_after and not serving.done():
                await asyncio.sleep(0.01)
            os.kill(os.getpid(), signal.SIGTERM)  # what `docker stop` sends; Runtime handles it
            assert await serving == 0
        sent_before_stop = len(transport.notifier.sent)
        rows = await repo.deliveries()
        attempted = sum(1 for r in rows if r["attempts"] or r["status"] == "failed")
        after = RecordingNotifier("fake")
        async with asyncio.timeout(WAIT):
            await DeliveryWorker(app.store, {"fake": after}, AlertContent()).drain()
        received = transport.notifier.chats() + after.chats()
    finally:
        await app.close()
    errors = [r.getMessage() for r in records if r.levelno >= logging.ERROR]
    given_back = [r.getMessage() for r in records if "gave back" in r.getMessage()]
    return Outcome(sent_before_stop, transport.notifier.refused, attempted, errors, given_back, received)
