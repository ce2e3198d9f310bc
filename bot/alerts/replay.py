"""Replay: fold the rules over a pair's history. The live engine uses the same `fold` and the same
`pair_observations`, so what it fires on a date is exactly what the replay lists for that date.

Every value of an observation depends on the returns up to its own date only, and not on how much history
comes after it: the rolling Pearson and the divergence z are the causal series `/corr`, `/regime` and `/div`
use (computed over the whole history, their value at a date is the same whatever follows it — checked
in tests/alerts), and the Spearman is computed on that date's own window. So a session's observation is
the same whether the history is folded at once (replay, warm-up) or one session at a time (the engine).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from bot.alerts.gap_base_rate import add_base_rate
from bot.alerts.kinds import DEFAULT_KINDS
from bot.alerts.rules import AlertEvent, Observation, RuleParams, RuleState, evaluate
from bot.analysis.results import PairData
from bot.analytics import correlation as corr
from bot.analytics.divergence import divergence_z_series
from bot.analytics.gap import BETA_DAYS
from bot.assets import Asset, find_asset

if TYPE_CHECKING:
    from bot.analysis.analyzer import PairAnalyzer

AssetResolver = Callable[[str], Asset | None]


def pair_observations(
    data: PairData,
    params: RuleParams,
    *,
    after: pd.Timestamp | None = None,
    until: pd.Timestamp | None = None,
    z: pd.Series | None = None,
) -> list[Observation]:
    """Observations dated in (after, until] of an aligned pair, in date order. `z`: the pair's divergence z
    series for the rule's horizon, if already computed (`PairAnalyzer.divergence` caches it)."""
    dates = data.returns.index
    ra, rb = data.returns["ra"], data.returns["rb"]
    first = 0 if after is None else int(dates.searchsorted(after, side="right"))
    end = len(dates) if until is None else int(dates.searchsorted(until, side="right"))
    if first >= end:
        return []
    pearson = corr.rolling_pearson(ra, rb, params.window_days).to_numpy()
    if z is None:
        z = divergence_z_series(ra, rb, horizon=params.thresholds.horizon)
    z_values = z.to_numpy(float)
    # the gap (§8.6): log prices, and the OLS beta of the year ending at each date (cov / var, as /gap fits it)
    prices = data.aligned.reindex(dates)
    log_a, log_b = np.log(prices["a"].to_numpy(float)), np.log(prices["b"].to_numpy(float))
    beta_year = corr.rolling_beta(ra, rb, BETA_DAYS).to_numpy(float)
    corr_year = corr.rolling_pearson(ra, rb, BETA_DAYS).to_numpy(float)
    n_year = corr.rolling_count(ra, BETA_DAYS).to_numpy()
    stamps = dates.to_numpy()
    x, y = ra.to_numpy(float), rb.to_numpy(float)
    window = np.timedelta64(params.window_days, "D")
    out: list[Observation] = []
    for i in range(first, end):
        start = int(np.searchsorted(stamps, stamps[i] - window, side="right"))
        n_obs = i + 1 - start
        rank = corr.spearman(x[start : i + 1], y[start : i + 1]) if n_obs >= corr.MIN_OBS else math.nan
        out.append(Observation(dates[i], float(pearson[i]), rank, float(z_values[i]), n_obs, float(log_a[i]),
                               float(log_b[i]), float(beta_year[i]), int(n_year[i]), float(corr_year[i])))
    return out


def resolve_pair(params: RuleParams, resolve: AssetResolver = find_asset) -> tuple[Asset, Asset]:
    asset, benchmark = resolve(params.asset), resolve(params.benchmark)
    if asset is None or benchmark is None:
        raise ValueError(f"unknown pair {params.pair}")
    return asset, benchmark


def observations(
    analyzer: PairAnalyzer,
    params: RuleParams,
    *,
    after: pd.Timestamp | None = None,
    until: pd.Timestamp | None = None,
) -> list[Observation]:
    """Every observation of the pair's available history (or those in (after, until]), in date order."""
    data = analyzer.pair(*resolve_pair(params))
    z = analyzer.divergence(data, params.thresholds.horizon)
    return pair_observations(data, params, after=after, until=until, z=z)


def fold(
    params: RuleParams, obs: Iterable[Observation], state: RuleState | None = None,
    kinds: Iterable[str] = DEFAULT_KINDS,
) -> tuple[RuleState, list[AlertEvent]]:
    """Advance the rules over `obs`; the alerts of `kinds` (default: the kinds every subscription gets; opt-in
    kinds such as the gap only when asked for). The state follows every kind, whatever is asked."""
    wanted = frozenset(kinds)
    state = state or RuleState()
    events: list[AlertEvent] = []
    for ob in obs:
        if state.last_date is not None and ob.date <= state.last_date:
            continue  # already evaluated
        state, fired = evaluate(state, ob, params.thresholds)
        events.extend(e for e in fired if e.kind in wanted)
    return state, events


def replay(
    analyzer: PairAnalyzer,
    params: RuleParams,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
    kinds: Iterable[str] = DEFAULT_KINDS,
) -> list[AlertEvent]:
    """Alerts of `kinds` (default: the kinds a subscription gets unless it opts in to more) the rules fire from
    `start` to `end`, warmed up from the start of the data."""
    _, events = fold(params, observations(analyzer, params, until=end), kinds=kinds)
    return add_base_rate(analyzer, params, [e for e in events if start is None or e.as_of >= start])
