"""What command handlers and transports may use. Built in one place: `bot.app.App` (the composition root)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from bot.config import Settings

if TYPE_CHECKING:
    from bot.alerts.service import AlertService
    from bot.analysis.analyzer import PairAnalyzer
    from bot.analysis.scan import UniverseScanner
    from bot.market.data import MarketData
    from bot.ports.activity import Activity
    from bot.render.chart_cache import ChartRenderer
    from bot.store import Store
    from bot.telemetry.metrics import Metrics

NAMES = ("settings", "market", "analysis", "scanner", "charts", "store", "alerts", "metrics", "activity")


class Provider(Protocol):
    """Builds each service on first use (the App's cached properties)."""

    settings: Settings

    @property
    def market(self) -> MarketData: ...
    @property
    def analysis(self) -> PairAnalyzer: ...
    @property
    def scanner(self) -> UniverseScanner: ...
    @property
    def charts(self) -> ChartRenderer: ...
    @property
    def store(self) -> Store: ...
    @property
    def alerts(self) -> AlertService: ...
    @property
    def metrics(self) -> Metrics: ...
    @property
    def activity(self) -> Activity: ...


class Services:
    """The typed bundle every command and transport receives; nothing in it is optional.

    Each service is built by the composition root when it is first used, not when the bundle is made: `/help`
    through `python -m bot ask` builds no market data, store or alert service and imports none of their
    libraries. `replace(name=value)` gives a bundle with some services swapped (tests)."""

    __slots__ = ("_overrides", "_provider")

    def __init__(self, provider: Provider, **overrides: Any) -> None:
        unknown = set(overrides) - set(NAMES)
        if unknown:
            raise TypeError(f"not a service: {sorted(unknown)}")
        self._provider = provider
        self._overrides = overrides

    def replace(self, **changes: Any) -> Services:
        return Services(self._provider, **{**self._overrides, **changes})

    def _get(self, name: str) -> Any:
        if name in self._overrides:
            return self._overrides[name]
        return getattr(self._provider, name)

    @property
    def settings(self) -> Settings:
        return self._get("settings")

    @property
    def market(self) -> MarketData:
        return self._get("market")

    @property
    def analysis(self) -> PairAnalyzer:
        return self._get("analysis")

    @property
    def scanner(self) -> UniverseScanner:
        return self._get("scanner")

    @property
    def charts(self) -> ChartRenderer:
        return self._get("charts")

    @property
    def store(self) -> Store:  # connects on first use; a command that can't reach it says so in one line
        return self._get("store")

    @property
    def alerts(self) -> AlertService:
        return self._get("alerts")

    @property
    def metrics(self) -> Metrics:
        return self._get("metrics")

    @property
    def activity(self) -> Activity:  # users' requests in flight: background work yields to them
        return self._get("activity")
