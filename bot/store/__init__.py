"""Everything that must survive a restart: chats, subscriptions and their settings (SQLite or PostgreSQL).

    store = await open_store(settings.database_url)   # migrates to the latest schema first
    chat = await store.upsert_chat("telegram", "-100123", "group", "Traders")
    subscription, created = await store.subscribe(chat, "ETH", "RUT", window_days=90)

`python -m bot db upgrade` migrates with `open_store` (bot/cli/db.py).
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.store.database import Database
    from bot.store.errors import ChatNotFound, DatabaseUrlError, StoreUnavailable, SubscriptionNotFound
    from bot.store.migrate import head_revision
    from bot.store.preferences import QuietHours, SettingError
    from bot.store.records import Chat, ChatSubscription, Subscription
    from bot.store.repository import Store
    from bot.store.urls import normalise_database_url, redact_url
    from bot.store.values import ChatKind, DigestMode

# Loaded when first used (PEP 562), so that importing a light part of the store (bot.store.preferences, the
# errors) does not import SQLAlchemy: `python -m bot ask /help` never needs it.
_EXPORTS = {
    "Database": "database", "StoreUnavailable": "errors", "head_revision": "migrate",
    "ChatKind": "values", "DigestMode": "values", "QuietHours": "preferences", "SettingError": "preferences",
    "Chat": "records", "ChatSubscription": "records", "Subscription": "records", "ChatNotFound": "errors",
    "Store": "repository", "SubscriptionNotFound": "errors", "DatabaseUrlError": "errors",
    "normalise_database_url": "urls", "redact_url": "urls",
}
__all__ = [
    "Chat", "ChatKind", "ChatNotFound", "ChatSubscription", "Database", "DatabaseUrlError", "DigestMode",
    "QuietHours", "SettingError", "Store", "StoreUnavailable", "Subscription", "SubscriptionNotFound",
    "head_revision", "normalise_database_url", "open_store", "redact_url",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'bot.store' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"bot.store.{module}"), name)
    globals()[name] = value
    return value


log = logging.getLogger(__name__)


async def open_store(database_url: str, *, migrate: bool = True, schema: str | None = None) -> Store:
    """Connect to `database_url` now, bring its schema up to date (unless `migrate=False`), return the Store.
    (The composition root builds `Store(Database(url))` instead, which connects on first use.)

    `schema` (PostgreSQL only) puts every table, alembic_version included, in that schema; it must exist.
    """
    from bot.store.database import Database
    from bot.store.repository import Store
    from bot.store.urls import redact_url

    store = Store(Database(database_url, migrate=migrate, schema=schema))
    if not migrate:
        return store  # connects on first use
    try:
        await store.open()
    except BaseException:
        await store.close()
        raise
    log.info("store: %s%s", redact_url(store.engine.url), f" (schema {schema})" if schema else "")
    return store
