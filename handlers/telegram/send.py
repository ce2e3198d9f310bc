"""Outgoing Telegram traffic: one sender that puts every Bot API call through the transport's single
`PlatformLimiter`, and the `Notifier` the delivery engine uses, which maps PTB errors to `bot.ports.notifier`'s."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

from telegram import Bot, InlineKeyboardMarkup, LinkPreviewOptions, Message, ReplyParameters
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.warnings import PTBDeprecationWarning

from bot.ports.notifier import (
    CHAT_RETRY,
    ChatGone,
    ChatMoved,
    DeliveryError,
    PermanentError,
    RetryLater,
    SendResult,
    TransientError,
)
from bot.ports.reply import Reply
from bot.sending.ratelimit import PlatformLimiter, Priority
from handlers.telegram.format import CAPTION_LIMIT, TEXT_LIMIT, keyboard, split_html

log = logging.getLogger(__name__)
T = TypeVar("T")
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
REPLY_MAX_WAIT = 60.0  # a reply waits out a 429 this long at most; beyond that it is given up


def retry_seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)  # int today, timedelta in a later PTB
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def chat_ref(chat_id: str | int) -> int | str:
    """Telegram's own id type: numeric ids as int, '@channelname' as is."""
    text = str(chat_id)
    return int(text) if text.lstrip("-").isdigit() else text


def looks_like_group(chat_id: str | int) -> bool:
    """Group, supergroup and channel ids are negative on Telegram; users' are positive."""
    return str(chat_id).startswith(("-", "@"))


def is_not_modified(exc: BadRequest) -> bool:
    return "message is not modified" in exc.message.lower()


def is_chat_not_found(exc: BadRequest) -> bool:
    return "chat not found" in exc.message.lower()


class TelegramSender:
    """Every outgoing Bot API call goes through `call`, inside a slot of the one limiter.

    Messages (and edits) count against the chat's budget; other calls (chat actions, callback answers,
    getChatMember, setMyCommands) are not messages, so each kind gets its own key: they still count against
    the global rate and honour a global 429 pause, without delaying the chat's next message.
    """

    def __init__(self, bot: Bot, limiter: PlatformLimiter):
        self.bot = bot
        self.limiter = limiter

    async def call(
        self,
        chat_id: str | int,
        make: Callable[[], Awaitable[T]],
        *,
        is_group: bool | None = None,
        method: str | None = None,
        retry: bool = False,
        priority: Priority = Priority.REPLY,
    ) -> T:
        """Run one API call in a limiter slot. A 429 pauses the chat it answered (and everything, when several
        chats got one at once: `PlatformLimiter.throttled`). With `retry`, the call is made once more after a
        429 (if the wait is not absurdly long) or after a failure on the way (5xx, connection) — never after a
        timeout, whose answer may still arrive; otherwise the error is raised."""
        key = str(chat_id) if method is None else f"~{method}:{chat_id}"
        group = looks_like_group(chat_id) if is_group is None else is_group
        attempts = 2 if retry else 1
        for attempt in range(1, attempts + 1):
            async with self.limiter.slot(key, group and method is None, priority):
                try:
                    return await make()
                except RetryAfter as exc:
                    seconds = retry_seconds(exc)
                    self.limiter.throttled(str(chat_id), seconds)
                    if attempt == attempts or seconds > REPLY_MAX_WAIT:
                        raise
                    log.warning("telegram asked to wait %g s (chat %s); retrying once", seconds, chat_id)
                except TimedOut:
                    raise
                except NetworkError as exc:
                    if attempt == attempts or isinstance(exc, BadRequest):
                        raise
                    log.warning("telegram %s failed on the way (%s); retrying once", method or "send", exc.message)
        raise AssertionError("unreachable")

    async def send_reply(
        self,
        chat_id: str | int,
        reply: Reply,
        *,
        media: str | None = None,
        is_group: bool | None = None,
        retry: bool = False,
        reply_to: int | None = None,
        thread_id: int | None = None,
        priority: Priority = Priority.REPLY,
    ) -> SendResult:
        """A Reply as Telegram messages: a photo with an HTML caption (overflow in following messages) when
        there is a chart or a media handle, else HTML text messages. Raises PTB's errors."""
        chat = chat_ref(chat_id)
        markup = keyboard(reply.buttons)
        quote = ReplyParameters(reply_to, allow_sending_without_reply=True) if reply_to else None
        if reply.chart is not None or media is not None:
            chunks = split_html(reply.text, CAPTION_LIMIT, TEXT_LIMIT)
            caption = chunks[0] if chunks else None
            photo = media if media is not None else reply.chart
            assert photo is not None
            first = await self.call(chat_id, lambda: self.bot.send_photo(
                chat, photo, caption=caption, parse_mode=ParseMode.HTML, reply_markup=markup,
                filename=None if media is not None else reply.chart_name,
                message_thread_id=thread_id, reply_parameters=quote,
            ), is_group=is_group, retry=retry, priority=priority)
            for chunk in chunks[1:]:
                await self.send_text(chat_id, chunk, is_group=is_group, retry=retry, thread_id=thread_id,
                                     priority=priority)
            return SendResult(str(first.message_id), first.photo[-1].file_id if first.photo else media)
        chunks = split_html(reply.text)
        last: Message | None = None
        for number, chunk in enumerate(chunks):
            last = await self.send_text(
                chat_id, chunk, markup=markup if number == len(chunks) - 1 else None, is_group=is_group,
                retry=retry, thread_id=thread_id, quote=quote if number == 0 else None, priority=priority,
            )
        return SendResult(str(last.message_id) if last else None)

    async def send_text(
        self,
        chat_id: str | int,
        html_text: str,
        *,
        markup: InlineKeyboardMarkup | None = None,
        is_group: bool | None = None,
        retry: bool = False,
        thread_id: int | None = None,
        quote: ReplyParameters | None = None,
        priority: Priority = Priority.REPLY,
    ) -> Message:
        return await self.call(chat_id, lambda: self.bot.send_message(
            chat_ref(chat_id), html_text, parse_mode=ParseMode.HTML, reply_markup=markup,
            link_preview_options=NO_PREVIEW, message_thread_id=thread_id, reply_parameters=quote,
        ), is_group=is_group, retry=retry, priority=priority)


