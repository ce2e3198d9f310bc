"""Pair charts: real snapshot data through `PairAnalyzer.chart_data`, synthetic edge cases, the cache,
threads, and the promise never to import pyplot."""

from __future__ import annotations

import dataclasses
import datetime
import io
import os
import struct
import subprocess
import sys
import threading
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from bot.analysis.analyzer import PairAnalyzer
from bot.analysis.results import ChartData
from bot.analytics.thresholds import DEFAULT_THRESHOLDS
from bot.assets import find_asset
from bot.market.data import SnapshotMarketData
from bot.render import chart_style, charts
from bot.render.chart_cache import THEME_NAMES, ChartRenderer
from bot.render.chart_shapes import regime_spans
from bot.render.charts import render_pair_chart
from bot.windows import parse_window

REPO_ROOT = Path(__file__).resolve().parents[1]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def analyzer() -> PairAnalyzer:
    return PairAnalyzer(SnapshotMarketData())


def chart_data(
    analyzer: PairAnalyzer, pair: str, window: str, as_of: datetime.date | None = None
) -> ChartData:
    asset, benchmark = (find_asset(symbol) for symbol in pair.split(":"))
    result = analyzer.correlation(asset, benchmark, parse_window(window), as_of=as_of)
    return analyzer.chart_data(result)


@pytest.fixture(scope="module")
def rendered(analyzer: PairAnalyzer) -> Callable[..., tuple[ChartData, bytes]]:
    """Renders of real pairs, shared between tests so the threaded test can compare against them."""
    memo: dict[tuple, tuple[ChartData, bytes]] = {}

    def render(
        pair: str, window: str, theme: str, as_of: datetime.date | None = None
    ) -> tuple[ChartData, bytes]:
        key = (pair, window, theme, as_of)
        if key not in memo:
            data = chart_data(analyzer, pair, window, as_of)
            memo[key] = (data, render_pair_chart(data, theme))
        return memo[key]

    return render


@pytest.fixture(scope="module")
def eth_rut_90d(analyzer: PairAnalyzer) -> ChartData:
    return chart_data(analyzer, "ETH:RUT", "90d")


@pytest.fixture(scope="module")
def eth_rut_pngs(eth_rut_90d: ChartData) -> dict[str, bytes]:
    return {theme: render_pair_chart(eth_rut_90d, theme) for theme in ("light", "dark")}


def png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == PNG_SIGNATURE
    assert png[12:16] == b"IHDR"
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def mean_brightness(png: bytes) -> float:
    return float(np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=float).mean())


def assert_chart_png(png: bytes) -> None:
    width, height = png_size(png)
    assert 950 <= width <= 1050 and 570 <= height <= 630, (width, height)
    assert len(png) > 20_000  # a real picture, not an empty canvas


def synthetic_chart_data(**changes: object) -> ChartData:
    """A year of business days with NaN stretches everywhere and no adopted regime at all."""
    dates = pd.bdate_range("2024-01-01", periods=260, name="date")
    rng = np.random.default_rng(7)
    prices = pd.DataFrame(
        {
            "a": 0.05 * np.exp(np.cumsum(rng.normal(0, 0.03, len(dates)))),  # a tiny level ...
            "b": 60_000 * np.exp(np.cumsum(rng.normal(0, 0.01, len(dates)))),  # ... against a huge one
        },
        index=dates,
    )
    prices.iloc[100:110, 0] = np.nan
    rho = pd.Series(0.9 * np.sin(np.linspace(0, 6, len(dates))), index=dates)
    rho.iloc[:40] = np.nan
    rho.iloc[120:150] = np.nan
    ewma = rho.rolling(5).mean()
    ewma.iloc[:80] = np.nan
    data = ChartData(
        asset=find_asset("ETH"),
        benchmark=find_asset("SPY"),
        window=parse_window("30d"),
        as_of=dates[-1],
        prices=prices,
        correlation=rho,
        ci_low=(rho - 0.2).clip(-1, 1),
        ci_high=(rho + 0.2).clip(-1, 1),
        ewma=ewma,
        regimes=pd.Series([None] * len(dates), index=dates, dtype=object),
        thresholds=DEFAULT_THRESHOLDS,
        current=float("nan"),
        n_obs=0,
        source="live",
        stale=True,
    )
    return dataclasses.replace(data, **changes)


