"""The alert engine's writes: rule instances and their state, and each evaluation written in ONE transaction
(`record_run`): the instances' new state (guarded by their previous `evaluated_through`, so a second process that
evaluated first makes this one roll back), their alerts (unique per instance, kind and date) and deliveries."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.store.alert_records import (
    RECORD_ONLY,
    SEND,
    EvaluationNote,
    InstanceKey,
    InstanceUpdate,
    NewAlert,
    Recipient,
    ReleasePolicy,
    RuleInstance,
    RunTotals,
)
from bot.store.database import Repository, affected
from bot.store.models import (
    AlertRow,
    ChatRow,
    DeliveryRow,
    DeliveryStatus,
    EvaluationRow,
    RuleInstanceRow,
    SubscriptionRow,
)
from bot.store.preferences import QuietHours
from bot.store.universe_subscriptions import subscription_match
from bot.store.values import load_kinds

_ERROR_LIMIT = 255


class EvaluationConflict(RuntimeError):
    """Another process evaluated one of these rule instances first; re-read and try again."""


class RuleStateRepo(Repository):
    """Rule instances, their state, and the record of each evaluation."""

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
        by_key = {row_key(row): row for row in rows}
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
                    pending += sum(1 for row in rows if row["status"] == DeliveryStatus.PENDING)
                    skipped += sum(1 for row in rows if row["status"] == DeliveryStatus.SKIPPED)
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
        if affected(result) != 1:
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


def _key_order(key: InstanceKey) -> tuple[str, str, int, str]:
    return (key.asset, key.benchmark, key.window_days, key.thresholds)


def row_key(row: RuleInstanceRow) -> InstanceKey:
    return InstanceKey(row.asset, row.benchmark, row.window_days, row.thresholds)


def _instance(row: RuleInstanceRow) -> RuleInstance:
    return RuleInstance(row.id, row_key(row), row.calendar, row.state, row.evaluated_through)


async def _recipients(session: AsyncSession, key: InstanceKey) -> list[Recipient]:
    rows = await session.execute(
        select(ChatRow, SubscriptionRow)
        .join(SubscriptionRow, SubscriptionRow.chat_pk == ChatRow.id)
        .where(ChatRow.active.is_(True), *subscription_match(key))  # universe-wide: bot/store/universe_subscriptions.py
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
            status, not_before, bundle, error = DeliveryStatus.PENDING, when.not_before, when.bundle, None
        else:
            status, not_before, bundle = DeliveryStatus.SKIPPED, now, False
            error = "catch-up: an older session, not sent"
        rows.append({"alert_id": alert_id, "chat_pk": recipient.chat_pk, "platform": recipient.platform,
                     "status": status, "bundle": bundle, "not_before": not_before, "attempts": 0,
                     "error": error, "created_at": now, "updated_at": now})
    return rows
