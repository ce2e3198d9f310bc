"""What command handlers and transports may use. Built in one place: `bot.app.App` (the composition root)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.analysis import PairAnalyzer
from bot.config import Settings
from bot.market.data import MarketData
from bot.metrics import Metrics

if TYPE_CHECKING:
    from bot.alerts.service import AlertService
    from bot.render.chart_cache import ChartRenderer
    from bot.store import Store


@dataclass(frozen=True)
class Services:
    settings: Settings
    market: MarketData
    analysis: PairAnalyzer
    charts: ChartRenderer
    store: Store  # connects on first use; a command that needs it and can't reach it says so in one line
    alerts: AlertService
    metrics: Metrics
