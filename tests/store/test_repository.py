"""The Store on both backends: chats, subscriptions, settings, concurrency and chat migration."""

from __future__ import annotations

import asyncio
from datetime import time

import pytest
from sqlalchemy import func, select

from bot.alerts.kinds import DEFAULT_KINDS
from bot.store import (
    Chat,
    ChatKind,
    DigestMode,
    QuietHours,
    SettingError,
    Store,
    SubscriptionNotFound,
    open_store,
)
from bot.store.models import SubscriptionRow
from tests.store.support import Database

TELEGRAM_SUPERGROUP = "-1001234567890123"  # beyond 32 bits: ids are stored as text


async def _subscription_rows(store: Store) -> int:
    async with store.engine.connect() as connection:
        return (await connection.execute(select(func.count()).select_from(SubscriptionRow))).scalar_one()


# ---------------------------------------------------------------- chats


async def test_upsert_chat_creates_once_and_follows_title_and_kind(store: Store) -> None:
    first = await store.upsert_chat("telegram", TELEGRAM_SUPERGROUP, "supergroup", "Traders")
    assert (first.platform, first.chat_id, first.kind) == ("telegram", TELEGRAM_SUPERGROUP, "group")
    assert first.title == "Traders"
    assert first.timezone == "UTC" and first.quiet_hours is None and first.active and first.language == "en"
    assert first.created_at.tzinfo is not None
    same = await store.upsert_chat("telegram", TELEGRAM_SUPERGROUP, "group", None)  # no title: keep the known one
    assert same.id == first.id and same.title == "Traders"
    renamed = await store.upsert_chat("telegram", TELEGRAM_SUPERGROUP, "group", "Traders 2")
    assert renamed.id == first.id and renamed.title == "Traders 2"
    assert await store.get_chat("telegram", TELEGRAM_SUPERGROUP) == renamed
    other_platform = await store.upsert_chat("discord", TELEGRAM_SUPERGROUP, "channel", "#alerts")
    assert other_platform.id != first.id and other_platform.kind is ChatKind.CHANNEL
    assert await store.get_chat("telegram", "nope") is None


async def test_unknown_chat_kind_is_refused(store: Store) -> None:
    with pytest.raises(ValueError):
        await store.upsert_chat("telegram", "1", "forum-thread", None)


async def test_concurrent_first_contact_makes_one_chat(store: Store, database: Database) -> None:
    other = await database.open(migrate=False)
    try:
        chats = await asyncio.gather(
            *(s.upsert_chat("telegram", "42", "private", f"t{i}") for i, s in enumerate([store, other] * 3))
        )
        assert len({c.id for c in chats}) == 1
    finally:
        await other.close()


# ---------------------------------------------------------------- subscriptions


async def test_subscribe_twice_is_one_row(store: Store, chat: Chat) -> None:
    first, created = await store.subscribe(chat, "ETH", "RUT", window_days=90, kinds=DEFAULT_KINDS)
    again, created_again = await store.subscribe(chat, "ETH", "RUT", window_days=30, kinds=["record"])
    assert created and not created_again
    assert again == first, "subscribing again changes nothing"
    assert first.kinds == DEFAULT_KINDS and first.window_days == 90 and first.thresholds == {}
    assert first.digest is DigestMode.OFF and first.pair == "ETH:RUT"
    assert await _subscription_rows(store) == 1


async def test_racing_subscribers_leave_exactly_one_row(store: Store, database: Database, chat: Chat) -> None:
    others = [await database.open(migrate=False) for _ in range(3)]
    try:
        stores = [store, *others]
        results = await asyncio.gather(
            *(s.subscribe(chat, "BTC", "SPY", window_days=90, kinds=DEFAULT_KINDS) for s in stores for _ in range(2))
        )
    finally:
        for other in others:
            await other.close()
    assert sum(created for _, created in results) == 1
    assert len({subscription.id for subscription, _ in results}) == 1
    assert await _subscription_rows(store) == 1


