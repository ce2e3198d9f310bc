"""The fake Discord's fixed ids, token, permission bits, message flags and interaction (callback) types, and the
users it knows from the start (the bot and the application's owner)."""

from __future__ import annotations

from typing import Any

import discord

TOKEN = "MTIz.fake-discord.token-for-tests"  # not shaped like a real bot token on purpose
API_PATH = "/api/v10"
DISCORD_EPOCH_MS = 1_420_070_400_000

BOT_ID = 1_300_000_000_000_000_001
APP_ID = BOT_ID  # a bot's user id is its application id
OWNER_ID = 1_300_000_000_000_000_002  # owns the application and, by default, every guild
USER_ID = 1_300_000_000_000_000_003  # the default user who runs commands
GUILD_ID = 1_300_000_000_000_000_100
CHANNEL_ID = 1_300_000_000_000_000_101

# Permission bits (https://discord.com/developers/docs/topics/permissions)
ADMINISTRATOR = 1 << 3
MANAGE_GUILD = 1 << 5
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
USE_APPLICATION_COMMANDS = 1 << 31
ALL_PERMISSIONS = discord.Permissions.all().value  # what an owner or administrator has, as discord.py computes it
DEFAULT_APP_PERMISSIONS = VIEW_CHANNEL | SEND_MESSAGES | EMBED_LINKS | ATTACH_FILES | READ_MESSAGE_HISTORY
DEFAULT_MEMBER_PERMISSIONS = DEFAULT_APP_PERMISSIONS | USE_APPLICATION_COMMANDS

# Message flags
SUPPRESS_EMBEDS = 1 << 2
EPHEMERAL = 1 << 6
LOADING = 1 << 7
SUPPRESS_NOTIFICATIONS = 1 << 12
IS_COMPONENTS_V2 = 1 << 15
CHANNEL_FLAGS = SUPPRESS_EMBEDS | SUPPRESS_NOTIFICATIONS | IS_COMPONENTS_V2
INTERACTION_FLAGS = CHANNEL_FLAGS | EPHEMERAL

# Interaction types
PING = 1
APPLICATION_COMMAND = 2
MESSAGE_COMPONENT = 3
AUTOCOMPLETE = 4
MODAL_SUBMIT = 5

# Interaction callback types
PONG = 1
CHANNEL_MESSAGE_WITH_SOURCE = 4
DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE = 5
DEFERRED_UPDATE_MESSAGE = 6
UPDATE_MESSAGE = 7
APPLICATION_COMMAND_AUTOCOMPLETE_RESULT = 8
MODAL = 9

# Interaction contexts
CONTEXT_GUILD = 0
CONTEXT_BOT_DM = 1

ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024
HEARTBEAT_INTERVAL_MS = 41_250
CALL_KINDS = frozenset({
    "gateway", "login", "app_info", "sync", "commands", "callback", "followup", "webhook_message", "send",
    "message", "channel", "typing", "dm", "user", "member", "unknown",
})


def user_payload(user_id: int, username: str | None = None, *, bot: bool = False) -> dict[str, Any]:
    """A user object with the fields discord.py reads."""
    return {
        "id": str(user_id), "username": username or f"user{user_id % 10_000}", "discriminator": "0",
        "global_name": None, "avatar": None, "bot": bot, "system": False, "public_flags": 0, "flags": 0,
        "banner": None, "accent_color": None, "avatar_decoration_data": None, "primary_guild": None,
        "collectibles": None,
    }


BOT_USER = {**user_payload(BOT_ID, "decoupler-test", bot=True), "verified": True, "mfa_enabled": False,
            "locale": "en-US", "email": None}
OWNER_USER = user_payload(OWNER_ID, "app-owner")
