"""What a Discord user meets, against the fake Discord through the real discord.py client: options bound by name,
every interaction answered (also when rate limited, with the real quota), errors never public, buttons that
belong to the asker, /subscribe checking what alerts need, kinds that add up."""

from __future__ import annotations

import asyncio

import pytest

from bot.ports.notifier import ChatGone
from bot.ports.reply import Reply
from bot.ports.services import Services
from bot.render.embeds import REGIME_COLOURS
from bot.sending.ratelimit import PlatformLimiter
from bot.store import Store
from handlers.discord.slash import MANAGE_CHANNELS
from handlers.discord.transport import DiscordTransport
from handlers.quotas import CommandQuotas
from tests.discord.conftest import FAST_LIMITS, make_transport
from tests.discord.fake_constants import (
    ATTACH_FILES,
    CHANNEL_ID,
    CHANNEL_MESSAGE_WITH_SOURCE,
    DEFAULT_APP_PERMISSIONS,
    DEFAULT_MEMBER_PERMISSIONS,
    DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE,
    GUILD_ID,
    UPDATE_MESSAGE,
    USER_ID,
)
from tests.discord.fake_discord import FakeDiscord

MODERATOR = USER_ID + 7
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64  # stands in for the chart (the fake stores what it gets)


def _moderator(fake: FakeDiscord) -> int:
    fake.guilds[GUILD_ID].members[MODERATOR] = DEFAULT_MEMBER_PERMISSIONS | MANAGE_CHANNELS
    return MODERATOR


async def test_options_bind_by_name_not_by_position(transport, fake: FakeDiscord) -> None:
    message = await (await fake.command("corr", {"benchmark": "SPY"})).wait_original()
    assert "c|/corr 30d ETH SPY" in message.custom_ids  # ETH (the default asset) vs SPY, not SPY vs RUT
    reordered = await (await fake.command("corr", [{"name": "benchmark", "type": 3, "value": "SPY"},
                                                   {"name": "window", "type": 3, "value": "1y"},
                                                   {"name": "asset", "type": 3, "value": "BTC"}])).wait_original()
    assert "c|/corr 30d BTC SPY" in reordered.custom_ids and reordered.embeds[0]["title"] == "BTC vs SPY · 1y"
    date = await (await fake.command("gap", {"since": "garbage"}))
    assert date.ephemeral and "'garbage' is not a date" in date.data["content"]
    pair_in_window = await (await fake.command("corr", {"window": "90d BTC SPY"}))
    assert pair_in_window.ephemeral and "is not a window" in pair_in_window.data["content"]
    assert "Usage: /corr [window] [asset] [benchmark]" in pair_in_window.data["content"]
    window_as_ticker = await (await fake.command("corr", {"asset": "90d"}))
    assert window_as_ticker.ephemeral and "Unknown ticker '90d'" in window_as_ticker.data["content"]
    assert fake.crashes == []


async def test_twelve_quick_charts_are_all_acknowledged_with_the_real_quota(services: Services,
                                                                           fake: FakeDiscord) -> None:
    transport = DiscordTransport(services, limiter=PlatformLimiter(FAST_LIMITS), quotas=CommandQuotas())
    await transport.start()
    try:
        handles = [await fake.command("corr", {"window": "90d"}) for _ in range(12)]
        answers = [await handle.wait_response(timeout=15) for handle in handles]
    finally:
        await transport.stop()
    assert all(not handle.rejected for handle in handles)  # each first callback within the fake's 3 s
    refused = [a for a in answers if a.type == CHANNEL_MESSAGE_WITH_SOURCE and a.ephemeral
               and a.data["content"].startswith("Slow down")]
    assert len(refused) == 6  # 6 charts a minute: #7 to #12 each told, none left without an answer
    assert all("Try again in" in a.data["content"] for a in refused)


