"""Per-webhook signing secrets (`webhook_secrets`, migration 0007): made by `webhook add`, replaced by
`webhook rotate`, read by the webhook notifier for every signed request. Never logged (the engine hides
statement parameters, the driver's logger is quiet)."""

from __future__ import annotations

import secrets

from sqlalchemy import select

from bot.clock import utcnow
from bot.store.database import Repository
from bot.store.models import ChatRow, WebhookSecretRow

PLATFORM = "webhook"
SECRET_PREFIX = "whsec_"  # recognisable in a receiver's configuration and by secret scanners


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


class HookSecrets(Repository):
    async def secret_for(self, url: str) -> str | None:
        """The hook's own secret, or None when it signs with WEBHOOK_SECRET (added before per-hook secrets)."""
        query = (select(WebhookSecretRow.secret).join(ChatRow, ChatRow.id == WebhookSecretRow.chat_pk)
                 .where(ChatRow.platform == PLATFORM, ChatRow.chat_id == url))
        async with self._read() as session:
            return (await session.execute(query)).scalar()

    async def has_secret(self, chat_pk: int) -> bool:
        async with self._read() as session:
            query = select(WebhookSecretRow.chat_pk).where(WebhookSecretRow.chat_pk == chat_pk)
            return (await session.execute(query)).scalar() is not None

    async def replace(self, chat_pk: int) -> str:
        """A new secret for the hook, stored in place of any old one; the caller shows it once."""
        secret, now = new_secret(), utcnow()
        async with self._write() as session:
            insert = self._insert(WebhookSecretRow).values(chat_pk=chat_pk, secret=secret, created_at=now)
            await session.execute(insert.on_conflict_do_update(index_elements=["chat_pk"],
                                                               set_={"secret": secret, "created_at": now}))
        return secret
