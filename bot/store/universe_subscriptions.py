"""Universe-wide subscriptions (no pair: asset and benchmark NULL) and the rule instances that serve them.

A chat has at most one universe-wide subscription row; its `kinds` lists the universe-wide alert kinds it
wants (which names exist is bot/alerts/kinds.py's business), its `window_days` the window they use. Writes
lock the chat's row first (SELECT … FOR UPDATE on PostgreSQL; SQLite writers queue on BEGIN IMMEDIATE), so
two racing `/subscribe scan` leave one row although NULLs never conflict in the pair's unique constraint.

The alert machinery keys a universe-wide kind's rule instance as (`UNIVERSE`, kind name, window, '{}'): its
alerts, deliveries and duplicate protection are those of any rule instance; its recipients are the chats
with a universe-wide subscription of that window (`subscription_match`; the kind filter is the deliveries').
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import utcnow
from bot.store.database import Repository
from bot.store.errors import ChatNotFound
from bot.store.models import ChatRow, SubscriptionRow
from bot.store.preferences import SettingError
from bot.store.records import Chat, Subscription
from bot.store.values import DigestMode, dump_kinds, load_kinds
from bot.windows import MAX_DAYS, MIN_DAYS

if TYPE_CHECKING:
    from bot.store.alert_records import InstanceKey

UNIVERSE = "universe"  # rule_instances.asset of a universe-wide kind's instance (tickers are upper case)
NO_THRESHOLDS = "{}"  # a universe-wide instance has no thresholds


def is_universe(key: InstanceKey) -> bool:
    return key.asset == UNIVERSE


def subscription_match(key: InstanceKey) -> list[Any]:
    """WHERE conditions for the subscriptions a rule instance serves: equal pair, window and thresholds; or,
    for a universe-wide instance, every universe-wide subscription with its window."""
    if is_universe(key):
        return [SubscriptionRow.asset.is_(None), SubscriptionRow.window_days == key.window_days]
    return [
        SubscriptionRow.asset == key.asset,
        SubscriptionRow.benchmark == key.benchmark,
        SubscriptionRow.window_days == key.window_days,
        SubscriptionRow.thresholds == key.thresholds,
    ]


class UniverseSubscriptions(Repository):
    """A chat's universe-wide subscription: add kinds (and set the window), remove kinds, read it."""

    async def get(self, chat: Chat) -> Subscription | None:
        async with self._read() as session:
            row = await _universe_row(session, chat.id)
            return Subscription.from_row(row) if row is not None else None

    async def subscribe(
        self, chat: Chat, kinds: Iterable[str], *, window_days: int, keep_window: bool = False
    ) -> tuple[Subscription | None, Subscription]:
        """Add `kinds` to the chat's universe-wide subscription, creating it with `window_days` if it has
        none; an existing one takes `window_days` unless `keep_window`. Returns (before, after); before is
        None when the row was created."""
        wanted = frozenset(kinds)
        if not wanted or not all(kind.isidentifier() for kind in wanted):
            raise SettingError("Choose at least one alert kind")
        if not MIN_DAYS <= window_days <= MAX_DAYS:
            raise SettingError(f"The window must be {MIN_DAYS} to {MAX_DAYS} days, not {window_days}")
        async with self._write() as session:
            chat_row = await _locked_chat(session, chat.id)
            row = await _universe_row(session, chat.id)
            now = utcnow()
            if row is None:
                row = SubscriptionRow(
                    chat_pk=chat.id, asset=None, benchmark=None, kinds=dump_kinds(wanted), window_days=window_days,
                    thresholds=chat_row.default_thresholds,
                    digest_mode=DigestMode(chat_row.default_digest_mode).value, created_at=now, updated_at=now,
                )
                session.add(row)
                await session.flush()
                return None, Subscription.from_row(row)
            before = Subscription.from_row(row)
            kinds_text = dump_kinds(load_kinds(row.kinds) | wanted)
            window = row.window_days if keep_window else window_days
            if (kinds_text, window) != (row.kinds, row.window_days):
                row.kinds, row.window_days, row.updated_at = kinds_text, window, now
                await session.flush()
            return before, Subscription.from_row(row)

    async def unsubscribe(self, chat: Chat, kinds: Iterable[str]) -> tuple[Subscription, Subscription | None] | None:
        """Remove `kinds` from the chat's universe-wide subscription (the row goes with its last kind).
        Returns (before, after; None when the row went), or None when the chat had none of those kinds."""
        unwanted = frozenset(kinds)
        async with self._write() as session:
            await _locked_chat(session, chat.id)
            row = await _universe_row(session, chat.id)
            if row is None or not (load_kinds(row.kinds) & unwanted):
                return None
            before = Subscription.from_row(row)
            left = load_kinds(row.kinds) - unwanted
            if not left:
                await session.execute(delete(SubscriptionRow).where(SubscriptionRow.id == row.id))
                return before, None
            row.kinds, row.updated_at = dump_kinds(left), utcnow()
            await session.flush()
            return before, Subscription.from_row(row)


async def _locked_chat(session: AsyncSession, chat_pk: int) -> ChatRow:
    row = await session.scalar(select(ChatRow).where(ChatRow.id == chat_pk).with_for_update())
    if row is None:
        raise ChatNotFound(f"no chat with id {chat_pk}")
    return row


async def _universe_row(session: AsyncSession, chat_pk: int) -> SubscriptionRow | None:
    rows = (await session.scalars(
        select(SubscriptionRow)
        .where(SubscriptionRow.chat_pk == chat_pk, SubscriptionRow.asset.is_(None))
        .order_by(SubscriptionRow.id)
    )).all()
    return rows[0] if rows else None
