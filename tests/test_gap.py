"""/gap on the bundled snapshot (docs/methods.md §8): the numbers against an independent pandas computation
from the raw CSV files (prices at the US close, the beta's year, the gap, the moves that close it), the default
anchor against an independent replay of the regime rules, the reply's words and JSON, the CLI and the chart."""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
import os
import re
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bot.analytics import gap as gm
from bot.config import load_settings
from tests.helpers import ask, make_services
from tests.independent import sync_close_prices

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bot" / "data"


# ---- the independent computation: plain pandas on the CSV files --------------------------------------------
def reference_prices(crypto: str, equity: str) -> pd.DataFrame:
    """Columns `a` (the crypto price at the US close) and `b` (the equity's close) (tests/independent.py)."""
    return sync_close_prices(crypto, equity).rename(columns={"price": "a", "equity": "b"})


def reference_gap(crypto: str, equity: str, t0: str | pd.Timestamp, as_of: str) -> dict:
    prices = reference_prices(crypto, equity)
    t0 = prices.index[prices.index <= pd.Timestamp(t0)][-1]
    end = prices.index[prices.index <= pd.Timestamp(as_of)][-1]
    logs = np.log(prices)
    rets = logs.diff().dropna()
    year = rets[(rets.index > t0 - pd.Timedelta(days=365)) & (rets.index <= t0)]
    beta = year["a"].cov(year["b"]) / year["b"].var()
    alpha = year["a"].mean() - beta * year["b"].mean()
    resid_sd = math.sqrt(((year["a"] - alpha - beta * year["b"]) ** 2).sum() / (len(year) - 2))
    beta_se = resid_sd / math.sqrt(((year["b"] - year["b"].mean()) ** 2).sum())
    rho = year["a"].corr(year["b"])
    g = (logs.at[end, "a"] - logs.at[t0, "a"]) - beta * (logs.at[end, "b"] - logs.at[t0, "b"])
    n = int(((prices.index > t0) & (prices.index <= end)).sum())
    offered = beta > 0 and abs(beta) >= 1.96 * beta_se and abs(rho) >= 0.3  # §8.3's rules, restated
    return {"since": t0, "as_of": end, "beta": beta, "beta_n_obs": len(year), "gap_log": g,
            "asset_move_to_close": math.exp(-g) - 1,
            "benchmark_move_to_close": math.exp(g / beta) - 1 if offered else None, "n_obs": n,
            "beta_correlation": rho, "beta_se": beta_se, "resid_sd": resid_sd, "alpha": alpha,
            "alpha_drift": alpha * n, "gap_se": resid_sd * math.sqrt(n), "gap_z": g / (resid_sd * math.sqrt(n))}


@functools.cache
def reference_coupled_ends(crypto: str, equity: str, days: int = 90) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """(change date, first day of its dwell) of every change out of a coupled regime, replaying §4's rules:
    bands with hysteresis, rank confirmation, a dwell of 5, at least 15 returns in the window."""
    rets = np.log(reference_prices(crypto, equity)).diff().dropna()
    index = rets.index
    pearson, spearman = [], []
    for when in index:
        inside = rets[(index > when - pd.Timedelta(days=days)) & (index <= when)]
        if len(inside) < 15:
            pearson.append(math.nan)
            spearman.append(math.nan)
            continue
        pearson.append(inside["a"].corr(inside["b"]))
        spearman.append(inside["a"].rank().corr(inside["b"].rank()))

    def band(rho: float, adopted: str | None) -> str:
        if rho <= -0.30:
            return "inverse"
        if rho >= 0.50 or (adopted == "coupled" and rho >= 0.40):
            return "coupled"
        if adopted == "inverse" and rho <= -0.20:
            return "inverse"
        if (adopted == "decoupled" and rho < 0.35) or rho <= 0.20:
            return "decoupled"
        return "neutral"

    adopted, candidate, count, first = None, None, 0, None
    ends = []
    for when, rho, rank in zip(index, pearson, spearman, strict=True):
        if math.isnan(rho) or math.isnan(rank):
            continue
        c = band(rho, adopted)
        if band(rank, adopted) != c or c == adopted:
            candidate, count = None, 0
            continue
        if c == candidate:
            count += 1
        else:
            candidate, count, first = c, 1, when
        if count == 5:
            if adopted == "coupled":
                ends.append((when, first))
            adopted, candidate, count = c, None, 0
    return ends


