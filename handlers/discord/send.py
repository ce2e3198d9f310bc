"""Alerts to Discord channels and DMs: `channel.send(embed, file)` over REST only (no gateway needed), paced by
the transport's limiter, discord.py's errors mapped to the Notifier port's. discord.py waits out a 429 itself;
those waits are counted from the responses (handlers/discord/client.py)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import aiohttp
import discord

from bot.ports.notifier import CHAT_RETRY, ChatGone, PermanentError, SendResult, TransientError
from bot.ports.reply import Reply
from bot.ports.services import Services
from bot.sending.ratelimit import PlatformLimiter, PlatformLimits, Priority
from handlers.discord.client import RateLimitCounter
from handlers.discord.messages import message_parts

log = logging.getLogger(__name__)
MentionRole = Callable[[str], Awaitable[str | None]]
# Discord: 5 messages per 5 s in a channel (one a second, evenly), 50 requests a second per bot.
DISCORD_LIMITS = PlatformLimits(per_second=50, per_chat_per_second=1)
GONE_CODES = {10003: "unknown channel", 50001: "missing access", 50007: "cannot send messages to this user",
              50013: "missing permissions"}


class DiscordNotifier:
    """`bot.ports.notifier.Notifier` for Discord. A chat is a channel id (guild channel or DM channel)."""

    platform = "discord"
    retry = CHAT_RETRY

    def __init__(self, client: discord.Client, limiter: PlatformLimiter, rate_limits: RateLimitCounter,
                 mention_role: MentionRole | None = None):
        self.client = client
        self.limiter = limiter
        self.rate_limits = rate_limits  # the client's own 429s
        self.mention_role = mention_role  # the role a channel's alerts mention (`/subscribe role:@traders`)
        self.rate_limits.listeners.append(lambda: self.limiter.on_429())  # on_429 is set by the app later

    async def send(self, chat_id: str, reply: Reply, media: str | None = None, *, is_group: bool = False
                   ) -> SendResult:
        try:
            channel = self.client.get_partial_messageable(int(chat_id))
        except ValueError:
            raise PermanentError(f"not a Discord channel id: {chat_id[:32]}") from None
        parts = message_parts(reply, with_buttons=True)
        role = await self._role(chat_id)
        if role is not None:  # the one mention this message may make: the client allows none by default
            parts.content = f"<@&{role}>" + (f" {parts.content}" if parts.content else "")
            parts.allowed_mentions = discord.AllowedMentions(everyone=False, users=False, roles=[discord.Object(role)])
        async with self.limiter.slot(chat_id, is_group, Priority.ALERT):
            try:
                message = await channel.send(**parts.send_kwargs())  # type: ignore[call-overload]  # keyword arguments built per message
            except discord.HTTPException as exc:
                raise delivery_error(exc) from exc
            except (TimeoutError, aiohttp.ClientError) as exc:
                raise TransientError(f"{type(exc).__name__} reaching Discord") from exc
            finally:
                parts.done()
        return SendResult(str(message.id))

    async def _role(self, chat_id: str) -> int | None:
        if self.mention_role is None:
            return None
        role = await self.mention_role(chat_id)
        return int(role) if role and role.isdigit() else None


def mention_role(services: Services) -> MentionRole:
    """The role a channel's alerts mention, as the store has it."""
    async def role(chat_id: str) -> str | None:
        chat = await services.store.get_chat("discord", chat_id)
        return None if chat is None else chat.mention_role

    return role


def delivery_error(exc: discord.HTTPException) -> Exception:
    if exc.code in GONE_CODES or isinstance(exc, discord.Forbidden | discord.NotFound):
        return ChatGone(GONE_CODES.get(exc.code, exc.text or str(exc.status)))
    if exc.status >= 500 or exc.status == 429:
        return TransientError(f"HTTP {exc.status}")
    return PermanentError(f"HTTP {exc.status}: {exc.text[:100]}")
