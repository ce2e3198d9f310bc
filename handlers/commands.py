"""The transport-neutral command layer: parse a chat message, run its command, always return a Reply."""

from __future__ import annotations

import difflib
import logging
from datetime import date

from bot.ports.reply import Reply, command_text, error_reply
from bot.ports.services import Services
from bot.store import StoreUnavailable

# The command modules register their commands on import; the order here is the order of /help and the menus.
# isort: off
from handlers import (  # noqa: F401
    general_commands,
    market_commands,
    scan_commands,
    gap_commands,
    odds_commands,
    subscription_commands,
    settings_commands,
    alert_commands,
    data_commands,
)
# isort: on
from handlers.registry import COMMANDS, ChatContext, Command, Request, is_admin

log = logging.getLogger(__name__)

MAX_TEXT = 300


def split_command(text: str, bot_username: str | None = None) -> tuple[str, list[str]] | None:
    """'/corr@DecouplerBot 90d ETH' -> ('corr', ['90d', 'ETH']); None for an empty message."""
    words = text.split()
    if not words:
        return None
    head = words[0].lstrip("/").lower()
    if "@" in head:
        head, _, addressee = head.partition("@")
        if bot_username and addressee and addressee != bot_username.lower():
            return ("", [])  # meant for another bot in the group
    return head, words[1:]


def find_command(name: str) -> Command | None:
    return COMMANDS.get(name)


def is_static(text: str) -> bool:
    """Is `text` a command answered from the command table alone (/help, /start)? Then `python -m bot ask`
    starts no market data for it."""
    parsed = split_command(text)
    found = find_command(parsed[0]) if parsed else None
    return found is not None and found.static


def unknown_command_reply(name: str) -> Reply:
    shown = name if len(name) <= 20 else name[:19] + "…"
    close = difflib.get_close_matches(name, list(COMMANDS), n=1, cutoff=0.6)
    hint = f" Did you mean /{close[0]}?" if close else ""
    return error_reply(f"Unknown command /{shown}.{hint} Send /help for the list.")


async def dispatch(
    services: Services,
    text: str,
    chat: ChatContext | None = None,
    *,
    as_of: date | None = None,
    want_chart: bool = True,
    theme: str = "light",
    bot_username: str | None = None,
) -> Reply:
    """Answer one message. Never raises: bad input gets a short reason and the usage."""
    chat = chat or ChatContext()
    # ＥＴＨ and ETH\u200b read as ETH; no RTL override or ANSI escape is echoed back. NFKC may lengthen a text
    # (one ligature can become 18 characters), so the limit holds before and after.
    if len(text) <= MAX_TEXT:
        text = command_text(text)
    if len(text) > MAX_TEXT:
        return error_reply(
            f"That message is too long for a command ({len(text):,} characters). Send /help for the list."
        )
    parts = split_command(text, bot_username)
    if parts is None:
        return error_reply("Empty message. Send /help for the list of commands, or try /corr 90d.")
    name, args = parts
    if not name:
        return Reply(text="", ok=False, data={"error": "addressed to another bot"})
    cmd = find_command(name)
    if cmd is None:
        return unknown_command_reply(name)
    if cmd.admin_only and chat.chat_kind != "private" and not await is_admin(chat):
        return error_reply(f"Only {chat.admins} can change settings here (/{cmd.name}).")
    request = Request(services, args, chat, as_of, want_chart, theme)
    try:
        reply = await cmd.handler(request)
    except StoreUnavailable as down:
        log.warning("command /%s: %s", cmd.name, down)
        return error_reply(f"That needs the database, which isn't reachable right now ({_reason(down)}). "
                           "Please try again later.")
    except Exception:
        log.exception("command /%s failed (platform=%s chat=%s)", cmd.name, chat.platform, chat.chat_id)
        return error_reply("Something went wrong on our side; it's logged. Please try again later.")
    reply.data.setdefault("command", cmd.name)
    return reply


def _reason(down: StoreUnavailable) -> str:
    return str(down).removeprefix("database unavailable: ")