async def test_subscription_input_is_checked(store: Store, chat: Chat) -> None:
    with pytest.raises(SettingError, match="two different"):
        await store.subscribe(chat, "ETH", "ETH", window_days=90, kinds=DEFAULT_KINDS)
    with pytest.raises(SettingError, match="at least one alert kind"):
        await store.subscribe(chat, "ETH", "RUT", window_days=90, kinds=[])
    with pytest.raises(SettingError, match="30 to 3650"):
        await store.subscribe(chat, "ETH", "RUT", window_days=7, kinds=DEFAULT_KINDS)
    with pytest.raises(SettingError, match="coupled_exit"):
        await store.subscribe(chat, "ETH", "RUT", window_days=90, thresholds={"coupled_exit": 0.9}, kinds=DEFAULT_KINDS)
    assert await store.list_subscriptions(chat) == []


async def test_list_unsubscribe_and_unsubscribe_all(store: Store, chat: Chat) -> None:
    for asset, benchmark in [("ETH", "RUT"), ("BTC", "SPY"), ("ETH", "QQQ")]:
        await store.subscribe(chat, asset, benchmark, window_days=90, kinds=DEFAULT_KINDS)
    assert [s.pair for s in await store.list_subscriptions(chat)] == ["ETH:RUT", "BTC:SPY", "ETH:QQQ"]
    assert await store.unsubscribe(chat, "BTC", "SPY")
    assert not await store.unsubscribe(chat, "BTC", "SPY")
    removed = await store.unsubscribe_all(chat)
    assert [s.pair for s in removed] == ["ETH:RUT", "ETH:QQQ"]
    assert await store.list_subscriptions(chat) == [] and await store.unsubscribe_all(chat) == []


async def test_set_kinds(store: Store, chat: Chat) -> None:
    await store.subscribe(chat, "ETH", "RUT", window_days=90, kinds=DEFAULT_KINDS)
    changed = await store.set_kinds(chat, "ETH", "RUT", ["divergence", "record"])
    assert changed.kinds == {"divergence", "record"}
    with pytest.raises(SubscriptionNotFound):
        await store.set_kinds(chat, "BTC", "SPY", ["regime"])


# ---------------------------------------------------------------- settings


async def test_chat_wide_thresholds_reach_every_pair_and_later_ones(store: Store, chat: Chat) -> None:
    await store.subscribe(chat, "ETH", "RUT", window_days=90, kinds=DEFAULT_KINDS)
    await store.subscribe(chat, "BTC", "SPY", window_days=90, kinds=DEFAULT_KINDS)
    changed = await store.set_thresholds(chat, {"dwell": 3})
    assert [s.thresholds for s in changed] == [{"dwell": 3}, {"dwell": 3}]
    refreshed = await store.get_chat(chat.platform, chat.chat_id)
    assert refreshed is not None and refreshed.default_thresholds == {"dwell": 3}
    later, _ = await store.subscribe(chat, "ETH", "QQQ", window_days=90, kinds=DEFAULT_KINDS)
    assert later.thresholds == {"dwell": 3}
    back = await store.reset_thresholds(chat)
    assert all(s.thresholds == {} for s in back)


async def test_pair_thresholds_merge_and_are_validated_as_a_whole(store: Store, chat: Chat) -> None:
    await store.subscribe(chat, "ETH", "RUT", window_days=90, kinds=DEFAULT_KINDS)
    await store.subscribe(chat, "BTC", "SPY", window_days=90, kinds=DEFAULT_KINDS)
    (eth,) = await store.set_thresholds(chat, {"coupled_enter": 0.7}, pair=("ETH", "RUT"))
    (eth,) = await store.set_thresholds(chat, {"coupled_exit": 0.6}, pair=("ETH", "RUT"))
    assert eth.thresholds == {"coupled_enter": 0.7, "coupled_exit": 0.6}
    # Chat-wide coupled_exit=0.55 is fine for ETH:RUT (enter 0.7) but not for BTC:SPY (enter 0.5): nothing changes.
    with pytest.raises(SettingError, match="BTC vs SPY"):
        await store.set_thresholds(chat, {"coupled_exit": 0.55})
    by_pair = {s.pair: s.thresholds for s in await store.list_subscriptions(chat)}
    assert by_pair == {"ETH:RUT": {"coupled_enter": 0.7, "coupled_exit": 0.6}, "BTC:SPY": {}}
    (eth,) = await store.reset_thresholds(chat, pair=("ETH", "RUT"))
    assert eth.thresholds == {}
    with pytest.raises(SubscriptionNotFound):
        await store.set_thresholds(chat, {"dwell": 3}, pair=("ETH", "QQQ"))


