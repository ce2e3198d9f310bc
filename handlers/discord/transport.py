"""Discord transport (discord.py): slash commands, autocomplete and buttons in, the shared runner, embeds out.

On the bot's event loop beside the scheduler and delivery: `start()` logs in, connects to the gateway and
syncs the slash commands (only when the generated list changed since the last sync, or with
`python -m bot discord sync`); `stop()` closes the client. Only Discord's own concerns live here and in
`slash` (command payloads), `messages` (embeds, files, buttons), `send` (the Notifier): the flow of a command
is `handlers.runner`'s.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any

import discord
import yarl
from discord import app_commands

from bot.config import Settings
from bot.ports.reply import Reply
from bot.ports.services import Services
from bot.ports.transport import TransportStartError
from bot.sending.ratelimit import PlatformLimiter
from bot.store.state_repo import StateRepo
from handlers.discord.messages import message_parts
from handlers.discord.send import DISCORD_LIMITS, DiscordNotifier
from handlers.discord.slash import (
    ADMINISTRATOR,
    MANAGE_CHANNELS,
    MANAGE_GUILD,
    autocomplete_choices,
    button_command,
    command_text,
    commands_payload,
    focused_option,
    payload_hash,
)
from handlers.quotas import CommandQuotas
from handlers.registry import ChatContext, Command
from handlers.runner import CommandRunner, Incoming
from handlers.suggestions import suggestions

log = logging.getLogger(__name__)

ACK_AFTER = 2.0  # seconds: Discord wants an answer within 3 s; slower answers are deferred, then followed up
READY_TIMEOUT = 30.0  # seconds to reach the gateway at start-up
SYNC_HASH_KEY = "discord.commands"  # where the store keeps what was last synced (and where)
APOLOGY = "Something went wrong on our side; it's logged."


def point_at(settings: Settings) -> None:
    """DISCORD_API_BASE_URL and DISCORD_GATEWAY_URL (a proxy, or a local fake in tests). discord.py keeps both
    as class attributes: they apply to every client in this process."""
    discord.http.Route.BASE = settings.discord_api_base_url.rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway_url)


def new_client() -> discord.Client:
    intents = discord.Intents.none()
    intents.guilds = True  # GUILD_CREATE: the bot is back in a guild, so its channels can get alerts again
    return discord.Client(intents=intents, chunk_guilds_at_startup=False, guild_ready_timeout=0.5)


async def login(client: discord.Client, settings: Settings) -> None:
    """REST only (GET /users/@me): enough to send; the gateway is `client.connect()`'s."""
    assert settings.discord_bot_token is not None
    try:
        await client.login(settings.discord_bot_token.get_secret_value())
    except discord.LoginFailure:
        raise TransportStartError("Discord rejected DISCORD_BOT_TOKEN (check it in the developer portal)") from None
    except (discord.HTTPException, OSError) as exc:
        raise TransportStartError(f"Discord could not be reached: {type(exc).__name__}") from None


def may_change_settings(interaction: discord.Interaction) -> bool:
    if interaction.guild_id is None:
        return True  # a DM: people subscribe themselves
    permissions = interaction.permissions.value
    return bool(permissions & (MANAGE_CHANNELS | MANAGE_GUILD | ADMINISTRATOR))


def chat_context(interaction: discord.Interaction) -> ChatContext:
    async def is_admin() -> bool:
        return may_change_settings(interaction)

    private = interaction.guild_id is None
    channel = interaction.channel
    title = None
    if not private:
        guild_name = interaction.guild.name if interaction.guild is not None else "server"
        channel_name = getattr(channel, "name", None) or str(interaction.channel_id)
        title = f"{guild_name} #{channel_name}"
    return ChatContext(platform="discord", chat_id=str(interaction.channel_id), user_id=str(interaction.user.id),
                       chat_kind="private" if private else "group", title=title, is_admin=is_admin,
                       admins="members with the Manage Channels permission")


