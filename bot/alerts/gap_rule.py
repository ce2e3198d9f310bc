"""The gap alert (docs/methods.md §8.6): the gap of /gap, watched one observation at a time.

When a rule instance's coupled regime ends (a regime change out of coupled, §4.3, with the instance's window
and thresholds), the gap's anchor t0 is the observation before the first day of that change's dwell, and its
beta the OLS beta of the year ending at t0 (`Observation.beta_year`, at least 60 returns), as /gap takes them.
From then on each observation has a gap g = (ln PA − ln PA(t0)) − β·(ln PB − ln PB(t0)) and an asset move that
closes it, m = exp(−g) − 1. The rule fires

- "crossed": when m first reaches +25% or +50% (the asset below its line), or −25% or −50% (above it); a level
  that fired re-arms once m is back 5 points inside it (below +20%, above −45%, …) and at least
  `GAP_SPACING_OBS` observations have passed since it fired. When one observation passes both levels, one
  alert names the higher.
- "closed": when a gap of at least 25% (|m| ≥ 25% since the anchor or the last close) closes to |m| ≤ 5%.

While the pair is coupled again there is no gap to watch (as /gap says): the watch ends, and the next end of a
coupled regime starts a new one. An anchor more than `GAP_ANCHOR_DAYS` old ends the watch too: its beta was
fitted on returns more than two years old by then. The benchmark move of an alert follows /gap's rules: it is
withheld (None) for a beta that is not positive, not significant at 95% or from a fit with |ρ| < 0.3. The state
is a few numbers, kept with the rule instance's state as JSON.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import date

import pandas as pd
from pydantic import BaseModel, ConfigDict

from bot.analytics.gap import (
    MIN_BETA_OBS,
    benchmark_move_to_close,
    benchmark_move_withheld_reason,
    beta_standard_error_from_correlation,
)
from bot.analytics.regimes import RegimeChange, RegimeState
from bot.analytics.thresholds import Regime

GAP_LEVELS = (0.25, 0.50)  # asset moves to close that fire when first reached, either direction
GAP_CLOSED = 0.05  # a gap is closed when the move left is within this
GAP_REARM = 0.05  # a level re-arms once the move is back this far inside it
GAP_SPACING_OBS = 20  # ... and this many observations after it fired (about four weeks of sessions)
GAP_ANCHOR_DAYS = 365  # an anchor older than this (calendar days) ends the watch


@dataclass(frozen=True)
class GapPoint:
    """One observation's values a gap can be anchored on."""

    date: pd.Timestamp
    log_a: float
    log_b: float
    beta: float | None  # OLS beta of the year ending at `date`; None with fewer than 60 returns
    correlation: float | None = None  # the same fit's correlation (None in states stored before it was kept)
    n_year: int = 0  # the fit's returns


@dataclass(frozen=True)
class GapState:
    prev: GapPoint | None = None  # the previous observation
    before_candidate: GapPoint | None = None  # the observation before the current regime candidate's first day
    anchor: GapPoint | None = None  # t0 of the gap watched; None: nothing to watch
    disarmed: tuple[str, ...] = ()  # levels that fired and have not re-armed, e.g. "+0.25", "-0.5"
    close_armed: bool = False  # a gap of at least 25% was seen since the anchor or the last close
    peak: float = 0.0  # the move to close with the largest size since the anchor or the last close
    since_anchor: int = 0  # observations since the anchor
    fired_at: tuple[tuple[str, int], ...] = ()  # level -> `since_anchor` when it last fired (the spacing)


def _key(sign: int, level: float) -> str:
    return f"{'+' if sign > 0 else '-'}{level:g}"


def _point(obs_date: pd.Timestamp, log_a: float, log_b: float, beta: float, n_year: int,
           corr_year: float = math.nan) -> GapPoint | None:
    """None without prices (an observation built without them has no gap)."""
    if not (math.isfinite(log_a) and math.isfinite(log_b)):
        return None
    usable = n_year >= MIN_BETA_OBS and math.isfinite(beta)
    correlation = float(corr_year) if usable and math.isfinite(corr_year) else None
    return GapPoint(obs_date, float(log_a), float(log_b), float(beta) if usable else None, correlation, int(n_year))


def withheld_reason(anchor: GapPoint) -> str | None:
    """/gap's rules for the benchmark move (docs/methods.md §8.3), from the anchor's fit."""
    assert anchor.beta is not None
    if anchor.correlation is None:  # a state stored before the fit's correlation was kept: say nothing
        return benchmark_move_withheld_reason(anchor.beta, 0.0, 1.0)
    se = beta_standard_error_from_correlation(anchor.beta, anchor.correlation, anchor.n_year)
    return benchmark_move_withheld_reason(anchor.beta, se, anchor.correlation)


def _detail(anchor: GapPoint, gap: float, move: float, **extra: object) -> dict[str, object]:
    assert anchor.beta is not None
    reason = withheld_reason(anchor)
    bench = benchmark_move_to_close(gap, anchor.beta) if reason is None else None
    return {"anchor": f"{anchor.date:%Y-%m-%d}", "beta": anchor.beta, "gap_log": gap, "gap_pct": math.expm1(gap),
            "benchmark_move": bench, "benchmark_move_withheld_reason": reason, **extra}


