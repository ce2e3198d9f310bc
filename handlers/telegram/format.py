"""Telegram-only presentation: HTML escaping, splitting to the message and caption limits, inline
keyboards and their compact callback data. No numbers are formatted here; the text comes from `Reply`."""

from __future__ import annotations

import html
from collections.abc import Callable

from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import InlineKeyboardButtonLimit, MessageLimit

from bot.ports.reply import Button

CAPTION_LIMIT = int(MessageLimit.CAPTION_LENGTH)  # 1,024
TEXT_LIMIT = int(MessageLimit.MAX_TEXT_LENGTH)  # 4,096
CALLBACK_LIMIT = int(InlineKeyboardButtonLimit.MAX_CALLBACK_DATA)  # 64 bytes
CALLBACK_PREFIX = "c|"  # "c|/corr 30d ETH RUT": a command to run; other prefixes are free for later kinds


def tg_len(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units), measured on the HTML itself: never an underestimate."""
    return len(text.encode("utf-16-le")) // 2


def escape(text: str) -> str:
    return html.escape(text, quote=False)


def _bold(text: str) -> str:
    return f"<b>{escape(text)}</b>"


def _cut(line: str, limit: int, render: Callable[[str], str]) -> list[str]:
    """One line as rendered pieces of at most `limit`, cut at a space where one is near."""
    pieces: list[str] = []
    rest = line
    while rest:
        if tg_len(render(rest)) <= limit:
            pieces.append(render(rest))
            break
        low, high = 1, len(rest)  # longest prefix whose rendering fits
        while low < high:
            mid = (low + high + 1) // 2
            if tg_len(render(rest[:mid])) <= limit:
                low = mid
            else:
                high = mid - 1
        cut = low
        space = rest.rfind(" ", 0, cut + 1)
        if space > cut // 2:
            cut = space
        pieces.append(render(rest[:cut]))
        rest = rest[cut:].lstrip(" ")
    return pieces


def split_html(text: str, first_limit: int = TEXT_LIMIT, rest_limit: int = TEXT_LIMIT) -> list[str]:
    """The reply text as HTML chunks: the headline (first line) bold, everything escaped, the first chunk at
    most `first_limit` long (a caption), the others at most `rest_limit`. Lines are kept whole when they fit."""
    piece_limit = min(first_limit, rest_limit)
    pieces: list[str] = []
    for number, line in enumerate(text.split("\n")):
        render = _bold if number == 0 and line.strip() else escape
        pieces.extend(_cut(line, piece_limit, render) if line else [""])
    chunks: list[str] = []
    current: str | None = None
    limit = first_limit
    for piece in pieces:
        candidate = piece if current is None else f"{current}\n{piece}"
        if tg_len(candidate) <= limit:
            current = candidate
            continue
        chunks.append(current or "")
        current, limit = piece, rest_limit
    if current is not None:
        chunks.append(current)
    return [chunk.strip("\n") for chunk in chunks if chunk.strip()]


# ---------------------------------------------------------------- buttons


def encode_button(command: str) -> str | None:
    """Callback data for a button that runs `command`; None if it would not fit in Telegram's 64 bytes."""
    data = CALLBACK_PREFIX + command
    return data if len(data.encode("utf-8")) <= CALLBACK_LIMIT else None


def decode_button(data: str | None) -> str | None:
    """The command a button press asks for, if the data is ours and looks like a command; else None.
    (Whether it names a known command is the runner's question.)"""
    if not data or not data.startswith(CALLBACK_PREFIX) or len(data.encode("utf-8")) > CALLBACK_LIMIT:
        return None
    command = data[len(CALLBACK_PREFIX):]
    if not command.startswith("/") or not command.isprintable() or len(command) < 2:
        return None
    return command


def keyboard(rows: list[list[Button]]) -> InlineKeyboardMarkup | None:
    markup_rows = []
    for row in rows:
        buttons = [
            InlineKeyboardButton(button.label, callback_data=data)
            for button in row
            if (data := encode_button(button.command)) is not None
        ]
        if buttons:
            markup_rows.append(buttons)
    return InlineKeyboardMarkup(markup_rows) if markup_rows else None
