"""`AlertsRepo`: the alert engine's and the delivery worker's reads and writes, over the `Store`'s engine.

Two write paths matter for correctness:

- `record_run` writes a whole evaluation in ONE transaction: each rule instance's new state (guarded by its
  previous `evaluated_through`, so a second process that evaluated first makes this one roll back), its
  alerts (unique per instance, kind and date: inserting one twice is a no-op) and their deliveries.
- `claim` takes due deliveries for a sender: one UPDATE … WHERE status='pending' AND (unclaimed OR claim
  older than the lease) that writes a fresh token, with FOR UPDATE SKIP LOCKED on PostgreSQL and BEGIN
  IMMEDIATE on SQLite. Every later write about a claimed row names the token, so a sender whose claim was
  taken over after the lease cannot overwrite the new owner's outcome.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, case, func, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.alert_records import (  # noqa: F401 (re-exported: the records belong with the repository's API)
    RECORD_ONLY,
    SEND,
    SKIP,
    ClaimedDelivery,
    DeliveryCounts,
    Evaluation,
    EvaluationNote,
    HistoryEntry,
    InstanceKey,
    InstanceUpdate,
    NewAlert,
    Recipient,
    Release,
    ReleasePolicy,
    RuleInstance,
    RunTotals,
    StoredAlert,
)
from bot.store.database import Repository
from bot.store.models import (
    AlertMediaRow,
    AlertRow,
    ChatRow,
    DeliveryRow,
    DeliveryStatus,
    EvaluationRow,
    RuleInstanceRow,
    SubscriptionRow,
    load_kinds,
)
from bot.store.preferences import QuietHours
from bot.store.universe import subscription_match

if TYPE_CHECKING:
    from bot.store.repository import Store

PENDING, SENT, FAILED, SKIPPED = (s.value for s in DeliveryStatus)
_ERROR_LIMIT = 255


class EvaluationConflict(RuntimeError):
    """Another process evaluated one of these rule instances first; re-read and try again."""


def _aware(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything written here is UTC.
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class AlertsRepo(Repository):
    """Shares the `Database` (engine, turns, readiness) of the store it is made for."""

    @classmethod
    def for_store(cls, store: Store) -> AlertsRepo:
        return cls(store.db)

    # ------------------------------------------------------------ rule instances

    async def ensure_instances(self, keys: Iterable[tuple[InstanceKey, str]]) -> list[RuleInstance]:
        """The rows of these instances (key, calendar), created on first sight; in key order."""
        wanted = sorted(set(keys), key=lambda item: _key_order(item[0]))
        if not wanted:
            return []
        known = {row.key: row for row in await self.instances()}
        if all(key in known for key, _ in wanted):
            return [known[key] for key, _ in wanted]
        async with self._write() as session:
            insert = self._insert(RuleInstanceRow).values([
                {"asset": k.asset, "benchmark": k.benchmark, "window_days": k.window_days,
                 "thresholds": k.thresholds, "calendar": calendar}
                for k, calendar in wanted
            ])
            await session.execute(insert.on_conflict_do_nothing(
                index_elements=["asset", "benchmark", "window_days", "thresholds"]
            ))
            rows = (await session.scalars(select(RuleInstanceRow))).all()
        by_key = {_row_key(row): row for row in rows}
        return [_instance(by_key[k]) for k, _ in wanted if k in by_key]

    async def instances(self) -> list[RuleInstance]:
        async with self._read() as session:
            rows = (await session.scalars(select(RuleInstanceRow).order_by(RuleInstanceRow.id))).all()
            return [_instance(row) for row in rows]

    async def recipients(self, key: InstanceKey) -> list[Recipient]:
        async with self._read() as session:
            return await _recipients(session, key)

    # ------------------------------------------------------------ evaluation results

    async def record_run(
        self,
        updates: Sequence[InstanceUpdate],
        notes: Sequence[EvaluationNote],
        release: ReleasePolicy,
        now: datetime,
    ) -> RunTotals:
        """Write a run's new states, alerts and deliveries and its evaluation notes, all or nothing."""
        alerts = pending = skipped = 0
        async with self._write() as session:
            for item in updates:
                await self._advance(session, item, now)
                fans_out = any(alert.delivery != RECORD_ONLY for alert in item.alerts)
                recipients = await _recipients(session, item.instance.key) if fans_out else []
                for alert in item.alerts:
                    alert_id = await self._insert_alert(session, item.instance.id, alert, now)
                    if alert_id is None:
                        continue  # this (instance, kind, as_of) fired before: nothing more to do
                    alerts += 1
                    rows = _delivery_rows(alert_id, alert, recipients, release, now)
                    if rows:
                        await session.execute(self._insert(DeliveryRow).values(rows).on_conflict_do_nothing(
                            index_elements=["alert_id", "chat_pk"]
                        ))
                    pending += sum(1 for row in rows if row["status"] == PENDING)
                    skipped += sum(1 for row in rows if row["status"] == SKIPPED)
            for note in notes:
                await self._note(session, note, now)
        return RunTotals(alerts, pending, skipped)

    async def _advance(self, session: AsyncSession, item: InstanceUpdate, now: datetime) -> None:
        previous = item.instance.evaluated_through
        guard = (RuleInstanceRow.evaluated_through.is_(None) if previous is None
                 else RuleInstanceRow.evaluated_through == previous)
        result = await session.execute(
            update(RuleInstanceRow)
            .where(RuleInstanceRow.id == item.instance.id, guard)
            .values(state=item.state, evaluated_through=item.evaluated_through, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise EvaluationConflict(f"rule instance {item.instance.id} was evaluated by someone else")

    async def _insert_alert(
        self, session: AsyncSession, instance_id: int, alert: NewAlert, now: datetime
    ) -> int | None:
        insert = self._insert(AlertRow).values(
            rule_instance_id=instance_id, kind=alert.kind, as_of=alert.as_of,
            payload=json.dumps(alert.payload, sort_keys=True), created_at=now,
        )
        result = await session.execute(
            insert.on_conflict_do_nothing(index_elements=["rule_instance_id", "kind", "as_of"]).returning(AlertRow.id)
        )
        return result.scalar_one_or_none()

    async def _note(self, session: AsyncSession, note: EvaluationNote, now: datetime) -> None:
        values = {"status": note.status, "detail": note.detail, "instances": note.instances,
                  "alerts": note.alerts, "updated_at": now}
        insert = self._insert(EvaluationRow).values(calendar=note.calendar, session=note.session, **values)
        await session.execute(insert.on_conflict_do_update(index_elements=["calendar", "session"], set_=values))

    async def evaluations(self, limit: int = 20) -> list[Evaluation]:
        async with self._read() as session:
            rows = (await session.scalars(
                select(EvaluationRow).order_by(EvaluationRow.session.desc(), EvaluationRow.calendar).limit(limit)
            )).all()
            return [Evaluation(r.calendar, r.session, r.status, r.detail, r.instances, r.alerts,
                               _aware(r.updated_at)) for r in rows]  # type: ignore[arg-type]

    async def alerts(self, *, since: date | None = None, until: date | None = None) -> list[StoredAlert]:
        query = _alert_query().order_by(AlertRow.as_of, AlertRow.id)
        if since is not None:
            query = query.where(AlertRow.as_of >= since)
        if until is not None:
            query = query.where(AlertRow.as_of <= until)
        async with self._read() as session:
            return [_stored_alert(alert, instance) for alert, instance in await session.execute(query)]

    async def recent_alerts(self, limit: int = 50, pair: tuple[str, str] | None = None) -> list[StoredAlert]:
        """The newest alerts (by session, then id), of one pair or all."""
        query = _alert_query()
        if pair is not None:
            query = query.where(RuleInstanceRow.asset == pair[0], RuleInstanceRow.benchmark == pair[1])
        query = query.order_by(AlertRow.as_of.desc(), AlertRow.id.desc()).limit(limit)
        async with self._read() as session:
            return [_stored_alert(alert, instance) for alert, instance in await session.execute(query)]

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
        `exclude`: deliveries the caller holds already (it never takes its own stale claims over)."""
        claimable = and_(
            DeliveryRow.id.not_in(list(exclude)) if exclude else true(),
            DeliveryRow.status == PENDING,
            DeliveryRow.platform == platform,
            DeliveryRow.not_before <= now,
            DeliveryRow.bundle.is_(bundles),
            or_(DeliveryRow.claimed_at.is_(None), DeliveryRow.claimed_at < now - lease),
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
        async with self._write() as session:
            claimed = (await session.execute(
                update(DeliveryRow)
                .where(DeliveryRow.id.in_(due), claimable)
                .values(claim_token=token, claimed_at=now)
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
                ClaimedDelivery(d.id, _stored_alert(a, i), d.chat_pk, d.platform, c.chat_id, c.kind, d.bundle,
                                d.attempts, _aware(d.created_at))
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
                message_id = case(known, value=DeliveryRow.id, else_=None) if known else None
                result = await session.execute(
                    update(DeliveryRow)
                    .where(DeliveryRow.id.in_(list(messages)), DeliveryRow.claim_token == token,
                           DeliveryRow.status == PENDING)
                    .values(status=SENT, sent_at=now, message_id=message_id, error=None, claim_token=None,
                            claimed_at=None, updated_at=now)
                    .returning(DeliveryRow.id)
                    .execution_options(synchronize_session=False)
                )
                updated.update(result.scalars().all())
        return [sum(1 for delivery_id in ids if delivery_id in updated) for ids, _, _ in items]

    async def mark_failed(self, ids: Sequence[int], token: str, now: datetime, error: str, *, attempted: bool) -> int:
        values: dict[str, Any] = {"status": FAILED, "error": error[:_ERROR_LIMIT]}
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
        """Extend our claims (still pending, still ours); returns how many were."""
        async with self._write() as session:
            result = await session.execute(
                update(DeliveryRow)
                .where(DeliveryRow.id.in_(list(ids)), DeliveryRow.claim_token == token,
                       DeliveryRow.status == PENDING)
                .values(claimed_at=now)
                .execution_options(synchronize_session=False)
            )
            return int(result.rowcount)  # type: ignore[attr-defined]

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
                       DeliveryRow.status == PENDING)
                .values(claim_token=None, claimed_at=None, updated_at=now, **values)
                .execution_options(synchronize_session=False)
            )
            return int(result.rowcount)  # type: ignore[attr-defined]

    async def skip_chat(self, chat_pk: int, reason: str, now: datetime) -> int:
        """Nothing more goes to this chat: its pending deliveries become skipped."""
        async with self._write() as session:
            result = await session.execute(
                update(DeliveryRow)
                .where(DeliveryRow.chat_pk == chat_pk, DeliveryRow.status == PENDING)
                .values(status=SKIPPED, claim_token=None, claimed_at=None, error=reason[:_ERROR_LIMIT],
                        updated_at=now)
                .execution_options(synchronize_session=False)
            )
            return int(result.rowcount)  # type: ignore[attr-defined]

    async def move_to_chat(self, ids: Sequence[int], token: str, new_chat_pk: int, now: datetime) -> list[int]:
        """Point claimed deliveries at the chat's new row; returns those moved (a delivery of the same alert
        to the new chat may exist already: then this one is skipped instead)."""
        moved: list[int] = []
        async with self._write() as session:
            for delivery_id in ids:
                row = await session.get(DeliveryRow, delivery_id)
                if row is None or row.claim_token != token or row.status != PENDING:
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
                    row.status, row.claim_token, row.claimed_at = SKIPPED, None, None
                    row.error = "chat moved; the new chat has its own delivery"
                row.updated_at = now
        return moved

    # ------------------------------------------------------------ media handles

    async def sent_since(self, chat_pk: int, since: datetime) -> bool:
        """Has anything reached this chat since `since`?"""
        async with self._read() as session:
            found = await session.execute(
                select(DeliveryRow.id).where(DeliveryRow.chat_pk == chat_pk, DeliveryRow.status == SENT,
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

    # ------------------------------------------------------------ reading for people

    async def delivery_counts(self, now: datetime) -> DeliveryCounts:
        due_now = DeliveryRow.not_before <= now
        async with self._read() as session:
            rows = await session.execute(
                select(DeliveryRow.platform, due_now.label("due"), func.count())
                .where(DeliveryRow.status == PENDING)
                .group_by(DeliveryRow.platform, due_now)
            )
            counts = DeliveryCounts()
            for platform, due, count in rows:
                (counts.due if due else counts.held)[platform] = int(count)
            return counts

    async def pending_due(self, platforms: Iterable[str], now: datetime) -> int:
        """Pending deliveries due now on these platforms, claimed or not (for `--run-once` to wait on)."""
        async with self._read() as session:
            return int(await session.scalar(
                select(func.count()).select_from(DeliveryRow).where(
                    DeliveryRow.status == PENDING, DeliveryRow.platform.in_(list(platforms)),
                    DeliveryRow.not_before <= now,
                    DeliveryRow.chat_pk.in_(select(ChatRow.id).where(ChatRow.active.is_(True))),
                )
            ) or 0)

    async def history(self, chat_pk: int, limit: int = 10) -> list[HistoryEntry]:
        async with self._read() as session:
            rows = await session.execute(
                select(DeliveryRow, AlertRow, RuleInstanceRow)
                .join(AlertRow, AlertRow.id == DeliveryRow.alert_id)
                .join(RuleInstanceRow, RuleInstanceRow.id == AlertRow.rule_instance_id)
                .where(DeliveryRow.chat_pk == chat_pk)
                .order_by(AlertRow.as_of.desc(), AlertRow.id.desc())
                .limit(limit)
            )
            return [
                HistoryEntry(_stored_alert(a, i), d.status, _aware(d.not_before), _aware(d.sent_at), d.error)  # type: ignore[arg-type]
                for d, a, i in rows
            ]

    async def deliveries(self) -> list[dict[str, Any]]:
        """Every delivery as a plain dict (tests and diagnostics)."""
        async with self._read() as session:
            rows = (await session.scalars(select(DeliveryRow).order_by(DeliveryRow.id))).all()
            return [
                {"id": r.id, "alert_id": r.alert_id, "chat_pk": r.chat_pk, "platform": r.platform,
                 "status": r.status, "bundle": r.bundle, "not_before": _aware(r.not_before),
                 "attempts": r.attempts, "claim_token": r.claim_token, "error": r.error}
                for r in rows
            ]

    # ------------------------------------------------------------ plumbing



# ---------------------------------------------------------------- helpers


def _key_order(key: InstanceKey) -> tuple[str, str, int, str]:
    return (key.asset, key.benchmark, key.window_days, key.thresholds)


def _row_key(row: RuleInstanceRow) -> InstanceKey:
    return InstanceKey(row.asset, row.benchmark, row.window_days, row.thresholds)


def _instance(row: RuleInstanceRow) -> RuleInstance:
    return RuleInstance(row.id, _row_key(row), row.calendar, row.state, row.evaluated_through)


def _alert_query() -> Any:
    return select(AlertRow, RuleInstanceRow).join(RuleInstanceRow, RuleInstanceRow.id == AlertRow.rule_instance_id)


def _stored_alert(alert: AlertRow, instance: RuleInstanceRow) -> StoredAlert:
    return StoredAlert(alert.id, _row_key(instance), alert.kind, alert.as_of, json.loads(alert.payload),
                       _aware(alert.created_at))


async def _recipients(session: AsyncSession, key: InstanceKey) -> list[Recipient]:
    rows = await session.execute(
        select(ChatRow, SubscriptionRow)
        .join(SubscriptionRow, SubscriptionRow.chat_pk == ChatRow.id)
        .where(ChatRow.active.is_(True), *subscription_match(key))  # universe-wide: bot/store/universe.py
        .order_by(ChatRow.id)
    )
    return [
        Recipient(
            chat.id, chat.platform, chat.timezone,
            QuietHours(chat.quiet_start, chat.quiet_end) if chat.quiet_start and chat.quiet_end else None,
            sub.digest_mode == "daily",
            load_kinds(sub.kinds),
        )
        for chat, sub in rows
    ]


def _delivery_rows(
    alert_id: int, alert: NewAlert, recipients: list[Recipient], release: ReleasePolicy, now: datetime
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    if alert.delivery == RECORD_ONLY:
        return rows
    for recipient in recipients:
        if alert.kind not in recipient.kinds:
            continue
        if alert.delivery == SEND:
            when = release(recipient, now)
            status, not_before, bundle, error = PENDING, when.not_before, when.bundle, None
        else:
            status, not_before, bundle, error = SKIPPED, now, False, "catch-up: an older session, not sent"
        rows.append({"alert_id": alert_id, "chat_pk": recipient.chat_pk, "platform": recipient.platform,
                     "status": status, "bundle": bundle, "not_before": not_before, "attempts": 0,
                     "error": error, "created_at": now, "updated_at": now})
    return rows
