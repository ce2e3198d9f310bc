"""The gap episodes and their Kaplan–Meier estimates (docs/methods.md §10) against an independent computation:
plain pandas on the bundled CSV files (tests/independent.py's prices, a replay of §4's regime rules), written
without any of our code."""

from __future__ import annotations

import functools
import math

import numpy as np
import pandas as pd
import pytest

from bot.analysis.odds import OddsService
from bot.assets import find_asset
from bot.config import load_settings
from bot.windows import Window
from tests.helpers import make_services
from tests.independent import sync_close_prices

CRYPTO = ("BTC", "ETH")
EQUITIES = ("SPY", "QQQ", "RUT", "IWM")  # the benchmarks of the universe that have bundled data
LAST = pd.Timestamp("2026-01-16")  # the bundled data's last session


@pytest.fixture(scope="module")
def service():
    services = make_services(load_settings(market_data="snapshot", database_url="sqlite://"))
    return OddsService(services.analysis), services.scanner.universe().pairs


@functools.cache
def prices(crypto: str, equity: str) -> pd.DataFrame:
    return sync_close_prices(crypto, equity).rename(columns={"price": "a", "equity": "b"})


def band(r: float, adopted: str | None) -> str:
    """§4.1's bands with hysteresis around the adopted regime."""
    if r <= -0.30:
        return "inverse"
    if r >= 0.50 or (adopted == "coupled" and r >= 0.40):
        return "coupled"
    if adopted == "inverse" and r <= -0.20:
        return "inverse"
    if (adopted == "decoupled" and r < 0.35) or r <= 0.20:
        return "decoupled"
    return "neutral"


@functools.cache
def regime_changes(crypto: str, equity: str, days: int = 90) -> tuple[tuple[pd.Timestamp, pd.Timestamp, str, str], ...]:
    """(date, first day of the dwell, from, to) of every regime change, replaying §4: bands with hysteresis,
    rank confirmation, a dwell of 5 observations, at least 15 returns in the window."""
    rets = np.log(prices(crypto, equity)).diff().dropna()
    changes = []
    adopted, candidate, count, first = None, None, 0, None
    for when in rets.index:
        inside = rets[(rets.index > when - pd.Timedelta(days=days)) & (rets.index <= when)]
        if len(inside) < 15:
            continue
        rho, rank = inside["a"].corr(inside["b"]), inside["a"].rank().corr(inside["b"].rank())

        here = band(rho, adopted)
        if band(rank, adopted) != here or here == adopted:
            candidate, count = None, 0
            continue
        if here == candidate:
            count += 1
        else:
            candidate, count, first = here, 1, when
        if count == 5:
            changes.append((when, first, adopted, here))
            adopted, candidate, count = here, None, 0
    return tuple(changes)


@functools.cache
def reference_paths(crypto: str, equity: str) -> tuple[pd.DataFrame, ...]:
    """Per end of a coupled regime: date -> g, z, a, b (log prices) over the sessions from the change to the
    one before the pair is coupled again; attrs: anchor, beta, recoupled."""
    px = prices(crypto, equity)
    logs = np.log(px)
    rets = logs.diff().dropna()
    changes = regime_changes(crypto, equity)
    out = []
    for i, (changed, first, was, _) in enumerate(changes):
        if was != "coupled":
            continue
        t0 = px.index[px.index < first][-1]
        year = rets[(rets.index > t0 - pd.Timedelta(days=365)) & (rets.index <= t0)]
        if len(year) < 60:
            continue
        slope, intercept = np.polyfit(year["b"], year["a"], 1)
        sd = float(np.sqrt(((year["a"] - intercept - slope * year["b"]) ** 2).sum() / (len(year) - 2)))
        back = [c[0] for c in changes[i + 1:] if c[3] == "coupled"]
        watched = logs[(logs.index >= changed) & ((logs.index < back[0]) if back else True)]
        frame = pd.DataFrame({"a": watched["a"], "b": watched["b"]})
        frame["g"] = (frame["a"] - logs.at[t0, "a"]) - slope * (frame["b"] - logs.at[t0, "b"])
        frame["n"] = [int(((px.index > t0) & (px.index <= d)).sum()) for d in frame.index]
        frame["z"] = frame["g"] / (sd * np.sqrt(frame["n"]))
        frame.attrs.update(anchor=t0, beta=slope, recoupled=back[0] if back else None)
        out.append(frame)
    return tuple(out)


