"""The regime, divergence, record and gap alerts of docs/methods.md §5 and §8.6 as one explicit state machine
per rule instance: `evaluate(state, observation, thresholds)` advances one observation. Replay folds it over a
pair's history; the live engine folds it over the sessions it has not evaluated yet, from the stored
state, so both fire exactly the same alerts. The kinds' names come from bot/alerts/kinds.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from datetime import date
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict

from bot.alerts.gap_rule import GapState, StoredGap, dump_gap, gap_step, load_gap
from bot.alerts.kinds import DIVERGENCE, GAP, RECORD, REGIME
from bot.analytics.regimes import RegimeState, step
from bot.analytics.thresholds import DEFAULT_THRESHOLDS, Regime, Thresholds

DIVERGENCE_REARM_OBS = 10  # observations after an alert before the divergence rule can re-arm
RECORD_GAP_OBS = 20  # observations after a record alert before the same side can fire again


@dataclass(frozen=True)
class RuleParams:
    """A rule instance: (pair, window, thresholds). Subscriptions with equal params share one."""

    asset: str
    benchmark: str
    window_days: int
    thresholds: Thresholds = DEFAULT_THRESHOLDS

    @property
    def pair(self) -> str:
        return f"{self.asset}:{self.benchmark}"

    def overrides(self) -> dict[str, float]:
        return {
            f.name: getattr(self.thresholds, f.name)
            for f in fields(Thresholds)
            if getattr(self.thresholds, f.name) != getattr(DEFAULT_THRESHOLDS, f.name)
        }


@dataclass(frozen=True)
class Observation:
    date: pd.Timestamp
    rho: float  # rolling Pearson of the rule's window (NaN below 15 observations)
    rho_rank: float  # rolling Spearman of the same window
    z: float  # divergence z with the rule's horizon (NaN when not defined)
    n_obs: int
    # for the gap (bot/alerts/gap_rule.py): log prices, and the OLS beta of the year ending here and its returns
    log_a: float = math.nan
    log_b: float = math.nan
    beta_year: float = math.nan
    n_year: int = 0
    corr_year: float = math.nan  # the correlation of the same year's returns (the gap's benchmark-move rules)


@dataclass(frozen=True)
class AlertEvent:
    kind: str  # a name from bot/alerts/kinds.py
    as_of: pd.Timestamp
    value: float  # the correlation (regime, record) or z (divergence)
    from_regime: str | None = None
    to_regime: str | None = None
    since: pd.Timestamp | None = None  # regime: first day of the dwell
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FiredAlert:
    """A stored alert as readers see it: its id, what fired, and the rule instance's parameters."""

    id: int
    event: AlertEvent
    params: RuleParams


@dataclass(frozen=True)
class RuleState:
    regime: RegimeState = field(default_factory=RegimeState)
    obs: int = 0  # observations processed
    last_date: pd.Timestamp | None = None
    div_armed: bool = True
    div_alert_obs: int | None = None
    first_date: pd.Timestamp | None = None  # first defined correlation
    rec_min: float | None = None
    rec_max: float | None = None
    rec_low_obs: int | None = None
    rec_high_obs: int | None = None
    gap: GapState = field(default_factory=GapState)

    # ---- persistence: JSON through `StoredRuleState` -------------------------------------------------------
    def to_json(self) -> str:
        r = self.regime
        stored = StoredRuleState(
            regime=StoredRegime(adopted=_name(r.adopted), adopted_since=_day(r.adopted_since),
                                candidate=_name(r.candidate), count=r.count, candidate_since=_day(r.candidate_since)),
            obs=self.obs, last_date=_day(self.last_date), div_armed=self.div_armed, div_alert_obs=self.div_alert_obs,
            first_date=_day(self.first_date), rec_min=self.rec_min, rec_max=self.rec_max,
            rec_low_obs=self.rec_low_obs, rec_high_obs=self.rec_high_obs, gap=dump_gap(self.gap),
        )
        return stored.model_dump_json()

    @classmethod
    def from_json(cls, text: str | None) -> RuleState:
        if not text:
            return cls()
        stored = StoredRuleState.model_validate_json(text)
        r = stored.regime
        regime_state = RegimeState(_regime(r.adopted), _ts(r.adopted_since), _regime(r.candidate), r.count,
                                   _ts(r.candidate_since))
        return cls(
            regime=regime_state, obs=stored.obs, last_date=_ts(stored.last_date), div_armed=stored.div_armed,
            div_alert_obs=stored.div_alert_obs, first_date=_ts(stored.first_date), rec_min=stored.rec_min,
            rec_max=stored.rec_max, rec_low_obs=stored.rec_low_obs, rec_high_obs=stored.rec_high_obs,
            gap=load_gap(stored.gap),
        )