async def test_a_failing_slow_answer_leaves_no_public_error(services: Services, fake: FakeDiscord) -> None:
    transport = make_transport(services, ack_after=0.0)  # every answer is deferred first (publicly)
    await transport.start()
    try:
        handle = await fake.command("unsubscribe", {"asset": "BTC", "benchmark": "SPY"}, user_id=_moderator(fake))
        (private,) = await handle.wait_followups()
    finally:
        await transport.stop()
    assert handle.response is not None and handle.response.type == DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE
    assert handle.original is not None and handle.original.deleted  # the public "thinking…" is gone
    assert private.ephemeral and "BTC vs SPY" in private.content
    public = [m for m in fake.messages_in(CHANNEL_ID) if not m.deleted and not m.ephemeral]
    assert public == []


async def test_a_press_by_someone_else_is_answered_to_them_alone(transport, fake: FakeDiscord) -> None:
    message = await (await fake.command("corr", {"window": "90d"}, user_id=USER_ID)).wait_original()
    before = [dict(embed) for embed in message.embeds]
    press = await fake.press(message, "c|/corr 30d ETH RUT", user_id=MODERATOR)
    await press.wait_response()
    (answer,) = press.messages if press.response.type == CHANNEL_MESSAGE_WITH_SOURCE else \
        [await press.wait_original()]
    assert answer.ephemeral and answer.id != message.id and answer.embeds[0]["title"] == "ETH vs RUT · 30d"
    assert not fake.messages[message.id].edited and fake.messages[message.id].embeds == before
    own = await fake.press(message, "c|/corr 1y ETH RUT", user_id=USER_ID)  # the asker's press edits it
    assert (await own).type == UPDATE_MESSAGE
    assert fake.messages[message.id].embeds[0]["title"] == "ETH vs RUT · 1y"


async def test_subscribe_checks_what_alerts_need(transport, fake: FakeDiscord, store: Store) -> None:
    moderator = _moderator(fake)
    refused = await (await fake.command("subscribe", {}, user_id=moderator,
                                        app_permissions=DEFAULT_APP_PERMISSIONS & ~ATTACH_FILES))
    assert refused.ephemeral and "missing the Attach Files permission" in refused.data["content"]
    assert await store.get_chat("discord", str(CHANNEL_ID)) is None  # nothing subscribed


async def test_kinds_add_up(transport, fake: FakeDiscord, store: Store) -> None:
    moderator = _moderator(fake)
    await (await fake.command("subscribe", {"kinds": "regime"}, user_id=moderator)).wait_original()
    message = await (await fake.command("subscribe", {"kinds": "gap"}, user_id=moderator)).wait_original()
    assert "now regime, gap" in message.embeds[0]["title"] + message.embeds[0].get("description", "")
    chat = await store.get_chat("discord", str(CHANNEL_ID))
    (subscription,) = await store.list_subscriptions(chat)
    assert subscription.kinds == {"regime", "gap"}
    both = await (await fake.command("subscribe", {"kinds": "divergence,-gap"}, user_id=moderator)).wait_original()
    assert both.embeds
    (subscription,) = await store.list_subscriptions(chat)
    assert subscription.kinds == {"regime", "divergence"}
    wrong = await (await fake.command("subscribe", {"kinds": "regime,weather"}, user_id=moderator))
    assert wrong.ephemeral and "'weather' is not one of them" in wrong.data["content"]


async def test_autocomplete_knows_the_other_options(transport, fake: FakeDiscord) -> None:
    benchmarks = (await (await fake.autocomplete("corr", {"asset": "BTC", "benchmark": ""},
                                                 focused="benchmark"))).choices
    assert benchmarks and "BTC" not in [c["value"] for c in benchmarks]
    everything = (await (await fake.autocomplete("unsubscribe", {"asset": "a"}, focused="asset"))).choices
    assert everything[0]["value"] == "all"
    kinds = (await (await fake.autocomplete("subscribe", {"kinds": "regime,"}, focused="kinds"))).choices
    assert [c["value"] for c in kinds][:3] == ["regime", "regime,all", "regime,divergence"]


async def test_many_presses_at_once_are_each_answered(transport, fake: FakeDiscord) -> None:
    message = await (await fake.command("beta", {})).wait_original()
    presses = await asyncio.gather(*(fake.press(message, message.custom_ids[0], user_id=USER_ID + n)
                                     for n in range(1, 4)))
    for press in presses:
        await press.wait_response()
        assert not press.rejected


