"""What the status page shows, gathered from the services: every watched pair with its correlation per window,
regime and since when, divergence z; data freshness per asset; the last alerts. Plain data for the templates."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field

from bot.alerts.payload import fired
from bot.analysis.errors import AnalysisError
from bot.assets import Asset, find_asset
from bot.market.errors import NoData
from bot.ports.services import Services
from bot.render import alert_text
from bot.render.text import day, num
from bot.windows import parse_window

PAIR_SLUG_SEPARATOR = "-"  # ETH-RUT in URLs


@dataclass
class WindowRow:
    window: str
    correlation: str
    n_obs: int
    regime: str
    since: str


@dataclass
class PairView:
    asset: str
    benchmark: str
    title: str
    as_of: str
    windows: list[WindowRow] = field(default_factory=list)
    divergence_z: str = "n/a"
    stale: str | None = None
    error: str | None = None

    @property
    def slug(self) -> str:
        return f"{self.asset}{PAIR_SLUG_SEPARATOR}{self.benchmark}"


@dataclass
class AlertRow:
    as_of: str
    pair: str
    window: str
    summary: str
    text: str


def pair_from_slug(slug: str) -> tuple[Asset, Asset] | None:
    parts = slug.upper().split(PAIR_SLUG_SEPARATOR)
    if len(parts) != 2:
        return None
    asset, benchmark = find_asset(parts[0]), find_asset(parts[1])
    if asset is None or benchmark is None or asset is benchmark:
        return None
    return asset, benchmark


async def pair_view(services: Services, asset: Asset, benchmark: Asset) -> PairView:
    view = PairView(asset.symbol, benchmark.symbol, f"{asset.label} vs {benchmark.label}", "n/a")
    await services.market.refresh([asset, benchmark])
    windows = [parse_window(w) for w in services.settings.regime_windows]
    try:
        _, as_of, rows = await asyncio.to_thread(services.analysis.regimes, asset, benchmark, windows)
        main = await asyncio.to_thread(services.analysis.correlation, asset, benchmark,
                                       parse_window(services.settings.default_window))
    except (AnalysisError, NoData) as exc:
        view.error = str(exc)
        return view
    view.as_of = day(as_of.when)
    view.stale = as_of.reason if as_of.stale else None
    view.divergence_z = num(main.divergence_z, 1, signed=True)
    for row in rows:
        defined = row.n_obs >= 15 and not math.isnan(row.correlation)
        view.windows.append(WindowRow(row.window.label, num(row.correlation) if defined else "n/a", row.n_obs,
                                      row.regime or "not yet established", day(row.since) if row.since else "—"))
    return view


async def recent_alerts(services: Services, limit: int = 50, pair: tuple[str, str] | None = None) -> list[AlertRow]:
    stored = await services.alerts.repo.recent_alerts(limit, pair)
    rows = []
    for alert in (fired(a) for a in stored):
        rows.append(AlertRow(day(alert.event.as_of), alert.params.pair,
                             f"{alert.params.window_days}d", alert_text.alert_summary(alert.event),
                             alert_text.alert_text(alert.event, alert.params)))
    return rows


async def freshness(services: Services, pairs: list[tuple[Asset, Asset]]) -> list[str]:
    from bot.render.status import status_lines

    assets = list({a.symbol: a for pair in pairs for a in pair}.values())
    return status_lines(await services.market.status(assets), services.market.now())
