"""The regime, divergence and record alerts of METHODS.md §4 as one explicit state machine per rule
instance: `evaluate(state, observation, thresholds)` advances one observation. Replay folds it over a
pair's history; the live engine folds it over the sessions it has not evaluated yet, from the stored
state, so both fire exactly the same alerts.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import pandas as pd

from bot.analytics.regimes import DEFAULT_THRESHOLDS, Regime, RegimeState, Thresholds, step

ALERT_KINDS = ("regime", "divergence", "record")
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

    @property
    def key(self) -> str:
        """Stable identity: equal parameters give the same key, whatever order overrides came in."""
        body = json.dumps(
            {"pair": self.pair, "window": self.window_days, "th": self.overrides()}, sort_keys=True
        )
        return hashlib.sha256(body.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class Observation:
    date: pd.Timestamp
    rho: float  # rolling Pearson of the rule's window (NaN below 15 observations)
    rho_rank: float  # rolling Spearman of the same window
    z: float  # divergence z with the rule's horizon (NaN when not defined)
    n_obs: int


@dataclass(frozen=True)
class AlertEvent:
    kind: str  # regime | divergence | record
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

    # ---- persistence: plain JSON ----------------------------------------------------------------------
    def to_json(self) -> str:
        def enc(value: Any) -> Any:
            if isinstance(value, pd.Timestamp):
                return value.strftime("%Y-%m-%d")
            if isinstance(value, Regime):
                return value.value
            if isinstance(value, dict):
                return {k: enc(v) for k, v in value.items()}
            return value

        return json.dumps(enc(asdict(self)), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> RuleState:
        if not text:
            return cls()
        raw = json.loads(text)

        def ts(value: str | None) -> pd.Timestamp | None:
            return None if value is None else pd.Timestamp(value)

        def regime(value: str | None) -> Regime | None:
            return None if value is None else Regime(value)

        r = raw["regime"]
        regime_state = RegimeState(
            regime(r["adopted"]), ts(r["adopted_since"]), regime(r["candidate"]), r["count"],
            ts(r["candidate_since"]),
        )
        return cls(
            regime=regime_state,
            obs=raw["obs"],
            last_date=ts(raw["last_date"]),
            div_armed=raw["div_armed"],
            div_alert_obs=raw["div_alert_obs"],
            first_date=ts(raw["first_date"]),
            rec_min=raw["rec_min"],
            rec_max=raw["rec_max"],
            rec_low_obs=raw["rec_low_obs"],
            rec_high_obs=raw["rec_high_obs"],
        )


def _divergence(state: RuleState, obs: Observation, th: Thresholds) -> tuple[RuleState, AlertEvent | None]:
    if math.isnan(obs.z):
        return state, None
    if state.div_armed and abs(obs.z) >= th.z_enter:
        event = AlertEvent("divergence", obs.date, obs.z, detail={"horizon": th.horizon, "rho": obs.rho})
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
    if state.first_date is None:
        return replace(state, first_date=obs.date, rec_min=obs.rho, rec_max=obs.rho), []
    events: list[AlertEvent] = []
    if (obs.date - state.first_date).days >= th.min_history_days:
        sides = (("low", obs.rho < state.rec_min, state.rec_min, "rec_low_obs"),
                 ("high", obs.rho > state.rec_max, state.rec_max, "rec_high_obs"))
        for side, beyond, previous, last_field in sides:
            last = getattr(state, last_field)
            if beyond and (last is None or state.obs - last >= RECORD_GAP_OBS):
                detail = {"side": side, "previous": previous, "history_start": f"{state.first_date:%Y-%m-%d}"}
                events.append(AlertEvent("record", obs.date, obs.rho, detail=detail))
                state = replace(state, **{last_field: state.obs})
    return replace(state, rec_min=min(state.rec_min, obs.rho), rec_max=max(state.rec_max, obs.rho)), events


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
            AlertEvent("regime", change.as_of, change.rho, change.from_regime.value, change.to_regime.value,
                       change.since, detail={"rho_rank": change.rho_rank})
        )
    state, div_event = _divergence(state, obs, th)
    if div_event is not None:
        events.append(div_event)
    state, record_events = _record(state, obs, th)
    events.extend(record_events)
    return replace(state, obs=state.obs + 1, last_date=obs.date), events