def reference_episodes(crypto: str, equity: str, when: pd.Timestamp = LAST) -> list[dict]:
    """Walk each path session by session: open at |z| >= 1.5, close at the first later |exp(−g) − 1| <= 5%."""
    found = []
    for path in reference_paths(crypto, equity):
        frame = path[path.index <= when]
        recoupled = path.attrs["recoupled"]
        episode = None
        for date, row in frame.iterrows():
            if episode is None:
                if abs(row["z"]) >= 1.5:
                    episode = {"pair": f"{crypto}:{equity}", "start": date, "rows": [date]}
                continue
            episode["rows"].append(date)
            if abs(math.exp(-row["g"]) - 1) <= 0.05:
                found.append({**episode, "end": date, "outcome": "closed"})
                episode = None
        if episode is not None:
            ended = "re-coupled" if recoupled is not None and recoupled <= when else "open"
            found.append({**episode, "end": frame.index[-1], "outcome": ended})
    for item in found:
        item["path"] = next(p for p in reference_paths(crypto, equity) if item["start"] in p.index)
    return found


def reference_km(durations: list[int], closed: list[bool]) -> pd.DataFrame:
    """Kaplan–Meier by the table: at each closing time, S *= 1 − d/n; Greenwood's sum; the log-log interval."""
    table = pd.DataFrame({"t": durations, "d": closed}).groupby("t")["d"].agg(["sum", "count"])
    table["n"] = table["count"][::-1].cumsum()[::-1]
    table = table[table["sum"] > 0].copy()
    table["s"] = (1 - table["sum"] / table["n"]).cumprod()
    table["gw"] = (table["sum"] / (table["n"] * (table["n"] - table["sum"]))).cumsum()
    alive = table["s"] > 0  # once everyone at risk has closed, S = 0 with no spread
    se = np.sqrt(table.loc[alive, "gw"]) / np.log(table.loc[alive, "s"]).abs()
    table["lower"] = (table.loc[alive, "s"] ** np.exp(1.959963984540054 * se)).reindex(table.index, fill_value=0.0)
    table["upper"] = (table.loc[alive, "s"] ** np.exp(-1.959963984540054 * se)).reindex(table.index, fill_value=0.0)
    return table


def comparables(level: float, when: pd.Timestamp = LAST, skip_open_of: str | None = None) -> list[dict]:
    out = []
    for crypto in CRYPTO:
        for equity in EQUITIES:
            for e in reference_episodes(crypto, equity, when):
                if e["pair"] == skip_open_of and e["outcome"] == "open" and e["end"] == when:
                    continue
                z = e["path"].loc[e["start"]:e["end"], "z"].abs()
                hit = z[z >= level]
                if len(hit):
                    sessions = len(e["path"].loc[hit.index[0]:e["end"]]) - 1
                    out.append({**e, "reached": hit.index[0], "sessions": sessions})
    return out


@pytest.mark.parametrize("crypto", CRYPTO)
@pytest.mark.parametrize("equity", EQUITIES)
def test_the_episodes_of_every_pair_match_the_independent_walk(service, crypto, equity):
    odds, _ = service
    pair = (find_asset(crypto), find_asset(equity))
    ours = odds.episodes([pair], Window(90), LAST)[0]
    want = reference_episodes(crypto, equity)
    assert [(e.start, e.end, e.outcome) for e in ours] == [(w["start"], w["end"], w["outcome"]) for w in want]
    for e, w in zip(ours, want, strict=True):
        assert e.anchor == w["path"].attrs["anchor"] and e.beta == pytest.approx(w["path"].attrs["beta"], abs=1e-9)
        assert e.duration == len(w["rows"]) - 1


