"""The Discord transport against the fake Discord, through the real discord.py client: start-up and command sync,
every command, embeds with the chart, ephemeral bad input, autocomplete, permissions, buttons (also after a
restart), channels going and coming back."""

from __future__ import annotations

import asyncio

import pytest

from bot.ports.services import Services
from bot.store import Store
from handlers.discord.slash import MANAGE_CHANNELS
from handlers.registry import COMMANDS
from tests.discord.conftest import make_transport
from tests.discord.fake_constants import (
    ATTACH_FILES,
    CHANNEL_ID,
    DEFAULT_APP_PERMISSIONS,
    DEFAULT_MEMBER_PERMISSIONS,
    EMBED_LINKS,
    GUILD_ID,
    SEND_MESSAGES,
    UPDATE_MESSAGE,
    USER_ID,
)
from tests.discord.fake_discord import FakeDiscord

MODERATOR = USER_ID + 7


async def eventually(probe, check=bool, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    """Wait until `check(probe())` holds (the client's own state changes without the fake hearing of it)."""
    async def holds() -> bool:
        value = probe()
        if asyncio.iscoroutine(value):
            value = await value
        return bool(check(value))

    async with asyncio.timeout(timeout):
        while not await holds():
            await asyncio.sleep(0.02)


async def test_start_syncs_the_generated_commands_once(services: Services, fake: FakeDiscord) -> None:
    transport = make_transport(services)
    await transport.start()
    try:
        (synced,) = fake.commands.values()
        by_name = {c["name"]: c for c in synced}
        assert list(by_name) == list(COMMANDS)  # every command users have in Telegram
        corr = by_name["corr"]
        assert [o["name"] for o in corr["options"]] == ["window", "asset", "benchmark"]
        assert all(o["autocomplete"] and o["type"] == 3 for o in corr["options"])
        assert int(by_name["subscribe"]["default_member_permissions"]) == MANAGE_CHANNELS
        assert by_name["corr"]["default_member_permissions"] is None
        first_of_set = by_name["set"]["options"][0]
        assert first_of_set["name"] == "setting" and first_of_set["required"]
    finally:
        await transport.stop()
    again = make_transport(services)  # a restart with the same commands: no second sync
    await again.start()
    await again.stop()
    assert fake.syncs == 1


async def test_corr_answers_with_one_embed_and_the_chart(transport, fake: FakeDiscord) -> None:
    interaction = await fake.command("corr", {"window": "90d"})
    answer = await interaction.wait_response()
    message = await interaction.wait_original()
    assert fake.crashes == []
    assert not answer.ephemeral and len(message.embeds) == 1
    embed = message.embeds[0]
    assert embed["title"] == "ETH vs RUT · 90d"  # short: the sentence opens the description
    assert embed["description"].startswith("ETH and small caps are moving together: 90-day correlation 0.57")
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["Correlation (90d)"].startswith("0.57 (95%: 0.37 to 0.72)")
    assert fields["Observations"] == "62 daily returns" and fields["Regime"].startswith("coupled since")
    assert embed["footer"]["text"].startswith("As of 2026-01-16 · crypto sampled at the US close")
    assert message.embed_image().startswith(b"\x89PNG")  # the chart, shown in the card
    assert [b["label"] for b in message.buttons] == ["30d", "90d", "1y", "⇄ swap"]
    assert [b["style"] for b in message.buttons] == [2, 1, 2, 2]  # the window shown is the selected one


async def test_bad_input_gets_a_private_reason_and_the_usage(transport, fake: FakeDiscord) -> None:
    answer = await fake.command("corr", {"window": "90x"})
    callback = await answer
    assert (callback.ephemeral and "not a window" in callback.data["content"].lower()) or "90x" in \
        callback.data["content"]
    assert "Usage: /corr [window] [asset] [benchmark]" in callback.data["content"]


@pytest.mark.parametrize("name", list(COMMANDS))
async def test_every_command_answers(transport, fake: FakeDiscord, name: str) -> None:
    interaction = await fake.command(name, {}, user_id=fake.guilds[GUILD_ID].owner_id)
    await interaction.wait_response(timeout=15)
    message = interaction.original or (interaction.followups[0] if interaction.followups else None)
    if message is None or message.loading:
        message = await interaction.wait_original(timeout=15)
    text = message.content + " ".join(e.get("title", "") + e.get("description", "") for e in message.embeds)
    assert text.strip() and "Something went wrong" not in text, (name, text)
    assert fake.crashes == []


async def test_autocomplete_offers_tickers_and_windows(transport, fake: FakeDiscord) -> None:
    choices = (await (await fake.autocomplete("corr", {"asset": "et"}, focused="asset"))).choices
    assert choices[0] == {"name": "ETH — Ether", "value": "ETH"}
    russell = (await (await fake.autocomplete("corr", {"benchmark": "russ"}, focused="benchmark"))).choices
    assert [c["value"] for c in russell] == ["RUT", "IWM"]
    windows = (await (await fake.autocomplete("corr", {"window": ""}, focused="window"))).choices
    assert [c["value"] for c in windows][:3] == ["30d", "90d", "1y"] and len(windows) <= 25


async def test_subscribe_needs_manage_channels_in_a_server(transport, fake: FakeDiscord, store: Store) -> None:
    fake.guilds[GUILD_ID].members[MODERATOR] = DEFAULT_MEMBER_PERMISSIONS | MANAGE_CHANNELS
    refused = await (await fake.command("subscribe", {}, user_id=USER_ID))
    assert refused.ephemeral and refused.data["content"] == (
        "Only members with the Manage Channels permission can change settings here (/subscribe).")
    assert await store.get_chat("discord", str(CHANNEL_ID)) is None or not await store.list_subscriptions(
        await store.get_chat("discord", str(CHANNEL_ID)))
    interaction = await fake.command("subscribe", {"asset": "BTC", "benchmark": "SPY"}, user_id=MODERATOR)
    confirmed = await interaction.wait_original()
    assert confirmed.embeds[0]["title"].startswith("Subscribed this channel to BTC vs SPY alerts")
    chat = await store.get_chat("discord", str(CHANNEL_ID))
    assert chat is not None and chat.kind == "group" and chat.title == "Test guild #general"
    (subscription,) = await store.list_subscriptions(chat)
    assert subscription.pair == "BTC:SPY"
    dm = await fake.command("subscribe", {}, dm=True, user_id=USER_ID)  # in a DM you subscribe yourself
    assert (await dm.wait_original()).embeds[0]["title"].startswith("Subscribed this chat to ETH vs RUT")


async def test_missing_permissions_are_named(transport, fake: FakeDiscord) -> None:
    plain = await fake.command("corr", {"window": "30d"}, app_permissions=DEFAULT_APP_PERMISSIONS & ~EMBED_LINKS)
    message = await plain.wait_original()
    assert not message.embeds and "missing the Embed Links permission" in message.content
    assert "30-day correlation" in message.content
    no_files = await fake.command("corr", {"window": "1y"}, app_permissions=DEFAULT_APP_PERMISSIONS & ~ATTACH_FILES)
    message = await no_files.wait_original()
    assert message.embeds and not message.files and "missing the Attach Files permission" in message.content
    fake.guilds[GUILD_ID].members[MODERATOR] = DEFAULT_MEMBER_PERMISSIONS | MANAGE_CHANNELS
    mute = await (await fake.command("subscribe", {}, user_id=MODERATOR,
                                     app_permissions=DEFAULT_APP_PERMISSIONS & ~SEND_MESSAGES))
    assert mute.ephemeral and "missing the Send Messages permission" in mute.data["content"]


async def test_buttons_edit_the_message_in_place_even_after_a_restart(services: Services, fake: FakeDiscord) -> None:
    first = make_transport(services)
    await first.start()
    try:
        message = await (await fake.command("corr", {"window": "90d"})).wait_original()
    finally:
        await first.stop()
    second = make_transport(services)  # a new process: nothing of the first one in memory
    await second.start()
    try:
        press = await fake.press(message, "c|/corr 30d ETH RUT")
        answer = await press
        assert answer.type == UPDATE_MESSAGE
        edited = fake.messages[message.id]
        assert edited.embeds[0]["title"] == "ETH vs RUT · 30d" and "30-day" in edited.embeds[0]["description"]
        assert edited.embed_image().startswith(b"\x89PNG")
        swapped = await (await fake.press(edited, "c|/corr 30d RUT ETH"))  # the swap button of the new card
        assert swapped.type == UPDATE_MESSAGE and fake.messages[message.id].embeds[0]["title"] == "RUT vs ETH · 30d"
    finally:
        await second.stop()
    assert fake.crashes == []


async def test_a_channel_that_refuses_goes_inactive_and_comes_back_with_its_server(
    transport, fake: FakeDiscord, store: Store
) -> None:
    from bot.ports.reply import Reply

    chat = await store.upsert_chat("discord", str(CHANNEL_ID), "group", "Test guild #general")
    fake.fail_channel(CHANNEL_ID, 403)
    with pytest.raises(Exception, match="missing access") as gone:
        await transport.notifier.send(str(CHANNEL_ID), Reply(text="alert"))
    assert type(gone.value).__name__ == "ChatGone"
    await store.mark_inactive("discord", chat.chat_id, "chat gone: missing access")
    other = fake.add_guild(GUILD_ID + 100, "Another guild")  # a GUILD_CREATE of another server: unrelated
    await eventually(lambda: any(g.id == other.id for g in transport.client.guilds))
    assert not (await store.get_chat("discord", chat.chat_id)).active
    await fake.remove_guild(GUILD_ID)
    fake.add_guild()  # the bot is back in the server
    await eventually(lambda: any(g.id == GUILD_ID for g in transport.client.guilds))
    await eventually(lambda: store.get_chat("discord", chat.chat_id), lambda row: row.active)
    counted = transport.notifier.rate_limits
    fake.rate_limit(rf"POST /channels/{CHANNEL_ID}/messages", retry_after=0.2)
    sent = await transport.notifier.send(str(CHANNEL_ID), Reply(text="alert"))  # discord.py waits and retries
    assert sent.message_id and counted.count == 1  # from the 429 response itself
    fake.fail_channel(CHANNEL_ID, 404)
    with pytest.raises(Exception, match="unknown channel"):
        await transport.notifier.send(str(CHANNEL_ID), Reply(text="alert"))
