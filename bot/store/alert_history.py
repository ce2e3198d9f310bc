"""Alerts and deliveries as people and `/status` read them."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select

from bot.clock import as_utc
from bot.store.alert_records import (
    DeliveryCounts,
    Evaluation,
    HistoryEntry,
    StoredAlert,
)
from bot.store.database import Repository, unit_of_work
from bot.store.models import AlertRow, DeliveryRow, DeliveryStatus, EvaluationRow, RuleInstanceRow
from bot.store.rule_state import row_key

_ERROR_LIMIT = 255


class AlertHistoryRepo(Repository):
    """Read-only: evaluations, alerts, a chat's history, delivery counts."""

    # ------------------------------------------------------------ evaluations and alerts
    @unit_of_work
    async def evaluations(self, limit: int = 20) -> list[Evaluation]:
        async with self._read() as session:
            rows = (await session.scalars(
                select(EvaluationRow).order_by(EvaluationRow.session.desc(), EvaluationRow.calendar).limit(limit)
            )).all()
            return [Evaluation(r.calendar, r.session, r.status, r.detail, r.instances, r.alerts,
                               as_utc(r.updated_at)) for r in rows]

    @unit_of_work
    async def alerts(self, *, since: date | None = None, until: date | None = None) -> list[StoredAlert]:
        query = alert_query().order_by(AlertRow.as_of, AlertRow.id)
        if since is not None:
            query = query.where(AlertRow.as_of >= since)
        if until is not None:
            query = query.where(AlertRow.as_of <= until)
        async with self._read() as session:
            return [stored_alert(alert, instance) for alert, instance in await session.execute(query)]

    @unit_of_work
    async def recent_alerts(self, limit: int = 50, pair: tuple[str, str] | None = None) -> list[StoredAlert]:
        """The newest alerts (by session, then id), of one pair or all."""
        query = alert_query()
        if pair is not None:
            query = query.where(RuleInstanceRow.asset == pair[0], RuleInstanceRow.benchmark == pair[1])
        query = query.order_by(AlertRow.as_of.desc(), AlertRow.id.desc()).limit(limit)
        async with self._read() as session:
            return [stored_alert(alert, instance) for alert, instance in await session.execute(query)]

    # ------------------------------------------------------------ reading for people

    @unit_of_work
    async def delivery_counts(self, now: datetime) -> DeliveryCounts:
        due_now = DeliveryRow.not_before <= now
        async with self._read() as session:
            rows = await session.execute(
                select(DeliveryRow.platform, due_now.label("due"), func.count())
                .where(DeliveryRow.status == DeliveryStatus.PENDING)
                .group_by(DeliveryRow.platform, due_now)
            )
            counts = DeliveryCounts()
            for platform, due, count in rows:
                (counts.due if due else counts.held)[platform] = int(count)
            return counts

    @unit_of_work
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
                HistoryEntry(stored_alert(a, i), d.status, as_utc(d.not_before), as_utc(d.sent_at), d.error)
                for d, a, i in rows
            ]

    @unit_of_work
    async def deliveries(self) -> list[dict[str, Any]]:
        """Every delivery as a plain dict (tests and diagnostics)."""
        async with self._read() as session:
            rows = (await session.scalars(select(DeliveryRow).order_by(DeliveryRow.id))).all()
            return [
                {"id": r.id, "alert_id": r.alert_id, "chat_pk": r.chat_pk, "platform": r.platform,
                 "status": r.status, "bundle": r.bundle, "not_before": as_utc(r.not_before),
                 "attempts": r.attempts, "claim_token": r.claim_token, "error": r.error}
                for r in rows
            ]


def alert_query() -> Any:
    return select(AlertRow, RuleInstanceRow).join(RuleInstanceRow, RuleInstanceRow.id == AlertRow.rule_instance_id)


def stored_alert(alert: AlertRow, instance: RuleInstanceRow) -> StoredAlert:
    return StoredAlert(alert.id, row_key(instance), alert.kind, alert.as_of, json.loads(alert.payload),
                       as_utc(alert.created_at))