async def test_an_alert_reads_as_discord(transport, fake: FakeDiscord) -> None:
    import pandas as pd

    from bot.alerts.rules import AlertEvent, RuleParams
    from bot.render.alert_text import alert_fields

    event = AlertEvent("regime", pd.Timestamp("2024-04-26"), 0.12, "neutral", "decoupled", pd.Timestamp("2024-04-20"))
    fields = alert_fields(event, RuleParams("ETH", "RUT", 90))
    alert = Reply(text=fields["text"], chart=PNG, chart_name="ETH-RUT-regime-20240426.png",
                  data={"alert_id": 7, **fields})
    await transport.notifier.send(str(CHANNEL_ID), alert)
    (message,) = fake.sent_to(CHANNEL_ID)
    (embed,) = message.embeds
    assert embed["title"] == "🔔 Regime alert · ETH vs RUT" and embed["color"] == REGIME_COLOURS["decoupled"]
    assert {f["name"]: f["value"] for f in embed["fields"]} == {
        "Window": "90d", "Regime": "neutral → decoupled", "Correlation": "0.12", "In the band since": "2024-04-20"}
    assert embed["timestamp"] and embed["footer"]["text"].startswith("As of 2024-04-26")
    assert message.embed_image() == PNG and message.custom_ids == ["c|/corr 90d ETH RUT"]
    press = await fake.press(message, "c|/corr 90d ETH RUT")  # an alert has no asker: the chart comes privately
    await press.wait_response()
    chart = (await press.wait_original()) if press.response.type != CHANNEL_MESSAGE_WITH_SOURCE else press.original
    assert chart.ephemeral and chart.embeds[0]["title"] == "ETH vs RUT · 90d"
    assert not fake.messages[message.id].edited
    payload = message.payloads[0]
    assert payload["allowed_mentions"] == {"parse": []}  # the client's default: nobody is pinged


async def test_a_channel_paused_for_a_permission_resumes_only_once_it_is_given(transport, fake: FakeDiscord,
                                                                               store: Store) -> None:
    from tests.discord.test_transport import eventually

    chat = await store.upsert_chat("discord", str(CHANNEL_ID), "group", "Test guild #general")
    fake.fail_channel(CHANNEL_ID, 403, code=50013, message="Missing Permissions")
    with pytest.raises(ChatGone) as gone:
        await transport.notifier.send(str(CHANNEL_ID), Reply(text="alert"))
    await store.mark_inactive("discord", chat.chat_id, f"chat gone: {gone.value}")
    status = await (await fake.command("status", {}, app_permissions=DEFAULT_APP_PERMISSIONS & ~ATTACH_FILES)
                    ).wait_original()
    assert "Alerts to this channel are paused: chat gone: missing permissions" in status.embeds[0]["description"]
    assert "Attach Files" in status.embeds[0]["description"]
    await fake.remove_guild(GUILD_ID)
    fake.add_guild(bot_denied={CHANNEL_ID: ATTACH_FILES})  # back in the server, still without Attach Files
    await eventually(lambda: any(g.id == GUILD_ID for g in transport.client.guilds))
    marker = fake.add_guild(GUILD_ID + 100, "Another guild")  # GUILD_CREATEs arrive in order: ours is handled
    await eventually(lambda: any(g.id == marker.id for g in transport.client.guilds))
    assert not (await store.get_chat("discord", chat.chat_id)).active
    await fake.remove_guild(GUILD_ID)
    fake.add_guild()  # the permission is given
    await eventually(lambda: store.get_chat("discord", chat.chat_id), lambda row: row.active)


