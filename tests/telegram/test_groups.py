"""Groups and channels: admin checks through getChatMember, anonymous admins, the admin cache."""

from __future__ import annotations

import pytest

from bot.store import Store
from handlers.telegram.chats import AdminCache
from tests.telegram import updates
from tests.telegram.conftest import FakeClock, Harness

GROUP = updates.group_chat()


async def subscriptions_of(store: Store, chat_id: int) -> list[str]:
    chat = await store.get_chat("telegram", str(chat_id))
    return [] if chat is None else [s.pair for s in await store.list_subscriptions(chat)]


@pytest.mark.parametrize("status", ["creator", "administrator"])
async def test_group_admins_may_subscribe(harness: Harness, store: Store, status: str) -> None:
    harness.fake.set_member(GROUP["id"], updates.ADA["id"], status)
    calls = await harness.command("/subscribe BTC SPY", GROUP)
    (member_call,) = [c for c in calls if c.method == "getChatMember"]
    assert member_call.params == {"chat_id": str(GROUP["id"]), "user_id": str(updates.ADA["id"])}
    assert "Subscribed this chat" in calls[-1].params["text"]
    assert await subscriptions_of(store, GROUP["id"]) == ["BTC:SPY"]


@pytest.mark.parametrize("status", ["member", "restricted", "left"])
async def test_other_members_may_not(harness: Harness, store: Store, status: str) -> None:
    harness.fake.set_member(GROUP["id"], updates.BOB["id"], status)
    calls = await harness.command("/subscribe", GROUP, sender=updates.BOB)
    assert "admins" in calls[-1].params["text"]
    assert await subscriptions_of(store, GROUP["id"]) == []


async def test_anyone_may_read_the_subscriptions_without_an_admin_check(harness: Harness) -> None:
    calls = await harness.command("/subscriptions", GROUP, sender=updates.BOB)
    assert "getChatMember" not in [c.method for c in calls]
    assert "no subscriptions yet" in calls[-1].params["text"]


async def test_anonymous_admins_post_as_the_group(harness: Harness, store: Store) -> None:
    calls = await harness.command("/subscribe", GROUP, sender=updates.ANONYMOUS_ADMIN, sender_chat=GROUP)
    assert "getChatMember" not in [c.method for c in calls]
    assert await subscriptions_of(store, GROUP["id"]) == ["ETH:RUT"]


async def test_a_linked_channel_posting_in_the_group_is_not_an_admin(harness: Harness, store: Store) -> None:
    channel = updates.channel_chat()
    await harness.command("/subscribe", GROUP, sender=updates.ANONYMOUS_ADMIN, sender_chat=channel)
    assert await subscriptions_of(store, GROUP["id"]) == []


async def test_channel_posts_come_from_its_admins(harness: Harness, store: Store) -> None:
    channel = updates.channel_chat()
    calls = await harness.command("/subscribe", channel, sender=None, sender_chat=channel)
    assert "Subscribed this chat" in calls[-1].params["text"]
    chat = await store.get_chat("telegram", str(channel["id"]))
    assert chat is not None and chat.kind.value == "channel" and chat.title == "Signals"


async def test_the_admin_answer_is_cached_per_chat_and_user(harness: Harness) -> None:
    harness.fake.set_member(GROUP["id"], updates.ADA["id"], "administrator")
    for text in ("/subscribe", "/set window 30d", "/digest on"):
        await harness.command(text, GROUP)
    await harness.command("/subscribe", GROUP, sender=updates.BOB)
    asked = [c.params["user_id"] for c in harness.fake.sent("getChatMember")]
    assert asked == [str(updates.ADA["id"]), str(updates.BOB["id"])]


async def test_a_failing_member_lookup_means_no_not_a_crash(harness: Harness, store: Store) -> None:
    harness.fake.fail_server("getChatMember", status=500)
    calls = await harness.command("/subscribe", GROUP)
    assert "admins" in calls[-1].params["text"]
    assert await subscriptions_of(store, GROUP["id"]) == []


def test_admin_cache_expires() -> None:
    clock = FakeClock()
    cache = AdminCache(ttl=60, clock=clock)
    cache[(1, 2)] = True
    assert cache.get((1, 2)) is True
    clock.advance(59)
    assert cache.get((1, 2)) is True
    clock.advance(2)
    assert cache.get((1, 2)) is None