# ---- real data -------------------------------------------------------------------------------------


def test_chart_is_a_png_of_about_1000_by_600(eth_rut_pngs: dict[str, bytes]) -> None:
    for png in eth_rut_pngs.values():
        assert_chart_png(png)


def test_light_and_dark_themes_differ(eth_rut_pngs: dict[str, bytes]) -> None:
    light, dark = eth_rut_pngs["light"], eth_rut_pngs["dark"]
    assert light != dark
    assert mean_brightness(light) > 180
    assert mean_brightness(dark) < 80


def test_rendering_is_deterministic_and_leaves_rcparams_alone(
    eth_rut_90d: ChartData, eth_rut_pngs: dict[str, bytes]
) -> None:
    before = dict(matplotlib.rcParams)
    assert render_pair_chart(eth_rut_90d, "light") == eth_rut_pngs["light"]
    assert dict(matplotlib.rcParams) == before


@pytest.mark.parametrize("window", ["30d", "1y", "5y"])
def test_windows_render(rendered: Callable[..., tuple[ChartData, bytes]], window: str) -> None:
    data, png = rendered("ETH:RUT", window, "light")
    assert data.window == parse_window(window)
    assert_chart_png(png)


@pytest.mark.parametrize("window", ["1363d", "1400d"])  # 3.7 years shown: too few years, too many half-years
def test_date_ticks_are_chosen_without_a_warning(analyzer: PairAnalyzer, window: str) -> None:
    data = chart_data(analyzer, "ETH:RUT", window)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib's "AutoDateLocator was unable to pick..." lands in the log
        assert_chart_png(render_pair_chart(data, "light"))


@pytest.mark.parametrize(
    ("pair", "as_of", "theme"),
    [
        ("BTC:ETH", None, "dark"),  # crypto-crypto, 24/7 calendar
        ("SPY:QQQ", None, "light"),  # equity-equity
        ("ETH:RUT", datetime.date(2019, 6, 28), "dark"),  # history, every date decoupled
    ],
)
def test_pairs_render(
    rendered: Callable[..., tuple[ChartData, bytes]], pair: str, as_of: datetime.date | None, theme: str
) -> None:
    data, png = rendered(pair, "90d", theme, as_of)
    if as_of is not None:
        assert data.as_of == pd.Timestamp(as_of)
    assert_chart_png(png)


# ---- edge cases ------------------------------------------------------------------------------------


def test_nan_stretches_and_no_regimes_render() -> None:
    assert_chart_png(render_pair_chart(synthetic_chart_data(), "dark"))


def test_few_points_and_empty_series_render() -> None:
    dates = pd.bdate_range("2026-01-01", periods=3, name="date")
    few = synthetic_chart_data(
        as_of=dates[-1],
        prices=pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [5.0, 5.0, 5.0]}, index=dates),
        correlation=pd.Series([np.nan, 0.3, -0.95], index=dates),
        ci_low=pd.Series(np.nan, index=dates),
        ci_high=pd.Series(np.nan, index=dates),
        ewma=pd.Series(np.nan, index=dates),
        regimes=pd.Series(["inverse", None, "inverse"], index=dates),
        current=-0.95,
        n_obs=16,
    )
    assert_chart_png(render_pair_chart(few, "light"))

    empty = pd.DatetimeIndex([], name="date")
    nothing = synthetic_chart_data(
        prices=pd.DataFrame({"a": [], "b": []}, index=empty, dtype=float),
        correlation=pd.Series([], index=empty, dtype=float),
        ci_low=pd.Series([], index=empty, dtype=float),
        ci_high=pd.Series([], index=empty, dtype=float),
        ewma=pd.Series([], index=empty, dtype=float),
        regimes=pd.Series([], index=empty, dtype=object),
    )
    assert_chart_png(render_pair_chart(nothing, "dark"))


