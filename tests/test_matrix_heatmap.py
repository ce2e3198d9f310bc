"""/matrix: the numbers behind the heatmap are the pairwise /corr values at one date; the PNG shows them."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from matplotlib import colormaps
from matplotlib.colors import Normalize
from PIL import Image

from bot.assets import find_asset
from bot.market import snapshot
from bot.render.heatmap import render_matrix
from bot.windows import parse_window
from tests.helpers import ask

UNIVERSE = ["ETH", "BTC", "RUT", "IWM", "SPY", "QQQ"]


async def test_every_cell_is_the_pairs_corr_value(services):
    matrix = services.scanner.matrix(parse_window("90d"), as_of=dt.date(2025, 6, 30))
    assert matrix.symbols == UNIVERSE  # crypto first, then equities and indices, in registry order
    assert matrix.as_of.when == pd.Timestamp("2025-06-30")
    values = matrix.correlation
    assert np.allclose(values, values.T, equal_nan=False) and np.all(np.diag(values) == 1.0)
    for i, a in enumerate(UNIVERSE):
        for j, b in enumerate(UNIVERSE):
            if i >= j:
                continue
            corr = await ask(services, f"/corr 90d {a} {b}", as_of=dt.date(2025, 6, 30))
            assert corr.ok, corr.text
            assert round(values[i, j], 6) == corr.data["correlation"], (a, b)
            assert matrix.n_obs[i, j] == corr.data["n_obs"]
            assert matrix.alignment[f"{a}:{b}"] == corr.data["alignment"]
    # the three alignments of docs/methods.md §1.2
    assert matrix.alignment["ETH:BTC"] == "daily-close" and matrix.n_obs[0, 1] == 90
    assert matrix.alignment["ETH:RUT"] == "sync-close" and matrix.n_obs[0, 2] == 61
    assert matrix.alignment["SPY:QQQ"] == "sync-close" and matrix.n_obs[4, 5] == 61


def test_equity_and_crypto_pairs_against_plain_pandas(services):
    matrix = services.scanner.matrix(parse_window("90d"), as_of=dt.date(2025, 6, 30))
    end = pd.Timestamp("2025-06-30")
    for a, b in (("SPY", "QQQ"), ("ETH", "BTC"), ("RUT", "IWM")):
        both = pd.concat([snapshot.daily_closes(a), snapshot.daily_closes(b)], axis=1, join="inner").dropna()
        returns = np.log(both).diff().dropna()
        inside = returns[(returns.index > end - pd.Timedelta(days=90)) & (returns.index <= end)]
        expected = inside.iloc[:, 0].corr(inside.iloc[:, 1])
        assert matrix.value(a, b) == pytest.approx(expected, abs=1e-9)
        assert matrix.n_obs[matrix.symbols.index(a), matrix.symbols.index(b)] == len(inside)


async def test_one_common_date_for_every_cell(services):
    # no date asked: the last date every pair has (crypto–equity pairs end 2026-01-16), not each pair's own
    latest = services.scanner.matrix(parse_window("90d"))
    assert latest.as_of.when == pd.Timestamp("2026-01-16")
    spy_qqq = await ask(services, "/corr 90d SPY QQQ", as_of=dt.date(2026, 1, 16))
    assert round(latest.value("SPY", "QQQ"), 6) == spy_qqq.data["correlation"]
    # a Sunday: the crypto pair is taken as of the Friday too
    sunday = services.scanner.matrix(parse_window("30d"), as_of=dt.date(2025, 6, 29))
    assert sunday.as_of.when == pd.Timestamp("2025-06-27")
    btc_eth = await ask(services, "/corr 30d ETH BTC", as_of=dt.date(2025, 6, 27))
    assert round(sunday.value("ETH", "BTC"), 6) == btc_eth.data["correlation"]


async def test_matrix_reply_is_a_photo_with_a_caption(services):
    reply = await ask(services, "/matrix 90d", as_of=dt.date(2025, 6, 30), want_chart=True)
    assert reply.ok and reply.chart is not None and reply.chart.startswith(b"\x89PNG")
    assert reply.chart_name == "matrix-90d-20250630.png"
    assert reply.headline == ("Return correlations, 90-day window, as of 2025-06-30: "
                              "ETH, BTC, RUT, IWM, SPY, QQQ.")
    assert "Left out, no data: SPX, NDX" in reply.text and len(reply.text) < 1024  # a Telegram caption
    data = reply.data
    assert data["assets"] == UNIVERSE and data["as_of"] == "2025-06-30" and data["left_out"] == ["SPX", "NDX"]
    assert len(data["pairs"]) == 15 and data["matrix"][0][0] == 1.0


async def test_chosen_tickers_in_any_order(services):
    reply = await ask(services, "/matrix SPY ETH:QQQ 1y", as_of=dt.date(2025, 6, 30))
    assert reply.ok and reply.data["assets"] == ["ETH", "SPY", "QQQ"] and reply.data["window"] == "1y"
    with_spx = await ask(services, "/matrix 90d ETH BTC SPX")
    assert with_spx.ok and with_spx.data["assets"] == ["ETH", "BTC"] and with_spx.data["left_out"] == ["SPX"]
    assert "Left out, no data: SPX" in with_spx.text


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).reshape(-1, 3).astype(int)


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_the_png_shows_each_cell_in_its_colour(services, theme):
    matrix = services.scanner.matrix(parse_window("90d"), as_of=dt.date(2025, 6, 30))
    png = render_matrix(matrix, theme)
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and 800 <= image.width <= 1200 and 600 <= image.height <= 1000
    pixels = _pixels(png)
    cmap, norm = colormaps["RdBu"], Normalize(-1, 1)
    for a, b in (("ETH", "BTC"), ("BTC", "SPY"), ("RUT", "QQQ")):
        rgb = np.round(np.array(cmap(norm(matrix.value(a, b)))[:3]) * 255).astype(int)
        close = np.all(np.abs(pixels - rgb) <= 2, axis=1).sum()
        assert close > 2 * 80 * 80, (a, b, close)  # two cells (above and below the diagonal) of about 96 px


def test_the_cli_writes_the_matrix_png(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.endswith("_TOKEN")}
    env.update(MARKET_DATA="snapshot", DATABASE_URL=f"sqlite:///{tmp_path}/d.sqlite3", LOG_LEVEL="WARNING",
               CHART_DIR=str(tmp_path / "charts"))
    out = subprocess.run([sys.executable, "-m", "bot", "ask", "/matrix 90d", "--chart-out", "m.png", "--json"],
                         capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["ok"] and data["command"] == "matrix" and data["chart"] == "m.png"
    assert (tmp_path / "m.png").read_bytes().startswith(b"\x89PNG")


def test_matrix_is_cached_per_question(services):
    scanner = services.scanner
    assets = [find_asset("ETH"), find_asset("SPY")]
    first = scanner.matrix(parse_window("60d"), assets, dt.date(2024, 12, 31))
    assert scanner.matrix(parse_window("60d"), assets, dt.date(2024, 12, 31)) is first