class DiscordTransport:
    name = "discord"

    def __init__(self, services: Services, *, limiter: PlatformLimiter | None = None,
                 quotas: CommandQuotas | None = None, ack_after: float = ACK_AFTER):
        settings = services.settings
        if settings.discord_bot_token is None:
            raise ValueError("DISCORD_BOT_TOKEN is not set")
        point_at(settings)
        self.services = services
        self.settings = settings
        self.client = new_client()
        self.limiter = limiter or PlatformLimiter(DISCORD_LIMITS)
        self.runner = CommandRunner(services, self.name, quotas=quotas)
        self.chats = self.runner.chats
        self.notifier = DiscordNotifier(self.client, self.limiter)
        self.ack_after = ack_after
        self._connection: asyncio.Task[None] | None = None
        self.client.on_interaction = self._on_interaction  # type: ignore[attr-defined]
        self.client.on_guild_available = self._on_guild  # type: ignore[attr-defined]
        self.client.on_guild_join = self._on_guild  # type: ignore[attr-defined]

    # ------------------------------------------------------------ life cycle

    async def start(self) -> None:
        try:
            await login(self.client, self.settings)
        except TransportStartError:
            await self.client.close()
            raise
        self._connection = asyncio.create_task(self.client.connect(reconnect=True), name="discord-gateway")
        ready = asyncio.create_task(self.client.wait_until_ready())
        done, _ = await asyncio.wait({ready, self._connection}, timeout=READY_TIMEOUT,
                                     return_when=asyncio.FIRST_COMPLETED)
        if ready not in done:
            ready.cancel()
            failure = self._connection.exception() if self._connection in done else None
            await self.stop()
            reason = type(failure).__name__ if failure else f"no answer within {READY_TIMEOUT:g} s"
            raise TransportStartError(f"the Discord gateway could not be reached ({reason})")
        await self.sync_commands(force=False)
        log.info("discord: %s ready in %d servers", self.client.user, len(self.client.guilds))

    async def lead(self) -> None:
        return None

    async def stop(self) -> None:
        await self.client.close()
        if self._connection is not None:
            await asyncio.gather(self._connection, return_exceptions=True)
            self._connection = None

    async def sync_commands(self, *, force: bool) -> bool:
        """Publish the slash commands (to DISCORD_GUILD_ID, else globally) if they changed; True if synced."""
        payload = commands_payload()
        guild = self.settings.discord_guild_id
        scope = f"guild:{guild}" if guild else "global"
        digest = payload_hash(payload, scope)
        state = StateRepo(self.services.store.db)
        if not force and await state.get(SYNC_HASH_KEY) == digest:
            return False
        app_id = self.client.application_id
        if app_id is None:
            app_id = (await self.client.application_info()).id
        if guild:
            await self.client.http.bulk_upsert_guild_commands(app_id, guild, payload)
        else:
            await self.client.http.bulk_upsert_global_commands(app_id, payload)
        await state.put(SYNC_HASH_KEY, digest)
        log.info("discord: %d slash commands synced (%s)", len(payload), scope)
        return True

    # ------------------------------------------------------------ interactions → the runner

    async def _on_interaction(self, interaction: discord.Interaction) -> None:
        try:
            if interaction.type is discord.InteractionType.application_command:
                await self._on_command(interaction)
            elif interaction.type is discord.InteractionType.autocomplete:
                await self._on_autocomplete(interaction)
            elif interaction.type is discord.InteractionType.component:
                await self._on_button(interaction)
        except Exception:
            log.exception("discord interaction %s failed", interaction.id)
            await _apologise(interaction)

    async def _on_command(self, interaction: discord.Interaction) -> None:
        data: dict[str, Any] = interaction.data or {}  # type: ignore[assignment]
        text = command_text(str(data.get("name", "")), list(data.get("options") or []))
        warn_alerts = text.split()[0] == "/subscribe"
        surface = DiscordSurface(interaction, self.ack_after, warn_about_alerts=warn_alerts)
        await self.runner.message(Incoming(text, chat_context(interaction)), surface)

    async def _on_autocomplete(self, interaction: discord.Interaction) -> None:
        data: dict[str, Any] = interaction.data or {}  # type: ignore[assignment]
        found = focused_option(str(data.get("name", "")), list(data.get("options") or []))
        choices = [] if found is None else autocomplete_choices(suggestions(found[0].kind, found[1]))
        await interaction.response.autocomplete([app_commands.Choice(name=label, value=value)
                                                 for label, value in choices])

    async def _on_button(self, interaction: discord.Interaction) -> None:
        data: dict[str, Any] = interaction.data or {}  # type: ignore[assignment]
        command = button_command(data.get("custom_id"))
        incoming = None if command is None else Incoming(command, chat_context(interaction))
        await self.runner.button(incoming, DiscordSurface(interaction, self.ack_after))

    # ------------------------------------------------------------ guilds

    async def _on_guild(self, guild: discord.Guild) -> None:
        """The bot is in `guild` (again): its channels that had gone inactive get alerts again."""
        back = await self.services.store.reactivate_many(self.name, [str(c.id) for c in guild.channels])
        if back:
            log.info("discord: %d channels of %s are back", back, guild.id)