async def test_equal_parameters_store_equal_keys(store: Store, chat: Chat) -> None:
    """Rule instances are shared by equal (pair, window, thresholds): the stored text must compare equal."""
    other = await store.upsert_chat("discord", "99", "channel", None)
    await store.subscribe(chat, "ETH", "RUT", window_days=90, thresholds={"z_enter": 3, "dwell": 3},
                          kinds=DEFAULT_KINDS)
    await store.subscribe(other, "ETH", "RUT", window_days=90, thresholds={"dwell": 3.0, "z_enter": 3.0, "horizon": 20},
                          kinds=DEFAULT_KINDS)
    async with store.engine.connect() as connection:
        keys = (await connection.execute(select(SubscriptionRow.thresholds).distinct())).scalars().all()
    assert keys == ['{"dwell":3,"z_enter":3.0}']


async def test_window_and_digest(store: Store, chat: Chat) -> None:
    await store.subscribe(chat, "ETH", "RUT", window_days=90, kinds=DEFAULT_KINDS)
    (eth,) = await store.set_window(chat, 365, pair=("ETH", "RUT"))
    assert eth.window_days == 365
    await store.set_window(chat, 30)
    await store.set_digest(chat, DigestMode.DAILY)
    later, _ = await store.subscribe(chat, "BTC", "SPY", window_days=30, kinds=DEFAULT_KINDS)
    refreshed = await store.get_chat(chat.platform, chat.chat_id)
    assert refreshed is not None and refreshed.default_window_days == 30
    assert refreshed.default_digest is DigestMode.DAILY and later.digest is DigestMode.DAILY
    assert [s.window_days for s in await store.list_subscriptions(chat)] == [30, 30]
    with pytest.raises(SettingError):
        await store.set_window(chat, 4000)


async def test_quiet_hours_and_time_zone(store: Store, chat: Chat) -> None:
    quiet = await store.set_quiet_hours(chat, QuietHours(time(22), time(7)))
    assert quiet.quiet_hours == QuietHours(time(22), time(7))
    zoned = await store.set_timezone(chat, "Europe/Berlin")
    assert zoned.timezone == "Europe/Berlin" and zoned.quiet_hours == QuietHours(time(22), time(7))
    assert (await store.set_quiet_hours(chat, None)).quiet_hours is None
    with pytest.raises(SettingError):
        await store.set_quiet_hours(chat, QuietHours(time(8), time(8)))
    with pytest.raises(SettingError):
        await store.set_timezone(chat, "europe/berlin")  # the store takes exact IANA keys; commands resolve
    with pytest.raises(SettingError):
        await store.set_timezone(chat, "Mars/Olympus")


# ---------------------------------------------------------------- lifecycle


async def test_inactive_chats_keep_subscriptions_and_get_no_alerts(store: Store, chat: Chat) -> None:
    other = await store.upsert_chat("discord", "5", "channel", None)
    await store.subscribe(chat, "ETH", "RUT", window_days=90, kinds=DEFAULT_KINDS)
    await store.subscribe(other, "BTC", "SPY", window_days=90, kinds=DEFAULT_KINDS)
    assert await store.mark_inactive("telegram", chat.chat_id, "bot was blocked")
    assert not await store.mark_inactive("telegram", "unknown", "gone")
    inactive = await store.get_chat("telegram", chat.chat_id)
    assert inactive is not None and not inactive.active and inactive.inactive_reason == "bot was blocked"
    assert [(w.chat.chat_id, w.subscription.pair) for w in await store.active_subscriptions()] == [("5", "BTC:SPY")]
    assert [s.pair for s in await store.list_subscriptions(chat)] == ["ETH:RUT"]
    assert await store.reactivate("telegram", chat.chat_id)
    assert not await store.reactivate("telegram", chat.chat_id), "already active"
    active = await store.active_subscriptions()
    assert {w.subscription.pair for w in active} == {"ETH:RUT", "BTC:SPY"}
    reactivated = await store.get_chat("telegram", chat.chat_id)
    assert reactivated is not None and reactivated.active and reactivated.inactive_reason is None


