"""The gap alert's line of base rate (docs/methods.md §10.4): point in time (only the episodes known on the
alert's date), pooled across the universe and saying so, only from 5 comparable episodes, and the same in the
replay and in the alerts the engine writes."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from bot.alerts.engine import AlertEngine
from bot.alerts.gap_base_rate import add_base_rate, alert_gap_z
from bot.alerts.payload import event_payload
from bot.alerts.replay import replay
from bot.alerts.rules import AlertEvent, RuleParams
from bot.analysis.odds import OddsService
from bot.assets import find_asset
from bot.render.alert_text import alert_fields, alert_text
from bot.render.base_rate_text import base_rate_line
from bot.store import Store
from bot.windows import Window
from tests.alerts.support import add_chats

GAP = frozenset({"gap"})
ETH_SPY = RuleParams("ETH", "SPY", 90)


@pytest.fixture(scope="module")
def eth_spy_gaps(snapshot_analyzer):
    return replay(snapshot_analyzer, ETH_SPY, kinds=GAP)


def test_a_crossing_with_5_comparable_episodes_carries_the_pooled_point_in_time_rate(snapshot_analyzer,
                                                                                      eth_spy_gaps):
    (event,) = [e for e in eth_spy_gaps if e.as_of == pd.Timestamp("2025-08-22") and e.detail["event"] == "crossed"]
    rate = event.detail["base_rate"]
    assert (rate["as_of"], rate["n"], rate["pairs"], rate["closed_seen_120"]) == ("2025-08-22", 6, 8, 3)
    assert rate["closed_within_120"]["estimate"] == pytest.approx(0.6, abs=1e-9)
    # point in time: the same summary from the episodes known that day, ETH:SPY's own open one left out
    pairs = [(find_asset(a), find_asset(b)) for a in ("ETH", "BTC") for b in ("RUT", "IWM", "SPY", "QQQ")]
    z = alert_gap_z(snapshot_analyzer, find_asset("ETH"), find_asset("SPY"), event)
    summary = OddsService(snapshot_analyzer).summary(pairs, Window(90), event.as_of, z, "ETH:SPY")
    assert summary.n == 6 and all(c.episode.start <= event.as_of for c in summary.episodes)
    assert not any(c.episode.end > event.as_of for c in summary.episodes)
    line = base_rate_line(event.detail)
    assert line == ("Base rate (known on 2025-08-22, pooled across the universe's 8 pairs, whose episodes are not "
                    "independent): of 6 past gaps this size (|gap_z| ≥ 1.50), 3 closed within 120 sessions; "
                    "Kaplan–Meier 60% (95% 25–95%).")
    text = alert_text(event, ETH_SPY)
    assert line in text.splitlines()
    assert alert_fields(event, ETH_SPY)["base_rate"]["n"] == 6


def test_fewer_than_5_comparable_episodes_add_no_line(eth_spy_gaps):
    early = [e for e in eth_spy_gaps if e.as_of < pd.Timestamp("2024-01-01") and e.detail["event"] == "crossed"]
    assert early and all("base_rate" not in e.detail for e in early)  # by then at most 4 episodes were known
    assert all(base_rate_line(e.detail) is None for e in early)
    closings = [e for e in eth_spy_gaps if e.detail["event"] == "closed"]
    assert closings and all("base_rate" not in e.detail for e in closings)


def test_a_rate_that_fell_to_zero_open_is_not_given_as_100_percent(eth_spy_gaps):
    # 2024-03-11: 5 comparable, the 3 followed past 89 sessions all closed and 2 just begun: S = 0, no interval
    (event,) = [e for e in eth_spy_gaps if e.as_of == pd.Timestamp("2024-03-11")]
    rate = event.detail["base_rate"]
    assert rate["closed_within_120"] is None and rate["withheld_reason"].startswith("every episode followed")
    assert "100%" not in base_rate_line(event.detail)


def test_other_events_pass_through_untouched(snapshot_analyzer):
    regime = AlertEvent("regime", pd.Timestamp("2025-07-25"), 0.3, "coupled", "neutral")
    assert add_base_rate(snapshot_analyzer, RuleParams("ETH", "RUT", 90), [regime]) == [regime]


async def test_the_engine_writes_the_rate_the_replay_gives(store: Store, snapshot_analyzer, eth_spy_gaps):
    (chat,) = await add_chats(store, 1, pair=("ETH", "SPY"))
    await store.set_kinds(chat, "ETH", "SPY", ["gap"])
    engine = AlertEngine(store, snapshot_analyzer)
    await engine.run(until=date(2025, 8, 21))
    report = await engine.run(until=date(2025, 8, 22))
    assert report.fired.get("gap") == 1
    (alert,) = [a for a in await engine.repo.alerts(since=date(2025, 8, 22)) if a.kind == "gap"]
    (listed,) = [e for e in eth_spy_gaps if e.as_of == pd.Timestamp("2025-08-22")]
    stored = alert.payload["detail"]["base_rate"]
    assert stored == event_payload(listed)["detail"]["base_rate"] and stored["n"] == 6
