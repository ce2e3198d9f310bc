"""Discord's slash commands, generated from the command table, and an interaction turned back into the command
text the runner understands ("/corr 90d ETH RUT"). Pure data: no client, no network."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from handlers.registry import COMMANDS, Command, Option, OptionKind

STRING, INTEGER = 3, 4  # application command option types
CHAT_INPUT = 1
GUILD, BOT_DM = 0, 1  # interaction context types
GUILD_INSTALL = 0  # integration type
# Manage Channels, the permission that changes a channel's alerts (Manage Server and Administrator imply it)
MANAGE_CHANNELS, MANAGE_GUILD, ADMINISTRATOR = 1 << 4, 1 << 5, 1 << 3
AUTOCOMPLETED = frozenset({OptionKind.WINDOW, OptionKind.ASSET, OptionKind.BENCHMARK})
BUTTON_PREFIX = "c|"  # a button's custom_id: the command it runs, like Telegram's callback data
CUSTOM_ID_LIMIT = 100
CHOICE_LIMIT, MAX_CHOICES = 100, 25  # an autocomplete choice's name and value: 1-100 characters; 25 choices


def option_payload(option: Option) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "name": option.name,
        "description": option.description[:100],
        "type": INTEGER if option.kind is OptionKind.INT else STRING,
        "required": option.required,
    }
    if option.kind is OptionKind.INT:
        payload["min_value"] = 1
    if option.choices and len(option.choices) <= 25:
        payload["choices"] = [{"name": choice, "value": choice} for choice in option.choices]
    elif option.kind in AUTOCOMPLETED:
        payload["autocomplete"] = True
    return payload


def command_payload(command: Command) -> dict[str, Any]:
    return {
        "name": command.name,
        "type": CHAT_INPUT,
        "description": command.summary[:100],
        "options": [option_payload(o) for o in command.options],
        # Declared, so server admins see who may use it; the bot checks it again on every use.
        "default_member_permissions": str(MANAGE_CHANNELS) if command.admin_only else None,
        "contexts": [GUILD, BOT_DM],
        "integration_types": [GUILD_INSTALL],
        "nsfw": False,
    }


def commands_payload() -> list[dict[str, Any]]:
    return [command_payload(c) for c in COMMANDS.values()]


def payload_hash(payload: list[dict[str, Any]], scope: str) -> str:
    """Identity of what was synced where: commands are synced again only when this changes."""
    body = json.dumps({"scope": scope, "commands": payload}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(body.encode()).hexdigest()


def command_text(name: str, options: list[dict[str, Any]]) -> str:
    """The text of a slash command as a chat message: its option values in the table's order."""
    command = COMMANDS.get(name)
    given = {str(o.get("name")): o.get("value") for o in options or []}
    if command is None:
        return f"/{name}"
    values = [str(given[o.name]).strip() for o in command.options if given.get(o.name) not in (None, "")]
    return " ".join([f"/{name}", *values])


def focused_option(name: str, options: list[dict[str, Any]]) -> tuple[Option, str] | None:
    """The option being typed in an autocomplete interaction, and what has been typed so far."""
    command = COMMANDS.get(name)
    focused = next((o for o in options or [] if o.get("focused")), None)
    if command is None or focused is None:
        return None
    option = next((o for o in command.options if o.name == focused.get("name")), None)
    return None if option is None else (option, str(focused.get("value") or ""))


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
