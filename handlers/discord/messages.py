"""A Reply as Discord message parts — an embed (bot/render/embeds.py laid out by discord.py), the chart as an
attachment shown in it, buttons that run commands — trimmed to what the bot may do in the channel."""

from __future__ import annotations

import dataclasses
import io
from dataclasses import dataclass

import discord

from bot.ports.reply import Button, Reply
from bot.render.embeds import DESCRIPTION_LIMIT, EmbedSpec, embed_of
from handlers.discord.slash import button_id

CONTENT_LIMIT = 2000
TOTAL_LIMIT, MAX_EMBEDS = 6000, 10  # characters in all of a message's embeds; embeds in a message


@dataclass
class MessageParts:
    content: str | None = None
    embeds: list[discord.Embed] | None = None  # the card, then its continuation pages (a long text)
    file: discord.File | None = None
    view: discord.ui.View | None = None
    allowed_mentions: discord.AllowedMentions | None = None  # None: the client's (nobody)

    def send_kwargs(self) -> dict[str, object]:
        """For send_message / followup.send / channel.send: only what is set."""
        parts: dict[str, object] = {}
        if self.content is not None:
            parts["content"] = self.content
        if self.embeds:
            parts["embeds"] = self.embeds
        if self.file is not None:
            parts["file"] = self.file
        if self.view is not None:
            parts["view"] = self.view
        if self.allowed_mentions is not None:
            parts["allowed_mentions"] = self.allowed_mentions
        return parts

    def edit_kwargs(self) -> dict[str, object]:
        """For edit_message / edit_original_response: the whole message is replaced, old chart included."""
        return {"content": self.content, "embeds": self.embeds or [], "attachments": [self.file] if self.file else [],
                "view": self.view}

    def done(self) -> None:
        """The message is out: its buttons need no object in memory (presses arrive as interactions)."""
        if self.view is not None:
            self.view.stop()


def discord_embed(spec: EmbedSpec) -> discord.Embed:
    embed = discord.Embed(title=spec.title, description=spec.description or None, colour=spec.colour,
                          timestamp=spec.timestamp)
    for field in spec.fields:
        embed.add_field(name=field.name, value=field.value, inline=field.inline)
    if spec.footer:
        embed.set_footer(text=spec.footer)
    if spec.image:
        embed.set_image(url=f"attachment://{spec.image}")
    return embed


def buttons(reply: Reply) -> discord.ui.View | None:
    """The reply's buttons (the one for the window shown is highlighted); an alert about a pair gets a Chart
    button that answers /corr for it."""
    rows = reply.buttons or _alert_buttons(reply)
    shown = reply.data.get("window")
    view = discord.ui.View(timeout=None)
    for number, row in enumerate(rows[:5]):
        for button in row[:5]:
            custom_id = button_id(button.command)
            if custom_id is not None:
                style = discord.ButtonStyle.primary if button.label == shown else discord.ButtonStyle.secondary
                view.add_item(discord.ui.Button(label=button.label[:80], custom_id=custom_id, row=number, style=style))
    return view if view.children else None


def _alert_buttons(reply: Reply) -> list[list[Button]]:
    data = reply.data
    pair, window = str(data.get("pair") or ""), data.get("window")
    if "alert_id" not in data or pair.count(":") != 1 or not window:
        return []
    asset, benchmark = pair.split(":")
    return [[Button("Chart", f"/corr {window} {asset} {benchmark}")]]


def message_parts(reply: Reply, permissions: discord.Permissions | None = None, *, with_buttons: bool = True
                  ) -> MessageParts:
    """`permissions`: the bot's in the channel (None: all of them). Without Embed Links the answer is plain
    text; without Attach Files it has no chart; either way it says which permission is missing."""
    can_embed = permissions is None or permissions.embed_links
    can_attach = permissions is None or permissions.attach_files
    view = buttons(reply) if with_buttons else None
    missing = [name for name, ok in (("Embed Links", can_embed), ("Attach Files", can_attach))
               if not ok and (name == "Embed Links" or reply.chart is not None)]
    note = (f"\n(I'm missing the {' and '.join(missing)} permission{'s' if len(missing) > 1 else ''} in this "
            "channel, so there is no card" + (" or chart" if reply.chart is not None else "") + ".)") if missing else ""
    if not can_embed:
        return MessageParts(content=_cut(reply.text + note, CONTENT_LIMIT), view=view)
    spec = embed_of(reply)
    attach = reply.chart is not None and can_attach
    first, *more = pages(spec.description, TOTAL_LIMIT - _size_without_description(spec))
    embeds = [discord_embed(dataclasses.replace(spec, description=first, image=spec.image if attach else None))]
    embeds += [discord.Embed(description=page, colour=spec.colour) for page in more]
    file = discord.File(io.BytesIO(reply.chart), filename=reply.chart_name) if attach and reply.chart else None
    return MessageParts(content=note.strip() or None, embeds=embeds, file=file, view=view)


def pages(text: str, room: int) -> list[str]:
    """A long description as pages of at most DESCRIPTION_LIMIT characters, cut at line ends, within `room`
    characters in all (Discord's 6,000 for a message's embeds): the first page is the card's, the others
    follow it in the same message; what doesn't fit at all ends in "…"."""
    if len(text) <= DESCRIPTION_LIMIT:
        return [text]
    out: list[str] = []
    rest = text[: max(room, 1)]
    while rest:
        if len(rest) <= DESCRIPTION_LIMIT:
            out.append(rest)
            break
        cut = rest.rfind("\n", 0, DESCRIPTION_LIMIT)
        cut = cut if cut > DESCRIPTION_LIMIT // 2 else DESCRIPTION_LIMIT
        out.append(rest[:cut])
        rest = rest[cut:].lstrip("\n")
    if len(text) > room:
        out[-1] = out[-1][:-1] + "…"
    return out[:MAX_EMBEDS]


def _size_without_description(spec: EmbedSpec) -> int:
    return len(spec.title) + len(spec.footer or "") + sum(len(f.name) + len(f.value) for f in spec.fields)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
