"""The one flow every chat transport runs a message or a button press through:

    context → quota → (chat seen) → dispatch (admin check inside) with progress if slow → send

A transport turns its platform's update into an `Incoming` and a `Surface` — how to answer in the chat the
update came from — and calls `CommandRunner.message` or `.button`. Nothing here knows a platform.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Protocol

from bot.ports.reply import Reply
from bot.ports.services import Services
from handlers.chats import ChatBook
from handlers.commands import dispatch, find_command, split_command
from handlers.quotas import CommandQuotas, slow_down_reply
from handlers.registry import ChatContext, Command

log = logging.getLogger(__name__)

STALE_BUTTON = "That button no longer works. Send the command again (see /help)."
PROGRESS_GRACE = 0.5  # seconds a progress call already under way may take to finish once the reply is ready


@dataclass(frozen=True)
class Incoming:
    text: str  # the command text, e.g. "/corr 90d ETH"; for a button, the command it stands for
    chat: ChatContext
    bot_username: str | None = None  # for /cmd@bot in groups
    theme: str = "light"


class Surface(Protocol):
    """How a transport answers in the chat an update came from."""

    def progress_after(self, command: Command | None) -> float | None:
        """Seconds after which to show progress for this command (None: never)."""
        ...

    async def progress(self) -> None:
        """'Sending a photo…', a deferred interaction: the answer is on its way."""
        ...

    async def send(self, reply: Reply) -> None:
        """The answer as a new message."""
        ...

    async def edit(self, reply: Reply) -> None:
        """A button's answer in place of the message the button belongs to."""
        ...

    async def notice(self, text: str | None, *, alert: bool = False) -> None:
        """Acknowledge a button press, with a short note (a pop-up when `alert`) or none."""
        ...


class CommandRunner:
    def __init__(self, services: Services, platform: str, *, quotas: CommandQuotas | None = None,
                 answer_every_refusal: bool = False):
        """`answer_every_refusal`: a platform where every update needs an answer (Discord's interactions) gets
        "slow down" for each refused command; elsewhere only the first of a stretch is answered, so a flood of
        commands can't make the bot flood the chat back."""
        self.services = services
        self.quotas = quotas or CommandQuotas()
        self.answer_every_refusal = answer_every_refusal
        self.chats = ChatBook(services.store, platform)

    async def message(self, incoming: Incoming, surface: Surface) -> None:
        """Answer a command message. Messages for another bot (/cmd@other) and empty ones are ignored."""
        parts = split_command(incoming.text, incoming.bot_username)
        if parts is None or not parts[0]:
            return
        command = find_command(parts[0])
        verdict = self.quotas.check(self._who(incoming.chat), chart=bool(command and command.chart))
        if not verdict.allowed:
            if verdict.notify or self.answer_every_refusal:
                await surface.send(slow_down_reply(verdict))
            return
        seen = asyncio.create_task(self.chats.seen(incoming.chat))  # bookkeeping, kept off the reply's path
        try:
            reply = await self._answer(incoming, command, surface)
            if reply.text or reply.chart is not None:
                await surface.send(reply)
        finally:
            await seen

    async def button(self, incoming: Incoming | None, surface: Surface) -> None:
        """Answer a button press: the new answer replaces the message; a failure is a pop-up, the message stays.
        `incoming` is None when the button's data can't be read (a stale or forged button)."""
        if incoming is None:
            await surface.notice(STALE_BUTTON)
            return
        parts = split_command(incoming.text)
        command = find_command(parts[0]) if parts else None
        if command is None:
            await surface.notice(STALE_BUTTON)
            return
        verdict = self.quotas.check(self._who(incoming.chat), chart=command.chart)
        if not verdict.allowed:
            await surface.notice(slow_down_reply(verdict).text)
            return
        seen = asyncio.create_task(self.chats.seen(incoming.chat))
        try:
            reply = await self._answer(incoming, command, surface)
            if not reply.ok:
                await surface.notice(reply.text, alert=True)
                return
            await surface.edit(reply)
            await surface.notice(None)
        finally:
            await seen

    @staticmethod
    def _who(chat: ChatContext) -> str:
        return f"{chat.platform}:{chat.user_id or chat.chat_id}"

    async def _answer(self, incoming: Incoming, command: Command | None, surface: Surface) -> Reply:
        """dispatch, with the surface's progress shown if the answer takes longer than it likes to wait."""
        delay = surface.progress_after(command)
        started = asyncio.Event()
        progress = asyncio.create_task(self._progress(surface, delay, started)) if delay is not None else None
        began = time.monotonic()
        try:
            reply = await dispatch(self.services, incoming.text, incoming.chat, theme=incoming.theme,
                                   bot_username=incoming.bot_username)
            self.services.metrics.command(command.name if command else "unknown", incoming.chat.platform, reply.ok,
                                          time.monotonic() - began)
            return reply
        finally:
            if progress is not None:
                if started.is_set():  # let it finish: cancelling mid-request costs the connection
                    await asyncio.wait({progress}, timeout=PROGRESS_GRACE)
                progress.cancel()  # not started yet: after the reply it would only mislead

    @staticmethod
    async def _progress(surface: Surface, delay: float, started: asyncio.Event) -> None:
        if delay > 0:
            await asyncio.sleep(delay)
        started.set()
        try:
            await surface.progress()
        except Exception as exc:  # progress is a courtesy: never let it end the command
            log.debug("progress indicator failed: %s", exc)
