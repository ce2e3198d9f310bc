"""The subscription commands, called through the command table as a transport would."""

from __future__ import annotations

import random
import string

import pytest

from bot.alerts.kinds import DEFAULT_KINDS
from bot.store import Database, DigestMode, Store
from handlers.commands import dispatch
from handlers.registry import COMMANDS
from tests.store.support import group_chat, private_chat, run_command, services_for

CHANGING = ("subscribe", "unsubscribe", "set", "quiet", "tz", "digest")
ALL_COMMANDS = (*CHANGING, "subscriptions")


def test_command_table_entries() -> None:
    for name in ALL_COMMANDS:
        entry = COMMANDS[name]
        assert len(entry.summary) <= 60 and entry.help and entry.usage.startswith(f"/{name}")
        assert entry.admin_only is (name in CHANGING), name


# ---------------------------------------------------------------- /subscribe


async def test_subscribe_defaults_to_the_default_pair_and_all_kinds(store: Store) -> None:
    reply = await run_command(store, "subscribe")
    assert reply.ok
    assert reply.headline == (
        "Subscribed this chat to ETH vs RUT alerts: regime, divergence, record · window 90d. "
        "You'll get them after each US close."
    )
    assert reply.data["created"] is True and reply.data["subscription"]["pair"] == "ETH:RUT"
    chat = await store.get_chat("telegram", private_chat().chat_id)
    assert chat is not None
    (subscription,) = await store.list_subscriptions(chat)
    assert subscription.kinds == DEFAULT_KINDS and subscription.window_days == 90


async def test_subscribe_twice_says_already(store: Store) -> None:
    await run_command(store, "subscribe", "BTC SPY")
    again = await run_command(store, "subscribe", "BTC:SPY")
    assert again.ok and "already subscribed to BTC vs SPY" in again.text and again.data["created"] is False


@pytest.mark.parametrize(
    ("args", "pair", "kinds", "window"),
    [
        ("BTC", "BTC:RUT", ["regime", "divergence", "record"], "90d"),
        ("btc spy divergence", "BTC:SPY", ["divergence"], "90d"),
        ("ETH QQQ records regime 1y", "ETH:QQQ", ["regime", "record"], "1y"),
        ("divergence,record", "ETH:RUT", ["divergence", "record"], "90d"),
        ("BTC ETH 30d", "BTC:ETH", ["regime", "divergence", "record"], "30d"),
    ],
)
async def test_subscribe_variants(store: Store, args: str, pair: str, kinds: list[str], window: str) -> None:
    reply = await run_command(store, "subscribe", args)
    assert reply.ok, reply.text
    fields = reply.data["subscription"]
    assert (fields["pair"], fields["kinds"], fields["window"]) == (pair, kinds, window)


async def test_crypto_pairs_are_announced_for_utc_midnight(store: Store) -> None:
    reply = await run_command(store, "subscribe", "BTC ETH")
    assert "after each UTC midnight" in reply.text


async def test_subscribing_again_with_other_kinds_or_window_updates(store: Store) -> None:
    await run_command(store, "subscribe")
    reply = await run_command(store, "subscribe", "ETH RUT gap 30d")  # kinds add up
    assert reply.ok and reply.headline.startswith(
        "Updated ETH vs RUT alerts: now regime, divergence, record, gap · window 30d")
    assert "(was regime, divergence, record · window 90d)" in reply.text
    fewer = await run_command(store, "subscribe", "ETH RUT -regime,-record")  # and -kind takes one away
    assert fewer.ok and fewer.data["subscription"]["kinds"] == ["divergence", "gap"]
    emptied = await run_command(store, "subscribe", "ETH RUT -divergence -gap")
    assert not emptied.ok and "no alerts" in emptied.text


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        ("FOO", "Unknown ticker 'FOO'. Known: ETH, BTC, RUT"),
        ("ETH ETH", "ETH against itself"),
        ("ETH RUT SPY", "at most two tickers"),
        ("regim", "Did you mean regime?"),
        ("ETH RUT 7d", "too short"),
        ("30d 90d", "one window"),
        ("ETH RUT SPY 30d", "Too many words (4)"),
        ("x" * 4000, "Unknown ticker 'xxxxxxxxxxxxxxxxxxx…'"),
    ],
)
async def test_subscribe_bad_input(memory_store: Store, args: str, complaint: str) -> None:
    reply = await run_command(memory_store, "subscribe", args)
    assert not reply.ok and complaint in reply.text
    assert reply.text.endswith(f"Usage: {COMMANDS['subscribe'].usage}")
    assert len(reply.text) < 300


