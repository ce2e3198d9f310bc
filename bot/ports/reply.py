"""Platform-neutral replies: what every transport turns into its own kind of message."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from typing import Any

# Unicode categories never echoed: controls (ANSI escapes start with one), format characters (RTL overrides,
# zero-width spaces and joiners), surrogates, private use, and the line/paragraph separators.
_UNPRINTABLE = frozenset({"Cc", "Cf", "Cs", "Co", "Zl", "Zp"})


def printable(text: str) -> str:
    """`text` without the characters that can rewrite a terminal or a chat line (`\x1b[2J`, RTL override `\u202e`,
    zero-width ones); newlines and tabs stay, for text of several lines."""
    return "".join(c for c in text if c in "\n\t" or unicodedata.category(c) not in _UNPRINTABLE)


def command_text(text: str) -> str:
    """What a user typed, as the commands read it: NFKC-normalised (full-width `ＥＴＨ` and `９０ｄ` become ETH and
    90d), invisible characters dropped (`ETH\u200b` is ETH) and other controls and separators made spaces."""
    kept = []
    for char in unicodedata.normalize("NFKC", text):
        kind = unicodedata.category(char)
        if kind != "Cf":
            kept.append(" " if kind in _UNPRINTABLE else char)
    return "".join(kept)


@dataclass(frozen=True)
class Button:
    label: str
    command: str  # the command text a press runs, e.g. "/corr 30d ETH RUT"


@dataclass
class Reply:
    """Plain text (adapters escape it; the first line is the headline), optional PNG, optional buttons.

    `data` carries the machine-readable fields the CLI prints with --json.
    """

    text: str
    ok: bool = True
    chart: bytes | None = None
    chart_name: str = "decoupler.png"
    buttons: list[list[Button]] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def headline(self) -> str:
        return self.text.split("\n", 1)[0]


def error_reply(message: str, usage: str | None = None) -> Reply:
    """A refusal; it often quotes the user's words, so it is made `printable`."""
    text = printable(message if usage is None else f"{message}\nUsage: {usage}")
    return Reply(text=text, ok=False, data={"error": text})
