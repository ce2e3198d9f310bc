"""`AlertsRepo`: the alert engine's and the delivery worker's reads and writes, over the `Store`'s engine.

Its three parts live apart: the engine's writes (bot/store/rule_state.py), the outbox that senders claim from
(bot/store/outbox.py), and what people read (bot/store/alert_history.py). Records are in
bot/store/alert_records.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.store.alert_history import AlertHistoryRepo
from bot.store.outbox import OutboxRepo
from bot.store.rule_state import RuleStateRepo

if TYPE_CHECKING:
    from bot.store.repository import Store


class AlertsRepo(RuleStateRepo, OutboxRepo, AlertHistoryRepo):
    """Shares the `Database` (engine, turns, readiness) of the store it is made for."""

    @classmethod
    def for_store(cls, store: Store) -> AlertsRepo:
        return cls(store.db)
