"""Small named values the bot keeps between runs (e.g. which slash commands were last synced to Discord)."""

from __future__ import annotations

from sqlalchemy import select

from bot.clock import utcnow
from bot.store.database import Repository, unit_of_work
from bot.store.models import BotStateRow


class StateRepo(Repository):
    @unit_of_work
    async def get(self, key: str) -> str | None:
        async with self._read() as session:
            return (await session.execute(select(BotStateRow.value).where(BotStateRow.key == key))).scalar()

    @unit_of_work
    async def put(self, key: str, value: str) -> None:
        now = utcnow()
        async with self._write() as session:
            insert = self._insert(BotStateRow).values(key=key, value=value, updated_at=now)
            await session.execute(insert.on_conflict_do_update(index_elements=["key"],
                                                               set_={"value": value, "updated_at": now}))
