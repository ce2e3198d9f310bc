"""What the status page shows, gathered from the services: every watched pair with its correlation per window,
regime and since when, divergence z; data freshness per asset; the last alerts. Plain data for the templates."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy.exc import SQLAlchemyError

from bot.alerts.payload import fired
from bot.analysis.errors import AnalysisError
from bot.assets import Asset, find_asset
from bot.market.errors import NoData
from bot.ports.services import Services
from bot.render import alert_text
from bot.render.text import day, num
from bot.store.errors import StoreUnavailable, describe_database_error
from bot.windows import parse_window

log = logging.getLogger(__name__)
PAIR_SLUG_SEPARATOR = "-"  # ETH-RUT in URLs
T = TypeVar("T")


@dataclass
class Unavailable:
    """What a page could not show, and why (one line each); None: shown."""

    pairs: str | None = None
    alerts: str | None = None


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


async def pair_view(services: Services, asset: Asset, benchmark: Asset, executor: Executor | None = None) -> PairView:
    """The pair's rows; the computations run on `executor` (None: the loop's default threads)."""
    loop = asyncio.get_running_loop()
    view = PairView(asset.symbol, benchmark.symbol, f"{asset.label} vs {benchmark.label}", "n/a")
    await services.market.refresh([asset, benchmark])
    windows = [parse_window(w) for w in services.settings.regime_windows]
    try:
        _, as_of, rows = await loop.run_in_executor(executor, services.analysis.regimes, asset, benchmark, windows)
        main = await loop.run_in_executor(executor, services.analysis.correlation, asset, benchmark,
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


async def from_database(read: Awaitable[T], fallback: T, what: str) -> tuple[T, str | None]:
    """`read`'s value, or `fallback` and the one-line reason when the database can't answer: a page shows what
    the market data allows and says what is missing, never a traceback."""
    try:
        return await read, None
    except StoreUnavailable as down:
        reason = str(down)
    except (SQLAlchemyError, OSError) as exc:  # a driver or SQLAlchemy error the store did not translate
        reason = describe_database_error(exc)
    log.warning("status page: %s without the database (%s)", what, reason)
    return fallback, reason


async def freshness(services: Services, pairs: list[tuple[Asset, Asset]]) -> list[str]:
    from bot.render.status import status_lines

    assets = list({a.symbol: a for pair in pairs for a in pair}.values())
    return status_lines(await services.market.status(assets), services.market.now())