# ---------------------------------------------------------------- /unsubscribe


async def test_unsubscribe_a_pair_the_default_and_all(store: Store) -> None:
    for pair in ("", "BTC SPY", "ETH QQQ"):
        await run_command(store, "subscribe", pair)
    reply = await run_command(store, "unsubscribe", "BTC SPY")
    assert reply.ok
    assert reply.text == "Unsubscribed this chat from BTC vs SPY alerts. It follows ETH vs RUT, ETH vs QQQ."
    reply = await run_command(store, "unsubscribe")
    assert reply.ok and reply.data["removed"] == ["ETH:RUT"]
    reply = await run_command(store, "unsubscribe", "all")
    assert reply.ok and reply.data["removed"] == ["ETH:QQQ"] and "/subscribe starts them again" in reply.text
    reply = await run_command(store, "unsubscribe", "ALL")
    assert reply.ok and "no subscriptions" in reply.text


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        ("BTC SPY", "This chat isn't subscribed to BTC vs SPY. It follows ETH vs RUT."),
        ("all ETH", "'all' goes alone"),
        ("ETH RUT 30d", "takes no window"),
        ("DOGE", "Unknown ticker 'DOGE'"),
        ("é" * 4000, "Unknown ticker"),
    ],
)
async def test_unsubscribe_bad_input(memory_store: Store, args: str, complaint: str) -> None:
    await run_command(memory_store, "subscribe")
    reply = await run_command(memory_store, "unsubscribe", args)
    assert not reply.ok and complaint in reply.text and "Usage: /unsubscribe" in reply.text


# ---------------------------------------------------------------- /subscriptions


async def test_subscriptions_lists_pairs_and_chat_settings(store: Store) -> None:
    empty = await run_command(store, "subscriptions")
    assert empty.ok and empty.headline == "This chat has no subscriptions yet. /subscribe starts ETH vs RUT alerts."
    await run_command(store, "subscribe")
    await run_command(store, "subscribe", "BTC SPY divergence")
    await run_command(store, "set", "threshold z_enter=3 BTC SPY")
    await run_command(store, "quiet", "22:00-07:00")
    reply = await run_command(store, "subscriptions")
    assert reply.text.splitlines() == [
        "This chat gets alerts for 2 pairs:",
        "• ETH vs RUT: regime, divergence, record · window 90d · default thresholds",
        "• BTC vs SPY: divergence · window 90d · z_enter 3.0 (default 2.5)",
        "Time zone UTC · quiet hours 22:00–07:00 · digest off.",
    ]
    assert [s["pair"] for s in reply.data["subscriptions"]] == ["ETH:RUT", "BTC:SPY"]


# ---------------------------------------------------------------- /set


async def test_set_thresholds_chat_wide_and_per_pair(store: Store) -> None:
    await run_command(store, "subscribe")
    await run_command(store, "subscribe", "BTC SPY")
    reply = await run_command(store, "set", "threshold dwell=3 z_enter = 3")
    assert reply.ok
    assert reply.text.splitlines() == [
        "Thresholds for this chat: dwell 3 (default 5), z_enter 3.0 (default 2.5).",
        "Applied to ETH vs RUT, BTC vs SPY, and to pairs subscribed later.",
    ]
    reply = await run_command(store, "set", "threshold coupled_enter=0.6 BTC SPY")
    assert reply.ok and reply.headline == (
        "Thresholds for BTC vs SPY: coupled_enter 0.60 (default 0.50), dwell 3 (default 5), z_enter 3.0 (default 2.5)."
    )
    reply = await run_command(store, "set", "dwell=default")  # `/set name=value` works without "threshold"
    assert reply.ok and "BTC vs SPY keeps its own: coupled_enter 0.60 (default 0.50), z_enter 3.0" in reply.text
    reply = await run_command(store, "set", "threshold reset")
    assert reply.ok and reply.headline == "Thresholds for this chat are back to the defaults."
    chat = await store.get_chat("telegram", private_chat().chat_id)
    assert chat is not None and all(s.thresholds == {} for s in await store.list_subscriptions(chat))


