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

import numpy as np
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
        if state.candidate is None:  # no dwell to reset (the usual day): the same state
            return state, None
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
    position that gives it (e.g. `WindowSpearman`). It is asked for only where `needs_rank`: elsewhere `step`
    would leave the state as it is, whatever the rank correlation, so the day is not stepped."""
    state = state or RegimeState()
    if callable(rho_rank):
        rank_at = rho_rank
    else:
        if len(rho_rank) != len(rho):
            raise ValueError("rho and rho_rank must be aligned")
        rank_at = rho_rank.to_numpy(float).__getitem__
    values = rho.to_numpy(float)
    dates = rho.index
    rows: list[tuple[str | None, np.datetime64, str | None, int, np.datetime64]] = []
    changes: list[RegimeChange] = []
    row = _row(state)
    for i in range(len(values)):
        r = values[i]
        if needs_rank(state, r, th):  # otherwise `step` would leave the state as it is, whatever the rank
            state, change = step(state, dates[i], r, rank_at(i), th)
            if change is not None:
                changes.append(change)
            row = _row(state)
        rows.append(row)
    adopted, since, candidate, count, candidate_since = zip(*rows, strict=True) if rows else ((),) * 5
    return RegimeHistory(
        pd.Series(adopted, index=dates, dtype=object),
        pd.Series(np.array(since, dtype="datetime64[ns]"), index=dates),
        changes,
        state,
        pd.Series(candidate, index=dates, dtype=object),
        pd.Series(np.array(count, dtype=int), index=dates),
        pd.Series(np.array(candidate_since, dtype="datetime64[ns]"), index=dates),
    )


_NAT = np.datetime64("NaT", "ns")


def _row(state: RegimeState) -> tuple[str | None, np.datetime64, str | None, int, np.datetime64]:
    """What the history keeps of a state after each observation."""
    return (
        state.adopted.value if state.adopted else None,
        _NAT if state.adopted_since is None else state.adopted_since.to_datetime64(),
        state.candidate.value if state.candidate else None,
        state.count,
        _NAT if state.candidate_since is None else state.candidate_since.to_datetime64(),
    )
