"""Telegram transport (python-telegram-bot): updates in, the shared runner, Replies out.

Only Telegram concerns live here and in its helpers: `format` (HTML, limits, buttons), `send` (the one
limiter, the Notifier, error mapping), `chats` (chat context, admin checks, membership). The flow of a
command — quota, dispatch, progress, send — is `handlers.runner`'s. Polling by default; webhook mode when
TELEGRAM_WEBHOOK_URL is set.
"""

from __future__ import annotations

import logging
import re
import secrets
from typing import Any

from telegram import BotCommand, CallbackQuery, InputMediaPhoto, Message, Update
from telegram.constants import ChatAction, ChatType, ParseMode, UpdateType
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.ports.reply import Reply
from bot.ports.services import Services
from bot.ports.transport import TransportStartError
from bot.sending.ratelimit import TELEGRAM_LIMITS, PlatformLimiter
from bot.telemetry.logs import SecretMaskFilter
from handlers.quotas import CommandQuotas
from handlers.registry import COMMANDS, Command
from handlers.runner import CommandRunner, Incoming
from handlers.telegram.chats import AdminCache, AdminChecker, chat_context, chat_kind, membership_changed
from handlers.telegram.format import CAPTION_LIMIT, TEXT_LIMIT, decode_button, keyboard, split_html
from handlers.telegram.send import NO_PREVIEW, TelegramNotifier, TelegramSender, is_chat_not_found, is_not_modified
from handlers.telegram.webhook import WebhookReceiver

log = logging.getLogger(__name__)

ALLOWED_UPDATES = [UpdateType.MESSAGE, UpdateType.CHANNEL_POST, UpdateType.CALLBACK_QUERY, UpdateType.MY_CHAT_MEMBER]
NEW_POSTS = filters.UpdateType.MESSAGE | filters.UpdateType.CHANNEL_POST  # edits are not answered again
DEEP_LINKS = {"subscribe": "/subscribe"}  # t.me/<bot>?start=subscribe subscribes in one tap
APOLOGY = "Something went wrong on our side; it's logged."
POLL_TIMEOUT = 25  # seconds a getUpdates long poll may stay open
# "Sending a photo…" is shown only for renders that take a while: a cached chart answers in milliseconds, and
# an action for it would cost a slot of the global rate for nothing.
CHAT_ACTION_DELAY = 0.25  # seconds
_COMMAND_NAME = re.compile(r"^[a-z0-9_]{1,32}$")
# PTB logs its base URL (which embeds the token) at DEBUG and httpx logs request URLs: mask them at the source.
_TOKEN_MASK = SecretMaskFilter([])
_LIBRARY_LOGGERS = ("telegram.ext.ExtBot", "telegram.Bot", "telegram.ext.Updater", "telegram.ext.Application",
                    "telegram.ext", "httpx", "httpcore")


def file_base_url(base_url: str) -> str:
    """https://api.telegram.org/bot -> https://api.telegram.org/file/bot (same shape for a local server)."""
    root = base_url[: -len("/bot")] if base_url.endswith("/bot") else base_url.rstrip("/")
    return f"{root}/file/bot"


def deep_link(text: str) -> str:
    """'/start subscribe' (a t.me deep link) -> '/subscribe'; anything else unchanged."""
    words = text.split()
    if len(words) == 2 and words[0].lower().split("@")[0] == "/start":
        return DEEP_LINKS.get(words[1].lower(), text)
    return text


def mask_token_in_library_logs(token: str) -> None:
    if token not in _TOKEN_MASK.secrets:
        _TOKEN_MASK.secrets.append(token)
    for name in _LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        if _TOKEN_MASK not in logger.filters:
            logger.addFilter(_TOKEN_MASK)


class TelegramStartError(TransportStartError):
    """The bot could not start; the message never contains the token."""


