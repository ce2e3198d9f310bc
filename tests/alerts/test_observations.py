"""Replay and the live engine see the same observation for a session, however much history follows it."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from bot.alerts.replay import observations
from bot.alerts.rules import Observation, RuleParams
from bot.analysis.analyzer import PairAnalyzer
from tests.alerts.support import ClockedMarketData


def _same(a: list[Observation], b: list[Observation]) -> bool:
    def key(o: Observation) -> tuple:
        return (o.date, o.n_obs, *("nan" if math.isnan(v) else v for v in (o.rho, o.rho_rank, o.z)))

    return [key(o) for o in a] == [key(o) for o in b]


@pytest.mark.parametrize("params", [RuleParams("ETH", "RUT", 90), RuleParams("BTC", "ETH", 365)])
def test_one_session_at_a_time_equals_the_whole_history(snapshot_analyzer, params):
    whole = observations(snapshot_analyzer, params)
    for cut in (300, 1000, len(whole) - 2):
        tail = observations(snapshot_analyzer, params, after=whole[cut].date, until=whole[cut + 1].date)
        assert _same(tail, [whole[cut + 1]])


def test_data_as_it_was_on_a_day_gives_that_day_the_same_observations(snapshot_analyzer):
    params = RuleParams("ETH", "RUT", 90)
    whole = observations(snapshot_analyzer, params)
    then = PairAnalyzer(ClockedMarketData(pd.Timestamp("2024-10-22 21:30", tz="UTC")))
    upto = observations(then, params)
    assert upto[-1].date == pd.Timestamp("2024-10-22")
    assert _same(upto, [o for o in whole if o.date <= upto[-1].date])
