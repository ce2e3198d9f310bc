"""Discord transport (discord.py): the generated slash commands (handlers/discord/tree.py), buttons as a dynamic
item, the shared runner, embeds out.

On the bot's event loop beside the scheduler and delivery: `start()` logs in, connects to the gateway and
syncs the slash commands (only when the generated list changed since the last sync, or with
`python -m bot discord sync`); `stop()` closes the client. Only Discord's own concerns live here and in
`tree`/`options` (the commands), `buttons`, `surface` (answering one interaction), `messages` (embeds, files,
buttons), `send` (the Notifier): the flow of a command is `handlers.runner`'s.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable

import discord
from discord import app_commands

from bot.ports.services import Services
from bot.ports.transport import TransportStartError
from bot.sending.ratelimit import PlatformLimiter
from bot.store.state_repo import StateRepo
from handlers.discord.buttons import command_button, is_stale_press
from handlers.discord.client import RateLimitCounter, gateway_context, login, new_client
from handlers.discord.send import DISCORD_LIMITS, DiscordNotifier, mention_role
from handlers.discord.slash import button_command, command_text, payload_hash
from handlers.discord.surface import DiscordSurface, answer_privately
from handlers.discord.tree import ADMINS, TableTree, may_change_settings, missing_for_alerts
from handlers.quotas import CommandQuotas
from handlers.registry import ChatContext, Command
from handlers.runner import STALE_BUTTON, CommandRunner, Incoming

log = logging.getLogger(__name__)

# seconds: Discord wants an answer within 3 s of the interaction's creation; slower answers are deferred, then
# followed up. A second before the 3 s is left for the gateway's delivery and the defer's own round trip.
ACK_AFTER = 1.5
READY_TIMEOUT = 30.0  # seconds to reach the gateway at start-up
SYNC_HASH_KEY = "discord.commands"  # where the store keeps what was last synced (and where)


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
    deliverable = private or not missing_for_alerts(interaction.app_permissions)
    return ChatContext(platform="discord", chat_id=str(interaction.channel_id), user_id=str(interaction.user.id),
                       chat_kind="private" if private else "group", title=title, is_admin=is_admin, admins=ADMINS,
                       deliverable=deliverable)


class DiscordTransport:
    name = "discord"

    def __init__(self, services: Services, *, limiter: PlatformLimiter | None = None,
                 quotas: CommandQuotas | None = None, ack_after: float = ACK_AFTER):
        settings = services.settings
        if settings.discord_bot_token is None:
            raise ValueError("DISCORD_BOT_TOKEN is not set")
        self.services = services
        self.settings = settings
        self.rate_limits = RateLimitCounter()
        self.client = new_client(settings, self.rate_limits)
        self.limiter = limiter or PlatformLimiter(DISCORD_LIMITS)
        # Every interaction needs an answer, so every refused one gets "slow down" (not only the first).
        self.runner = CommandRunner(services, self.name, quotas=quotas, answer_every_refusal=True)
        self.chats = self.runner.chats
        self.notifier = DiscordNotifier(self.client, self.limiter, self.rate_limits, mention_role(services))
        self.ack_after = ack_after
        self.finished: Callable[[discord.Interaction], None] = lambda interaction: None  # tests: it's handled
        self._connection: asyncio.Task[None] | None = None
        self.tree = TableTree(self.client, self._run, self._refuse)
        self.client.add_dynamic_items(command_button(self._press))
        self.client.on_interaction = self._on_interaction  # type: ignore[attr-defined]  # discord.py's event hooks are set by name
        self.client.on_guild_available = self._on_guild  # type: ignore[attr-defined]  # discord.py's event hooks are set by name
        self.client.on_guild_join = self._on_guild  # type: ignore[attr-defined]  # discord.py's event hooks are set by name
        self.client.on_guild_channel_update = self._on_channel_update  # type: ignore[attr-defined]  # discord.py's event hooks are set by name

    # ------------------------------------------------------------ life cycle

    async def start(self) -> None:
        try:
            await login(self.client, self.settings)
        except TransportStartError:
            await self.client.close()
            raise
        self._connection = asyncio.create_task(self.client.connect(reconnect=True), name="discord-gateway",
                                               context=gateway_context(self.settings))
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

    async def sync_commands(self, *, force: bool) -> int | None:
        """Publish the slash commands (to DISCORD_GUILD_ID, else globally) if they changed; how many, or None
        when nothing changed."""
        guild = discord.Object(self.settings.discord_guild_id) if self.settings.discord_guild_id else None
        if guild is not None:
            self.tree.copy_global_to(guild=guild)
        payload = [command.to_dict(self.tree) for command in self.tree.get_commands(guild=guild)]
        scope = f"guild:{guild.id}" if guild else "global"
        digest = payload_hash(payload, scope)
        state = StateRepo(self.services.store.db)
        if not force and await state.get(SYNC_HASH_KEY) == digest:
            return None
        synced = await self.tree.sync(guild=guild)
        await state.put(SYNC_HASH_KEY, digest)
        log.info("discord: %d slash commands synced (%s)", len(synced), scope)
        return len(synced)

    # ------------------------------------------------------------ interactions → the runner

    async def _run(self, interaction: discord.Interaction, command: Command, values: dict[str, object]) -> None:
        """A generated command's callback: its options (bound by name, checked by kind) as the command's text."""
        try:
            channel, role = values.pop("channel", None), values.pop("role", None)
            text = command_text(command, values, self.settings.default_pair)
            chat, note = chat_context(interaction), None
            if channel is not None or role is not None:
                target = await self._elsewhere(interaction, channel, role)  # type: ignore[arg-type]  # resolved by discord.py to its models
                if isinstance(target, str):
                    await answer_privately(interaction, target)
                    return
                chat, note = target
            surface = DiscordSurface(interaction, self.ack_after, note=note)
            await self.runner.message(Incoming(text, chat), surface)
        finally:
            self.finished(interaction)

    async def _elsewhere(self, interaction: discord.Interaction, channel: app_commands.AppCommandChannel | None,
                         role: discord.Role | None) -> tuple[ChatContext, str] | str:
        """`/subscribe channel:#alerts role:@traders`: the chat the alerts go to, and what the confirmation adds;
        or why not (the person needs Manage Channels there, the bot what alerts need)."""
        guild = self.client.get_guild(interaction.guild_id or 0)
        if guild is None:
            return "channel and role work in a server's channels only."
        target = guild.get_channel(channel.id if channel is not None else interaction.channel_id or 0)
        if not isinstance(target, discord.TextChannel):
            return "Alerts go to a text channel: pick one with channel:#name."
        if channel is not None and not (channel.permissions.manage_channels or channel.permissions.administrator):
            return f"Only {ADMINS} in #{target.name} can send alerts there."
        missing = [] if guild.me is None else missing_for_alerts(target.permissions_for(guild.me))
        if missing:
            return (f"I can't post alerts in #{target.name}: I'm missing the {' and '.join(missing)} permission"
                    f"{'s' if len(missing) > 1 else ''} there. A server admin can give them to me; then try again.")
        if role is not None and role.is_default():
            return "Pick a role to mention, not @everyone."
        chat = dataclasses.replace(chat_context(interaction), chat_id=str(target.id),
                                   title=f"{guild.name} #{target.name}", deliverable=True)
        row = await self.services.store.upsert_chat(self.name, chat.chat_id, chat.chat_kind, chat.title)
        if role is not None:
            await self.services.store.set_mention_role(row, str(role.id))
        mention = f" and mention @{role.name} (nobody else)" if role is not None else ""
        return chat, f"These alerts go to #{target.name}{mention}."

    async def _refuse(self, interaction: discord.Interaction, text: str) -> None:
        try:
            await answer_privately(interaction, text)
        finally:
            self.finished(interaction)

    async def _press(self, interaction: discord.Interaction, custom_id: str) -> None:
        """A button: the asker's own press replaces the answer; anyone else's is answered to them alone."""
        try:
            command = button_command(custom_id)
            incoming = None if command is None else Incoming(command, chat_context(interaction))
            await self.runner.button(incoming, DiscordSurface(interaction, self.ack_after,
                                                              edit_in_place=_pressed_by_asker(interaction)))
        except Exception:
            log.exception("discord button %s failed", interaction.id)
            await answer_privately(interaction, "Something went wrong on our side; it's logged.")
        finally:
            self.finished(interaction)

    async def _on_interaction(self, interaction: discord.Interaction) -> None:
        """Every interaction also arrives here; only a press of a button the message doesn't have (forged, or
        of a message since edited) is ours to answer: the tree and the dynamic item take all the rest."""
        if is_stale_press(interaction):
            try:
                await answer_privately(interaction, STALE_BUTTON)
            finally:
                self.finished(interaction)

    # ------------------------------------------------------------ guilds

    async def _on_guild(self, guild: discord.Guild) -> None:
        """The bot is in `guild` (again): its channels that had gone inactive get alerts again — those where it
        has what alerts need; a channel that lacks a permission stays paused until it is given."""
        ready = [str(channel.id) for channel in guild.channels if can_post_alerts(channel)]
        back = await self.services.store.reactivate_many(self.name, ready)
        if back:
            log.info("discord: %d channels of %s are back", back, guild.id)

    async def _on_channel_update(self, before: discord.abc.GuildChannel, after: discord.abc.GuildChannel) -> None:
        """A channel's permissions changed: once the bot has what alerts need there, a paused channel resumes."""
        if can_post_alerts(after) and await self.services.store.reactivate_many(self.name, [str(after.id)]):
            log.info("discord: channel %s has the permissions alerts need again", after.id)


def can_post_alerts(channel: discord.abc.GuildChannel) -> bool:
    """Does the bot have what alerts need in `channel`, as the gateway's guild state says? (Unknown: yes.)"""
    me = channel.guild.me
    return me is None or not missing_for_alerts(channel.permissions_for(me))


def _pressed_by_asker(interaction: discord.Interaction) -> bool:
    """Was the message this button belongs to the answer to this person's own command? (Alerts and other
    posts have no asker: a press on them is answered to the presser alone.)"""
    message = interaction.message
    metadata = None if message is None else message.interaction_metadata
    return metadata is not None and metadata.user.id == interaction.user.id