def reference_default_anchor(crypto: str, equity: str, as_of: str) -> pd.Timestamp:
    ends = [e for e in reference_coupled_ends(crypto, equity) if e[0] <= pd.Timestamp(as_of)]
    since = ends[-1][1]
    index = reference_prices(crypto, equity).index
    return index[index < since][-1]


def assert_matches(data: dict, want: dict) -> None:
    assert data["since"] == f"{want['since']:%Y-%m-%d}" and data["as_of"] == f"{want['as_of']:%Y-%m-%d}"
    assert data["n_obs"] == want["n_obs"] and data["beta_n_obs"] == want["beta_n_obs"]
    for key in ("beta", "gap_log", "asset_move_to_close", "benchmark_move_to_close", "beta_correlation", "beta_se",
                "resid_sd", "alpha", "alpha_drift", "gap_se", "gap_z"):
        if want[key] is None:
            assert data[key] is None, key
            continue
        assert data[key] == pytest.approx(want[key], abs=2e-6), key
    assert (data["benchmark_move_withheld_reason"] is None) == (want["benchmark_move_to_close"] is not None)


# ---- the numbers ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("crypto", "equity", "since", "as_of"), [
    ("ETH", "RUT", "2025-07-25", "2026-01-16"),
    ("BTC", "SPY", "2024-12-01", "2026-01-16"),  # a Sunday: the Friday before
    ("ETH", "QQQ", "2023-06-15", "2025-06-30"),
    ("BTC", "RUT", "2021-03-01", "2021-12-31"),  # the beta's year is mostly before hourly data (daily-close)
    ("ETH", "IWM", "2022-11-08", "2023-03-31"),
    ("BTC", "QQQ", "2019-05-17", "2019-12-31"),  # β −0.007: no benchmark move (it was +1660%)
    ("BTC", "SPY", "2020-01-30", "2020-03-31"),  # β −0.94: no benchmark move (it was +93%)
])
async def test_given_anchor_matches_an_independent_pandas_computation(services, crypto, equity, since, as_of):
    reply = await ask(services, f"/gap {crypto} {equity} since {since}", as_of)
    assert reply.ok, reply.text
    assert reply.data["anchor"] == "given" and reply.data["since_requested"] == since
    assert_matches(reply.data, reference_gap(crypto, equity, since, as_of))


@pytest.mark.parametrize(("crypto", "equity", "as_of", "anchor"), [
    ("ETH", "RUT", "2025-09-30", "2025-07-18"),  # coupled → neutral on 2025-07-25, its dwell from 2025-07-21
    ("BTC", "SPY", "2023-12-29", "2023-04-21"),
    ("ETH", "QQQ", "2024-06-28", "2023-04-28"),
])
async def test_default_anchor_is_the_session_before_the_last_coupled_regime_began_to_end(
        services, crypto, equity, as_of, anchor):
    assert f"{reference_default_anchor(crypto, equity, as_of):%Y-%m-%d}" == anchor
    reply = await ask(services, f"/gap {crypto} {equity}", as_of)
    assert reply.ok, reply.text
    assert reply.data["anchor"] == "end of coupled regime" and reply.data["since_requested"] is None
    assert reply.data["coupled"] is False and reply.data["coupled_end"]["to"] != "coupled"
    assert_matches(reply.data, reference_gap(crypto, equity, anchor, as_of))
    assert f"Anchor {anchor}, the session before the decoupling" in reply.text