class StoredRegime(BaseModel):
    model_config = ConfigDict(extra="ignore")

    adopted: str | None = None
    adopted_since: date | None = None
    candidate: str | None = None
    count: int = 0
    candidate_since: date | None = None


class StoredRuleState(BaseModel):
    """`rule_instances.state` as stored. Every field has a default and unknown fields are ignored, so a row
    written by an older or newer version still loads."""

    model_config = ConfigDict(extra="ignore")

    regime: StoredRegime = StoredRegime()
    obs: int = 0
    last_date: date | None = None
    div_armed: bool = True
    div_alert_obs: int | None = None
    first_date: date | None = None
    rec_min: float | None = None
    rec_max: float | None = None
    rec_low_obs: int | None = None
    rec_high_obs: int | None = None
    gap: StoredGap = StoredGap()


def _day(ts: pd.Timestamp | None) -> date | None:
    return None if ts is None else ts.date()


def _ts(day: date | None) -> pd.Timestamp | None:
    return None if day is None else pd.Timestamp(day)


def _name(regime: Regime | None) -> str | None:
    return None if regime is None else regime.value


def _regime(name: str | None) -> Regime | None:
    return None if name is None else Regime(name)


def _divergence(state: RuleState, obs: Observation, th: Thresholds) -> tuple[RuleState, AlertEvent | None]:
    if math.isnan(obs.z):
        return state, None
    if state.div_armed and abs(obs.z) >= th.z_enter:
        event = AlertEvent(DIVERGENCE, obs.date, obs.z, detail={"horizon": th.horizon, "rho": obs.rho})
        return replace(state, div_armed=False, div_alert_obs=state.obs), event
    if (
        not state.div_armed
        and abs(obs.z) < th.z_rearm
        and (state.div_alert_obs is None or state.obs - state.div_alert_obs >= DIVERGENCE_REARM_OBS)
    ):
        return replace(state, div_armed=True), None
    return state, None


def _record(state: RuleState, obs: Observation, th: Thresholds) -> tuple[RuleState, list[AlertEvent]]:
    if math.isnan(obs.rho):
        return state, []
    rec_min, rec_max = state.rec_min, state.rec_max
    if state.first_date is None or rec_min is None or rec_max is None:  # set together, on the first correlation
        return replace(state, first_date=obs.date, rec_min=obs.rho, rec_max=obs.rho), []
    events: list[AlertEvent] = []
    if (obs.date - state.first_date).days >= th.min_history_days:
        history_start = f"{state.first_date:%Y-%m-%d}"
        if obs.rho < rec_min and (state.rec_low_obs is None or state.obs - state.rec_low_obs >= RECORD_GAP_OBS):
            detail = {"side": "low", "previous": rec_min, "history_start": history_start}
            events.append(AlertEvent(RECORD, obs.date, obs.rho, detail=detail))
            state = replace(state, rec_low_obs=state.obs)
        if obs.rho > rec_max and (state.rec_high_obs is None or state.obs - state.rec_high_obs >= RECORD_GAP_OBS):
            detail = {"side": "high", "previous": rec_max, "history_start": history_start}
            events.append(AlertEvent(RECORD, obs.date, obs.rho, detail=detail))
            state = replace(state, rec_high_obs=state.obs)
    return replace(state, rec_min=min(rec_min, obs.rho), rec_max=max(rec_max, obs.rho)), events


def evaluate(
    state: RuleState, obs: Observation, th: Thresholds = DEFAULT_THRESHOLDS
) -> tuple[RuleState, list[AlertEvent]]:
    """Advance a rule instance by one observation (dates must come in order, each once)."""
    if state.last_date is not None and obs.date <= state.last_date:
        raise ValueError(f"observation {obs.date:%Y-%m-%d} is not after {state.last_date:%Y-%m-%d}")
    events: list[AlertEvent] = []
    regime_state, change = step(state.regime, obs.date, obs.rho, obs.rho_rank, th)
    state = replace(state, regime=regime_state)
    if change is not None:
        events.append(
            AlertEvent(REGIME, change.as_of, change.rho, change.from_regime.value, change.to_regime.value,
                       change.since, detail={"rho_rank": change.rho_rank})
        )
    state, div_event = _divergence(state, obs, th)
    if div_event is not None:
        events.append(div_event)
    state, record_events = _record(state, obs, th)
    events.extend(record_events)
    gap_state, gaps = gap_step(state.gap, obs.date, obs.log_a, obs.log_b, obs.beta_year, obs.n_year, regime_state,
                               change, obs.corr_year)
    events.extend(AlertEvent(GAP, obs.date, move, since=pd.Timestamp(str(detail["anchor"])), detail=detail)
                  for move, detail in gaps)
    return replace(state, obs=state.obs + 1, last_date=obs.date, gap=gap_state), events