class TelegramTransport:
    name = "telegram"

    def __init__(
        self,
        services: Services,
        *,
        limiter: PlatformLimiter | None = None,
        quotas: CommandQuotas | None = None,
        chat_action_delay: float = CHAT_ACTION_DELAY,
        read_timeout: float | None = None,
    ):
        settings = services.settings
        if settings.telegram_bot_token is None:
            raise ValueError("TELEGRAM_BOT_TOKEN is not set")
        token = self._token = settings.telegram_bot_token.get_secret_value()
        mask_token_in_library_logs(token)
        self.settings = settings
        builder = (
            ApplicationBuilder()
            .token(token)
            .base_url(settings.telegram_api_base_url)
            .base_file_url(file_base_url(settings.telegram_api_base_url))
            .concurrent_updates(True)
            .job_queue(None)
        )
        if read_timeout is not None:
            builder = builder.read_timeout(read_timeout)
        self.app: Application[Any, Any, Any, Any, Any, Any] = builder.build()
        # The ONE limiter for every outgoing call: replies, edits, chat actions and the notifier's sends.
        self.limiter = limiter or PlatformLimiter(TELEGRAM_LIMITS)
        self.sender = TelegramSender(self.app.bot, self.limiter)
        self.runner = CommandRunner(services, self.name, quotas=quotas)
        self.chats = self.runner.chats
        self.admins = AdminChecker(self.sender, AdminCache(settings.telegram_admin_cache_seconds))
        self.notifier = TelegramNotifier(self.sender, on_moved=self.chats.moved)
        self.chat_action_delay = chat_action_delay
        self.webhook: WebhookReceiver | None = None
        self._webhook_secret = ""
        self._register()

    def _register(self) -> None:
        app = self.app
        names = sorted(COMMANDS)
        app.add_handler(CommandHandler(names, self._on_command, filters=NEW_POSTS))
        app.add_handler(MessageHandler(filters.COMMAND & NEW_POSTS, self._on_other_command))
        app.add_handler(CallbackQueryHandler(self._on_button))
        app.add_handler(ChatMemberHandler(self._on_membership, ChatMemberHandler.MY_CHAT_MEMBER))
        app.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, self._on_migrate))
        app.add_error_handler(self._on_error)

    # ------------------------------------------------------------ life cycle

    async def start(self) -> None:
        try:
            await self.app.initialize()  # getMe: the bot's username, needed for /cmd@bot
            await self.publish_commands()
            await self.app.start()
            if self.settings.telegram_webhook_url:
                await self._start_webhook(self.settings.telegram_webhook_url)
            else:
                await self.app.updater.start_polling(  # type: ignore[union-attr]  # built with an updater
                    timeout=POLL_TIMEOUT, allowed_updates=ALLOWED_UPDATES, error_callback=self._polling_error
                )
        except InvalidToken:
            await self.stop()
            raise TelegramStartError("Telegram rejected TELEGRAM_BOT_TOKEN (check it with @BotFather)") from None
        except TelegramError as exc:  # PTB's messages may quote the token: say what failed without them
            await self.stop()
            detail = exc.message.replace(self._token, "***")
            raise TelegramStartError(f"Telegram start-up failed: {type(exc).__name__}: {detail}") from None
        except BaseException:
            await self.stop()
            raise
        mode = "webhook" if self.settings.telegram_webhook_url else "polling"
        log.info("telegram: @%s ready (%s)", self.app.bot.username, mode)

    async def _start_webhook(self, url: str) -> None:
        configured = self.settings.telegram_webhook_secret
        # One process alone may make up its own secret; several must share TELEGRAM_WEBHOOK_SECRET (config.py
        # requires it on PostgreSQL).
        self._webhook_secret = configured.get_secret_value() if configured else secrets.token_urlsafe(32)
        self.webhook = WebhookReceiver(self.app, url=url, listen=self.settings.telegram_webhook_listen,
                                       port=self.settings.telegram_webhook_port, secret=self._webhook_secret)
        await self.webhook.start()

    async def lead(self) -> None:
        """This process leads: in webhook mode, register the webhook with Telegram (only one process does)."""
        url = self.settings.telegram_webhook_url
        if url is None or self.webhook is None:
            return
        try:
            await self.sender.call("bot", lambda: self.app.bot.set_webhook(
                url, secret_token=self._webhook_secret, allowed_updates=ALLOWED_UPDATES,
            ), method="setWebhook", retry=True)
        except TelegramError as exc:
            log.error("telegram: setWebhook failed: %s", exc.message.replace(self._token, "***"))
            return
        log.info("telegram: webhook registered")

    async def stop(self) -> None:
        """Stop taking updates, finish the ones in flight (their replies included), close the HTTP client."""
        if self.webhook is not None:
            await self.webhook.stop()
            self.webhook = None
        updater = self.app.updater
        if updater is not None and updater.running:
            await updater.stop()
        if self.app.running:
            await self.app.stop()
        await self.app.shutdown()

    async def publish_commands(self) -> None:
        """The command menu, from the command table."""
        commands = [BotCommand(c.name, c.summary[:256]) for c in COMMANDS.values() if _COMMAND_NAME.match(c.name)]
        try:
            await self.sender.call(
                "bot", lambda: self.app.bot.set_my_commands(commands), method="setMyCommands", retry=True
            )
        except TelegramError as exc:
            log.warning("setMyCommands failed: %s", exc)

    def _polling_error(self, exc: TelegramError) -> None:
        if isinstance(exc, Conflict):
            log.error("telegram: another process is polling with this token (409 Conflict). Telegram allows one "
                      "polling process per token: stop the other one, or run several in webhook mode "
                      "(TELEGRAM_WEBHOOK_URL)")
            return
        log.warning("telegram polling: %s: %s", type(exc).__name__, exc)

    # ------------------------------------------------------------ updates → the runner

    async def _on_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is not None and message.text:
            await self.runner.message(self._incoming(update, message, deep_link(message.text)),
                                      TelegramSurface(self, message))

    async def _on_other_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Not in the table: say so in private chats; in groups only when addressed to us by name."""
        message = update.effective_message
        if message is None or not message.text:
            return
        head = message.text.split(maxsplit=1)[0].lower()
        if message.chat.type == ChatType.PRIVATE or head.endswith(f"@{(self.app.bot.username or '').lower()}"):
            await self.runner.message(self._incoming(update, message, message.text), TelegramSurface(self, message))

    async def _on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None:
            return
        text = decode_button(query.data)
        message = query.message
        if text is None or not isinstance(message, Message):
            await self.runner.button(None, TelegramSurface(self, None, query))
            return
        chat, user = message.chat, query.from_user
        incoming = Incoming(text, chat_context(chat, user, self.admins.check_for(chat, user, None)))
        await self.runner.button(incoming, TelegramSurface(self, message, query))

    def _incoming(self, update: Update, message: Message, text: str) -> Incoming:
        chat, user = message.chat, update.effective_user
        ctx = chat_context(chat, user, self.admins.check_for(chat, user, message.sender_chat))
        return Incoming(text, ctx, bot_username=self.app.bot.username)

    # ------------------------------------------------------------ replies

    async def send(self, message: Message, reply: Reply) -> None:
        """Reply in the chat of `message`: a 429 is waited out once, a failure on the way (5xx, connection) is
        tried once more, a migrated group is followed; a chat that refuses us or no longer exists is marked
        gone (and gets nothing more, not even an apology); a timeout is left alone — the answer may still
        arrive, and a second copy or an apology on top would only confuse."""
        chat = message.chat
        in_group = chat_kind(chat) == "group"
        try:
            await self.sender.send_reply(
                chat.id, reply, is_group=chat.type != ChatType.PRIVATE, retry=True,
                reply_to=message.message_id if in_group else None, thread_id=_thread(message),
            )
        except ChatMigrated as moved:
            await self.chats.moved(str(chat.id), str(moved.new_chat_id))
            await self.sender.send_reply(moved.new_chat_id, reply, is_group=True, retry=True)
        except Forbidden as exc:
            log.info("telegram chat %s refuses messages: %s", chat.id, exc.message)
            await self.chats.gone(str(chat.id), "blocked the bot" if chat.type == ChatType.PRIVATE else exc.message)
        except BadRequest as exc:
            if not is_chat_not_found(exc):
                raise
            log.info("telegram chat %s no longer exists: %s", chat.id, exc.message)
            await self.chats.gone(str(chat.id), "chat not found")
        except TimedOut:
            log.warning("telegram reply to chat %s timed out; it may still arrive, so it is not sent again", chat.id)

    async def edit(self, message: Message, reply: Reply) -> None:
        """Show `reply` in place of `message`: new chart and caption for a photo, new text for a text."""
        chat_id, message_id = message.chat.id, message.message_id
        markup = keyboard(reply.buttons)
        bot = self.app.bot
        if not message.is_accessible:  # too old or deleted: answer with a new message instead
            await self.send(message, reply)
            return
        if message.photo and reply.chart is not None:
            chunks = split_html(reply.text, CAPTION_LIMIT, TEXT_LIMIT)
            media = InputMediaPhoto(reply.chart, caption=chunks[0] if chunks else None, parse_mode=ParseMode.HTML,
                                    filename=reply.chart_name)
            edit = lambda: bot.edit_message_media(media, chat_id=chat_id, message_id=message_id, reply_markup=markup)  # noqa: E731
        elif not message.photo and reply.chart is None and (chunks := split_html(reply.text)):
            edit = lambda: bot.edit_message_text(  # noqa: E731
                chunks[0], chat_id=chat_id, message_id=message_id, parse_mode=ParseMode.HTML, reply_markup=markup,
                link_preview_options=NO_PREVIEW,
            )
        else:  # a chart answer to a text message, or the reverse: Telegram can't convert, so send anew
            await self.send(message, reply)
            return
        try:
            await self.sender.call(chat_id, edit, retry=True)
        except BadRequest as exc:
            if is_not_modified(exc):  # the same button pressed twice
                return
            raise
        for chunk in chunks[1:]:
            await self.sender.send_text(chat_id, chunk, retry=True, thread_id=_thread(message))

    async def chat_action(self, message: Message) -> None:
        chat_id = message.chat.id
        if not self.limiter.has_room():  # the slot is worth more to a reply than to a progress hint
            log.debug("no sendChatAction for chat %s: replies are queued for the rate limit", chat_id)
            return
        try:
            await self.sender.call(chat_id, lambda: self.app.bot.send_chat_action(
                chat_id, ChatAction.UPLOAD_PHOTO, message_thread_id=_thread(message)), method="sendChatAction")
        except TelegramError as exc:
            log.debug("sendChatAction failed in chat %s: %s", chat_id, exc)

    async def answer_query(self, query: CallbackQuery, text: str | None = None, alert: bool = False) -> None:
        shown = text[:200] if text else None  # Telegram's limit for callback answers
        try:
            await self.sender.call(
                query.from_user.id, lambda: query.answer(shown, show_alert=alert), method="answerCallbackQuery"
            )
        except TelegramError as exc:
            log.debug("answerCallbackQuery failed: %s", exc)

    # ------------------------------------------------------------ chat life cycle

    async def _on_membership(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.my_chat_member is not None:
            await membership_changed(self.chats, update.my_chat_member)

    async def _on_migrate(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None:
            return
        if message.migrate_to_chat_id:  # posted in the old group
            await self.chats.moved(str(message.chat.id), str(message.migrate_to_chat_id))
        elif message.migrate_from_chat_id:  # posted in the new supergroup
            await self.chats.moved(str(message.migrate_from_chat_id), str(message.chat.id))

    # ------------------------------------------------------------ errors

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        error = context.error
        update_id = update.update_id if isinstance(update, Update) else None
        log.error("telegram update %s failed: %s", update_id, type(error).__name__, exc_info=error)
        if not isinstance(update, Update) or isinstance(error, RetryAfter | Forbidden | ChatMigrated | TimedOut):
            return
        if isinstance(error, BadRequest) and is_chat_not_found(error):
            return
        try:
            if update.callback_query is not None:
                await self.answer_query(update.callback_query, APOLOGY, alert=True)
            elif update.effective_chat is not None:
                await self.sender.send_reply(update.effective_chat.id, Reply(text=APOLOGY, ok=False))
        except Exception as exc:
            log.warning("could not tell chat about the failure of update %s: %s", update_id, type(exc).__name__)


class TelegramSurface:
    """`handlers.runner.Surface` for one update: the message it came with, and the button press if any."""

    def __init__(self, transport: TelegramTransport, message: Message | None, query: CallbackQuery | None = None):
        self.transport = transport
        self.message = message
        self.query = query

    def progress_after(self, command: Command | None) -> float | None:
        return self.transport.chat_action_delay if command is not None and command.chart else None

    async def progress(self) -> None:
        if self.message is not None:
            await self.transport.chat_action(self.message)

    async def send(self, reply: Reply) -> None:
        if self.message is not None:
            await self.transport.send(self.message, reply)

    async def edit(self, reply: Reply) -> None:
        if self.message is not None:
            await self.transport.edit(self.message, reply)

    async def notice(self, text: str | None, *, alert: bool = False) -> None:
        if self.query is not None:
            await self.transport.answer_query(self.query, text, alert)


def _thread(message: Message) -> int | None:
    return message.message_thread_id if message.is_topic_message else None