async def test_the_reference_values_of_methods_8_5(services):
    given_date = (await ask(services, "/gap ETH RUT since 2025-07-25", "2026-01-16")).data
    assert (given_date["since"], given_date["beta_n_obs"], given_date["n_obs"]) == ("2025-07-25", 250, 121)
    assert given_date["beta"] == pytest.approx(1.622, abs=5e-4)
    assert given_date["beta_correlation"] == pytest.approx(0.525, abs=5e-4)
    assert given_date["gap_log"] == pytest.approx(-0.3749, abs=5e-5)
    assert given_date["gap_pct"] == pytest.approx(-0.313, abs=5e-4)
    assert given_date["asset_move_to_close"] == pytest.approx(0.455, abs=5e-4)
    assert given_date["benchmark_move_to_close"] == pytest.approx(-0.206, abs=5e-4)
    default = (await ask(services, "/gap ETH RUT", "2025-09-30")).data
    assert (default["since"], default["beta_n_obs"], default["n_obs"]) == ("2025-07-18", 250, 51)
    assert default["beta"] == pytest.approx(1.617, abs=5e-4) and default["gap_log"] == pytest.approx(0.022, abs=5e-4)
    assert default["coupled_end"] == {"began": "2024-10-16", "since": "2025-07-21", "changed": "2025-07-25",
                                      "to": "neutral"}


def test_the_reference_replay_agrees_with_the_documented_changes():
    # docs/methods.md §7: coupled → neutral on 2025-07-25 (ETH:RUT 90d)
    ends = reference_coupled_ends("ETH", "RUT")
    assert (pd.Timestamp("2025-07-25"), pd.Timestamp("2025-07-21")) in ends


def test_closing_moves_close_the_gap():
    for g, beta in ((-0.3749, 1.62), (0.2, 0.8), (-0.05, -0.4)):
        assert math.log1p(gm.asset_move_to_close(g)) + g == pytest.approx(0, abs=1e-12)
        assert g - beta * math.log1p(gm.benchmark_move_to_close(g, beta)) == pytest.approx(0, abs=1e-12)
    assert gm.benchmark_move_to_close(0.3, 0.0) is None
    assert gm.benchmark_move_to_close(0.3, 0.01) == pytest.approx(math.expm1(30.0))  # the arithmetic only
    assert gm.benchmark_move_to_close(8.0, 0.01) is None  # beyond a float
    prices = pd.DataFrame({"a": [100.0, 110.0, 90.0], "b": [50.0, 55.0, 60.0]},
                          index=pd.to_datetime(["2025-01-02", "2025-01-03", "2025-01-06"]))
    g = gm.gap_series(prices["a"], prices["b"], prices.index[0], 2.0)
    assert g.iloc[0] == 0 and g.iloc[-1] == pytest.approx(math.log(0.9) - 2 * math.log(1.2))


# ---- the reply ----------------------------------------------------------------------------------------------
MOVE_NUMBERS = re.compile(r"([+−])(\d+(?:\.\d+)?)%")


@pytest.mark.parametrize(("text", "as_of", "withheld"), [
    ("/gap BTC QQQ since 2019-05-17", "2019-12-31", "the beta (−0.01) is not positive"),
    ("/gap BTC SPY since 2020-01-30", "2020-03-31", "the beta (−0.94) is not positive"),
])
async def test_no_benchmark_move_from_a_beta_that_is_not_positive(services, text, as_of, withheld):
    reply = await ask(services, text, as_of)
    assert reply.ok and reply.data["benchmark_move_to_close"] is None
    assert reply.data["benchmark_move_withheld_reason"].startswith(withheld)
    assert f"alone is offered: {withheld}" in reply.text.splitlines()[1]
    assert "alone at" not in reply.text
    assert "−0.00)" not in reply.text and "−0.00 " not in reply.text  # a small value keeps a third decimal


async def test_the_first_dates_and_counts_are_worded_alike(services):
    # one wording for the first price and the first return, and no "1 observations" (issue 20, item 7)
    corr = await ask(services, "/corr ETH RUT 30d", "2017-08-15")
    assert "No ETH:RUT data before 2017-08-18, its first return (its first price is on 2017-08-17)" in corr.text
    single = await ask(services, "/corr ETH RUT 30d", "2017-08-18")
    assert "Only 1 observation of ETH:RUT" in single.text


