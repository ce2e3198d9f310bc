"""The Notifier port: how the delivery engine (and replies) reach a chat platform.

Each platform adapter (Telegram, Discord, webhook, console, test fakes) implements `Notifier` and raises
the errors below so that the engine can react without knowing the platform's own exception types.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from bot.reply import Reply

if TYPE_CHECKING:
    from bot.ratelimit import PlatformLimiter


@dataclass(frozen=True)
class SendResult:
    message_id: str | None = None
    # A handle the platform can reuse for the same media (Telegram's file_id): the engine passes it to
    # the next send of the same alert so a chart is uploaded once, not once per chat.
    media_handle: str | None = None


@dataclass(frozen=True)
class PlatformLimits:
    """Documented sending limits of a platform, enforced by `bot.ratelimit.PlatformLimiter`."""

    per_second: float  # all chats together
    per_chat_per_second: float
    per_group_per_minute: float | None = None


class DeliveryError(Exception):
    """Base of the errors a Notifier raises."""


class RetryLater(DeliveryError):
    """The platform asked us to wait (HTTP 429 with retry_after)."""

    def __init__(self, retry_after: float, chat_only: bool = False):
        super().__init__(f"retry after {retry_after:g} s")
        self.retry_after = retry_after
        self.chat_only = chat_only


class TransientError(DeliveryError):
    """Network trouble or a 5xx: worth retrying with backoff."""


class ChatGone(DeliveryError):
    """Blocked, kicked, chat not found: mark the chat inactive, keep its subscriptions."""


class ChatMoved(DeliveryError):
    """The chat has a new id (Telegram group -> supergroup): follow it."""

    def __init__(self, new_chat_id: str):
        super().__init__(f"chat moved to {new_chat_id}")
        self.new_chat_id = new_chat_id


class PermanentError(DeliveryError):
    """The message itself is refused (bad request): do not retry it."""


class Notifier(Protocol):
    """Sends one message, paced by its platform's limiter (shared with the transport's replies, if any)."""

    platform: str
    limiter: PlatformLimiter

    async def send(self, chat_id: str, reply: Reply, media: str | None = None, *, is_group: bool = False
                   ) -> SendResult: ...
