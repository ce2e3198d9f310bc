"""`Store`: every read and write of chats and subscriptions, one short transaction per call.

Methods take and return the immutable records of `bot.store.records`, never ORM objects, so nothing
lazy-loads after its session has gone. Chat-scoped methods take a `Chat` from `upsert_chat`/`get_chat`.
Settings methods take `pair=(asset, benchmark)` for one subscription, or apply chat-wide when it is None:
then every subscription of the chat changes, and the value becomes the chat's default for later ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import utcnow
from bot.store.database import Database, Repository, affected
from bot.store.errors import ChatNotFound, SubscriptionNotFound
from bot.store.migrate import stored_revision
from bot.store.models import ChatRow, SubscriptionRow
from bot.store.preferences import (
    QuietHours,
    SettingError,
    check_quiet_hours,
    check_threshold_values,
    check_thresholds,
    check_timezone,
    dump_thresholds,
    load_thresholds,
)
from bot.store.records import Chat, ChatSubscription, Subscription
from bot.store.urls import redact_url
from bot.store.values import ChatKind, DigestMode, dump_kinds
from bot.windows import MAX_DAYS, MIN_DAYS

Pair = tuple[str, str]
_REASON_LIMIT = 255
_TITLE_LIMIT = 255
_CHAT_KIND_ALIASES = {"supergroup": ChatKind.GROUP, "dm": ChatKind.PRIVATE, "user": ChatKind.PRIVATE}




def chat_kind(kind: str) -> ChatKind:
    """Our three chat kinds from a transport's word for it (Telegram's `supergroup` is a group)."""
    lowered = kind.strip().lower()
    return _CHAT_KIND_ALIASES.get(lowered) or ChatKind(lowered)


class Store(Repository):
    """Chats and subscriptions. Opens its `Database` on first use (`await store.open()` to do it now)."""

    def __init__(self, db: Database) -> None:
        super().__init__(db)

    def __repr__(self) -> str:
        return f"Store({redact_url(self.engine.url)})"

    async def open(self) -> None:
        await self.db.open()

    async def close(self) -> None:
        await self.db.close()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def schema_revision(self) -> str | None:
        await self.db.open()
        return await stored_revision(self.engine)

    async def ping(self) -> None:
        """One round trip to the database (health checks); raises when it can't be reached."""
        async with self._read() as session:
            await session.execute(select(1))

    # ------------------------------------------------------------------ chats

    async def get_chat(self, platform: str, chat_id: str) -> Chat | None:
        async with self._read() as session:
            row = await _chat_by_address(session, platform, str(chat_id))
            return Chat.from_row(row) if row else None

    async def upsert_chat(
        self, platform: str, chat_id: str, kind: str = ChatKind.PRIVATE, title: str | None = None
    ) -> Chat:
        """The chat's row, created on first sight; kind and a known title follow what the transport says."""
        kind_value = chat_kind(kind).value
        title = title[:_TITLE_LIMIT] if title else None
        existing = await self.get_chat(platform, chat_id)
        if existing and existing.kind == kind_value and (title is None or existing.title == title):
            return existing
        now = utcnow()
        async with self._write() as session:
            insert = self._insert(ChatRow).values(
                platform=platform, chat_id=str(chat_id), kind=kind_value, title=title, created_at=now, updated_at=now
            )
            changes: dict[str, Any] = {"kind": insert.excluded.kind, "updated_at": now}
            if title is not None:
                changes["title"] = insert.excluded.title
            await session.execute(
                insert.on_conflict_do_update(index_elements=["platform", "chat_id"], set_=changes)
            )
            row = await _chat_by_address(session, platform, str(chat_id))
            assert row is not None
            return Chat.from_row(row)

    async def mark_inactive(self, platform: str, chat_id: str, reason: str) -> bool:
        """Stop delivering to a chat (bot blocked, kicked, chat gone); its subscriptions are kept."""
        return await self._set_active(platform, chat_id, active=False, reason=reason[:_REASON_LIMIT] or "inactive")

    async def reactivate(self, platform: str, chat_id: str) -> bool:
        """Deliver to the chat again, with the subscriptions it had; False if it was not inactive."""
        return await self._set_active(platform, chat_id, active=True, reason=None)

    async def reactivate_many(self, platform: str, chat_ids: Iterable[str]) -> int:
        """Those of these chats that are inactive get deliveries again (the bot is back in their server);
        how many. Ids the store doesn't know are ignored."""
        wanted = [str(c) for c in chat_ids]
        if not wanted:
            return 0
        async with self._write() as session:
            result = await session.execute(
                update(ChatRow)
                .where(ChatRow.platform == platform, ChatRow.chat_id.in_(wanted), ChatRow.active.is_(False))
                .values(active=True, inactive_reason=None, updated_at=utcnow())
                .execution_options(synchronize_session=False)
            )
            return affected(result)

    async def _set_active(self, platform: str, chat_id: str, *, active: bool, reason: str | None) -> bool:
        async with self._write() as session:
            result = await session.execute(
                update(ChatRow)
                .where(ChatRow.platform == platform, ChatRow.chat_id == str(chat_id), ChatRow.active != active)
                .values(active=active, inactive_reason=reason, updated_at=utcnow())
                .execution_options(synchronize_session=False)
            )
            return affected(result) > 0

    async def migrate_chat(self, platform: str, old_id: str, new_id: str) -> Chat | None:
        """A chat changed id (Telegram group -> supergroup): its settings and subscriptions follow.

        If the new id already has a row (someone used the bot there before the move was noticed), the two
        merge: subscriptions the new chat lacks move over; for a pair both have, the more recently changed
        one wins; chat settings the new chat left at their defaults are taken from the old one. The old row
        stays, inactive, as a record of the move. Safe to call twice.
        """
        async with self._write() as session:
            old = await _chat_by_address(session, platform, str(old_id))
            new = await _chat_by_address(session, platform, str(new_id))
            if old is None:
                return Chat.from_row(new) if new else None
            if new is None:
                old.chat_id = str(new_id)
                await session.flush()
                return Chat.from_row(old)
            await _move_subscriptions(session, old, new)
            _inherit_settings(old, new)
            new.active, new.inactive_reason = True, None
            old.active, old.inactive_reason = False, f"migrated to {new_id}"[:_REASON_LIMIT]
            await session.flush()
            return Chat.from_row(new)

    async def set_timezone(self, chat: Chat, timezone: str) -> Chat:
        name = check_timezone(timezone)
        return await self._update_chat(chat, timezone=name)

    async def set_quiet_hours(self, chat: Chat, quiet_hours: QuietHours | None) -> Chat:
        if quiet_hours is None:
            return await self._update_chat(chat, quiet_start=None, quiet_end=None)
        checked = check_quiet_hours(quiet_hours.start, quiet_hours.end)
        return await self._update_chat(chat, quiet_start=checked.start, quiet_end=checked.end)

    async def set_mention_role(self, chat: Chat, role: str | None) -> Chat:
        """A role to mention on every alert to `chat` (None: nobody)."""
        return await self._update_chat(chat, mention_role=role[:32] if role else None)

    async def _update_chat(self, chat: Chat, **values: Any) -> Chat:
        async with self._write() as session:
            row = await _chat_row(session, chat.id)
            for name, value in values.items():
                setattr(row, name, value)
            await session.flush()
            return Chat.from_row(row)

    # ---------------------------------------------------------- subscriptions

    async def subscribe(
        self,
        chat: Chat,
        asset: str,
        benchmark: str,
        *,
        window_days: int,
        kinds: Iterable[str],
        thresholds: Mapping[str, float | int] | None = None,
        digest: DigestMode | None = None,
    ) -> tuple[Subscription, bool]:
        """Subscribe the chat to a pair; `created` is False when it already was (nothing changes then).

        Thresholds and digest mode default to the chat's defaults. Safe under concurrency: the row is
        inserted with ON CONFLICT DO NOTHING, so racing callers leave exactly one.
        """
        kind_set = _kind_set(kinds)
        _check_pair(asset, benchmark)
        _check_window(window_days)
        checked = check_thresholds(thresholds) if thresholds is not None else None
        async with self._write() as session:
            chat_row = await _chat_row(session, chat.id)
            now = utcnow()
            insert = self._insert(SubscriptionRow).values(
                chat_pk=chat.id,
                asset=asset,
                benchmark=benchmark,
                window_days=window_days,
                thresholds=dump_thresholds(checked) if checked is not None else chat_row.default_thresholds,
                digest_mode=(digest or DigestMode(chat_row.default_digest_mode)).value,
                created_at=now,
                updated_at=now,
                kinds=dump_kinds(kind_set),
            )
            inserted = await session.execute(
                insert.on_conflict_do_nothing(index_elements=["chat_pk", "asset", "benchmark"]).returning(
                    SubscriptionRow.id
                )
            )
            created = inserted.scalar_one_or_none() is not None
            row = await _subscription_row(session, chat.id, (asset, benchmark))
            assert row is not None
            return Subscription.from_row(row), created

    async def list_subscriptions(self, chat: Chat) -> list[Subscription]:
        async with self._read() as session:
            return [Subscription.from_row(row) for row in await _subscription_rows(session, chat.id, None)]

    async def unsubscribe(self, chat: Chat, asset: str, benchmark: str) -> bool:
        async with self._write() as session:
            result = await session.execute(
                delete(SubscriptionRow).where(
                    SubscriptionRow.chat_pk == chat.id,
                    SubscriptionRow.asset == asset,
                    SubscriptionRow.benchmark == benchmark,
                )
            )
            return affected(result) > 0

    async def unsubscribe_all(self, chat: Chat) -> list[Subscription]:
        """Remove every subscription of the chat; returns what was removed."""
        async with self._write() as session:
            rows = await _subscription_rows(session, chat.id, None)
            removed = [Subscription.from_row(row) for row in rows]
            await session.execute(delete(SubscriptionRow).where(SubscriptionRow.chat_pk == chat.id))
            return removed

    async def set_kinds(self, chat: Chat, asset: str, benchmark: str, kinds: Iterable[str]) -> Subscription:
        text = dump_kinds(_kind_set(kinds))

        def change(row: SubscriptionRow) -> None:
            row.kinds = text

        (updated,) = await self._update_subscriptions(chat, (asset, benchmark), change)
        return updated

    async def set_thresholds(
        self, chat: Chat, values: Mapping[str, float | int], *, pair: Pair | None = None
    ) -> list[Subscription]:
        """Merge `values` into the thresholds of one subscription or (pair=None) of the whole chat.

        Each merged result is validated on its own (a pair may carry other overrides); the first that
        fails aborts the whole change with a SettingError that names the pair.
        """
        values = check_threshold_values(values)

        def merge(current: str, label: str) -> str:
            try:
                return dump_thresholds(check_thresholds({**load_thresholds(current), **values}))
            except SettingError as error:
                message = str(error)
                raise SettingError(f"For {label}, {message[:1].lower()}{message[1:]}") from None

        def change(row: SubscriptionRow) -> None:
            row.thresholds = merge(row.thresholds, f"{row.asset} vs {row.benchmark}")

        def change_chat(row: ChatRow) -> None:
            row.default_thresholds = merge(row.default_thresholds, "this chat's defaults")

        return await self._update_subscriptions(chat, pair, change, change_chat)

    async def reset_thresholds(self, chat: Chat, *, pair: Pair | None = None) -> list[Subscription]:
        def change(row: SubscriptionRow) -> None:
            row.thresholds = dump_thresholds({})

        def change_chat(row: ChatRow) -> None:
            row.default_thresholds = dump_thresholds({})

        return await self._update_subscriptions(chat, pair, change, change_chat)

    async def set_window(self, chat: Chat, window_days: int, *, pair: Pair | None = None) -> list[Subscription]:
        _check_window(window_days)

        def change(row: SubscriptionRow) -> None:
            row.window_days = window_days

        def change_chat(row: ChatRow) -> None:
            row.default_window_days = window_days

        return await self._update_subscriptions(chat, pair, change, change_chat)

    async def set_digest(self, chat: Chat, mode: DigestMode, *, pair: Pair | None = None) -> list[Subscription]:
        mode = DigestMode(mode)

        def change(row: SubscriptionRow) -> None:
            row.digest_mode = mode.value

        def change_chat(row: ChatRow) -> None:
            row.default_digest_mode = mode.value

        return await self._update_subscriptions(chat, pair, change, change_chat)

    async def active_subscriptions(self) -> list[ChatSubscription]:
        """Every subscription of every active chat: the alert engine's work list."""
        async with self._read() as session:
            rows = await session.execute(
                select(ChatRow, SubscriptionRow)
                .join(SubscriptionRow, SubscriptionRow.chat_pk == ChatRow.id)
                .where(ChatRow.active.is_(True))
                .order_by(ChatRow.id, SubscriptionRow.id)
            )
            return [ChatSubscription(Chat.from_row(chat), Subscription.from_row(sub)) for chat, sub in rows]

    async def platform_subscriptions(self, platform: str) -> list[ChatSubscription]:
        """Every subscription of the platform's chats, active or not (`webhook list` shows disabled hooks)."""
        async with self._read() as session:
            rows = await session.execute(
                select(ChatRow, SubscriptionRow)
                .join(SubscriptionRow, SubscriptionRow.chat_pk == ChatRow.id)
                .where(ChatRow.platform == platform)
                .order_by(ChatRow.id, SubscriptionRow.id)
            )
            return [ChatSubscription(Chat.from_row(chat), Subscription.from_row(sub)) for chat, sub in rows]

    async def _update_subscriptions(
        self,
        chat: Chat,
        pair: Pair | None,
        change: Callable[[SubscriptionRow], None],
        change_chat: Callable[[ChatRow], None] | None = None,
    ) -> list[Subscription]:
        async with self._write() as session:
            chat_row = await _chat_row(session, chat.id)
            rows = await _subscription_rows(session, chat.id, pair)
            if pair is not None and not rows:
                raise SubscriptionNotFound(pair)
            for row in rows:
                change(row)
            if pair is None and change_chat is not None:
                change_chat(chat_row)
            await session.flush()
            return [Subscription.from_row(row) for row in rows]

    # ------------------------------------------------------------- plumbing



