"""Replay: fold the rules over a pair's history. The live engine uses the same `fold`."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from bot.alerts.rules import AlertEvent, Observation, RuleParams, RuleState, evaluate
from bot.analysis import PairAnalyzer
from bot.assets import find_asset
from bot.windows import Window


def observations(analyzer: PairAnalyzer, params: RuleParams) -> list[Observation]:
    """Every observation of the pair's whole available history, in date order."""
    asset, benchmark = find_asset(params.asset), find_asset(params.benchmark)
    if asset is None or benchmark is None:
        raise ValueError(f"unknown pair {params.pair}")
    data = analyzer.pair(asset, benchmark)
    history = analyzer.window_history(data, Window(params.window_days))
    z = analyzer.divergence(data, params.thresholds.horizon)
    return [
        Observation(date, float(rho), float(rank), float(zz), int(n))
        for date, rho, rank, zz, n in zip(
            history.pearson.index,
            history.pearson.to_numpy(),
            history.spearman.to_numpy(),
            z.to_numpy(),
            history.n_obs.to_numpy(),
            strict=True,
        )
    ]


def fold(
    params: RuleParams, obs: Iterable[Observation], state: RuleState | None = None
) -> tuple[RuleState, list[AlertEvent]]:
    state = state or RuleState()
    events: list[AlertEvent] = []
    for ob in obs:
        if state.last_date is not None and ob.date <= state.last_date:
            continue  # already evaluated
        state, fired = evaluate(state, ob, params.thresholds)
        events.extend(fired)
    return state, events


def replay(
    analyzer: PairAnalyzer,
    params: RuleParams,
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
) -> list[AlertEvent]:
    """Alerts the rules fire from `start` to `end`, warmed up from the start of the data."""
    obs = [o for o in observations(analyzer, params) if end is None or o.date <= end]
    _, events = fold(params, obs)
    return [e for e in events if start is None or e.as_of >= start]
