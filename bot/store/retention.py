"""Retention: alerts, their deliveries and evaluation notes older than RETENTION_DAYS are deleted; prices stay.

An alert with a delivery still pending is kept whatever its age: pruning never drops a message that has not gone.
Children are deleted explicitly (not left to ON DELETE CASCADE), so the result does not depend on the backend.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, exists, select

from bot.store.database import Repository, affected
from bot.store.models import AlertMediaRow, AlertRow, DeliveryRow, DeliveryStatus, EvaluationRow

BATCH = 500  # alerts per transaction: a large first prune does not hold one long lock


@dataclass(frozen=True)
class Pruned:
    alerts: int = 0
    deliveries: int = 0
    evaluations: int = 0

    def __add__(self, other: Pruned) -> Pruned:
        return Pruned(self.alerts + other.alerts, self.deliveries + other.deliveries,
                      self.evaluations + other.evaluations)


class RetentionRepo(Repository):
    async def prune(self, before: datetime) -> Pruned:
        total = Pruned()
        while (batch := await self._prune_alerts(before)).alerts:
            total += batch
        async with self._write() as session:
            result = await session.execute(delete(EvaluationRow).where(EvaluationRow.session < before.date()))
        return total + Pruned(evaluations=affected(result))

    async def _prune_alerts(self, before: datetime) -> Pruned:
        pending = exists().where(DeliveryRow.alert_id == AlertRow.id,
                                 DeliveryRow.status == DeliveryStatus.PENDING.value)
        async with self._write() as session:
            ids = list((await session.execute(
                select(AlertRow.id).where(AlertRow.created_at < before, ~pending).order_by(AlertRow.id).limit(BATCH)
            )).scalars())
            if not ids:
                return Pruned()
            deliveries = await session.execute(delete(DeliveryRow).where(DeliveryRow.alert_id.in_(ids)))
            await session.execute(delete(AlertMediaRow).where(AlertMediaRow.alert_id.in_(ids)))
            await session.execute(delete(AlertRow).where(AlertRow.id.in_(ids)))
        return Pruned(alerts=len(ids), deliveries=affected(deliveries))