async def _chat_by_address(session: AsyncSession, platform: str, chat_id: str) -> ChatRow | None:
    return await session.scalar(select(ChatRow).where(ChatRow.platform == platform, ChatRow.chat_id == chat_id))


async def _chat_row(session: AsyncSession, pk: int) -> ChatRow:
    row = await session.get(ChatRow, pk)
    if row is None:
        raise ChatNotFound(f"no chat with id {pk}")
    return row


async def _subscription_row(session: AsyncSession, chat_pk: int, pair: Pair) -> SubscriptionRow | None:
    rows = await _subscription_rows(session, chat_pk, pair)
    return rows[0] if rows else None


async def _subscription_rows(session: AsyncSession, chat_pk: int, pair: Pair | None) -> list[SubscriptionRow]:
    query = select(SubscriptionRow).where(SubscriptionRow.chat_pk == chat_pk).order_by(SubscriptionRow.id)
    if pair is not None:
        query = query.where(SubscriptionRow.asset == pair[0], SubscriptionRow.benchmark == pair[1])
    return list((await session.scalars(query)).all())


async def _move_subscriptions(session: AsyncSession, old: ChatRow, new: ChatRow) -> None:
    kept = {(row.asset, row.benchmark): row for row in await _subscription_rows(session, new.id, None)}
    for row in await _subscription_rows(session, old.id, None):
        twin = kept.get((row.asset, row.benchmark))
        if twin is not None and twin.updated_at >= row.updated_at:
            await session.delete(row)
            continue
        if twin is not None:
            await session.delete(twin)
            await session.flush()  # the twin's row must be gone before its pair is taken over
        row.chat_pk = new.id
    await session.flush()


