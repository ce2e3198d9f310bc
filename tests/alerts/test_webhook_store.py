"""Long webhook URLs in the store (migration 0005: chats.chat_id is VARCHAR(2048)), on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import insert, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from bot.alerts.kinds import DEFAULT_KINDS
from bot.alerts.webhook_urls import check_webhook_url
from bot.store import Store
from bot.store.migrate import alembic_config
from bot.store.models import ChatRow
from tests.store.conftest import fresh_database  # noqa: F401  (fixture)
from tests.store.support import Database

LONG_URL = "https://relay.example.com/hooks/decoupler?route=" + "a1b2c3d4e5" * 150  # 1,547 characters


async def test_a_1500_character_webhook_url_round_trips(store: Store):
    url = check_webhook_url(LONG_URL)  # today: refused over 64 characters (and too long for the column)
    assert len(url) > 1500
    chat = await store.upsert_chat("webhook", url, "channel", "relay")
    await store.subscribe(chat, "ETH", "RUT", window_days=90, kinds=DEFAULT_KINDS)
    assert (await store.upsert_chat("webhook", url, "channel", "relay")).id == chat.id
    found = await store.get_chat("webhook", url)
    assert found is not None and found.chat_id == url and found.id == chat.id
    assert [row.chat.chat_id for row in await store.platform_subscriptions("webhook")] == [url]
    assert await store.mark_inactive("webhook", url, "disabled: gave up after 26 attempts")
    (row,) = await store.platform_subscriptions("webhook")  # an inactive hook is still listed, with its reason
    assert not row.chat.active and row.chat.inactive_reason == "disabled: gave up after 26 attempts"
    assert await store.active_subscriptions() == []
    assert await store.reactivate("webhook", url)
    with pytest.raises(IntegrityError):  # (platform, chat_id) stays unique
        async with store.engine.begin() as connection:
            await connection.execute(insert(ChatRow).values(platform="webhook", chat_id=url, kind="channel"))


def _migrate(connection: Connection, revision: str, *, down: bool = False) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    (command.downgrade if down else command.upgrade)(config, revision)


async def _count(store: Store, table: str) -> int:
    async with store.engine.connect() as connection:
        return (await connection.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()


async def test_migration_0005_widens_chat_ids_and_keeps_every_row(fresh_database: Database):  # noqa: F811
    """On SQLite the table is rebuilt; the rebuild must not cascade to subscriptions and deliveries."""
    store = await fresh_database.open(migrate=False)
    try:
        await store.open()  # connects (and makes the SQLite folder); migrate=False leaves the schema alone
        async with store.engine.begin() as connection:
            await connection.run_sync(_migrate, "0004")
        async with store.engine.begin() as connection:
            for sql in (
                "INSERT INTO chats (platform, chat_id, kind) VALUES ('telegram', '42', 'private')",
                "INSERT INTO subscriptions (chat_pk, asset, benchmark, window_days, kinds) "
                "VALUES (1, 'ETH', 'RUT', 90, 'regime')",
                "INSERT INTO rule_instances (asset, benchmark, window_days, calendar) "
                "VALUES ('ETH', 'RUT', 90, 'XNYS')",
                "INSERT INTO alerts (rule_instance_id, kind, as_of, payload) VALUES (1, 'regime', '2026-01-16', '{}')",
                "INSERT INTO deliveries (alert_id, chat_pk, platform, status, bundle, not_before, attempts) "
                "VALUES (1, 1, 'telegram', 'pending', false, '2026-01-16 21:00:00+00', 0)",
            ):
                await connection.execute(text(sql))
        async with store.engine.begin() as connection:
            await connection.run_sync(_migrate, "0005")
        assert [await _count(store, t) for t in ("chats", "subscriptions", "alerts", "deliveries")] == [1, 1, 1, 1]
        assert await store.schema_revision() == "0005"
        async with store.engine.begin() as connection:  # plain SQL: the models are at the newest revision
            await connection.execute(text("INSERT INTO chats (platform, chat_id, kind) VALUES ('webhook', :id, "
                                          "'channel')"), {"id": LONG_URL})
            stored = (await connection.execute(text("SELECT chat_id FROM chats WHERE platform = 'webhook'"))).scalar()
        assert stored == LONG_URL
        async with store.engine.begin() as connection:  # down again: the long id cannot exist there
            await connection.run_sync(_migrate, "0004", down=True)
        assert [await _count(store, t) for t in ("chats", "subscriptions", "deliveries")] == [1, 1, 1]
    finally:
        await store.close()
