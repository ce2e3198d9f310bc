"""Answering one interaction: `DiscordSurface` is the runner's Surface for Discord.

Visibility is decided before anything is sent: refusals and errors are private (ephemeral). A slow answer is
deferred publicly ("thinking…") since most answers are for the channel; Discord keeps a defer's visibility for
the message that fills it, so an error after a public defer deletes the placeholder and is sent privately.
A button pressed by someone other than the asker gets its answer privately and leaves the message alone.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging

import discord

from bot.ports.reply import Reply
from handlers.discord.messages import CONTENT_LIMIT, MessageParts, message_parts
from handlers.registry import Command

log = logging.getLogger(__name__)


def _cut(text: str) -> str:
    return text if len(text) <= CONTENT_LIMIT else text[: CONTENT_LIMIT - 1] + "…"


async def answer_privately(interaction: discord.Interaction, text: str) -> None:
    """Only the person who asked sees `text`: at once, or after a defer (whose public placeholder goes)."""
    response = interaction.response
    try:
        if interaction.type is discord.InteractionType.autocomplete:
            if not response.is_done():
                await response.autocomplete([])
            return
        if not response.is_done():
            await response.send_message(_cut(text), ephemeral=True)
            return
        if response.type is discord.InteractionResponseType.deferred_channel_message:
            with contextlib.suppress(discord.NotFound):  # "thinking…" must not turn into a public error
                await interaction.delete_original_response()
        await interaction.followup.send(_cut(text), ephemeral=True)
    except discord.HTTPException as exc:
        log.warning("could not answer discord interaction %s: HTTP %s", interaction.id, exc.status)


def in_discord_words(reply: Reply, *, in_server: bool) -> Reply:
    """The command layer says "this chat"; in a server that is a channel."""
    if not in_server or "his chat" not in reply.text:
        return reply
    return dataclasses.replace(reply, text=reply.text.replace("this chat", "this channel")
                               .replace("This chat", "This channel"))


class DiscordSurface:
    """`handlers.runner.Surface` for one interaction. `edit_in_place`: a button's answer replaces its message
    (the asker's own press); otherwise it is a new message only the presser sees."""

    def __init__(self, interaction: discord.Interaction, ack_after: float, *, edit_in_place: bool = True,
                 note: str | None = None):
        self.interaction = interaction
        self.ack_after = ack_after
        self.edit_in_place = edit_in_place
        self.note = note  # added to a successful answer (where alerts go, when not to this channel)

    def progress_after(self, command: Command | None) -> float | None:
        return self.ack_after

    async def progress(self) -> None:
        response = self.interaction.response
        if response.is_done():
            return
        if self.interaction.type is not discord.InteractionType.component:
            await response.defer(thinking=True)  # a public "thinking…", filled by the answer
        elif self.edit_in_place:
            await response.defer()  # "updating…": the message it belongs to is edited later
        else:
            await response.defer(thinking=True, ephemeral=True)

    async def send(self, reply: Reply) -> None:
        if not reply.text and reply.chart is None:
            return
        reply = in_discord_words(reply, in_server=self.interaction.guild_id is not None)
        if not reply.ok:
            await answer_privately(self.interaction, reply.text)
            return
        if self.note:
            reply = dataclasses.replace(reply, text=f"{reply.text}\n{self.note}")
        await self._new_message(message_parts(reply, self._permissions()), ephemeral=False)

    async def edit(self, reply: Reply) -> None:
        reply = in_discord_words(reply, in_server=self.interaction.guild_id is not None)
        parts = message_parts(reply, self._permissions())
        if not self.edit_in_place:
            await self._new_message(parts, ephemeral=True)
            return
        try:
            if self.interaction.response.is_done():
                await self.interaction.edit_original_response(**parts.edit_kwargs())  # type: ignore[arg-type]  # keyword arguments built per message
            else:
                await self.interaction.response.edit_message(**parts.edit_kwargs())  # type: ignore[arg-type]  # keyword arguments built per message
        finally:
            parts.done()

    async def notice(self, text: str | None, *, alert: bool = False) -> None:
        if text:
            await answer_privately(self.interaction, text)
        elif not self.interaction.response.is_done():
            await self.interaction.response.defer()

    async def _new_message(self, parts: MessageParts, *, ephemeral: bool) -> None:
        kwargs = parts.send_kwargs()
        if ephemeral:
            kwargs["ephemeral"] = True
        try:
            if self.interaction.response.is_done():
                await self.interaction.followup.send(**kwargs)  # type: ignore[call-overload]  # keyword arguments built per message
            else:
                await self.interaction.response.send_message(**kwargs)  # type: ignore[call-overload]  # keyword arguments built per message
        finally:
            parts.done()

    def _permissions(self) -> discord.Permissions | None:
        return None if self.interaction.guild_id is None else self.interaction.app_permissions
