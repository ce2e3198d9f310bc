"""Pure data for Discord's slash commands: a command's named options turned into the command text the runner
understands, autocomplete choices and button custom_ids within Discord's limits. No client, no network
(handlers/discord/tree.py builds the discord.py commands)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from bot.assets import find_asset
from handlers.registry import Command, OptionKind

# Manage Channels, the permission that changes a channel's alerts (Manage Server and Administrator imply it)
MANAGE_CHANNELS, MANAGE_GUILD, ADMINISTRATOR = 1 << 4, 1 << 5, 1 << 3
BUTTON_PREFIX = "c|"  # a button's custom_id: the command it runs, like Telegram's callback data
CUSTOM_ID_LIMIT = 100
CHOICE_LIMIT, MAX_CHOICES = 100, 25  # an autocomplete choice's name and value: 1-100 characters; 25 choices
SHOWN = 20  # characters of a bad value quoted back


def shown(value: str) -> str:
    return value if len(value) <= SHOWN else value[: SHOWN - 1] + "…"


def payload_hash(payload: list[dict[str, Any]], scope: str) -> str:
    """Identity of what was synced where: commands are synced again only when this changes."""
    body = json.dumps({"scope": scope, "commands": payload}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()


def command_text(command: Command, values: Mapping[str, object], default_pair: str) -> str:
    """The chat text of a slash command whose options arrived by name: "/corr 90d ETH SPY".

    The command layer reads words by what they look like; these values were checked by kind already (a window
    option holds a window, a ticker option a ticker). What a name still decides: a benchmark given without an
    asset is the benchmark, so the default asset (or, when that is the benchmark itself, the default benchmark)
    is put before it; a `keyword` option is written `name=value`."""
    given = {name: str(value).strip() for name, value in values.items() if value is not None and str(value).strip()}
    kinds = {option.kind: option.name for option in command.options}
    asset_name, benchmark_name = kinds.get(OptionKind.ASSET), kinds.get(OptionKind.BENCHMARK)
    if benchmark_name in given and asset_name is not None and asset_name not in given:
        given[asset_name] = _other_default(given[benchmark_name], default_pair)
    words = [f"{option.name}={given[option.name]}" if option.keyword else given[option.name]
             for option in command.options if option.name in given]
    return " ".join([f"/{command.name}", *words])


def _other_default(benchmark: str, default_pair: str) -> str:
    first, _, second = default_pair.partition(":")
    chosen = find_asset(benchmark)
    default = find_asset(first)
    return second if chosen is not None and default is not None and chosen is default else first


def autocomplete_choices(suggested: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(name, value) suggestions within Discord's limits: a long name is cut, a value that is too long (or
    empty) can't be offered at all, since cutting it would offer something else. Discord refuses the whole
    answer otherwise, and the person sees no suggestions."""
    choices = []
    for name, value in suggested:
        if 1 <= len(value) <= CHOICE_LIMIT and name.strip():
            choices.append((name if len(name) <= CHOICE_LIMIT else name[: CHOICE_LIMIT - 1] + "…", value))
    return choices[:MAX_CHOICES]


def button_id(command: str) -> str | None:
    custom_id = BUTTON_PREFIX + command
    return custom_id if len(custom_id) <= CUSTOM_ID_LIMIT else None


def button_command(custom_id: str | None) -> str | None:
    if not custom_id or not custom_id.startswith(BUTTON_PREFIX):
        return None
    command = custom_id[len(BUTTON_PREFIX):]
    return command if command.startswith("/") and len(command) > 1 and command.isprintable() else None
