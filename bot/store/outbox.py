"""The outbox: deliveries claimed by a sender and their outcomes.

`claim` takes due deliveries for a sender: one UPDATE … WHERE status='pending' AND (unclaimed OR claim older
than the lease) that writes a fresh token, with FOR UPDATE SKIP LOCKED on PostgreSQL and BEGIN IMMEDIATE on
SQLite. Every later write about a claimed row names the token, so a sender whose claim was taken over after the
lease cannot overwrite the new owner's outcome.

Leases run by the database's clock, not the sender's: on PostgreSQL a claim's time and its age are read from the
server (`clock_timestamp()`), so a host whose clock runs fast can't take over claims that are still fresh. A SQLite
file has one host, whose clock the caller passes."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import as_utc
from bot.store.alert_history import stored_alert
from bot.store.alert_records import (
    ClaimedDelivery,
)
from bot.store.database import Repository, affected
from bot.store.models import AlertMediaRow, AlertRow, ChatRow, DeliveryRow, DeliveryStatus, RuleInstanceRow

_ERROR_LIMIT = 255


class OutboxRepo(Repository):
    """Claims, outcomes and media handles of deliveries."""

    # ------------------------------------------------------------ deliveries: claiming

    async def claim(
        self,
        platform: str,
        token: str,
        now: datetime,
        lease: timedelta,
        limit: int,
        *,
        bundles: bool = False,
        exclude: Collection[int] = (),
    ) -> list[ClaimedDelivery]:
        """Claim up to `limit` due deliveries (bundles: every due held delivery of up to `limit` chats).
        `exclude`: deliveries the caller holds already (it never takes its own stale claims over). `now` decides
        what is due; the lease is measured by the database's clock (see the module's docstring)."""
        async with self._write() as session:
            lease_now = await self._lease_clock(session, now)
            return await self._claim(session, platform, token, now, lease_now, lease, limit, bundles, exclude)

    async def _lease_clock(self, session: AsyncSession, now: datetime) -> datetime:
        """The time claims are stamped and aged with: the PostgreSQL server's, or `now` on SQLite."""
        if not self.db.postgres:
            return now
        stamp = await session.scalar(select(func.clock_timestamp()))
        return now if stamp is None else as_utc(stamp)

    async def _claim(self, session: AsyncSession, platform: str, token: str, now: datetime, lease_now: datetime,
                     lease: timedelta, limit: int, bundles: bool, exclude: Collection[int]) -> list[ClaimedDelivery]:
        claimable = and_(
            DeliveryRow.id.not_in(list(exclude)) if exclude else true(),
            DeliveryRow.status == DeliveryStatus.PENDING,
            DeliveryRow.platform == platform,
            DeliveryRow.not_before <= now,
            DeliveryRow.bundle.is_(bundles),
            or_(DeliveryRow.claimed_at.is_(None), DeliveryRow.claimed_at < lease_now - lease),
            DeliveryRow.chat_pk.in_(select(ChatRow.id).where(ChatRow.active.is_(True))),
        )
        due = select(DeliveryRow.id).where(claimable)
        if bundles:
            chats = select(DeliveryRow.chat_pk).where(claimable).group_by(DeliveryRow.chat_pk).order_by(
                func.min(DeliveryRow.not_before), DeliveryRow.chat_pk).limit(limit)
            due = due.where(DeliveryRow.chat_pk.in_(chats))
        else:
            due = due.order_by(DeliveryRow.not_before, DeliveryRow.id).limit(limit)
        if self.db.postgres:
            # Materialised: the locking sub-select runs exactly once. Inlined as a sub-plan, PostgreSQL may
            # run it again per row, each time skipping the rows this statement has just updated.
            locked = due.with_for_update(skip_locked=True).cte("due").prefix_with("MATERIALIZED")
            due = select(locked.c.id)
        claimed = (await session.execute(
            update(DeliveryRow)
            .where(DeliveryRow.id.in_(due), claimable)
            .values(claim_token=token, claimed_at=lease_now)
            .returning(DeliveryRow.id)
            .execution_options(synchronize_session=False)
        )).scalars().all()
        if not claimed:
            return []
        rows = await session.execute(
            select(DeliveryRow, AlertRow, RuleInstanceRow, ChatRow)
            .join(AlertRow, AlertRow.id == DeliveryRow.alert_id)
            .join(RuleInstanceRow, RuleInstanceRow.id == AlertRow.rule_instance_id)
            .join(ChatRow, ChatRow.id == DeliveryRow.chat_pk)
            .where(DeliveryRow.id.in_(claimed))
            .order_by(DeliveryRow.not_before, DeliveryRow.id)
        )
        return [
            ClaimedDelivery(d.id, stored_alert(a, i), d.chat_pk, d.platform, c.chat_id, c.kind, d.bundle,
                            d.attempts, as_utc(d.created_at))
            for d, a, i, c in rows
        ]

    async def mark_sent_many(
        self, items: Sequence[tuple[Sequence[int], str, str | None]], now: datetime
    ) -> list[int]:
        """Record several sends in one transaction (one UPDATE per claim token); per item, how many of its
        deliveries were still ours."""
        by_token: dict[str, dict[int, str | None]] = {}
        for ids, token, message_id in items:
            for delivery_id in ids:
                by_token.setdefault(token, {})[delivery_id] = message_id[:128] if message_id else None
        updated: set[int] = set()
        async with self._write() as session:
            for token, messages in by_token.items():
                known = {k: v for k, v in messages.items() if v is not None}
                new_id = case(known, value=DeliveryRow.id, else_=None) if known else None
                result = await session.execute(
                    update(DeliveryRow)
                    .where(DeliveryRow.id.in_(list(messages)), DeliveryRow.claim_token == token,
                           DeliveryRow.status == DeliveryStatus.PENDING)
                    .values(status=DeliveryStatus.SENT, sent_at=now, message_id=new_id, error=None, claim_token=None,
                            claimed_at=None, updated_at=now)
                    .returning(DeliveryRow.id)
                    .execution_options(synchronize_session=False)
                )
                updated.update(result.scalars().all())
        return [sum(1 for delivery_id in ids if delivery_id in updated) for ids, _, _ in items]

    async def mark_failed(self, ids: Sequence[int], token: str, now: datetime, error: str, *, attempted: bool) -> int:
        values: dict[str, Any] = {"status": DeliveryStatus.FAILED, "error": error[:_ERROR_LIMIT]}
        if attempted:
            values["attempts"] = DeliveryRow.attempts + 1
        return await self._finish(ids, token, now, **values)

    async def reschedule(
        self, ids: Sequence[int], token: str, now: datetime, not_before: datetime, error: str, *, attempted: bool
    ) -> int:
        """Back to pending, unclaimed, not before `not_before`; `attempted` counts it as a failed attempt."""
        values: dict[str, Any] = {"not_before": not_before, "error": error[:_ERROR_LIMIT]}
        if attempted:
            values["attempts"] = DeliveryRow.attempts + 1
        return await self._finish(ids, token, now, **values)

    async def renew(self, ids: Sequence[int], token: str, now: datetime) -> int:
        """Extend our claims (still pending, still ours) from the database's clock; returns how many were."""
        async with self._write() as session:
            result = await session.execute(
                update(DeliveryRow)
                .where(DeliveryRow.id.in_(list(ids)), DeliveryRow.claim_token == token,
                       DeliveryRow.status == DeliveryStatus.PENDING)
                .values(claimed_at=await self._lease_clock(session, now))
                .execution_options(synchronize_session=False)
            )
            return affected(result)

    async def release(self, ids: Sequence[int], token: str, now: datetime) -> int:
        """Give claims back untouched (a sender stopping before it sent them)."""
        return await self._finish(ids, token, now)

    async def _finish(self, ids: Sequence[int], token: str, now: datetime, **values: Any) -> int:
        if not ids:
            return 0
        async with self._write() as session:
            result = await session.execute(
                update(DeliveryRow)
                .where(DeliveryRow.id.in_(list(ids)), DeliveryRow.claim_token == token,
                       DeliveryRow.status == DeliveryStatus.PENDING)
                .values(claim_token=None, claimed_at=None, updated_at=now, **values)
                .execution_options(synchronize_session=False)
            )
            return affected(result)

    async def skip_chat(self, chat_pk: int, reason: str, now: datetime) -> int:
        """Nothing more goes to this chat: its pending deliveries become skipped."""
        async with self._write() as session:
            result = await session.execute(
                update(DeliveryRow)
                .where(DeliveryRow.chat_pk == chat_pk, DeliveryRow.status == DeliveryStatus.PENDING)
                .values(status=DeliveryStatus.SKIPPED, claim_token=None, claimed_at=None, error=reason[:_ERROR_LIMIT],
                        updated_at=now)
                .execution_options(synchronize_session=False)
            )
            return affected(result)

    async def move_to_chat(self, ids: Sequence[int], token: str, new_chat_pk: int, now: datetime) -> list[int]:
        """Point claimed deliveries at the chat's new row; returns those moved (a delivery of the same alert
        to the new chat may exist already: then this one is skipped instead)."""
        moved: list[int] = []
        async with self._write() as session:
            for delivery_id in ids:
                row = await session.get(DeliveryRow, delivery_id)
                if row is None or row.claim_token != token or row.status != DeliveryStatus.PENDING:
                    continue
                if row.chat_pk == new_chat_pk:
                    moved.append(delivery_id)
                    continue
                twin = await session.scalar(select(DeliveryRow.id).where(
                    DeliveryRow.alert_id == row.alert_id, DeliveryRow.chat_pk == new_chat_pk))
                if twin is None:
                    row.chat_pk = new_chat_pk
                    moved.append(delivery_id)
                else:
                    row.status, row.claim_token, row.claimed_at = DeliveryStatus.SKIPPED, None, None
                    row.error = "chat moved; the new chat has its own delivery"
                row.updated_at = now
        return moved

    # ------------------------------------------------------------ media handles

    async def sent_since(self, chat_pk: int, since: datetime) -> bool:
        """Has anything reached this chat since `since`?"""
        async with self._read() as session:
            found = await session.execute(
                select(DeliveryRow.id).where(DeliveryRow.chat_pk == chat_pk, DeliveryRow.status == DeliveryStatus.SENT,
                                             DeliveryRow.sent_at >= since).limit(1))
            return found.first() is not None

    async def media_handle(self, alert_id: int, platform: str) -> str | None:
        async with self._read() as session:
            return await session.scalar(select(AlertMediaRow.handle).where(
                AlertMediaRow.alert_id == alert_id, AlertMediaRow.platform == platform))

    async def save_media_handle(self, alert_id: int, platform: str, handle: str, now: datetime) -> None:
        async with self._write() as session:
            await session.execute(self._insert(AlertMediaRow).values(
                alert_id=alert_id, platform=platform, handle=handle[:255], created_at=now
            ).on_conflict_do_nothing(index_elements=["alert_id", "platform"]))


    async def claimed_due(self, platforms: Iterable[str], now: datetime) -> int:
        """Pending deliveries due now on these platforms that are claimed: by another sender, for a caller that
        holds none (`--run-once` waits for a stopped process's claims to run out)."""
        async with self._read() as session:
            return int(await session.scalar(
                select(func.count()).select_from(DeliveryRow).where(
                    DeliveryRow.status == DeliveryStatus.PENDING, DeliveryRow.platform.in_(list(platforms)),
                    DeliveryRow.not_before <= now, DeliveryRow.claimed_at.is_not(None),
                    DeliveryRow.chat_pk.in_(select(ChatRow.id).where(ChatRow.active.is_(True))),
                )
            ) or 0)

    async def pending_due(self, platforms: Iterable[str], now: datetime) -> int:
        """Pending deliveries due now on these platforms, claimed or not (for `--run-once` to wait on)."""
        async with self._read() as session:
            return int(await session.scalar(
                select(func.count()).select_from(DeliveryRow).where(
                    DeliveryRow.status == DeliveryStatus.PENDING, DeliveryRow.platform.in_(list(platforms)),
                    DeliveryRow.not_before <= now,
                    DeliveryRow.chat_pk.in_(select(ChatRow.id).where(ChatRow.active.is_(True))),
                )
            ) or 0)