def test_regime_spans_follow_runs_and_skip_missing() -> None:
    dates = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    regimes = ["coupled", "coupled", None, float("nan"), "inverse", "inverse"]
    spans = regime_spans(dates, regimes, end=6.5)
    assert spans["coupled"] == [(0.0, 2.0)]
    assert spans["inverse"] == [(4.0, 2.5)]
    assert spans["neutral"] == spans["decoupled"] == []


def test_unknown_theme_is_a_value_error(eth_rut_90d: ChartData) -> None:
    with pytest.raises(ValueError, match="theme"):
        render_pair_chart(eth_rut_90d, "sepia")
    with pytest.raises(ValueError, match="theme"):
        ChartRenderer().render(eth_rut_90d, "sepia")


# ---- cache -----------------------------------------------------------------------------------------


def test_cache_returns_the_same_bytes_and_counts_a_hit(eth_rut_90d: ChartData) -> None:
    renderer = ChartRenderer(workers=0)
    first = renderer.render(eth_rut_90d, "light")
    assert (renderer.hits, renderer.misses) == (0, 1)
    second = renderer.render(eth_rut_90d, "light")
    assert second == first
    assert (renderer.hits, renderer.misses) == (1, 1)
    assert len(renderer) == 1


def test_cache_key_separates_theme_source_and_staleness(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(charts, "render_pair_chart", lambda data, theme: f"{theme}:{data.source}".encode())
    renderer = ChartRenderer(workers=0)
    data = synthetic_chart_data()
    variants = [
        (data, "light"),
        (data, "dark"),
        (dataclasses.replace(data, source="snapshot"), "light"),
        (dataclasses.replace(data, stale=False), "light"),
    ]
    for variant, theme in variants:
        renderer.render(variant, theme)
    assert (renderer.hits, renderer.misses) == (0, 4)
    for variant, theme in variants:
        renderer.render(variant, theme)
    assert (renderer.hits, renderer.misses) == (4, 4)


def test_cache_is_a_bounded_lru(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(charts, "render_pair_chart", lambda data, theme: str(data.as_of).encode())
    renderer = ChartRenderer(max_entries=2, workers=0)
    base = synthetic_chart_data()
    days = [dataclasses.replace(base, as_of=base.as_of - pd.Timedelta(days=i)) for i in range(3)]
    renderer.render(days[0], "light")
    renderer.render(days[1], "light")
    renderer.render(days[0], "light")  # day 0 is now the most recent
    renderer.render(days[2], "light")  # evicts day 1
    assert len(renderer) == 2
    renderer.render(days[0], "light")
    assert renderer.hits == 2
    renderer.render(days[1], "light")
    assert renderer.misses == 4


async def test_render_async_in_threads_renders_off_the_loop_and_uses_the_cache(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loop_thread = threading.get_ident()
    render_threads: list[int] = []

    def recording_render(data: ChartData, theme: str) -> bytes:
        render_threads.append(threading.get_ident())
        return PNG_SIGNATURE + theme.encode()

    monkeypatch.setattr(charts, "render_pair_chart", recording_render)
    renderer = ChartRenderer(workers=0)  # renders in threads: the render workers are tested in test_chart_pool.py
    data = synthetic_chart_data()
    first = await renderer.render_async(data, "dark")
    second = await renderer.render_async(data, "dark")
    assert first == second == PNG_SIGNATURE + b"dark"
    assert len(render_threads) == 1 and render_threads[0] != loop_thread
    assert (renderer.hits, renderer.misses) == (1, 1)
    with pytest.raises(ValueError):
        await renderer.render_async(data, "neon")


# ---- threads and imports ---------------------------------------------------------------------------


def test_concurrent_renders_match_serial_ones(
    rendered: Callable[..., tuple[ChartData, bytes]], eth_rut_90d: ChartData, eth_rut_pngs: dict[str, bytes]
) -> None:
    btc_eth, btc_eth_png = rendered("BTC:ETH", "90d", "dark")
    eth_rut_2019, eth_rut_2019_png = rendered("ETH:RUT", "90d", "dark", datetime.date(2019, 6, 28))
    jobs = [(eth_rut_90d, "light"), (eth_rut_90d, "dark"), (btc_eth, "dark"), (eth_rut_2019, "dark")]
    expected = [eth_rut_pngs["light"], eth_rut_pngs["dark"], btc_eth_png, eth_rut_2019_png]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda job: render_pair_chart(*job), jobs * 2))
    assert results == expected * 2


def test_a_reused_canvas_draws_exactly_what_a_fresh_one_draws(
    rendered: Callable[..., tuple[ChartData, bytes]], eth_rut_90d: ChartData
) -> None:
    """Each render replaces every data artist: nothing of the previous chart (another pair, window, regime
    history, thresholds, source, staleness or a missing current value) shows through."""
    btc_eth, _ = rendered("BTC:ETH", "90d", "dark")
    custom = dataclasses.replace(
        eth_rut_90d, thresholds=dataclasses.replace(DEFAULT_THRESHOLDS, coupled_enter=0.3, decoupled_enter=0.25)
    )
    sequence = [eth_rut_90d, synthetic_chart_data(), btc_eth, custom, eth_rut_90d]
    canvas = charts.PairChartCanvas(chart_style.DARK)
    for data in sequence:
        assert canvas.render(data) == charts.PairChartCanvas(chart_style.DARK).render(data)


def test_pngs_decode_to_the_drawn_pixels(eth_rut_90d: ChartData) -> None:
    canvas = charts.PairChartCanvas(chart_style.LIGHT)
    png = canvas.render(eth_rut_90d)
    drawn = np.asarray(canvas.canvas.buffer_rgba())[..., :3]
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(png)).convert("RGB")), drawn)


