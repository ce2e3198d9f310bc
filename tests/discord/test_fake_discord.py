"""The fake Discord (tests/discord/fake_discord.py) against the real discord.py client: start-up, command sync,
interactions (command, defer + follow-up, autocomplete, button), channel sends and Discord's failure modes."""

from __future__ import annotations

import asyncio
import io
import struct
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import discord
import pytest
from discord import app_commands

from tests.discord.fake_constants import (
    ADMINISTRATOR,
    ALL_PERMISSIONS,
    APP_ID,
    BOT_ID,
    CHANNEL_ID,
    DEFAULT_APP_PERMISSIONS,
    DEFAULT_MEMBER_PERMISSIONS,
    EMBED_LINKS,
    GUILD_ID,
    MANAGE_GUILD,
    SEND_MESSAGES,
    TOKEN,
    USER_ID,
)
from tests.discord.fake_discord import FakeDiscord, patch_discord, start_client, stop_client


def _png(width: int = 3, height: int = 2) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


PNG = _png()
OTHER_CHANNEL = CHANNEL_ID + 1
MUTED_CHANNEL = CHANNEL_ID + 2
ADMIN_ID = USER_ID + 1


def new_client(**kw: Any) -> discord.Client:
    kw.setdefault("intents", discord.Intents.default())
    return discord.Client(chunk_guilds_at_startup=False, guild_ready_timeout=0.05, **kw)


@dataclass
class Bot:
    client: discord.Client
    tree: app_commands.CommandTree[discord.Client]
    seen: dict[str, Any] = field(default_factory=dict)  # what the command callbacks saw or raised


class RefreshView(discord.ui.View):
    @discord.ui.button(label="Refresh", custom_id="refresh")
    async def refresh(self, interaction: discord.Interaction, button: discord.ui.Button[RefreshView]) -> None:
        await interaction.response.edit_message(content="refreshed", view=None)