async def test_set_window(store: Store) -> None:
    await run_command(store, "subscribe")
    reply = await run_command(store, "set", "window 6m")
    assert reply.ok and reply.headline == (
        "Window for this chat: 180d — regime and record alerts follow the 180-day correlation."
    )
    reply = await run_command(store, "set", "window 1y ETH RUT")
    assert reply.ok and reply.headline.startswith("Window for ETH vs RUT: 1y")
    reply = await run_command(store, "subscribe", "BTC SPY")
    assert reply.data["subscription"]["window"] == "180d", "new subscriptions start from the chat's window"


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        ("", "Say what to set"),
        ("colour blue", "I can set a threshold or the window, not 'colour'"),
        ("windw 30d", "Did you mean window?"),
        ("threshold", "Name a threshold and its value, e.g. dwell=3"),
        ("threshold dwel=3", "'dwel' is not a threshold. Did you mean dwell?"),
        ("threshold dwell=3.5", "whole number"),
        ("threshold dwell=99", "between 1 and 30"),
        ("threshold coupled_exit=0.6", "coupled_exit (0.6) must be below coupled_enter (0.5)"),
        ("threshold z_rearm=3", "z_rearm (3) must be below z_enter (2.5)"),
        ("threshold z_enter=lots", "takes a number"),
        ("threshold reset dwell=3", "either reset or name=value"),
        ("threshold dwell=3 BTC SPY", "This chat isn't subscribed to BTC vs SPY"),
        ("window", "Give one window"),
        ("window 5d", "too short"),
        ("window 11y", "too long"),
        ("window 30d 90d", "one window only"),
        ("window 30d FOO", "Unknown ticker 'FOO'"),
        ("threshold " + "=" * 4000, "is not a threshold"),
        ("threshold " + "a=1 " * 30, "Too many words"),
    ],
)
async def test_set_bad_input(memory_store: Store, args: str, complaint: str) -> None:
    await run_command(memory_store, "subscribe")
    reply = await run_command(memory_store, "set", args)
    assert not reply.ok and complaint in reply.text, reply.text
    assert reply.text.splitlines()[-1].startswith("Usage: /set")
    assert len(reply.text) < 400


# ---------------------------------------------------------------- /quiet, /tz, /digest


async def test_quiet_hours(store: Store) -> None:
    reply = await run_command(store, "quiet", "22:00-07:00")
    assert reply.ok and reply.headline.startswith("Quiet hours set: 22:00–07:00 (UTC time).")
    assert "/tz" in reply.text, "a UTC chat is told how to set its own zone"
    shown = await run_command(store, "quiet")
    assert shown.ok and shown.headline == "Quiet hours: 22:00–07:00 (UTC)."
    off = await run_command(store, "quiet", "off")
    assert off.ok and off.data["quiet_hours"] is None


@pytest.mark.parametrize(
    ("args", "complaint"),
    [("07:00-07:00", "different times"), ("25:00-07:00", "not a time of day"), ("late", "not a time span"),
     ("22:00", "not a time span"), ("1 2 3 4 5", "one span"), ("9" * 4000, "not a time span")],
)
async def test_quiet_bad_input(memory_store: Store, args: str, complaint: str) -> None:
    reply = await run_command(memory_store, "quiet", args)
    assert not reply.ok and complaint in reply.text and reply.text.endswith("Usage: /quiet [HH:MM-HH:MM|off]")


async def test_time_zone(store: Store) -> None:
    reply = await run_command(store, "tz", "Europe/Berlin")
    assert reply.ok and reply.headline.startswith("Time zone set to Europe/Berlin (it's ")
    reply = await run_command(store, "tz", "new york")
    assert reply.ok and reply.data["timezone"] == "America/New_York"
    reply = await run_command(store, "tz", "utc")
    assert reply.ok and reply.data["timezone"] == "UTC"
    shown = await run_command(store, "tz")
    assert shown.ok and shown.headline == "This chat's time zone is UTC."