def test_eth_rut_and_btc_spy_have_no_episode_and_the_universe_has_seven():
    # documented in docs/methods.md §10.5: gaps from the ends of coupled regimes rarely reach 1.5σ
    assert reference_episodes("ETH", "RUT") == [] and reference_episodes("BTC", "SPY") == []
    everything = [e for c in CRYPTO for q in EQUITIES for e in reference_episodes(c, q)]
    assert len(everything) == 7
    assert sorted((e["pair"], f"{e['start']:%Y-%m-%d}", f"{e['end']:%Y-%m-%d}", e["outcome"]) for e in everything) == [
        ("BTC:IWM", "2023-06-26", "2023-07-24", "closed"), ("BTC:IWM", "2024-02-26", "2024-10-03", "re-coupled"),
        ("BTC:QQQ", "2023-06-15", "2023-10-23", "closed"), ("BTC:RUT", "2023-06-22", "2023-07-18", "closed"),
        ("BTC:RUT", "2024-02-28", "2024-10-03", "re-coupled"), ("ETH:IWM", "2025-08-12", "2025-09-25", "closed"),
        ("ETH:SPY", "2025-08-13", "2025-10-16", "closed"),
    ]


@pytest.mark.parametrize(("level", "when"), [(1.5, LAST), (1.6, LAST), (1.5, pd.Timestamp("2024-06-28"))])
def test_pooled_kaplan_meier_matches_the_table_to_1e_9(service, level, when):
    odds, pairs = service
    want = comparables(level, when)
    summary = odds.summary(pairs, Window(90), when, level)
    assert [(c.episode.pair, c.reached, c.sessions, c.closed) for c in summary.episodes] == sorted(
        [(w["pair"], w["reached"], w["sessions"], w["outcome"] == "closed") for w in want],
        key=lambda x: (x[1], x[0]))
    if len(want) < 5:
        assert summary.km is None and summary.horizons == ()
        return
    table = reference_km([w["sessions"] for w in want], [w["outcome"] == "closed" for w in want])
    km = summary.km
    assert list(km.times) == list(table.index) and list(km.at_risk) == list(table["n"])
    np.testing.assert_allclose(km.survival, table["s"], atol=1e-9, rtol=0)
    np.testing.assert_allclose(km.lower, table["lower"], atol=1e-9, rtol=0)
    np.testing.assert_allclose(km.upper, table["upper"], atol=1e-9, rtol=0)
    for horizon in summary.horizons:
        before = table[table.index <= horizon.sessions]
        s = float(before["s"].iloc[-1]) if len(before) else 1.0
        if s == 0:  # everyone followed that long closed: the interval is undefined, so no estimate
            assert horizon.estimate is None and horizon.withheld is not None
            continue
        assert horizon.estimate is not None
        assert horizon.estimate.value == pytest.approx(1 - s, abs=1e-9)
        if len(before):
            assert horizon.estimate.lower == pytest.approx(1 - before["upper"].iloc[-1], abs=1e-9)
            assert horizon.estimate.upper == pytest.approx(1 - before["lower"].iloc[-1], abs=1e-9)


def test_the_reference_values_of_methods_10(service):
    odds, pairs = service
    summary = odds.summary(pairs, Window(90), LAST, 0.85)  # /odds ETH RUT since 2025-07-25 all: |z0| < 1.5
    assert (summary.n, summary.closed, summary.recoupled, summary.still_open) == (7, 5, 2, 0)
    within = {h.sessions: h for h in summary.horizons}
    assert [within[t].closed for t in (20, 60, 120)] == [2, 4, 5]
    assert within[120].estimate.value == pytest.approx(5 / 7, abs=1e-9)
    assert (round(within[120].estimate.lower, 3), round(within[120].estimate.upper, 3)) == (0.388, 0.959)
    assert summary.median == (45, 17, None)
    assert summary.closed_by_asset == 3
    assert (round(summary.by_asset.lower, 3), round(summary.by_asset.upper, 3)) == (0.231, 0.882)
