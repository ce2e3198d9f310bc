"""The command table as a discord.py `CommandTree`: one `app_commands.Command` generated per table entry.

Each command's callback gets a signature built from the entry's options — a parameter per option, named as the
option, annotated with its kind's transformer (handlers/discord/options.py: Discord type, max_length or range,
choices, autocomplete, the check of the value), optional unless the option is required — so discord.py binds
the values Discord sends by name and refuses a bad one before anything runs. Admin-only entries declare
Manage Channels as their default permission and check it on use; `/subscribe` checks that the bot may post
alerts in the channel. Every refusal reaches `on_error`, which answers it privately (ephemeral), never in public.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import discord
from discord import app_commands

from handlers.discord.options import OptionError, transformer_of
from handlers.registry import COMMANDS, Command

log = logging.getLogger(__name__)

Run = Callable[[discord.Interaction, Command, dict[str, object]], Awaitable[None]]
Answer = Callable[[discord.Interaction, str], Awaitable[None]]

ADMINS = "members with the Manage Channels permission"
# What alerts need of the bot in a channel: see it, post there, the card, the chart.
ALERT_PERMISSIONS = {"view_channel": "View Channel", "send_messages": "Send Messages", "embed_links": "Embed Links",
                     "attach_files": "Attach Files"}
POSTS_ALERTS = frozenset({"subscribe"})  # commands after which alerts go to the channel they were used in
# Discord's own options of a table command (the table's serve every platform): name, type, description.
DISCORD_OPTIONS: dict[str, tuple[tuple[str, type, str], ...]] = {"subscribe": (
    ("channel", app_commands.AppCommandChannel, "Another channel of this server to get these alerts"),
    ("role", discord.Role, "A role to mention on each alert in that channel"),
)}


class BotCannotPost(app_commands.CheckFailure):
    def __init__(self, missing: list[str]):
        super().__init__(", ".join(missing))
        self.missing = missing


def missing_for_alerts(permissions: discord.Permissions) -> list[str]:
    return [label for name, label in ALERT_PERMISSIONS.items() if not getattr(permissions, name)]


def may_change_settings(interaction: discord.Interaction) -> bool:
    if interaction.guild_id is None:
        return True  # a DM: people subscribe themselves
    permissions = interaction.permissions
    return permissions.manage_channels or permissions.manage_guild or permissions.administrator


def _admin_check(interaction: discord.Interaction) -> bool:
    if not may_change_settings(interaction):
        raise app_commands.MissingPermissions(["manage_channels"])
    return True


def _can_post_check(interaction: discord.Interaction) -> bool:
    if interaction.guild_id is not None and getattr(interaction.namespace, "channel", None) is None:
        missing = missing_for_alerts(interaction.app_permissions)
        if missing:
            raise BotCannotPost(missing)
    return True


def app_command(command: Command, run: Run) -> app_commands.Command:  # type: ignore[type-arg]  # its generics describe a cog we don't have
    async def callback(interaction: discord.Interaction, **values: object) -> None:
        await run(interaction, command, {name: value for name, value in values.items() if value is not None})

    parameters = [inspect.Parameter("interaction", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                    annotation=discord.Interaction)]
    for option in command.options:
        default = inspect.Parameter.empty if option.required else None
        parameters.append(inspect.Parameter(option.name, inspect.Parameter.KEYWORD_ONLY, default=default,
                                            annotation=transformer_of(command.name, option)))
    extra = DISCORD_OPTIONS.get(command.name, ())
    for name, annotation, _ in extra:
        parameters.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation))
    callback.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]  # the signature discord.py reads options from
    callback.__qualname__ = callback.__name__ = f"slash_{command.name}"
    app_commands.describe(**{o.name: o.description[:100] for o in command.options},
                          **{name: description for name, _, description in extra})(callback)
    app_commands.allowed_contexts(guilds=True, dms=True, private_channels=False)(callback)
    app_commands.allowed_installs(guilds=True, users=False)(callback)
    if command.admin_only:
        # Declared, so server admins see who may use it; checked again on every use.
        app_commands.default_permissions(manage_channels=True)(callback)
        app_commands.check(_admin_check)(callback)
    if command.name in POSTS_ALERTS:
        app_commands.check(_can_post_check)(callback)
    summary = command.summary.replace("this chat", "this channel")  # Discord's word (a DM is a channel too)
    return app_commands.Command(name=command.name, description=summary[:100], callback=callback)


class TableTree(app_commands.CommandTree[discord.Client]):
    """The generated commands; refusals and failures answered privately through `answer`."""

    def __init__(self, client: discord.Client, run: Run, answer: Answer):
        super().__init__(client)
        self.answer = answer
        for command in COMMANDS.values():
            self.add_command(app_command(command, run))

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        """An autocomplete for an option that has none (Discord's copy of the commands is older than ours)
        gets no suggestions, rather than discord.py's logged signature mismatch and no answer at all."""
        if interaction.type is not discord.InteractionType.autocomplete:
            return True
        data: Mapping[str, Any] = interaction.data or {}
        command = self.get_command(str(data.get("name", "")))
        focused = next((o for o in data.get("options") or [] if o.get("focused")), None)
        parameter = None
        if isinstance(command, app_commands.Command) and focused is not None:
            parameter = command.get_parameter(str(focused.get("name")))
        if parameter is not None and parameter.autocomplete:
            return True
        await self.answer(interaction, "")
        return False

    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError, /) -> None:
        text = refusal(interaction, error)
        if text is None:
            log.error("discord command %s failed", interaction.data and interaction.data.get("name"),
                      exc_info=error.__cause__ or error)
            text = APOLOGY
        await self.answer(interaction, text)


APOLOGY = "Something went wrong on our side; it's logged."


def refusal(interaction: discord.Interaction, error: app_commands.AppCommandError) -> str | None:
    """What to tell the person about a refusal; None for a failure of ours."""
    data: Mapping[str, Any] = interaction.data or {}
    name = str(data.get("name") or "")
    command = COMMANDS.get(name)
    usage = f"\nUsage: {command.usage}" if command is not None else ""
    if isinstance(error, OptionError):
        return f"{error}.{usage}" if not str(error).endswith(")") else f"{error}{usage}"
    if isinstance(error, app_commands.TransformerError | app_commands.CommandSignatureMismatch):
        return f"That value doesn't fit /{name} as Discord showed it (its options changed).{usage}"
    if isinstance(error, app_commands.CommandNotFound):
        return (f"/{error.name} is no longer a command (Discord may show the old list for a few minutes). "
                "Send /help for the list.")
    if isinstance(error, app_commands.MissingPermissions):
        return f"Only {ADMINS} can change settings here (/{name})."
    if isinstance(error, BotCannotPost):
        plural = "s" if len(error.missing) > 1 else ""
        return (f"I can't post alerts in this channel: I'm missing the {' and '.join(error.missing)} "
                f"permission{plural} here. A server admin can give {'them' if plural else 'it'} to me (channel "
                f"settings → Permissions); then send /{name} again.")
    return None