@pytest.mark.parametrize(
    ("args", "complaint"),
    [("Europe/Berln", "Did you mean Europe/Berlin?"), ("GMT+2", "fixed offset"), ("Atlantis", "not a time zone"),
     ("a b c d e", "one time zone"), ("%" * 4000, "not a time zone")],
)
async def test_time_zone_bad_input(memory_store: Store, args: str, complaint: str) -> None:
    reply = await run_command(memory_store, "tz", args)
    assert not reply.ok and complaint in reply.text and reply.text.endswith("Usage: /tz [time zone]")


async def test_digest(store: Store) -> None:
    await run_command(store, "subscribe")
    reply = await run_command(store, "digest", "on")
    assert reply.ok and reply.headline == "Digest on for this chat: a day's alerts arrive together in one message."
    reply = await run_command(store, "subscribe", "BTC SPY")
    assert "daily digest" in reply.text and reply.data["subscription"]["digest"] == DigestMode.DAILY.value
    reply = await run_command(store, "digest", "off BTC SPY")
    assert reply.ok and reply.data == {"digest": "off", "pairs": ["BTC:SPY"]}
    shown = await run_command(store, "digest")
    assert shown.ok and shown.headline == "Digest is on in this chat."


@pytest.mark.parametrize(("args", "complaint"), [("maybe", "Say on or off"), ("on DOGE", "Unknown ticker"),
                                                ("off BTC SPY", "isn't subscribed")])
async def test_digest_bad_input(memory_store: Store, args: str, complaint: str) -> None:
    reply = await run_command(memory_store, "digest", args)
    assert not reply.ok and complaint in reply.text and "Usage: /digest" in reply.text


# ---------------------------------------------------------------- groups, admins, chat rows


@pytest.mark.parametrize("name", CHANGING)
async def test_non_admins_cannot_change_group_settings(store: Store, name: str) -> None:
    args = {"set": "window 30d", "quiet": "off", "tz": "UTC", "digest": "on"}.get(name, "")
    reply = await run_command(store, name, args, group_chat(admin=False))
    assert not reply.ok
    assert reply.text.startswith("Sorry, only this group's admins can change its alerts and settings.")
    chat = await store.get_chat("telegram", group_chat(admin=False).chat_id)
    assert chat is not None and await store.list_subscriptions(chat) == []


async def test_admins_can_and_anyone_can_look(store: Store) -> None:
    reply = await run_command(store, "subscribe", "", group_chat(admin=True))
    assert reply.ok
    channel = await run_command(store, "subscribe", "", group_chat(admin=False, chat_id="-100888", kind="channel"))
    assert not channel.ok and "this channel's admins" in channel.text
    listing = await run_command(store, "subscriptions", "", group_chat(admin=False))
    assert listing.ok and "ETH vs RUT" in listing.text


async def test_any_command_records_the_chat_and_revives_an_inactive_one(store: Store) -> None:
    context = group_chat(admin=False, chat_id="-100555")
    await run_command(store, "subscriptions", "", context)
    chat = await store.get_chat("telegram", "-100555")
    assert chat is not None and chat.kind == "group" and chat.title == "Desk"
    await store.mark_inactive("telegram", "-100555", "kicked")
    await run_command(store, "subscriptions", "", context)
    revived = await store.get_chat("telegram", "-100555")
    assert revived is not None and revived.active


async def test_without_a_reachable_database_commands_say_so_in_one_line() -> None:
    unreachable = Store(Database("postgresql://bot:hunter2@127.0.0.1:1/none"))
    services = services_for(unreachable)
    for name in ALL_COMMANDS:
        reply = await dispatch(services, f"/{name}", private_chat())
        assert not reply.ok and "database" in reply.text and "\n" not in reply.text, (name, reply.text)
        assert "hunter2" not in reply.text and "Something went wrong" not in reply.text


JUNK = [
    "".join(random.Random(seed).choices(string.printable + "éü—–−€漢字🙂=:/,", k=size))
    for seed, size in [(1, 10), (2, 200), (3, 4000)]
] + ["=", "::", "/ /", ",,,", "a=", "=1", "ETH:", ":RUT", "\u200b", "-1d", "99999999999y", "all all"]


@pytest.mark.parametrize("name", ALL_COMMANDS)
async def test_junk_never_raises(memory_store: Store, name: str) -> None:
    for junk in JUNK:
        for args in (junk, f"threshold {junk}", f"window {junk}"):
            reply = await run_command(memory_store, name, args)
            assert reply.text and len(reply.headline) < 300, (name, args[:40], reply.text[:300])