class DiscordSurface:
    """`handlers.runner.Surface` for one interaction. Bad input is answered privately (ephemeral)."""

    def __init__(self, interaction: discord.Interaction, ack_after: float, *, warn_about_alerts: bool = False):
        self.interaction = interaction
        self.ack_after = ack_after
        self.warn_about_alerts = warn_about_alerts

    def progress_after(self, command: Command | None) -> float | None:
        return self.ack_after

    async def progress(self) -> None:
        response = self.interaction.response
        if response.is_done():
            return
        if self.interaction.type is discord.InteractionType.component:
            await response.defer()  # "updating…": the message it belongs to is edited later
        else:
            await response.defer(thinking=True)

    async def send(self, reply: Reply) -> None:
        if not reply.text and reply.chart is None:
            return
        response = self.interaction.response
        if not reply.ok:
            await self._private(reply.text)
            return
        if self.warn_about_alerts:
            reply = self._with_alert_warning(reply)
        parts = message_parts(reply, self._permissions())
        try:
            if response.is_done():
                await self.interaction.followup.send(**parts.send_kwargs())  # type: ignore[arg-type]
            else:
                await response.send_message(**parts.send_kwargs())  # type: ignore[arg-type]
        finally:
            parts.done()

    async def edit(self, reply: Reply) -> None:
        parts = message_parts(reply, self._permissions())
        try:
            if self.interaction.response.is_done():
                await self.interaction.edit_original_response(**parts.edit_kwargs())  # type: ignore[arg-type]
            else:
                await self.interaction.response.edit_message(**parts.edit_kwargs())  # type: ignore[arg-type]
        finally:
            parts.done()

    async def notice(self, text: str | None, *, alert: bool = False) -> None:
        if text:
            await self._private(text)
        elif not self.interaction.response.is_done():
            await self.interaction.response.defer()

    async def _private(self, text: str) -> None:
        """Only the person who asked sees it (a deferred answer follows the defer's visibility)."""
        content = text if len(text) <= 2000 else text[:1999] + "…"
        if self.interaction.response.is_done():
            await self.interaction.followup.send(content, ephemeral=True)
        else:
            await self.interaction.response.send_message(content, ephemeral=True)

    def _permissions(self) -> discord.Permissions | None:
        return None if self.interaction.guild_id is None else self.interaction.app_permissions

    def _with_alert_warning(self, reply: Reply) -> Reply:
        """/subscribe in a channel the bot can't post in: say so now, not with silence later."""
        permissions = self._permissions()
        if permissions is None:
            return reply
        missing = [name for name, ok in (("View Channel", permissions.view_channel),
                                         ("Send Messages", permissions.send_messages)) if not ok]
        if not missing:
            return reply
        note = (f"\nNote: I'm missing the {' and '.join(missing)} permission{'s' if len(missing) > 1 else ''} in "
                "this channel, so alerts can't arrive here until a server admin gives it to me.")
        return dataclasses.replace(reply, text=reply.text + note)


async def _apologise(interaction: discord.Interaction) -> None:
    try:
        if interaction.type is discord.InteractionType.autocomplete:
            return
        if interaction.response.is_done():
            await interaction.followup.send(APOLOGY, ephemeral=True)
        else:
            await interaction.response.send_message(APOLOGY, ephemeral=True)
    except discord.HTTPException as exc:
        log.warning("could not tell discord interaction %s about the failure: %s", interaction.id, exc.status)
