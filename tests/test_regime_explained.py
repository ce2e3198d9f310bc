"""Regimes explain themselves: the candidate state per date (docs/methods.md §4.6) and its wording in /corr and
/regime, so a regime label next to a correlation beyond its band never reads as a contradiction."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from bot.analysis.results import Candidate
from bot.analytics.regimes import regime_history
from bot.analytics.thresholds import DEFAULT_THRESHOLDS, Regime, change_boundary, change_direction, classify
from bot.assets import find_asset
from bot.render.text import change_building_words
from bot.windows import parse_window
from tests.helpers import ask


def _series(values: list[float]) -> pd.Series:
    return pd.Series(values, index=pd.date_range("2024-01-01", periods=len(values), freq="B"), dtype=float)


# ---- the state machine's candidate, per date -------------------------------------------------------------
def test_history_keeps_the_candidate_and_its_count_per_date():
    rho = _series([0.6] * 5 + [0.3] * 5 + [0.45, 0.15])
    hist = regime_history(rho, rho)
    assert list(hist.candidate_count) == [1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 0, 1]
    assert list(hist.candidate.iloc[:5]) == ["coupled"] * 4 + [None]
    assert list(hist.candidate.iloc[5:10]) == ["neutral"] * 4 + [None]
    assert hist.adopted.iloc[9] == "neutral" and hist.adopted_since.iloc[9] == rho.index[5]
    assert hist.candidate_since.iloc[8] == rho.index[5] and pd.isna(hist.candidate_since.iloc[9])
    # 0.45 would keep a coupled regime; from neutral it is neutral, the adopted regime: nothing is building
    assert classify(0.45, Regime.NEUTRAL) is Regime.NEUTRAL and hist.candidate.iloc[10] is None
    assert hist.candidate.iloc[11] == "decoupled" and hist.candidate_since.iloc[11] == rho.index[11]


def test_a_nan_keeps_the_count_and_a_rank_disagreement_resets_it():
    rho = _series([0.6] * 5 + [0.1, 0.1, float("nan"), 0.1, 0.1])
    rank = _series([0.6] * 5 + [0.1, 0.1, 0.1, 0.45, 0.1])
    hist = regime_history(rho, rank)
    assert list(hist.candidate_count.iloc[5:]) == [1, 2, 2, 0, 1]
    assert list(hist.candidate.iloc[5:]) == ["decoupled", "decoupled", "decoupled", None, "decoupled"]


@pytest.mark.parametrize(
    ("adopted", "candidate", "relation", "level", "name", "direction"),
    [
        (Regime.COUPLED, Regime.NEUTRAL, "below", 0.40, "coupled exit", "weakening"),
        (Regime.COUPLED, Regime.DECOUPLED, "at or below", 0.20, "decoupled entry", "weakening"),
        (Regime.NEUTRAL, Regime.COUPLED, "at or above", 0.50, "coupled entry", "strengthening"),
        (Regime.DECOUPLED, Regime.NEUTRAL, "at or above", 0.35, "decoupled exit", "strengthening"),
        (Regime.NEUTRAL, Regime.INVERSE, "at or below", -0.30, "inverse entry", "turning inverse"),
        (Regime.INVERSE, Regime.DECOUPLED, "above", -0.20, "inverse exit", "easing"),
        (None, Regime.COUPLED, "at or above", 0.50, "coupled entry", ""),
    ],
)
def test_change_boundary_names_the_line_crossed(adopted, candidate, relation, level, name, direction):
    boundary = change_boundary(adopted, candidate, DEFAULT_THRESHOLDS)
    assert (boundary.relation, boundary.level, boundary.name) == (relation, level, name)
    assert change_direction(adopted, candidate) == direction


def test_wording_before_the_first_regime():
    since = pd.Timestamp("2024-01-02")
    assert change_building_words(None, Candidate("coupled", 2, since, 5)) == (
        "coupled (at or above the 0.50 coupled entry) for 2 of the 5 sessions a first regime needs")
    assert change_building_words(None, Candidate("neutral", 1, since, 5)) == (
        "neutral for 1 of the 5 sessions a first regime needs")


# ---- on the bundled data: ETH vs RUT, 90d, the coupled → neutral change of 2025-07-25 (docs/methods.md §7) ---
def test_the_dwell_before_the_2025_07_25_change(services):
    data = services.analysis.pair(find_asset("ETH"), find_asset("RUT"))
    hist = services.analysis.window_history(data, parse_window("90d")).regimes
    days = ["2025-07-18", "2025-07-21", "2025-07-22", "2025-07-23", "2025-07-24", "2025-07-25"]
    assert [int(hist.candidate_count[d]) for d in days] == [0, 1, 2, 3, 4, 0]
    assert [hist.adopted[d] for d in days] == ["coupled"] * 5 + ["neutral"]
    assert hist.adopted_since["2025-07-25"] == pd.Timestamp("2025-07-21")


async def test_corr_says_a_change_is_building(services):
    reply = await ask(services, "/corr 90d", as_of=dt.date(2025, 7, 23))
    assert reply.ok
    # the headline keeps its wording: the adopted regime's phrase and the value
    assert reply.headline.startswith("ETH and small caps are moving together: 90-day correlation 0.34")
    detail = reply.text.splitlines()[1]
    assert detail.endswith("regime: coupled since 2024-10-16; weakening: below the 0.40 exit for 3 of the 5 "
                           "sessions a change needs")
    assert reply.data["regime"] == "coupled"
    assert reply.data["regime_candidate"] == {"regime": "neutral", "count": 3, "dwell": 5, "since": "2025-07-21"}


async def test_regime_says_a_change_is_building(services):
    reply = await ask(services, "/regime", as_of=dt.date(2025, 7, 23))
    assert "• 90d: coupled since 2024-10-16 (ρ 0.34, n=61); weakening: below the 0.40 exit for 3 of the 5 " \
           "sessions a change needs" in reply.text.splitlines()
    strengthening = await ask(services, "/regime", as_of=dt.date(2024, 10, 18))
    assert "• 90d: neutral since 2024-04-22 (ρ 0.56, n=64); strengthening: at or above the 0.50 coupled entry " \
           "for 3 of the 5 sessions a change needs" in strengthening.text.splitlines()


async def test_a_rank_correlation_that_disagrees_is_said(services):
    reply = await ask(services, "/corr 90d", as_of=dt.date(2025, 3, 4))
    assert reply.text.splitlines()[1].endswith(
        "regime: coupled since 2024-10-16; the correlation is below the 0.40 exit, but the rank correlation "
        "(0.400) is not, so no change is counting")
    assert reply.data["regime_candidate"] is None


async def test_nothing_is_added_when_nothing_is_building(services):
    reply = await ask(services, "/corr 90d", as_of=dt.date(2025, 6, 30))
    assert reply.text.splitlines()[1].endswith("regime: coupled since 2024-10-16")
    assert reply.data["regime_candidate"] is None
    regime = await ask(services, "/regime", as_of=dt.date(2025, 6, 30))
    assert not any("a change needs" in line for line in regime.text.splitlines()[1:4])
