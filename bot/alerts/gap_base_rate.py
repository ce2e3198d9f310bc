"""The gap alert's base rate (docs/methods.md §10.4): when a gap alert fires (a level crossed, not a closing), the
past gap episodes of every pair of the universe whose |gap_z| reached the alert's, as known on the alert's date
(episodes still open then are censored there), go into the alert's detail when there are at least 5 of them.

Point in time: every episode and the alert's own gap_z depend only on data up to the alert's date, so the
replay, the warm-up and the engine put the same numbers in the same alert. The replay and the engine both call
`add_base_rate` on what `fold` fired.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import pandas as pd

from bot.alerts.kinds import GAP
from bot.alerts.rules import AlertEvent, RuleParams
from bot.analysis.odds import MIN_ESTIMATE, OddsService
from bot.analysis.scan import UniverseScanner
from bot.analytics import gap as gm
from bot.assets import Asset, find_asset
from bot.windows import Window

if TYPE_CHECKING:
    from bot.analysis.analyzer import PairAnalyzer

HORIZON = 120  # the alert's line: closed within this many sessions


def alert_gap_z(analyzer: PairAnalyzer, asset: Asset, benchmark: Asset, event: AlertEvent) -> float:
    """The alert's gap in units of its wander: g / (σ_ε·√n), σ_ε of the fit on the year to the alert's anchor."""
    data = analyzer.pair(asset, benchmark)
    anchor = pd.Timestamp(str(event.detail["anchor"]))
    fit = gm.fit_beta(data.returns["ra"], data.returns["rb"], anchor)
    index = data.aligned.index
    steps = int(index.searchsorted(event.as_of, side="right")) - int(index.searchsorted(anchor, side="right"))
    return gm.gap_z(float(event.detail["gap_log"]), fit.resid_sd, steps)


def add_base_rate(analyzer: PairAnalyzer, params: RuleParams, events: list[AlertEvent],
                  pairs: Sequence[tuple[Asset, Asset]] | None = None) -> list[AlertEvent]:
    """`events` with a `base_rate` in the detail of each gap crossing that has at least 5 comparable episodes."""
    crossings = [e for e in events if e.kind == GAP and e.detail.get("event") == "crossed"]
    asset, benchmark = find_asset(params.asset), find_asset(params.benchmark)
    if not crossings or asset is None or benchmark is None:
        return events
    universe = list(pairs) if pairs is not None else UniverseScanner(analyzer).universe().pairs
    odds = OddsService(analyzer)
    window = Window(params.window_days)
    out = []
    for event in events:
        if event.kind == GAP and event.detail.get("event") == "crossed":
            z = alert_gap_z(analyzer, asset, benchmark, event)
            summary = odds.summary(universe, window, event.as_of, z, params.pair)
            if summary.n >= MIN_ESTIMATE:
                horizon = next(h for h in summary.horizons if h.sessions == HORIZON)
                estimate = None if horizon.estimate is None else {
                    "estimate": horizon.estimate.value, "lower": horizon.estimate.lower,
                    "upper": horizon.estimate.upper}
                rate = {"as_of": f"{event.as_of:%Y-%m-%d}", "gap_z": z, "level": summary.level, "n": summary.n,
                        "pairs": len(universe), "closed_seen_120": horizon.closed, "closed_within_120": estimate,
                        "withheld_reason": horizon.withheld}
                event = replace(event, detail={**event.detail, "base_rate": rate})
        out.append(event)
    return out
