"""`python -m bot discord sync`: publish the slash commands now (the server does it at start only when they
changed)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.app import App


def add_commands(subparsers: Any) -> None:
    discord = subparsers.add_parser("discord", help="Discord maintenance: sync the slash commands")
    discord.add_argument("action", choices=["sync"])
    discord.set_defaults(handler=sync)


async def sync(app: App, args: argparse.Namespace) -> int:
    count = await app.sync_discord_commands()
    scope = f"guild {app.settings.discord_guild_id}" if app.settings.discord_guild_id else "every server (global)"
    print(f"discord: {count} slash commands synced to {scope}")
    return 0