def delivery_error(exc: TelegramError) -> DeliveryError:
    """PTB's error as the Notifier port's: what the delivery engine should do about it."""
    if isinstance(exc, RetryAfter):  # the sender has paused the chat (or everything) already
        return RetryLater(retry_seconds(exc), chat_only=True)
    if isinstance(exc, ChatMigrated):
        return ChatMoved(str(exc.new_chat_id))
    if isinstance(exc, Forbidden):
        return ChatGone(exc.message)
    if isinstance(exc, BadRequest):  # before NetworkError: BadRequest is a subclass of it
        if is_chat_not_found(exc):
            return ChatGone(exc.message)
        return PermanentError(exc.message)
    if isinstance(exc, NetworkError):  # TimedOut too
        return TransientError(exc.message)
    return TransientError(f"{type(exc).__name__}: {exc.message}")


MovedCallback = Callable[[str, str], Awaitable[None]]


class TelegramNotifier:
    """`bot.ports.notifier.Notifier` for Telegram. A chart is uploaded on the first send; the result's
    `media_handle` (the photo's file_id) lets later sends of the same alert skip the upload."""

    platform = "telegram"
    retry = CHAT_RETRY

    def __init__(self, sender: TelegramSender, on_moved: MovedCallback | None = None):
        self.sender = sender
        self.limiter = sender.limiter
        self._on_moved = on_moved

    async def send(self, chat_id: str, reply: Reply, media: str | None = None, *, is_group: bool = False
                   ) -> SendResult:
        try:
            return await self.sender.send_reply(chat_id, reply, media=media, is_group=is_group or None, retry=False,
                                                priority=Priority.ALERT)
        except TelegramError as exc:
            error = delivery_error(exc)
            if isinstance(error, ChatMoved) and self._on_moved is not None:
                await self._on_moved(str(chat_id), error.new_chat_id)
            raise error from exc