_CHAT_SETTINGS_AT_DEFAULT: dict[tuple[str, ...], Callable[[ChatRow], bool]] = {
    ("timezone",): lambda row: row.timezone == "UTC",
    ("quiet_start", "quiet_end"): lambda row: row.quiet_start is None,
    ("language",): lambda row: row.language == "en",
    ("default_window_days",): lambda row: row.default_window_days is None,
    ("default_thresholds",): lambda row: not load_thresholds(row.default_thresholds),
    ("default_digest_mode",): lambda row: row.default_digest_mode == DigestMode.OFF.value,
}


def _inherit_settings(old: ChatRow, new: ChatRow) -> None:
    for names, at_default in _CHAT_SETTINGS_AT_DEFAULT.items():
        if at_default(new) and not at_default(old):
            for name in names:
                setattr(new, name, getattr(old, name))


def _kind_set(kinds: Iterable[str]) -> frozenset[str]:
    kind_set = frozenset(str(kind) for kind in kinds)
    if not kind_set or not all(kind.isidentifier() for kind in kind_set):
        raise SettingError("Choose at least one alert kind")
    return kind_set


def _check_pair(asset: str, benchmark: str) -> None:
    if asset == benchmark:
        raise SettingError(f"{asset} against itself is always perfectly correlated: pick two different assets")


def _check_window(window_days: int) -> None:
    if not MIN_DAYS <= window_days <= MAX_DAYS:
        raise SettingError(f"The window must be {MIN_DAYS} to {MAX_DAYS} days, not {window_days}")