def build_tree(client: discord.Client, seen: dict[str, Any]) -> app_commands.CommandTree[discord.Client]:
    tree: app_commands.CommandTree[discord.Client] = app_commands.CommandTree(client)

    @tree.command(name="chart", description="Draw a chart of a pair")
    async def chart(interaction: discord.Interaction, pair: str, days: int = 90) -> None:
        seen["chart"] = interaction
        seen["chart_args"] = (pair, days)
        embed = discord.Embed(title=f"{pair} over {days}d", description="Correlation 0.42")
        embed.set_image(url="attachment://chart.png")
        await interaction.response.send_message(embed=embed, file=discord.File(io.BytesIO(PNG), "chart.png"))

    @tree.command(name="slow", description="Defer, then follow up")
    async def slow(interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await interaction.followup.send("done")  # takes the defer's ephemeral flag
        await interaction.followup.send("public", ephemeral=False)
        await interaction.edit_original_response(content="done, edited")

    @tree.command(name="late", description="Answers too late")
    async def late(interaction: discord.Interaction) -> None:
        await asyncio.sleep(seen.get("late_sleep", 0.3))
        try:
            await interaction.response.send_message("too late")
        except discord.HTTPException as exc:
            seen["late_error"] = exc

    @tree.command(name="pick", description="Pick a pair")
    async def pick(interaction: discord.Interaction, pair: str) -> None:
        await interaction.response.send_message(pair)

    @pick.autocomplete("pair")
    async def pick_pair(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        pairs = ["ETH:RUT", "BTC:SPX", "ETH:SPX"]
        return [app_commands.Choice(name=p, value=p) for p in pairs if current.upper() in p]

    @tree.command(name="buttons", description="A message with a button")
    async def buttons(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("press it", view=RefreshView(timeout=30))

    alerts = app_commands.Group(name="alerts", description="Alerts")

    @alerts.command(name="add", description="Add an alert")
    async def alerts_add(interaction: discord.Interaction, pair: str, threshold: float) -> None:
        seen["alerts_add"] = (pair, threshold, interaction.permissions.manage_guild)
        await interaction.response.send_message("added", ephemeral=True)

    tree.add_command(alerts)
    return tree


@pytest.fixture
async def fake(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as fake:
        fake.add_guild(
            channels={CHANNEL_ID: "general", OTHER_CHANNEL: "alerts", MUTED_CHANNEL: "read-only"},
            members={USER_ID: DEFAULT_MEMBER_PERMISSIONS, ADMIN_ID: ADMINISTRATOR},
            bot_denied={MUTED_CHANNEL: SEND_MESSAGES},
        )
        patch_discord(monkeypatch, fake)
        yield fake
        assert fake.crashes == []


@pytest.fixture
async def bot(fake: FakeDiscord) -> AsyncIterator[Bot]:
    client = new_client()
    seen: dict[str, Any] = {}
    tree = build_tree(client, seen)
    task = await start_client(client)
    try:
        yield Bot(client, tree, seen)
    finally:
        await stop_client(client, task)


# ---------------------------------------------------------------------------------------------------- start-up


async def test_plain_client_logs_in_and_sees_the_guild(fake: FakeDiscord) -> None:
    client = new_client()
    await client.login(TOKEN)
    task = asyncio.create_task(client.connect())
    await asyncio.wait_for(client.wait_until_ready(), 5)
    try:
        assert client.user is not None and client.user.id == BOT_ID and client.user.bot
        assert client.application_id == APP_ID
        guild = client.get_guild(GUILD_ID)
        assert guild is not None and guild.name == "Test guild" and guild.member_count == 3
        assert guild.me.guild_permissions.value == DEFAULT_APP_PERMISSIONS
        general = guild.get_channel(CHANNEL_ID)
        assert isinstance(general, discord.TextChannel) and general.name == "general"
        assert general.permissions_for(guild.me).send_messages
        muted = guild.get_channel(MUTED_CHANNEL)
        assert isinstance(muted, discord.TextChannel) and not muted.permissions_for(guild.me).send_messages
        assert fake.intents == discord.Intents.default().value
        assert [c.kind for c in fake.calls[:2]] == ["login", "app_info"]
        assert all(c.authorized and c.status == 200 for c in fake.calls)
        assert fake.identifies == 1 and fake.connected
        sequence = [f.d for f in fake.frames if f.direction == "out" and f.op == 0]
        assert [f.t for f in fake.frames if f.direction == "out" and f.op == 0][:2] == ["READY", "GUILD_CREATE"]
        assert sequence[0]["resume_gateway_url"] == fake.gateway_url
        assert fake.frames[0].op == 10 and any(f.op == 1 for f in fake.frames if f.direction == "in")
    finally:
        await client.close()
        await asyncio.wait_for(task, 5)
    assert task.exception() is None


async def test_members_intent_sees_member_permissions(fake: FakeDiscord) -> None:
    intents = discord.Intents.default()
    intents.members = True
    client = new_client(intents=intents)
    task = await start_client(client)
    try:
        guild = client.get_guild(GUILD_ID)
        assert guild is not None
        member = guild.get_member(USER_ID)
        assert member is not None and member.guild_permissions.value == DEFAULT_MEMBER_PERMISSIONS
        admin = guild.get_member(ADMIN_ID)
        assert admin is not None and admin.guild_permissions.value == ALL_PERMISSIONS
        assert fake.intents == intents.value
        chunked = await guild.chunk()  # op 8 REQUEST_GUILD_MEMBERS → GUILD_MEMBERS_CHUNK
        assert {m.id for m in chunked} == {BOT_ID, USER_ID, ADMIN_ID}
        assert any(f.op == 8 for f in fake.frames if f.direction == "in")
    finally:
        await stop_client(client, task)


async def test_auto_sharded_client_uses_gateway_bot(fake: FakeDiscord) -> None:
    client = discord.AutoShardedClient(intents=discord.Intents.default(), chunk_guilds_at_startup=False,
                                       guild_ready_timeout=0.05)
    task = await start_client(client)
    try:
        assert client.shard_count == 1 and client.get_guild(GUILD_ID) is not None
        assert fake.calls_of("GET /gateway/bot$")[0].status == 200
        assert fake.identify is not None and fake.identify["shard"] == [0, 1]
    finally:
        await stop_client(client, task)


async def test_wrong_token_is_refused(fake: FakeDiscord) -> None:
    client = new_client()
    with pytest.raises(discord.LoginFailure):
        await client.login("not-the-token")
    await client.close()
    assert fake.calls[-1].status == 401 and not fake.calls[-1].authorized


# ---------------------------------------------------------------------------------------------------- commands


async def test_sync_records_the_commands(fake: FakeDiscord, bot: Bot) -> None:
    synced = await bot.tree.sync()
    assert fake.syncs == 1
    names = sorted(c["name"] for c in fake.commands[None])
    assert names == ["alerts", "buttons", "chart", "late", "pick", "slow"]
    assert {c.name: c.id for c in synced} == {c["name"]: int(c["id"]) for c in fake.commands[None]}
    assert (await fake.wait_for("sync"))[0].route == f"PUT /applications/{APP_ID}/commands"
    again = await bot.tree.sync()
    assert [c.id for c in again] == [c.id for c in synced]  # ids are kept for the same names
    fetched = await bot.tree.fetch_commands()
    assert sorted(c.name for c in fetched) == names

    guild = discord.Object(GUILD_ID)
    bot.tree.copy_global_to(guild=guild)
    await bot.tree.sync(guild=guild)
    assert fake.syncs == 3 and all(c["guild_id"] == str(GUILD_ID) for c in fake.commands[GUILD_ID])


async def test_invalid_command_sync_is_refused(fake: FakeDiscord, bot: Bot) -> None:
    bad = app_commands.Command(name="chart", description="x", callback=_noop)
    bad.name = "Chart"  # discord.py validates names itself; bypass it to see the fake's check
    bot.tree.add_command(bad, override=True)
    with pytest.raises(app_commands.CommandSyncFailure):
        await bot.tree.sync()
    assert fake.syncs == 0


async def _noop(interaction: discord.Interaction) -> None:
    pass


async def test_command_answers_with_embed_and_png(fake: FakeDiscord, bot: Bot) -> None:
    await bot.tree.sync()
    handle = await fake.command("chart", {"pair": "ETH:RUT", "days": 30})
    callback = await handle
    assert callback.type == 4 and not callback.ephemeral
    message = handle.original
    assert message is not None and message.channel_id == CHANNEL_ID and not message.ephemeral
    assert message.embeds[0]["title"] == "ETH:RUT over 30d"
    assert message.file("chart.png") == PNG and message.embed_image(0) == PNG
    assert message.attachments[0]["width"] == 3 and message.attachments[0]["height"] == 2
    assert callback.files[0].filename == "chart.png"
    assert bot.seen["chart_args"] == ("ETH:RUT", 30)
    interaction: discord.Interaction = bot.seen["chart"]
    assert isinstance(interaction.user, discord.Member) and interaction.user.id == USER_ID
    assert interaction.permissions.value == interaction.user.guild_permissions.value == DEFAULT_MEMBER_PERMISSIONS
    assert interaction.app_permissions.value == DEFAULT_APP_PERMISSIONS
    assert interaction.channel is not None and interaction.channel.id == CHANNEL_ID
    calls = fake.calls_of("callback")
    assert calls[0].query == {"with_response": "1"} and not calls[0].authorized
    assert handle.payload["data"]["id"] == next(c["id"] for c in fake.commands[None] if c["name"] == "chart")
    # the bot can read its own response back through the original-response route
    original = await interaction.original_response()
    assert original.id == message.id and original.embeds[0].title == "ETH:RUT over 30d"
    assert await original.attachments[0].read() == PNG


async def test_subcommand_from_an_admin(fake: FakeDiscord, bot: Bot) -> None:
    await bot.tree.sync()
    handle = await fake.command("alerts add", {"pair": "BTC:SPX", "threshold": 0.5}, user_id=ADMIN_ID)
    callback = await handle
    assert callback.ephemeral and handle.original is not None and handle.original.ephemeral
    assert bot.seen["alerts_add"] == ("BTC:SPX", 0.5, True)
    assert int(handle.payload["member"]["permissions"]) == ALL_PERMISSIONS


async def test_guild_command_carries_guild_id(fake: FakeDiscord, bot: Bot) -> None:
    guild = discord.Object(GUILD_ID)
    bot.tree.clear_commands(guild=None)
    bot.tree.add_command(app_commands.Command(name="local", description="Guild only", callback=_reply_ok),
                         guild=guild)
    await bot.tree.sync(guild=guild)
    handle = await fake.command("local")
    assert handle.payload["data"]["guild_id"] == str(GUILD_ID)
    assert (await handle).type == 4 and handle.original is not None and handle.original.content == "ok"


async def _reply_ok(interaction: discord.Interaction) -> None:
    await interaction.response.send_message("ok")


async def test_defer_then_followups(fake: FakeDiscord, bot: Bot) -> None:
    handle = await fake.command("slow")
    callback = await handle
    assert callback.type == 5 and callback.ephemeral
    first, second = await handle.wait_followups(2)
    assert first is handle.original and first.ephemeral and not first.loading  # took the defer's flag
    assert not second.ephemeral and second.content == "public"
    await fake.wait_until(lambda: first.edited)
    assert first.content == "done, edited" and first.ephemeral
    assert [c.query.get("wait") for c in fake.calls_of("followup")] == ["1", "1"]


async def test_late_callback_gets_unknown_interaction(fake: FakeDiscord, bot: Bot) -> None:
    fake.ack_deadline = 0.1
    bot.seen["late_sleep"] = 0.2
    handle = await fake.command("late")
    assert await handle.wait_rejected() == (404, 10062)
    await fake.wait_until(lambda: "late_error" in bot.seen)
    error = bot.seen["late_error"]
    assert isinstance(error, discord.NotFound) and error.code == 10062
    assert handle.response is None


async def test_second_callback_is_refused(fake: FakeDiscord, bot: Bot) -> None:
    handle = await fake.command("pick", {"pair": "ETH:RUT"})
    await handle
    url = f"{fake.api_base}/interactions/{handle.id}/{handle.token}/callback"
    async with aiohttp.ClientSession() as session, session.post(
        url, json={"type": 4, "data": {"content": "again"}}
    ) as response:
        assert response.status == 400
        assert (await response.json())["code"] == 40060
    assert handle.rejected == [(400, 40060)]


async def test_autocomplete_gets_choices(fake: FakeDiscord, bot: Bot) -> None:
    handle = await fake.autocomplete("pick", {"pair": "eth"}, focused="pair")
    callback = await handle
    assert callback.type == 8
    assert callback.choices == [{"name": "ETH:RUT", "value": "ETH:RUT"}, {"name": "ETH:SPX", "value": "ETH:SPX"}]
    assert handle.payload["data"]["options"][0]["focused"] is True


async def test_button_press_updates_the_message(fake: FakeDiscord, bot: Bot) -> None:
    handle = await fake.command("buttons")
    await handle
    message = handle.original
    assert message is not None and message.custom_ids == ["refresh"]
    press = await fake.press(message, "refresh")
    callback = await press
    assert callback.type == 7 and callback.message is message
    assert message.content == "refreshed" and message.components == [] and message.edited
    assert press.payload["message"]["id"] == str(message.id)


async def test_dm_interaction(fake: FakeDiscord, bot: Bot) -> None:
    handle = await fake.command("chart", {"pair": "ETH:RUT"}, dm=True)
    await handle
    interaction: discord.Interaction = bot.seen["chart"]
    assert interaction.guild is None and isinstance(interaction.user, discord.User)
    assert isinstance(interaction.channel, discord.DMChannel)
    assert handle.original is not None and handle.original.channel_id == fake.dm_channels[USER_ID]


# ---------------------------------------------------------------------------------------------------- channel sends


async def test_channel_send_with_file_and_embed(fake: FakeDiscord, bot: Bot) -> None:
    channel = bot.client.get_partial_messageable(OTHER_CHANNEL)
    sent = await channel.send("alert!", embed=discord.Embed(title="ETH decoupled"),
                              file=discord.File(io.BytesIO(PNG), "chart.png"))
    assert sent.content == "alert!" and sent.attachments[0].filename == "chart.png"
    [message] = fake.sent_to(OTHER_CHANNEL)
    assert message.id == sent.id and message.embeds[0]["title"] == "ETH decoupled" and message.file() == PNG
    [call] = fake.calls_of("send")
    assert call.authorized and call.route == f"POST /channels/{OTHER_CHANNEL}/messages"
    await sent.edit(content="alert (updated)")
    assert message.content == "alert (updated)" and message.file() == PNG  # unlisted attachments are kept


async def test_dm_send(fake: FakeDiscord, bot: Bot) -> None:
    user = await bot.client.fetch_user(USER_ID)
    await user.send("hello")
    [message] = fake.sent_to(fake.dm_channels[USER_ID])
    assert message.content == "hello"
    fake.block_dms(USER_ID)
    with pytest.raises(discord.Forbidden) as raised:
        await user.send("again")
    assert raised.value.code == 50007


async def test_send_failures(fake: FakeDiscord, bot: Bot) -> None:
    channel = bot.client.get_partial_messageable(CHANNEL_ID)
    fake.fail_channel(CHANNEL_ID, 403)
    with pytest.raises(discord.Forbidden) as forbidden:
        await channel.send("x")
    assert forbidden.value.code == 50001
    fake.fail_channel(CHANNEL_ID, 404)
    with pytest.raises(discord.NotFound) as not_found:
        await channel.send("x")
    assert not_found.value.code == 10003
    fake.fail_channel(CHANNEL_ID, 503)
    with pytest.raises(discord.DiscordServerError):
        await channel.send("x")
    with pytest.raises(discord.NotFound):
        await bot.client.get_partial_messageable(999).send("nowhere")
    with pytest.raises(discord.Forbidden) as missing:
        await bot.client.get_partial_messageable(MUTED_CHANNEL).send("muted")
    assert missing.value.code == 50013
    assert fake.sent_to(CHANNEL_ID) == []


async def test_rate_limit_is_waited_out(fake: FakeDiscord, bot: Bot) -> None:
    channel = bot.client.get_partial_messageable(CHANNEL_ID)
    fake.rate_limit(rf"^POST /channels/{CHANNEL_ID}/messages$", retry_after=0.2)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await channel.send("eventually")
    assert loop.time() - started >= 0.2
    assert [c.status for c in fake.calls_of("send")] == [429, 200]
    assert [m.content for m in fake.sent_to(CHANNEL_ID)] == ["eventually"]
    fake.rate_limit(rf"^POST /channels/{CHANNEL_ID}/messages$", retry_after=0.2, via=False)
    with pytest.raises(discord.HTTPException) as banned:  # no Via header: discord.py assumes a Cloudflare ban
        await channel.send("banned")
    assert banned.value.status == 429


async def test_message_limits(fake: FakeDiscord, bot: Bot) -> None:
    channel = bot.client.get_partial_messageable(CHANNEL_ID)
    with pytest.raises(discord.HTTPException) as too_long:
        await channel.send("x" * 2001)
    assert too_long.value.code == 50035
    with pytest.raises(discord.HTTPException) as big_embed:
        await channel.send(embed=discord.Embed(title="t" * 257))
    assert big_embed.value.code == 50035


async def test_embeds_dropped_without_embed_links(monkeypatch: pytest.MonkeyPatch) -> None:
    async with FakeDiscord() as fake:
        fake.add_guild(bot_permissions=DEFAULT_APP_PERMISSIONS & ~EMBED_LINKS)
        patch_discord(monkeypatch, fake)
        client = new_client()
        task = await start_client(client)
        try:
            await client.get_partial_messageable(CHANNEL_ID).send("text", embed=discord.Embed(title="gone"))
            [message] = fake.sent_to(CHANNEL_ID)
            assert message.content == "text" and message.embeds == []
        finally:
            await stop_client(client, task)


# ---------------------------------------------------------------------------------------------------- gateway


async def test_reconnect_resumes_and_interactions_still_arrive(fake: FakeDiscord, bot: Bot) -> None:
    await fake.request_reconnect()
    await fake.wait_until(lambda: fake.resumes == 1 and fake.connected)
    assert fake.identifies == 1 and fake.gateway_connects == 2
    handle = await fake.command("pick", {"pair": "ETH:RUT"})
    assert (await handle).type == 4


async def test_guild_added_live(fake: FakeDiscord, bot: Bot) -> None:
    joined = asyncio.get_running_loop().create_future()
    bot.client.event(_on_guild_join(joined))
    fake.add_guild(GUILD_ID + 10, "Second", members={USER_ID: MANAGE_GUILD})
    guild = await asyncio.wait_for(joined, 5)
    assert guild.id == GUILD_ID + 10 and guild.get_channel(GUILD_ID + 11) is not None


def _on_guild_join(future: asyncio.Future[discord.Guild]) -> Any:
    async def on_guild_join(guild: discord.Guild) -> None:
        if not future.done():
            future.set_result(guild)

    return on_guild_join