async def test_migrate_chat_moves_everything_to_the_new_id(store: Store) -> None:
    old = await store.upsert_chat("telegram", "-4242", "group", "Desk")
    await store.subscribe(old, "ETH", "RUT", window_days=90, kinds=DEFAULT_KINDS)
    await store.set_thresholds(old, {"dwell": 3})
    await store.set_timezone(old, "Europe/Berlin")
    moved = await store.migrate_chat("telegram", "-4242", "-1004242")
    assert moved is not None and moved.id == old.id and moved.chat_id == "-1004242"
    assert moved.timezone == "Europe/Berlin" and moved.default_thresholds == {"dwell": 3}
    assert await store.get_chat("telegram", "-4242") is None
    assert [(s.pair, s.thresholds) for s in await store.list_subscriptions(moved)] == [("ETH:RUT", {"dwell": 3})]
    again = await store.migrate_chat("telegram", "-4242", "-1004242")  # Telegram reports it from both sides
    assert again == moved
    assert await store.migrate_chat("telegram", "-1", "-2") is None


async def test_migrate_chat_merges_into_an_existing_new_chat(store: Store) -> None:
    old = await store.upsert_chat("telegram", "-77", "group", "Desk")
    await store.subscribe(old, "ETH", "RUT", window_days=90, kinds=DEFAULT_KINDS)
    await store.subscribe(old, "BTC", "SPY", window_days=30, kinds=DEFAULT_KINDS)
    await store.set_timezone(old, "Asia/Tokyo")
    await store.set_quiet_hours(old, QuietHours(time(23), time(6)))
    # Someone used the bot in the supergroup before the move was noticed.
    new = await store.upsert_chat("telegram", "-10077", "supergroup", "Desk")
    await store.subscribe(new, "ETH", "RUT", window_days=365, kinds=DEFAULT_KINDS)  # newer: wins over the old ETH:RUT
    await store.subscribe(new, "ETH", "QQQ", window_days=90, kinds=DEFAULT_KINDS)
    await store.set_timezone(new, "Europe/London")  # set on purpose: kept
    merged = await store.migrate_chat("telegram", "-77", "-10077")
    assert merged is not None and merged.id == new.id and merged.active
    assert merged.timezone == "Europe/London" and merged.quiet_hours == QuietHours(time(23), time(6))
    subscriptions = {s.pair: s.window_days for s in await store.list_subscriptions(merged)}
    assert subscriptions == {"ETH:RUT": 365, "ETH:QQQ": 90, "BTC:SPY": 30}
    left = await store.get_chat("telegram", "-77")
    assert left is not None and not left.active and left.inactive_reason == "migrated to -10077"
    assert await store.list_subscriptions(left) == []
    assert {w.subscription.pair for w in await store.active_subscriptions()} == {"ETH:RUT", "ETH:QQQ", "BTC:SPY"}
    assert await store.migrate_chat("telegram", "-77", "-10077") == merged


async def test_migrate_chat_keeps_the_more_recently_changed_twin(store: Store) -> None:
    new = await store.upsert_chat("telegram", "-10088", "group", None)
    await store.subscribe(new, "ETH", "RUT", window_days=90, kinds=DEFAULT_KINDS)
    old = await store.upsert_chat("telegram", "-88", "group", None)
    await store.subscribe(old, "ETH", "RUT", window_days=90, kinds=DEFAULT_KINDS)
    await store.set_window(old, 180, pair=("ETH", "RUT"))  # changed last: the old chat's setting wins
    merged = await store.migrate_chat("telegram", "-88", "-10088")
    assert merged is not None
    assert [(s.pair, s.window_days) for s in await store.list_subscriptions(merged)] == [("ETH:RUT", 180)]


# ---------------------------------------------------------------- engines


