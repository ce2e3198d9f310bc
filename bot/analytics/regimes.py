"""Correlation regimes with hysteresis, rank check and dwell (docs/methods.md §4), as a pure state machine.

`step` advances one observation; `regime_history` replays a whole correlation history with it. The
Alerts work persists `RegimeState` between sessions, so live evaluation and replay are the same code.
`regime_history` also keeps the candidate state per date (candidate regime, how many observations it has
held, since when), and `change_boundary` names the threshold a candidate has crossed, so a reply can say when
a change is building (docs/methods.md §4.6).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import pandas as pd

from bot.analytics.thresholds import DEFAULT_THRESHOLDS, Regime, Thresholds, classify


@dataclass(frozen=True)
class RegimeState:
    adopted: Regime | None = None  # None until the first regime of the history is adopted
    adopted_since: pd.Timestamp | None = None  # first day of the dwell that adopted it
    candidate: Regime | None = None
    count: int = 0  # consecutive observations the candidate has held (with the rank check)
    candidate_since: pd.Timestamp | None = None


@dataclass(frozen=True)
class RegimeChange:
    as_of: pd.Timestamp  # the observation that completed the dwell
    since: pd.Timestamp  # the first observation of the dwell
    from_regime: Regime
    to_regime: Regime
    rho: float
    rho_rank: float


def step(
    state: RegimeState, date: pd.Timestamp, rho: float, rho_rank: float, th: Thresholds = DEFAULT_THRESHOLDS
) -> tuple[RegimeState, RegimeChange | None]:
    """Advance one observation. NaN values (too few observations) leave the state untouched.

    The first regime of a history is adopted after the same dwell but is a starting state, not a change.
    """
    if math.isnan(rho) or math.isnan(rho_rank):
        return state, None
    cand = classify(rho, state.adopted, th)
    if classify(rho_rank, state.adopted, th) is not cand or cand is state.adopted:
        return replace(state, candidate=None, count=0, candidate_since=None), None
    if cand is state.candidate:
        count, since = state.count + 1, state.candidate_since
    else:
        count, since = 1, date
    if count < th.dwell:
        return replace(state, candidate=cand, count=count, candidate_since=since), None
    new_state = RegimeState(adopted=cand, adopted_since=since)
    if state.adopted is None:
        return new_state, None
    return new_state, RegimeChange(date, since, state.adopted, cand, rho, rho_rank)


@dataclass(frozen=True)
class RegimeHistory:
    adopted: pd.Series  # adopted regime (str or None) after each observation
    adopted_since: pd.Series  # first day of the dwell that adopted it (NaT before the first regime)
    changes: list[RegimeChange]
    final: RegimeState
    # the dwell in progress after each observation (docs/methods.md §4.6): the candidate regime (str or None),
    # the consecutive observations it has held with the rank check (0 when none), and its first day (NaT)
    candidate: pd.Series
    candidate_count: pd.Series
    candidate_since: pd.Series


def needs_rank(state: RegimeState, rho: float, th: Thresholds = DEFAULT_THRESHOLDS) -> bool:
    """Whether `step` can come out differently for different rank correlations. It can't when rho is NaN (the
    state stays) or when rho classifies as the adopted regime with no dwell in progress (the state stays too)."""
    if math.isnan(rho):
        return False
    return classify(rho, state.adopted, th) is not state.adopted or state.candidate is not None


def regime_history(
    rho: pd.Series,
    rho_rank: pd.Series | Callable[[int], float],
    th: Thresholds = DEFAULT_THRESHOLDS,
    state: RegimeState | None = None,
) -> RegimeHistory:
    """Replay `step` over a history. `rho_rank` is the rank correlation aligned with `rho`, or a function of the
    position that gives it (e.g. `WindowSpearman`): then it is asked only where `needs_rank`, and rho stands in
    elsewhere, which leaves the state as any rank correlation would."""
    state = state or RegimeState()
    if callable(rho_rank):
        rank_at = rho_rank
        lazy = True
    else:
        if len(rho_rank) != len(rho):
            raise ValueError("rho and rho_rank must be aligned")
        rank_at = rho_rank.to_numpy(float).__getitem__
        lazy = False
    adopted: list[str | None] = []
    since: list[pd.Timestamp | None] = []
    candidate: list[str | None] = []
    count: list[int] = []
    candidate_since: list[pd.Timestamp | None] = []
    changes: list[RegimeChange] = []
    for i, (date, r) in enumerate(zip(rho.index, rho.to_numpy(float), strict=True)):
        s = rank_at(i) if not lazy or needs_rank(state, r, th) else r
        state, change = step(state, date, r, s, th)
        if change is not None:
            changes.append(change)
        adopted.append(state.adopted.value if state.adopted else None)
        since.append(state.adopted_since)
        candidate.append(state.candidate.value if state.candidate else None)
        count.append(state.count)
        candidate_since.append(state.candidate_since)
    return RegimeHistory(
        pd.Series(adopted, index=rho.index, dtype=object),
        pd.Series(pd.to_datetime(since), index=rho.index),
        changes,
        state,
        pd.Series(candidate, index=rho.index, dtype=object),
        pd.Series(count, index=rho.index, dtype=int),
        pd.Series(pd.to_datetime(candidate_since), index=rho.index),
    )
