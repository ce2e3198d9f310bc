"""Everything that must survive a restart: chats, subscriptions and their settings (SQLite or PostgreSQL).

    store = await open_store(settings.database_url)   # migrates to the latest schema first
    chat = await store.upsert_chat("telegram", "-100123", "group", "Traders")
    subscription, created = await store.subscribe(chat, "ETH", "RUT", window_days=90)

`upgrade(url)` is the blocking migration for `python -m bot db upgrade`.
"""

from __future__ import annotations

import logging

from bot.store.engine import create_store_engine
from bot.store.migrate import head_revision, migrate_engine, upgrade
from bot.store.models import ALL_ALERT_KINDS, AlertKind, ChatKind, DigestMode
from bot.store.preferences import QuietHours, SettingError
from bot.store.records import Chat, ChatSubscription, Subscription
from bot.store.repository import ChatNotFound, Store, SubscriptionNotFound
from bot.store.urls import DatabaseUrlError, normalise_database_url, redact_url

__all__ = [
    "ALL_ALERT_KINDS",
    "AlertKind",
    "Chat",
    "ChatKind",
    "ChatNotFound",
    "ChatSubscription",
    "DatabaseUrlError",
    "DigestMode",
    "QuietHours",
    "SettingError",
    "Store",
    "Subscription",
    "SubscriptionNotFound",
    "head_revision",
    "normalise_database_url",
    "open_store",
    "redact_url",
    "upgrade",
]

log = logging.getLogger(__name__)


async def open_store(database_url: str, *, migrate: bool = True, schema: str | None = None) -> Store:
    """Connect to `database_url`, bring its schema up to date (unless `migrate=False`), return the Store.

    `schema` (PostgreSQL only) puts every table, alembic_version included, in that schema; it must exist.
    """
    engine = create_store_engine(database_url, schema=schema)
    if migrate:
        try:
            await migrate_engine(engine)
        except BaseException:
            await engine.dispose()
            raise
    store = Store(engine)
    log.info("store: %s%s", redact_url(engine.url), f" (schema {schema})" if schema else "")
    return store