def gap_step(
    state: GapState, obs_date: pd.Timestamp, log_a: float, log_b: float, beta_year: float, n_year: int,
    regime: RegimeState, change: RegimeChange | None, corr_year: float = math.nan,
) -> tuple[GapState, list[tuple[float, dict[str, object]]]]:
    """Advance the gap watch by one observation, after the regime step that gave `regime` and `change`.
    Returns the new state and the alerts as (move to close, detail)."""
    point = _point(obs_date, log_a, log_b, beta_year, n_year, corr_year)
    previous = state.prev
    before = state.before_candidate
    if regime.candidate is not None and regime.candidate_since == obs_date:
        before = previous  # a new candidate starts today: the anchor, should it end a coupled regime
    state = replace(state, prev=point, before_candidate=before)
    if change is not None and change.from_regime is Regime.COUPLED:
        # the observation before the dwell's first day; a dwell of one observation began today
        start = previous if change.since == obs_date else before
        anchor = start if start is not None and start.beta is not None else None
        state = GapState(point, before, anchor)
    elif regime.adopted is Regime.COUPLED and state.anchor is not None:
        return GapState(point, state.before_candidate), []  # coupled again: no gap to close
    anchor = state.anchor
    if anchor is None or anchor.beta is None or point is None:
        return state, []
    if (point.date - anchor.date).days > GAP_ANCHOR_DAYS:  # too old: the watch ends until the next decoupling
        return GapState(point, state.before_candidate), []
    gap = (point.log_a - anchor.log_a) - anchor.beta * (point.log_b - anchor.log_b)
    move = math.expm1(-gap)
    return _levels(replace(state, since_anchor=state.since_anchor + 1), anchor, gap, move)


def _rearms(key: str, move: float, since_fired: int) -> bool:
    """Is the move back GAP_REARM inside a level that fired ('+0.25': below +20%; '-0.5': above −45%), at least
    GAP_SPACING_OBS observations after it fired?"""
    sign = 1 if key[0] == "+" else -1
    return sign * move < float(key[1:]) - GAP_REARM and since_fired >= GAP_SPACING_OBS


def _levels(state: GapState, anchor: GapPoint, gap: float, move: float
            ) -> tuple[GapState, list[tuple[float, dict[str, object]]]]:
    fired: list[tuple[float, dict[str, object]]] = []
    now = state.since_anchor
    fired_at = dict(state.fired_at)
    disarmed = {key for key in state.disarmed if not _rearms(key, move, now - fired_at.get(key, -GAP_SPACING_OBS))}
    for sign in (1, -1):
        reached = [level for level in GAP_LEVELS if sign * move >= level]
        fresh = [level for level in reached if _key(sign, level) not in disarmed]
        if fresh:
            level = max(fresh)
            fired.append((move, _detail(anchor, gap, move, event="crossed", level=sign * level)))
            fired_at.update({_key(sign, lvl): now for lvl in fresh})
        disarmed |= {_key(sign, level) for level in reached}
    peak = move if abs(move) > abs(state.peak) else state.peak
    close_armed = state.close_armed or abs(move) >= GAP_LEVELS[0]
    if close_armed and abs(move) <= GAP_CLOSED:
        fired.append((move, _detail(anchor, gap, move, event="closed", peak=peak)))
        close_armed, peak = False, 0.0
    return replace(state, disarmed=tuple(sorted(disarmed)), close_armed=close_armed, peak=peak,
                   fired_at=tuple(sorted(fired_at.items()))), fired


# ---- persistence ------------------------------------------------------------------------------------------


class StoredGapPoint(BaseModel):
    model_config = ConfigDict(extra="ignore")

    date: date
    log_a: float
    log_b: float
    beta: float | None = None
    correlation: float | None = None
    n_year: int = 0


class StoredGap(BaseModel):
    """The gap watch as stored inside `StoredRuleState`; every field has a default."""

    model_config = ConfigDict(extra="ignore")

    prev: StoredGapPoint | None = None
    before_candidate: StoredGapPoint | None = None
    anchor: StoredGapPoint | None = None
    disarmed: list[str] = []
    close_armed: bool = False
    peak: float = 0.0
    since_anchor: int = 0
    fired_at: dict[str, int] = {}


def _dump_point(point: GapPoint | None) -> StoredGapPoint | None:
    if point is None:
        return None
    return StoredGapPoint(date=point.date.date(), log_a=point.log_a, log_b=point.log_b, beta=point.beta,
                          correlation=point.correlation, n_year=point.n_year)


def _load_point(stored: StoredGapPoint | None) -> GapPoint | None:
    if stored is None:
        return None
    return GapPoint(pd.Timestamp(stored.date), stored.log_a, stored.log_b, stored.beta, stored.correlation,
                    stored.n_year)


def dump_gap(state: GapState) -> StoredGap:
    return StoredGap(prev=_dump_point(state.prev), before_candidate=_dump_point(state.before_candidate),
                     anchor=_dump_point(state.anchor), disarmed=list(state.disarmed), close_armed=state.close_armed,
                     peak=state.peak, since_anchor=state.since_anchor, fired_at=dict(state.fired_at))


def load_gap(stored: StoredGap) -> GapState:
    return GapState(_load_point(stored.prev), _load_point(stored.before_candidate), _load_point(stored.anchor),
                    tuple(stored.disarmed), stored.close_armed, stored.peak, stored.since_anchor,
                    tuple(sorted(stored.fired_at.items())))
