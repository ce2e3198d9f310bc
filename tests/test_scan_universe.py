"""/scan end to end on the bundled snapshot: numbers against an independent pandas computation, rows equal to
/corr, the ranking, the cache, the CLI, a user-added ticker joining the universe, and bad input."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bot.assets import Asset, AssetKind, find_asset, register_asset, unregister_asset
from bot.config import MarketDataMode, load_settings
from bot.market import snapshot
from bot.market.align import LegPrices
from bot.market.data import LegData, SnapshotMarketData
from bot.windows import parse_window
from tests.helpers import ask, make_services
from tests.independent import sync_close_prices

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bot" / "data"
CRYPTO = ("ETH", "BTC")
BENCHMARKS = ("RUT", "IWM", "SPY", "QQQ")
LOOKBACK = 20


# ---- the independent computation: plain pandas on the CSV files (docs/methods.md §1–§2) -------------------
def independent_returns(crypto: str, equity: str) -> pd.DataFrame:
    """Log returns of the crypto price at the NYSE close and of the equity (tests/independent.py)."""
    merged = sync_close_prices(crypto, equity)
    logs = np.log(merged[["price", "equity"]])
    return logs.diff().dropna().rename(columns={"price": "ra", "equity": "rb"})


def window_of(returns: pd.DataFrame, end: pd.Timestamp, days: int) -> pd.DataFrame:
    return returns[(returns.index > end - pd.Timedelta(days=days)) & (returns.index <= end)]


def window_rho(returns: pd.DataFrame, end: pd.Timestamp, days: int) -> tuple[float, int]:
    inside = window_of(returns, end, days)
    return float(inside["ra"].corr(inside["rb"])), len(inside)


def independent_scan(as_of: str, days: int) -> dict[str, dict]:
    """docs/methods.md §9.2: 20 sessions back (20 per year of window beyond a year), the overlap-corrected
    standard error with m = the returns both windows hold."""
    lookback = LOOKBACK * max(1, days // 365)
    rows = {}
    for crypto in CRYPTO:
        for equity in BENCHMARKS:
            returns = independent_returns(crypto, equity)
            end = returns.index[returns.index <= pd.Timestamp(as_of)][-1]
            rho, n = window_rho(returns, end, days)
            before = returns.index[returns.index.get_loc(end) - lookback]
            rho_b, n_b = window_rho(returns, before, days)
            m = len(window_of(returns, end, days).index.intersection(window_of(returns, before, days).index))
            se = math.sqrt(1 / (n - 3) + 1 / (n_b - 3) - 2 * m / math.sqrt(n * n_b * (n - 3) * (n_b - 3)))
            score = (math.atanh(rho_b) - math.atanh(rho)) / se
            rows[f"{crypto}:{equity}"] = {"as_of": end, "correlation": rho, "n_obs": n, "before": before,
                                          "correlation_before": rho_b, "n_obs_before": n_b, "score": score,
                                          "shared": m}
    return rows


@pytest.mark.parametrize(("as_of", "window"), [("2025-06-30", "90d"), ("2024-03-15", "90d"), ("2025-12-31", "90d"),
                                               ("2023-08-04", "30d"), ("2025-06-30", "1y"), ("2026-01-16", "10y")])
def test_scan_numbers_and_ranking_match_an_independent_pandas_computation(services, as_of, window):
    result = services.scanner.scan(parse_window(window), dt.date.fromisoformat(as_of))
    expected = independent_scan(as_of, parse_window(window).days)
    assert {row.pair for row in result.rows} == set(expected)
    for row in result.rows:
        want = expected[row.pair]
        assert row.as_of == want["as_of"]
        assert row.n_obs == want["n_obs"] and row.n_obs_before == want["n_obs_before"]
        assert row.before == want["before"] and row.shared == want["shared"]
        assert row.correlation == pytest.approx(want["correlation"], abs=1e-9)
        assert row.correlation_before == pytest.approx(want["correlation_before"], abs=1e-9)
        assert row.score == pytest.approx(want["score"], abs=1e-9)
    ranked = sorted(expected, key=lambda pair: -expected[pair]["score"])
    assert [row.pair for row in result.rows] == ranked


async def test_scan_rows_equal_corr_for_the_same_pair_window_and_date(services):
    reply = await ask(services, "/scan 90d", as_of=dt.date(2025, 6, 30))
    assert reply.ok and len(reply.data["rows"]) == 8
    for row in reply.data["rows"]:
        corr = await ask(services, f"/corr 90d {row['asset']} {row['benchmark']}", as_of=dt.date(2025, 6, 30))
        for key in ("as_of", "correlation", "n_obs", "regime", "regime_since", "divergence_z", "alignment"):
            assert row[key] == corr.data[key], (row["pair"], key)
        # "20 sessions ago" is /corr as of that session
        then = await ask(services, f"/corr 90d {row['asset']} {row['benchmark']}",
                         as_of=dt.date.fromisoformat(row["before"]))
        assert (row["correlation_before"], row["n_obs_before"]) == (then.data["correlation"], then.data["n_obs"])
    # and through the Python API, exactly (the same PairAnalyzer.correlation call)
    result = services.scanner.scan(parse_window("90d"), dt.date(2025, 6, 30))
    for row in result.rows:
        again = services.analysis.correlation(row.result.asset, row.result.benchmark, parse_window("90d"),
                                              dt.date(2025, 6, 30))
        assert row.correlation == again.correlation and row.n_obs == again.n_obs


async def test_scan_reply_text_and_fields(services):
    reply = await ask(services, "/scan 90d", as_of=dt.date(2025, 6, 30))
    lines = reply.text.splitlines()
    assert lines[0] == "Biggest decouplings, 90-day correlation, as of 2025-06-30 (all 8 pairs):"
    assert lines[1].startswith("Score: how far the correlation fell over the last 20 sessions, in standard "
                               "errors of that fall") and "not a test" in lines[1] and "both windows share" in lines[1]
    first = reply.data["rows"][0]
    assert lines[2].startswith(f"1. {first['pair']} · score +")
    assert "20 sessions ago" in lines[2] and "since" in lines[2] and "divergence z" in lines[2]
    assert lines[2].endswith(f"n={first['n_obs']}")
    assert "Left out, no data: SPX, NDX" in reply.text
    data = reply.data
    assert data["window"] == "90d" and data["as_of"] == "2025-06-30" and data["left_out"] == ["SPX", "NDX"]
    scores = [row["score"] for row in data["rows"]]
    assert scores == sorted(scores, reverse=True)
    for key in ("pair", "score", "correlation", "correlation_before", "n_obs", "regime", "regime_since",
                "divergence_z"):
        assert key in first


async def test_top_n_trims_the_text_not_the_json(services):
    reply = await ask(services, "/scan top 3", as_of=dt.date(2025, 6, 30))
    assert reply.ok and reply.data["window"] == "90d"
    numbered = [line for line in reply.text.splitlines() if line[:2] in {f"{i}." for i in range(1, 10)}]
    assert len(numbered) == 3 and "(top 3 of 8 pairs)" in reply.headline
    assert len(reply.data["rows"]) == 8 and reply.data["top"] == 3
    # Discord sends the top option's value alone: "/scan 30d 5"
    bare = await ask(services, "/scan 30d 5", as_of=dt.date(2025, 6, 30))
    assert bare.ok and bare.data["window"] == "30d" and "(top 5 of 8 pairs)" in bare.headline
    everything = await ask(services, "/scan 1y top 8", as_of=dt.date(2025, 6, 30))
    assert everything.ok and "(all 8 pairs)" in everything.headline


def test_a_scan_is_computed_once_per_data_version_and_window(services):
    scanner = services.scanner
    window = parse_window("180d")
    before = scanner.computed
    first = scanner.scan(window, dt.date(2025, 3, 31))
    assert scanner.computed == before + 1
    assert scanner.scan(window, dt.date(2025, 3, 31)) is first
    assert scanner.computed == before + 1
    scanner.scan(parse_window("1y"), dt.date(2025, 3, 31))
    assert scanner.computed == before + 2


def test_the_cli_lists_the_universe_sorted_by_score(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.endswith("_TOKEN")}
    env.update(MARKET_DATA="snapshot", DATABASE_URL=f"sqlite:///{tmp_path}/d.sqlite3", LOG_LEVEL="WARNING",
               CHART_DIR=str(tmp_path / "charts"))
    out = subprocess.run([sys.executable, "-m", "bot", "ask", "/scan 90d", "--json", "--as-of", "2025-06-30"],
                         capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["ok"] is True and data["command"] == "scan" and data["window"] == "90d"
    assert data["as_of"] == "2025-06-30"
    rows = data["rows"]
    assert len(rows) >= 8
    assert [r["score"] for r in rows] == sorted((r["score"] for r in rows), reverse=True)
    assert {"SPX", "NDX"} <= set(data["left_out"])
    eth_rut = next(r for r in rows if r["pair"] == "ETH:RUT")
    assert eth_rut["n_obs"] == 61 and eth_rut["correlation"] == pytest.approx(0.561, abs=0.0005)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("/scan 5d", "too short"),
        ("/scan top 0", "at least 1"),
        ("/scan top abc", "'abc' is not a number"),
        ("/scan top", "top needs a number"),
        ("/scan top 99", "top N goes up to 8"),
        ("/scan 90", "a 90-day window is written 90d"),
        ("/scan 90d 1y", "one window only"),
        ("/scan ETH", "Unknown argument 'ETH'"),
        ("/matrix FOO", "Unknown ticker 'FOO'"),
        ("/matrix ETH", "at least two tickers"),
        ("/matrix 5d", "too short"),
        ("/matrix SPX NDX", "at least two tickers with data"),
    ],
)
async def test_bad_input_gets_one_line_and_the_usage(services, text, needle):
    reply = await ask(services, text)
    assert not reply.ok
    reason, _, usage = reply.text.partition("\n")
    assert needle in reason
    command = text.split()[0]
    assert usage.startswith(f"Usage: {command} [window]") and "\n" not in usage
    assert "Traceback" not in reply.text


async def test_a_date_before_the_data_names_the_reason(services):
    reply = await ask(services, "/scan 90d", as_of=dt.date(2010, 1, 4))
    assert not reply.ok and "before" in reply.text and "Usage: /scan" in reply.text


# ---- a ticker the operator adds joins everyone's universe -----------------------------------------------
class SnapshotPlusAdded(SnapshotMarketData):
    """The bundled snapshot, plus prices for tickers registered at runtime (here: IWM's real closes under
    another name, so its rows must equal IWM's)."""

    def __init__(self, added: dict[str, str]):
        super().__init__(MarketDataMode.SNAPSHOT)
        self.added = added

    def leg(self, asset: Asset) -> LegData:
        source = self.added.get(asset.symbol)
        if source is None:
            return super().leg(asset)
        return LegData(LegPrices(asset.symbol, asset.is_crypto, snapshot.daily_closes(source)), "snapshot")


@pytest.fixture
def added_ticker():
    twin = Asset("IWMTWIN", "A user-added twin of IWM", AssetKind.EQUITY, "NYSE", "XNYS", yahoo="IWMTWIN")
    lonely = Asset("NODATA", "A user-added ticker whose history has not arrived", AssetKind.EQUITY, "NYSE", "XNYS")
    register_asset(twin)
    register_asset(lonely)
    yield twin
    unregister_asset("IWMTWIN")
    unregister_asset("NODATA")


async def test_an_added_ticker_joins_the_universe(added_ticker):
    market = SnapshotPlusAdded({"IWMTWIN": "IWM"})
    services = make_services(load_settings(market_data="snapshot", database_url="sqlite://"), market=market)
    reply = await ask(services, "/scan 90d", as_of=dt.date(2025, 6, 30))
    assert reply.ok and len(reply.data["rows"]) == 10
    rows = {row["pair"]: row for row in reply.data["rows"]}
    for crypto in CRYPTO:
        twin, iwm = rows[f"{crypto}:IWMTWIN"], rows[f"{crypto}:IWM"]
        for key in ("correlation", "correlation_before", "n_obs", "score", "regime", "divergence_z"):
            assert twin[key] == iwm[key]
    assert reply.data["left_out"] == ["SPX", "NDX", "NODATA"]
    assert "NODATA" in reply.text


def test_the_app_builds_one_scanner_over_its_analyzer():
    services = make_services()
    assert services.scanner is services.scanner
    assert services.scanner.analyzer is services.analysis
    assert find_asset("ETH") in services.scanner.universe().crypto