async def test_subscribe_another_channel_mentioning_a_role(transport, fake: FakeDiscord, store: Store) -> None:
    from tests.discord.test_transport import eventually

    alerts = CHANNEL_ID + 50
    guild = fake.add_guild(channels={CHANNEL_ID: "general", alerts: "alerts"},
                           members={USER_ID: DEFAULT_MEMBER_PERMISSIONS,
                                    MODERATOR: DEFAULT_MEMBER_PERMISSIONS | MANAGE_CHANNELS},
                           bot_denied={alerts: ATTACH_FILES})
    await eventually(lambda: transport.client.get_channel(alerts))
    traders = guild.role_ids[USER_ID]
    options = [{"name": "role", "type": 8, "value": str(traders)}, {"name": "asset", "type": 3, "value": "BTC"},
               {"name": "channel", "type": 7, "value": str(alerts)}, {"name": "benchmark", "type": 3, "value": "SPY"}]
    refused = await (await fake.command("subscribe", options, user_id=MODERATOR))
    assert refused.ephemeral and "can't post alerts in #alerts" in refused.data["content"]
    assert "Attach Files" in refused.data["content"]
    member = await (await fake.command("subscribe", options, user_id=USER_ID))
    assert member.ephemeral and "Manage Channels" in member.data["content"]

    guild.bot_denied.clear()
    fake.add_guild(channels={CHANNEL_ID: "general", alerts: "alerts"},
                   members={USER_ID: DEFAULT_MEMBER_PERMISSIONS,
                            MODERATOR: DEFAULT_MEMBER_PERMISSIONS | MANAGE_CHANNELS})
    traders = fake.guilds[GUILD_ID].role_ids[USER_ID]
    options[0]["value"] = str(traders)
    await eventually(lambda: transport.client.get_guild(GUILD_ID).get_role(traders))
    confirmed = await (await fake.command("subscribe", options, user_id=MODERATOR)).wait_original()
    assert confirmed.channel_id == CHANNEL_ID and "These alerts go to #alerts and mention @" in \
        confirmed.embeds[0]["description"]
    chat = await store.get_chat("discord", str(alerts))
    assert chat is not None and chat.mention_role == str(traders) and chat.title == "Test guild #alerts"
    (subscription,) = await store.list_subscriptions(chat)
    assert subscription.pair == "BTC:SPY"
    assert await store.get_chat("discord", str(CHANNEL_ID)) is None or not await store.list_subscriptions(
        await store.get_chat("discord", str(CHANNEL_ID)))

    await transport.notifier.send(str(alerts), Reply(text="🔔 BTC and the S&P 500 @everyone <@42>"))
    (alert,) = fake.sent_to(alerts)
    assert alert.content.startswith(f"<@&{traders}>")
    assert alert.data["mention_roles"] == [str(traders)]  # @traders, and nobody else
    assert not alert.data["mention_everyone"] and alert.data["mentions"] == []


async def test_a_long_answer_is_paged_not_cut_at_4096(transport, fake: FakeDiscord) -> None:
    lines = [f"{n:03d} " + "x" * 70 for n in range(70)]  # about 5,300 characters
    await transport.notifier.send(str(CHANNEL_ID), Reply(text="A long answer\n" + "\n".join(lines)))
    (message,) = fake.sent_to(CHANNEL_ID)  # the fake refuses embeds over Discord's limits
    assert len(message.embeds) == 2 and message.embeds[0]["title"] == "A long answer"
    shown = "\n".join(embed["description"] for embed in message.embeds)
    assert shown.split("\n") == lines  # every line, whole, in order


async def test_help_speaks_discord(transport, fake: FakeDiscord) -> None:
    message = await (await fake.command("help", {"command": "subscribe"})).wait_original()
    text = message.embeds[0]["title"] + message.embeds[0].get("description", "")
    assert "only members with the Manage Channels permission can use it" in text and "chat admins" not in text


async def test_odds_takes_its_options_by_name_in_any_order(transport, fake: FakeDiscord) -> None:
    options = [{"name": "pooled", "type": 3, "value": "all"}, {"name": "asset", "type": 3, "value": "BTC"},
               {"name": "since", "type": 3, "value": "2025-07-15"}, {"name": "benchmark", "type": 3, "value": "RUT"}]
    message = await (await fake.command("odds", options)).wait_original()
    text = " ".join(str(embed.get("description", "")) for embed in message.embeds)
    assert "BTC is 33% below its beta line to the Russell 2000 since 2025-07-15" in text
    assert "7 past episodes across the universe" in text
    assert fake.crashes == []