async def test_memory_database_survives_across_sessions() -> None:
    store = await open_store("sqlite://")
    try:
        chat = await store.upsert_chat("console", "console", "private", None)
        await asyncio.gather(*(store.subscribe(chat, "ETH", b, window_days=90, kinds=DEFAULT_KINDS)
                               for b in ("RUT", "SPY", "QQQ")))
        assert len(await store.list_subscriptions(chat)) == 3
    finally:
        await store.close()


async def test_a_second_process_can_write_while_the_first_is_busy(database: Database) -> None:
    """The bot and a CLI command on one SQLite file: writers wait for each other instead of failing."""
    bot, cli = await database.open(), await database.open(migrate=False)
    try:
        chats = await asyncio.gather(
            *(s.upsert_chat("cli", str(i), "private", None) for i in range(5) for s in (bot, cli))
        )
        chat = chats[0]
        await asyncio.gather(
            *(s.set_window(chat, 30 + i) for i in range(4) for s in (bot, cli)),
            *(s.subscribe(chat, "ETH", b, window_days=90, kinds=DEFAULT_KINDS)
              for b in ("RUT", "SPY", "QQQ", "IWM") for s in (bot, cli)),
        )
        assert len(await cli.list_subscriptions(chat)) == 4
    finally:
        await bot.close()
        await cli.close()


async def test_repr_never_shows_a_password() -> None:
    hidden = await open_store("postgresql://bot:hunter2@127.0.0.1:1/none", migrate=False)
    try:
        assert repr(hidden) == "Store(postgresql+asyncpg://bot:***@127.0.0.1:1/none)"
    finally:
        await hidden.close()


async def test_sqlite_readers_do_not_wait_for_a_writer(tmp_path) -> None:
    """WAL + deferred BEGIN for reads: /subscriptions answers while another process holds the write lock."""
    database = Database("sqlite", f"sqlite:///{tmp_path / 'wal.sqlite3'}")
    writer, reader = await database.open(), await database.open(migrate=False)
    try:
        chat = await reader.upsert_chat("telegram", "1", "private", None)
        await reader.subscribe(chat, "ETH", "RUT", window_days=90, kinds=DEFAULT_KINDS)
        async with writer.engine.begin() as held:  # BEGIN IMMEDIATE: the write lock is taken and kept
            await held.execute(select(1))
            listed = await asyncio.wait_for(reader.list_subscriptions(chat), timeout=2)
        assert [s.pair for s in listed] == ["ETH:RUT"]
    finally:
        await writer.close()
        await reader.close()


async def test_writers_of_one_process_queue_for_a_sqlite_file_without_its_busy_handler(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """50 new chats at once: with SQLite's busy timeout cut to 1 ms, writers that met each other inside SQLite
    would fail with "database is locked"; queued in the process first, every one is recorded."""
    from bot.store import engine

    monkeypatch.setattr(engine, "BUSY_TIMEOUT_SECONDS", 0.001)
    store = await open_store(f"sqlite:///{tmp_path}/queue.sqlite3")
    try:
        chats = await asyncio.gather(*(store.upsert_chat("telegram", str(1000 + i)) for i in range(50)))
        assert sorted(int(c.chat_id) for c in chats) == list(range(1000, 1050))
        assert len({c.id for c in chats}) == 50
    finally:
        await store.close()


async def test_a_write_that_never_finishes_costs_the_next_writer_one_line_not_a_hang(tmp_path) -> None:
    from bot.store import StoreUnavailable

    store = await open_store(f"sqlite:///{tmp_path}/stuck.sqlite3")
    store.db.write_wait_seconds = 0.2
    inside, release = asyncio.Event(), asyncio.Event()

    async def stuck_write() -> None:
        async with store.db.session(write=True):
            inside.set()
            await release.wait()

    holder = asyncio.create_task(stuck_write())
    try:
        await inside.wait()
        with pytest.raises(StoreUnavailable, match=r"busy: a write of this process did not finish in 0\.2 s"):
            await store.upsert_chat("telegram", "42")
        release.set()
        await holder
        assert (await store.upsert_chat("telegram", "42")).chat_id == "42"  # the queue moves on afterwards
    finally:
        release.set()
        await holder
        await store.close()
