"""The command table's option kinds as discord.py transformers: each declares its Discord type and limits
(synced with the command), suggests values while someone types, and checks the value Discord sends before the
command runs — a value that can't be what its option's name says is refused by name (`OptionError`), so
`/corr window:"90d BTC SPY"` is a bad window, never a pair."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands

from bot.assets import find_asset, known_symbols
from bot.windows import WindowError, looks_like_window, parse_window
from handlers.discord.slash import autocomplete_choices, shown
from handlers.registry import Option, OptionKind
from handlers.suggestions import suggestions

WINDOW_LENGTH, TICKER_LENGTH, TEXT_LENGTH = 12, 24, 100  # max_length of the string options Discord shows
INT_MAX = 2**31 - 1  # an INT option without a declared maximum
# Extra words an asset option takes besides tickers: /unsubscribe all, /unsubscribe scan.
ASSET_WORDS: dict[tuple[str, str], tuple[str, ...]] = {("unsubscribe", "asset"): ("all", "scan")}


class OptionError(app_commands.AppCommandError):
    """An option's value that can't be what the option is; the message is for the person who typed it."""


def _choices(pairs: list[tuple[str, str]]) -> list[app_commands.Choice[str]]:
    return [app_commands.Choice(name=name, value=value) for name, value in autocomplete_choices(pairs)]


class _Text(app_commands.Transformer):
    """A string option of at most `length` characters, stripped."""

    length = TEXT_LENGTH

    @property
    def type(self) -> discord.AppCommandOptionType:
        return discord.AppCommandOptionType.string

    @property
    def max_value(self) -> int:
        return self.length  # a string option's max_length

    async def transform(self, interaction: discord.Interaction, value: str, /) -> str:
        return str(value).strip()


class TextValue(_Text):
    pass


class WindowValue(_Text):
    length = WINDOW_LENGTH

    async def transform(self, interaction: discord.Interaction, value: str, /) -> str:
        text = str(value).strip()
        if not looks_like_window(text):
            raise OptionError(f"'{shown(text)}' is not a window: use 30d, 12w, 6m, 1y … (30 days to 10 years)")
        try:
            return parse_window(text).label
        except WindowError as exc:
            raise OptionError(str(exc)) from None

    async def autocomplete(self, interaction: discord.Interaction, value: str, /  # type: ignore[override]  # str choices: a narrower Choice type
                           ) -> list[app_commands.Choice[str]]:
        return _choices(suggestions(OptionKind.WINDOW, str(value)))


class TickerValue(_Text):
    """A ticker (or one of `words`). A benchmark's suggestions leave out the asset already chosen."""

    length = TICKER_LENGTH

    def __init__(self, kind: OptionKind, words: tuple[str, ...] = ()):
        super().__init__()
        self.kind = kind
        self.words = words

    async def transform(self, interaction: discord.Interaction, value: str, /) -> str:
        text = str(value).strip()
        if text.lower() in self.words:
            return text.lower()
        asset = None if looks_like_window(text) or not text else find_asset(text)
        if asset is None:
            raise OptionError(f"Unknown ticker '{shown(text)}'. Known: {', '.join(known_symbols())} (see /assets)")
        return asset.symbol

    async def autocomplete(self, interaction: discord.Interaction, value: str, /  # type: ignore[override]  # str choices: a narrower Choice type
                           ) -> list[app_commands.Choice[str]]:
        typed = str(value)
        found = suggestions(self.kind, typed)
        if self.kind is OptionKind.BENCHMARK:
            chosen = getattr(interaction.namespace, "asset", None)
            asset = find_asset(str(chosen)) if chosen else None
            found = [(label, symbol) for label, symbol in found if asset is None or symbol != asset.symbol]
        extra = [(word, word) for word in self.words if word.startswith(typed.strip().lower())]
        return _choices(extra + found)


class ChoiceValue(_Text):
    """One of the option's `choices`, offered as Discord's fixed choices."""

    def __init__(self, choices: tuple[str, ...]):
        super().__init__()
        self.allowed = choices

    @property
    def choices(self) -> list[app_commands.Choice[int | float | str]]:
        return [app_commands.Choice(name=choice, value=choice) for choice in self.allowed]

    async def transform(self, interaction: discord.Interaction, value: str, /) -> str:
        text = str(value).strip().lower()
        if text not in self.allowed:
            raise OptionError(f"'{shown(text)}' is not one of {', '.join(self.allowed)}")
        return text


class SeveralValue(_Text):
    """Several of the option's `choices`, comma-separated ("regime,gap"); suggestions extend what is typed."""

    def __init__(self, choices: tuple[str, ...]):
        super().__init__()
        self.allowed = choices

    async def transform(self, interaction: discord.Interaction, value: str, /) -> str:
        words = [w.lower() for w in str(value).replace(",", " ").split()]
        wrong = next((w for w in words if w.removeprefix("-") not in self.allowed), None)
        if not words or wrong is not None:
            start = f"'{shown(wrong)}' is not one of them" if wrong else "Name at least one"
            raise OptionError(f"{start}: {', '.join(self.allowed)} (several: comma-separated, e.g. regime,gap)")
        return ",".join(dict.fromkeys(words))

    async def autocomplete(self, interaction: discord.Interaction, value: str, /  # type: ignore[override]  # str choices: a narrower Choice type
                           ) -> list[app_commands.Choice[str]]:
        done, _, typing = str(value).lower().rpartition(",")
        chosen = [w.strip() for w in done.split(",") if w.strip()]
        head = ",".join(chosen)
        fits = [c for c in self.allowed if c.startswith(typing.strip()) and c not in chosen]
        pairs = [(f"{head},{c}" if head else c,) * 2 for c in fits]
        if head and not typing.strip():
            pairs.insert(0, (head, head))
        return _choices(pairs)


def transformer_of(command_name: str, option: Option) -> Any:
    """The annotation of `option`'s parameter in the generated command: a Transformer, a type or a `Range[...]`
    form, for discord.py to read (hence Any)."""
    if option.kind is OptionKind.INT:
        return app_commands.Range[int, 1, option.max_value or INT_MAX]
    if option.kind is OptionKind.WINDOW:
        return WindowValue()
    if option.kind in (OptionKind.ASSET, OptionKind.BENCHMARK):
        return TickerValue(option.kind, ASSET_WORDS.get((command_name, option.name), ()))
    if option.kind is OptionKind.CHOICE:
        return SeveralValue(option.choices) if option.several else ChoiceValue(option.choices)
    return TextValue()