@pytest.mark.parametrize(("text", "as_of"), [
    ("/gap RUT ETH since 2025-07-25", None),  # ETH alone would be +199%
    ("/gap ETH QQQ since 2018-01-08", "2018-12-31"),  # ETH fell 85%: +400% would close it
    ("/gap BTC QQQ since 2019-05-17", "2019-12-31"),
    ("/gap BTC SPY since 2020-01-30", "2020-03-31"),
])
async def test_no_move_beyond_100_percent_is_a_number(services, text, as_of):
    reply = await ask(services, text, as_of, want_chart=True)
    assert reply.ok, reply.text
    closing = reply.text.splitlines()[1]
    assert closing.startswith("Realignment arithmetic, not a forecast: ")
    assert all(float(value) <= 100 for _, value in MOVE_NUMBERS.findall(closing)), closing
    moves = [reply.data["asset_move_to_close"], reply.data["benchmark_move_to_close"]]
    if any(m is not None and m > 1 for m in moves):
        assert "more than double" in closing


async def test_on_the_line_there_is_no_move_to_offer(services):
    reply = await ask(services, "/gap ETH RUT since 2025-12-19", "2026-01-16")  # g −0.001
    lines = reply.text.splitlines()
    assert reply.ok and "ETH is on the line where its beta of" in lines[0] and "no gap to close" in lines[0]
    assert "Realignment arithmetic" not in reply.text and lines[1].startswith("Since 2025-12-19: ")


async def test_alpha_says_the_intercept_the_beta_line_leaves_out(services):
    reply = await ask(services, "/gap BTC SPY since 2024-12-01 alpha", "2026-01-16")
    want = reference_gap("BTC", "SPY", "2024-12-01", "2026-01-16")
    assert reply.ok and reply.data["alpha_drift"] == pytest.approx(want["alpha_drift"], abs=2e-6)
    assert ("Intercept left out: the fit's α is +0.19% a return; over the gap's 282 returns that is +0.550 in log "
            "terms, which the beta line does not include (with it the gap would be −0.794).") in reply.text


async def test_the_band_is_the_implied_path_times_exp_of_sigma_root_k(services):
    from bot.analysis.gap import GapService
    from bot.assets import find_asset
    from bot.windows import parse_window

    result = GapService(services.analysis).gap(find_asset("ETH"), find_asset("RUT"), parse_window("90d"),
                                               dt.date(2025, 7, 25), dt.date(2026, 1, 16))
    want = reference_gap("ETH", "RUT", "2025-07-25", "2026-01-16")
    steps = np.arange(len(result.path))
    for k in (-2.0, -1.0, 1.0, 2.0):
        expected = result.path["implied"].to_numpy() * np.exp(k * want["resid_sd"] * np.sqrt(steps))
        assert result.band(k).to_numpy() == pytest.approx(expected, rel=1e-9)
    # at as_of the ±1σ band spans exp(±0.4425) around the implied path
    assert result.band(1.0).iloc[-1] / result.path["implied"].iloc[-1] == pytest.approx(math.exp(0.4425), abs=5e-4)


async def test_eth_rut_since_2025_07_25_reads_like_the_issue(services):
    reply = await ask(services, "/gap ETH RUT since 2025-07-25", "2026-01-16")
    lines = reply.text.splitlines()
    assert lines[0] == ("−0.85 σ: within the pair's normal wander. ETH is 31% below where its beta of 1.62 ± 0.17 to "
                        "small caps (fitted on the year to 2025-07-25) puts it.")
    assert lines[1] == ("Realignment arithmetic, not a forecast: the gap closes with ETH at +45%, or with the "
                        "Russell 2000 alone at −21%.")
    assert lines[2].startswith("Since 2025-07-25: ETH −9.6%, the Russell 2000 +18.4%; the beta implies ETH +31.6%.")
    assert "its SD under the fit after 121 returns is 0.443 (σ_ε 4.02% a return × √121)" in lines[2]
    assert lines[3] == "Anchor 2025-07-25: the date given."
    assert lines[4].startswith("Beta 1.62 ± 0.17 (standard error): ")
    assert "250 returns, correlation 0.53" in lines[4] and "90-day regime now: coupled since 2025-10-27" in lines[4]
    assert "Intercept" not in reply.text  # said only when asked: /gap … alpha
    assert lines[-1] == ("Gap 2025-07-25 → 2026-01-16, 121 daily returns · beta on 2024-07-26 → 2025-07-25, "
                         "250 daily returns · as of 2026-01-16 · crypto sampled at the US close (sync-close) · "
                         "data: bundled snapshot")


