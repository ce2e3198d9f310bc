"""Alert rules: divergence arming, record gaps, persistence, and replay = resumed evaluation."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from bot.alerts.replay import fold, observations, replay
from bot.alerts.rules import Observation, RuleParams, RuleState, evaluate
from bot.analysis.analyzer import PairAnalyzer
from bot.analytics.thresholds import DEFAULT_THRESHOLDS
from bot.assets import find_asset
from bot.market.data import SnapshotMarketData
from bot.windows import Window

NAN = math.nan


def _obs(values: list[tuple[float, float]], start: str = "2020-01-01") -> list[Observation]:
    dates = pd.date_range(start, periods=len(values), freq="D")
    return [Observation(d, rho, rho, z, 60) for d, (rho, z) in zip(dates, values, strict=True)]


PARAMS = RuleParams("ETH", "RUT", 90)


def test_divergence_fires_once_then_rearms_after_calm_and_ten_observations():
    zs = [0.0] * 3 + [2.6, 3.0, 2.8] + [0.5] * 12 + [-2.7]
    _, events = fold(PARAMS, _obs([(0.3, z) for z in zs]))
    div = [e for e in events if e.kind == "divergence"]
    assert [round(e.value, 1) for e in div] == [2.6, -2.7]


def test_divergence_does_not_rearm_before_ten_observations():
    zs = [2.6] + [0.5] * 5 + [2.9]
    _, events = fold(PARAMS, _obs([(0.3, z) for z in zs]))
    assert len([e for e in events if e.kind == "divergence"]) == 1


def test_record_needs_two_years_of_history_and_twenty_observations_between():
    rhos = [0.5] * 740 + [0.1, 0.05] + [0.04] * 5 + [0.03] * 25 + [0.02]
    _, events = fold(PARAMS, _obs([(r, NAN) for r in rhos]))
    records = [e for e in events if e.kind == "record"]
    assert [e.detail["side"] for e in records] == ["low", "low"]
    assert records[0].value == 0.1
    # 0.05, 0.04 and 0.03 were new lows within 20 observations of the first; 0.02 comes 32 later
    assert records[1].value == 0.02
    early = fold(PARAMS, _obs([(r, NAN) for r in [0.5] * 100 + [0.1]]))[1]
    assert not [e for e in early if e.kind == "record"]


def test_state_survives_json_and_resumes_identically():
    obs = _obs([(0.6, 0.0)] * 6 + [(0.1, 3.0)] * 6 + [(-0.5, 0.2)] * 8)
    whole_state, whole = fold(PARAMS, obs)
    mid_state, first = fold(PARAMS, obs[:9])
    restored = RuleState.from_json(mid_state.to_json())
    assert restored == mid_state
    end_state, rest = fold(PARAMS, obs, restored)  # already-evaluated dates are skipped
    assert first + rest == whole and end_state == whole_state


def test_observations_must_advance():
    state, _ = evaluate(RuleState(), _obs([(0.5, 0.0)])[0])
    with pytest.raises(ValueError):
        evaluate(state, _obs([(0.5, 0.0)])[0])


def test_an_instance_key_ignores_the_order_of_overrides():
    from bot.alerts.payload import instance_key

    a = RuleParams("ETH", "RUT", 90, DEFAULT_THRESHOLDS.with_values(dwell=3, z_enter=3.0))
    b = RuleParams("ETH", "RUT", 90, DEFAULT_THRESHOLDS.with_values(z_enter=3.0, dwell=3))

    def key(params: RuleParams):
        return instance_key(params.asset, params.benchmark, params.window_days, params.overrides())

    assert key(a) == key(b) != key(PARAMS)
    assert PARAMS.overrides() == {}


def test_stored_state_from_another_version_still_loads():
    import json

    state, _ = fold(PARAMS, _obs([(0.6, 0.0)] * 8 + [(0.1, 3.0)] * 3))
    stored = json.loads(state.to_json())
    stored["a_field_from_a_newer_version"] = [1, 2]  # ignored
    del stored["rec_high_obs"], stored["regime"]["candidate_since"]  # an older version had no such fields
    restored = RuleState.from_json(json.dumps(stored))
    assert restored.obs == state.obs and restored.regime.adopted == state.regime.adopted
    assert restored.rec_high_obs is None and restored.regime.candidate_since is None


@pytest.fixture(scope="module")
def analyzer() -> PairAnalyzer:
    return PairAnalyzer(SnapshotMarketData())


def test_replay_on_real_data_matches_regime_history(analyzer):
    events = replay(analyzer, PARAMS)
    regime_events = [(e.as_of, e.to_regime) for e in events if e.kind == "regime"]
    hist = analyzer.window_history(analyzer.pair(find_asset("ETH"), find_asset("RUT")), Window(90))
    assert regime_events == [(c.as_of, c.to_regime.value) for c in hist.regimes.changes]


def test_replay_day_by_day_equals_replay_in_one_go(analyzer):
    obs = observations(analyzer, PARAMS)
    _, in_one_go = fold(PARAMS, obs)
    state, stepped = RuleState(), []
    for ob in obs:
        state = RuleState.from_json(state.to_json())  # persisted between sessions, as the engine does
        state, fired = fold(PARAMS, [ob], state)
        stepped.extend(fired)
    assert stepped == in_one_go
    window = replay(analyzer, PARAMS, pd.Timestamp("2024-01-01"), pd.Timestamp("2024-12-31"))
    assert window == [e for e in in_one_go if pd.Timestamp("2024-01-01") <= e.as_of <= pd.Timestamp("2024-12-31")]
