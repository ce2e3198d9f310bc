"""Correlation regimes with hysteresis, rank check and dwell (docs/methods.md §4), as a pure state machine.

`step` advances one observation; `regime_history` replays a whole correlation history with it. The
Alerts work persists `RegimeState` between sessions, so live evaluation and replay are the same code.
`regime_history` also keeps the candidate state per date (candidate regime, how many observations it has
held, since when), and `change_boundary` names the threshold a candidate has crossed, so a reply can say when
a change is building (docs/methods.md §4.6).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import pandas as pd

from bot.analytics.thresholds import DEFAULT_THRESHOLDS, Regime, Thresholds


def classify(rho: float, adopted: Regime | None, th: Thresholds = DEFAULT_THRESHOLDS) -> Regime:
    """Candidate regime of one correlation value, judged against the adopted regime; first match wins."""
    if rho <= th.inverse_enter:
        return Regime.INVERSE
    if rho >= th.coupled_enter:
        return Regime.COUPLED
    if adopted is Regime.COUPLED and rho >= th.coupled_exit:
        return Regime.COUPLED
    if adopted is Regime.INVERSE and rho <= th.inverse_exit:
        return Regime.INVERSE
    if adopted is Regime.DECOUPLED and rho < th.decoupled_exit:
        return Regime.DECOUPLED
    if rho <= th.decoupled_enter:
        return Regime.DECOUPLED
    return Regime.NEUTRAL


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


def regime_history(
    rho: pd.Series,
    rho_rank: pd.Series,
    th: Thresholds = DEFAULT_THRESHOLDS,
    state: RegimeState | None = None,
) -> RegimeHistory:
    state = state or RegimeState()
    adopted: list[str | None] = []
    since: list[pd.Timestamp | None] = []
    candidate: list[str | None] = []
    count: list[int] = []
    candidate_since: list[pd.Timestamp | None] = []
    changes: list[RegimeChange] = []
    for date, r, s in zip(rho.index, rho.to_numpy(float), rho_rank.to_numpy(float), strict=True):
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


# Regimes from the lowest correlation to the highest: a candidate below the adopted regime is a weakening.
REGIME_ORDER = (Regime.INVERSE, Regime.DECOUPLED, Regime.NEUTRAL, Regime.COUPLED)


@dataclass(frozen=True)
class Boundary:
    """The threshold a candidate regime's correlation has crossed, judged against the adopted regime."""

    relation: str  # "at or above" | "at or below" | "above" | "below" (as `classify` compares)
    level: float
    name: str  # "coupled entry", "coupled exit", …: the threshold's name in docs/methods.md §4.1


def change_boundary(adopted: Regime | None, candidate: Regime, th: Thresholds = DEFAULT_THRESHOLDS) -> Boundary | None:
    """Which line a value classified as `candidate` (against `adopted`) is beyond; None when the candidate is
    neutral and no regime is adopted yet (neutral is the space between the entries, not beyond a line)."""
    if candidate is Regime.INVERSE:
        return Boundary("at or below", th.inverse_enter, "inverse entry")
    if candidate is Regime.COUPLED:
        return Boundary("at or above", th.coupled_enter, "coupled entry")
    if adopted is Regime.INVERSE:  # decoupled or neutral after inverse: the value has risen above the exit
        return Boundary("above", th.inverse_exit, "inverse exit")
    if candidate is Regime.DECOUPLED:
        return Boundary("at or below", th.decoupled_enter, "decoupled entry")
    if adopted is Regime.COUPLED:
        return Boundary("below", th.coupled_exit, "coupled exit")
    if adopted is Regime.DECOUPLED:
        return Boundary("at or above", th.decoupled_exit, "decoupled exit")
    return None


def change_direction(adopted: Regime | None, candidate: Regime) -> str:
    """'weakening', 'strengthening', 'turning inverse' or 'easing' (an inverse link fading); '' without a
    regime adopted yet."""
    if adopted is None:
        return ""
    if adopted is Regime.INVERSE:
        return "easing"
    if candidate is Regime.INVERSE:
        return "turning inverse"
    return "weakening" if REGIME_ORDER.index(candidate) < REGIME_ORDER.index(adopted) else "strengthening"
