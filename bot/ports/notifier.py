"""The Notifier port: how the delivery engine (and replies) reach a chat platform.

Each platform adapter (Telegram, Discord, webhook, console, test fakes) implements `Notifier` and raises
the errors below so that the engine can react without knowing the platform's own exception types.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Protocol

from tenacity import RetryCallState, wait_exponential_jitter
from tenacity.wait import wait_base

from bot.ports.reply import Reply

if TYPE_CHECKING:
    from bot.sending.ratelimit import PlatformLimiter

MIN_RETRY_AFTER, MAX_RETRY_AFTER = 1.0, 3600.0
UNREADABLE_RETRY_AFTER = 60.0  # what a retry_after that is not a number (NaN, text) counts as


def clamp_retry_after(seconds: float) -> float:
    """A platform's retry_after, kept between 1 s and 1 h: a negative, NaN or huge value can't make us hammer
    a receiver or wait for years."""
    if not math.isfinite(seconds):
        return UNREADABLE_RETRY_AFTER if math.isnan(seconds) else MAX_RETRY_AFTER
    return min(max(seconds, MIN_RETRY_AFTER), MAX_RETRY_AFTER)


@dataclass(frozen=True)
class RetryPolicy:
    """How long a platform's failed deliveries keep trying. A delivery is given up when either bound is
    reached (every try counts, a 429 too); `disable_on_give_up` marks the chat (a webhook) inactive then."""

    backoff: wait_base  # tenacity wait strategy: seconds before the next try, from the attempt number
    max_attempts: int | None = None
    max_age: timedelta | None = None
    disable_on_give_up: bool = False

    def __post_init__(self) -> None:
        if self.max_attempts is None and self.max_age is None:
            raise ValueError("a retry policy needs a bound: max_attempts or max_age")


def backoff_seconds(wait: wait_base, attempt: int) -> float:
    """Seconds to wait before attempt `attempt + 1`, from a tenacity wait strategy."""
    state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]  # a wait needs only the attempt
    state.attempt_number = attempt
    return float(wait(state))


# Chat platforms: ~30 s, 1 min, 2 min … up to 1 h between tries, 8 tries (about 1.5 hours).
CHAT_RETRY = RetryPolicy(wait_exponential_jitter(multiplier=30, max=3600, jitter=30), max_attempts=8)


@dataclass(frozen=True)
class SendResult:
    message_id: str | None = None
    # A handle the platform can reuse for the same media (Telegram's file_id): the engine passes it to
    # the next send of the same alert so a chart is uploaded once, not once per chat.
    media_handle: str | None = None


class DeliveryError(Exception):
    """Base of the errors a Notifier raises."""


class RetryLater(DeliveryError):
    """The platform asked us to wait (HTTP 429 with retry_after)."""

    def __init__(self, retry_after: float, chat_only: bool = False):
        self.retry_after = clamp_retry_after(retry_after)
        super().__init__(f"retry after {self.retry_after:g} s")
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


class NotConfigured(DeliveryError):
    """This platform can't send this message until the operator sets something up (a missing secret): the
    delivery waits, untried and uncounted, and the reason shows in /history and the run-once summary."""


class PermanentError(DeliveryError):
    """The message itself is refused (bad request): do not retry it."""


class Notifier(Protocol):
    """Sends one message, paced by its platform's limiter (shared with the transport's replies, if any)."""

    platform: str
    limiter: PlatformLimiter
    retry: RetryPolicy

    async def send(self, chat_id: str, reply: Reply, media: str | None = None, *, is_group: bool = False
                   ) -> SendResult: ...
