"""Buttons as a discord.py dynamic item: every button the bot puts on a message carries the command it runs in
its custom_id ("c|/corr 30d ETH RUT"), so a press is understood by any process, also after a restart, without a
view kept in memory. The press itself is the transport's (`press`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import discord

Press = Callable[[discord.Interaction, str], Awaitable[None]]


def command_button(press: Press) -> type[discord.ui.DynamicItem[discord.ui.Button[Any]]]:
    """The dynamic item class for this transport: it matches every custom_id (a forged or outdated one is
    answered as a stale button by `press`)."""

    class CommandButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"(?s).+"):
        def __init__(self, custom_id: str):
            super().__init__(discord.ui.Button(custom_id=custom_id))

        @classmethod
        async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item[Any],
                                 match: Any, /) -> CommandButton:
            return cls(str(getattr(item, "custom_id", "") or ""))

        async def callback(self, interaction: discord.Interaction) -> None:
            await press(interaction, str(self.item.custom_id))

    return CommandButton


def message_custom_ids(message: discord.Message | None) -> set[str]:
    if message is None:
        return set()
    found = set()
    for row in message.components:
        for child in getattr(row, "children", [row]):
            custom_id = getattr(child, "custom_id", None)
            if custom_id:
                found.add(custom_id)
    return found


def is_stale_press(interaction: discord.Interaction) -> bool:
    """A button press discord.py won't route to the dynamic item: the message has no such button (forged, or
    the message was edited since)."""
    if interaction.type is not discord.InteractionType.component:
        return False
    data: Mapping[str, Any] = interaction.data or {}
    custom_id = data.get("custom_id")
    if data.get("component_type") != discord.ComponentType.button.value or not custom_id:
        return True
    return custom_id not in message_custom_ids(interaction.message)
