"""The store follows Telegram: blocked, removed, back again, and groups that became supergroups."""

from __future__ import annotations

import pytest

from bot.ports.notifier import ChatGone, ChatMoved
from bot.ports.reply import Reply
from bot.store import Store
from tests.telegram import updates
from tests.telegram.conftest import Harness

ADA_CHAT = updates.private_chat()


async def test_blocked_then_unblocked_keeps_the_subscriptions(harness: Harness, store: Store) -> None:
    await harness.command("/subscribe BTC SPY")
    assert await harness.process(updates.my_chat_member(ADA_CHAT, "member", "kicked")) == []
    chat = await store.get_chat("telegram", str(ADA_CHAT["id"]))
    assert chat is not None and not chat.active and chat.inactive_reason == "blocked the bot"
    await harness.process(updates.my_chat_member(ADA_CHAT, "kicked", "member"))
    chat = await store.get_chat("telegram", str(ADA_CHAT["id"]))
    assert chat is not None and chat.active
    assert [s.pair for s in await store.list_subscriptions(chat)] == ["BTC:SPY"]


async def test_removed_from_a_group_and_added_back(harness: Harness, store: Store) -> None:
    group = updates.group_chat(title="Desk")
    await harness.process(updates.my_chat_member(group, "left", "member"))
    chat = await store.get_chat("telegram", str(group["id"]))
    assert chat is not None and chat.active and chat.title == "Desk"
    await harness.process(updates.my_chat_member(group, "member", "left"))
    chat = await store.get_chat("telegram", str(group["id"]))
    assert chat is not None and not chat.active
    await harness.process(updates.my_chat_member(group, "left", "administrator"))
    chat = await store.get_chat("telegram", str(group["id"]))
    assert chat is not None and chat.active


async def test_the_migration_service_message_moves_the_chat(harness: Harness, store: Store) -> None:
    old = updates.group_chat(-4001, "Old group", kind="group")
    harness.fake.set_member(old["id"], updates.ADA["id"], "creator")
    await harness.command("/subscribe BTC QQQ", old)
    await harness.process(updates.migrated_to(old, -1004001))
    moved = await store.get_chat("telegram", "-1004001")
    assert moved is not None and moved.active
    assert [s.pair for s in await store.list_subscriptions(moved)] == ["BTC:QQQ"]
    assert await store.get_chat("telegram", "-4001") is None


async def test_a_reply_into_a_migrated_group_follows_it(harness: Harness, store: Store) -> None:
    old = updates.group_chat(-4002, "Old group", kind="group")
    harness.fake.fail_migrated("sendMessage", chat_id=old["id"], new_chat_id=-1004002)
    calls = await harness.command("/subscriptions", old)
    sends = [c for c in calls if c.method == "sendMessage"]
    assert [(c.chat_id, c.status) for c in sends] == [("-4002", 400), ("-1004002", 200)]
    assert await store.get_chat("telegram", "-1004002") is not None
    assert await store.get_chat("telegram", "-4002") is None


async def test_the_notifier_reports_and_records_a_migration(harness: Harness, store: Store) -> None:
    old = updates.group_chat(-4003, "Old group", kind="group")
    await store.upsert_chat("telegram", "-4003", "group", "Old group")
    harness.fake.fail_migrated("sendMessage", chat_id=old["id"], new_chat_id=-1004003)
    with pytest.raises(ChatMoved) as moved:
        await harness.transport.notifier.send("-4003", Reply(text="ETH decoupled from RUT"))
    assert moved.value.new_chat_id == "-1004003"
    assert await store.get_chat("telegram", "-1004003") is not None


async def test_a_blocked_reply_marks_the_chat_inactive(harness: Harness, store: Store) -> None:
    harness.fake.fail_blocked("sendMessage", chat_id=ADA_CHAT["id"])
    calls = await harness.command("/assets")
    assert [c.status for c in calls] == [403]
    chat = await store.get_chat("telegram", str(ADA_CHAT["id"]))
    assert chat is not None and not chat.active
    with pytest.raises(ChatGone):
        harness.fake.fail_blocked("sendMessage", chat_id=ADA_CHAT["id"])
        await harness.transport.notifier.send(str(ADA_CHAT["id"]), Reply(text="alert"))