async def test_json_fields(services):
    reply = await ask(services, "/gap ETH RUT since 2025-07-25", "2026-01-16")
    data = reply.data
    assert {"asset": "ETH", "benchmark": "RUT", "since": "2025-07-25", "as_of": "2026-01-16", "anchor": "given",
            "beta_n_obs": 250, "n_obs": 121, "stale": False, "source": "snapshot", "alignment": "sync-close",
            "command": "gap"}.items() <= data.items()
    for key in ("beta", "gap_log", "asset_move_to_close", "benchmark_move_to_close", "gap_pct", "asset_change",
                "benchmark_change", "implied_change", "beta_correlation"):
        assert isinstance(data[key], float), key
    assert data["gap_pct"] == pytest.approx(math.expm1(data["gap_log"]), abs=1e-6)
    assert data["implied_change"] == pytest.approx(math.expm1(data["beta"] * math.log1p(data["benchmark_change"])),
                                                   abs=1e-5)


async def test_a_date_after_the_bundled_data_is_said_like_corr_says_it(services):
    reply = await ask(services, "/gap ETH RUT since 2025-07-25", "2026-02-10")
    assert reply.ok and reply.data["stale"] is True and reply.data["as_of"] == "2026-01-16"
    assert reply.text.startswith("The bundled data ends on 2026-01-16: numbers below are as of that day, not "
                                 "2026-02-10.")


async def test_stale_data_is_said_to_be_stale():
    from bot.config import MarketDataMode
    from bot.market.data import SnapshotMarketData

    market = SnapshotMarketData(MarketDataMode.AUTO, clock=pd.Timestamp("2026-03-02 12:00", tz="UTC"))
    stale = make_services(load_settings(market_data="auto", database_url="sqlite://"), market=market)
    reply = await ask(stale, "/gap ETH RUT since 2025-07-25", want_chart=True)
    assert reply.ok and reply.data["stale"] is True
    assert reply.text.startswith("⚠️ Stale data: ETH data ends 2026-01-18")
    assert reply.chart is not None and reply.chart.startswith(b"\x89PNG")


# ---- the chart ----------------------------------------------------------------------------------------------
def _png_size(png: bytes) -> tuple[int, int]:
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    return struct.unpack(">II", png[16:24])


@pytest.mark.parametrize("theme", ["light", "dark"])
async def test_the_chart_is_a_png(services, theme):
    reply = await ask(services, "/gap ETH RUT since 2025-07-25", "2026-01-16", want_chart=True, theme=theme)
    assert reply.chart is not None and _png_size(reply.chart) == (1000, 640)
    assert reply.chart_name == "gap-ETH-RUT-20250725-20260116.png"


async def test_charts_of_short_and_long_spans_and_an_asset_above_its_line(services):
    for text, as_of in (("/gap BTC SPY since 2026-01-13", "2026-01-16"), ("/gap ETH QQQ since 2018-09-04", None),
                        ("/gap BTC RUT since 2024-08-05", "2024-12-31")):
        reply = await ask(services, text, as_of, want_chart=True)
        assert reply.ok and reply.chart is not None, reply.text
        _png_size(reply.chart)


def test_the_cli_answers_with_json_and_writes_the_chart(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.endswith("_TOKEN")}
    env.update(MARKET_DATA="snapshot", DATABASE_URL=f"sqlite:///{tmp_path}/d.sqlite3", LOG_LEVEL="WARNING",
               CHART_DIR=str(tmp_path / "charts"))
    command = [sys.executable, "-m", "bot", "ask", "/gap ETH RUT since 2025-07-25", "--json", "--as-of", "2026-01-16",
               "--chart-out", "gap.png"]
    out = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["ok"] is True and data["chart"] == "gap.png" and (tmp_path / "gap.png").read_bytes()[:4] == b"\x89PNG"
    assert_matches(data, reference_gap("ETH", "RUT", "2025-07-25", "2026-01-16"))
    bad = subprocess.run([*command[:4], "/gap ETH RUT since 2099-01-01", "--json"], capture_output=True, text=True,
                         cwd=tmp_path, env=env, timeout=120)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr + bad.stdout
    assert json.loads(bad.stdout)["ok"] is False