def test_the_cache_knows_the_theme_names_without_matplotlib() -> None:
    assert tuple(chart_style.THEMES) == THEME_NAMES


def test_shared_renderer_counts_every_call_from_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    def slow_fake_render(data: ChartData, theme: str) -> bytes:
        threading.Event().wait(0.01)  # long enough for threads to overlap
        return f"{data.as_of:%Y-%m-%d}:{theme}".encode()

    monkeypatch.setattr(charts, "render_pair_chart", slow_fake_render)
    renderer = ChartRenderer(workers=0)
    base = synthetic_chart_data()
    jobs = [
        (dataclasses.replace(base, as_of=base.as_of - pd.Timedelta(days=day)), theme)
        for day in range(4)
        for theme in ("light", "dark")
    ]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda job: renderer.render(*job), jobs * 5))
    assert results == [f"{data.as_of:%Y-%m-%d}:{theme}".encode() for data, theme in jobs] * 5
    assert renderer.hits + renderer.misses == len(jobs) * 5
    assert renderer.misses >= len(jobs) and len(renderer) == len(jobs)


def test_charts_never_import_pyplot() -> None:
    code = (
        "import sys\n"
        "from bot.render.charts import render_pair_chart\n"
        "from bot.analysis.analyzer import PairAnalyzer\n"
        "from bot.assets import find_asset\n"
        "from bot.market.data import SnapshotMarketData\n"
        "from bot.windows import parse_window\n"
        "an = PairAnalyzer(SnapshotMarketData())\n"
        "r = an.correlation(find_asset('ETH'), find_asset('RUT'), parse_window('90d'))\n"
        "png = render_pair_chart(an.chart_data(r), 'dark')\n"
        "assert png.startswith(b'\\x89PNG'), png[:8]\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'matplotlib.pyplot was imported'\n"
    )
    env = {key: value for key, value in os.environ.items() if key != "MPLBACKEND"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
