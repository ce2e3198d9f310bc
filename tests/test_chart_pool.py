"""Chart renders in worker processes (bot.render.chart_pool through ChartRenderer.render_async): the same PNGs
as the in-process path, one render for concurrent identical requests, workers that start lazily and stop on
close(), a killed worker that costs nothing but a fallback, and no matplotlib in the bot's own process."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging
import os
import pickle
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pandas as pd
import pytest

from bot.analysis.analyzer import PairAnalyzer
from bot.analysis.results import ChartData
from bot.assets import find_asset
from bot.market.data import SnapshotMarketData
from bot.render import chart_pool
from bot.render.chart_cache import ChartRenderer
from bot.render.charts import render_pair_chart
from bot.windows import parse_window

REPO_ROOT = Path(__file__).resolve().parents[1]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def analyzer() -> PairAnalyzer:
    return PairAnalyzer(SnapshotMarketData())


def chart_data(analyzer: PairAnalyzer, pair: str, window: str, as_of: datetime.date | None = None) -> ChartData:
    asset, benchmark = (find_asset(symbol) for symbol in pair.split(":"))
    return analyzer.chart_data(analyzer.correlation(asset, benchmark, parse_window(window), as_of=as_of))


@pytest.fixture(scope="module")
def eth_rut(analyzer: PairAnalyzer) -> ChartData:
    return chart_data(analyzer, "ETH:RUT", "90d")


@pytest.fixture
async def renderer() -> AsyncIterator[ChartRenderer]:
    charts = ChartRenderer(workers=2)
    yield charts
    await charts.aclose()


def variant(data: ChartData, days: int) -> ChartData:
    """Another chart (another cache key) from the same data: the as-of date moved back."""
    return dataclasses.replace(data, as_of=pd.Timestamp(data.as_of) - pd.Timedelta(days=days))


def gone(pid: int, within: float = 30.0) -> bool:
    """Whether the process exits (or is a zombie waiting for the forkserver to reap it) within `within` s."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except FileNotFoundError:
            return True
        if "\nState:\tZ" in status:
            return True
        time.sleep(0.05)
    return False


def test_chart_data_pickles(eth_rut: ChartData) -> None:
    copy = pickle.loads(pickle.dumps(eth_rut))
    for field in dataclasses.fields(ChartData):
        before, after = getattr(eth_rut, field.name), getattr(copy, field.name)
        if isinstance(before, pd.Series | pd.DataFrame):
            pd.testing.assert_index_equal(before.index, after.index)
            assert before.equals(after), field.name
        else:
            assert before == after, field.name


async def test_workers_start_with_the_first_chart_and_draw_the_in_process_pngs(
    renderer: ChartRenderer, analyzer: PairAnalyzer, eth_rut: ChartData
) -> None:
    assert renderer.worker_pids() == []  # nothing started by building the renderer
    btc_eth_2019 = chart_data(analyzer, "BTC:ETH", "1y", datetime.date(2019, 6, 28))
    jobs = [(eth_rut, "light"), (eth_rut, "dark"), (btc_eth_2019, "dark"), (btc_eth_2019, "light")]
    pngs = await asyncio.gather(*(renderer.render_async(data, theme) for data, theme in jobs))
    assert len(renderer.worker_pids()) == 2
    assert os.getpid() not in renderer.worker_pids()
    for (data, theme), png in zip(jobs, pngs, strict=True):
        assert png.startswith(PNG_SIGNATURE)
        assert png == render_pair_chart(data, theme)  # the very same pixels as a render in this process
    assert renderer.pool is not None and renderer.pool.fallbacks == 0
    assert (renderer.hits, renderer.misses) == (0, 4)


async def test_concurrent_identical_requests_render_once(renderer: ChartRenderer, eth_rut: ChartData) -> None:
    pngs = await asyncio.gather(*(renderer.render_async(eth_rut, "dark") for _ in range(6)))
    assert len(set(pngs)) == 1 and pngs[0].startswith(PNG_SIGNATURE)
    assert (renderer.misses, renderer.shared, renderer.hits) == (1, 5, 0)
    assert await renderer.render_async(eth_rut, "dark") == pngs[0]
    assert renderer.hits == 1 and len(renderer) == 1


async def test_a_waiter_that_gives_up_leaves_the_render_to_the_others(
    renderer: ChartRenderer, eth_rut: ChartData
) -> None:
    first = asyncio.create_task(renderer.render_async(eth_rut, "light"))
    second = asyncio.create_task(renderer.render_async(eth_rut, "light"))
    await asyncio.sleep(0)
    first.cancel()
    png = await second
    assert png.startswith(PNG_SIGNATURE)
    with pytest.raises(asyncio.CancelledError):
        await first
    assert renderer.misses == 1 and renderer.cached(eth_rut, "light")


async def test_close_stops_the_workers_and_a_later_chart_starts_them_again(
    renderer: ChartRenderer, eth_rut: ChartData
) -> None:
    await renderer.render_async(eth_rut, "light")
    pids = renderer.worker_pids()
    assert len(pids) == 2
    await renderer.aclose()
    assert renderer.worker_pids() == []
    assert all(gone(pid) for pid in pids)
    assert await renderer.render_async(eth_rut, "light") == render_pair_chart(eth_rut, "light")  # a hit
    png = await renderer.render_async(variant(eth_rut, 1), "light")  # a miss: new workers
    assert png.startswith(PNG_SIGNATURE)
    assert renderer.worker_pids() and not set(renderer.worker_pids()) & set(pids)


@pytest.mark.reliability  # workers killed: a long run (`make test-reliability`)
async def test_killed_workers_fall_back_to_a_thread_and_log_once(
    renderer: ChartRenderer, eth_rut: ChartData, caplog: pytest.LogCaptureFixture
) -> None:
    await renderer.render_async(eth_rut, "light")
    pids = renderer.worker_pids()
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    assert all(gone(pid) for pid in pids)
    caplog.set_level(logging.WARNING, logger=chart_pool.__name__)
    requests = [(variant(eth_rut, day), theme) for day in (1, 2, 3) for theme in ("light", "dark")]
    pngs = await asyncio.gather(*(renderer.render_async(data, theme) for data, theme in requests))
    for (data, theme), png in zip(requests, pngs, strict=True):
        assert png == render_pair_chart(data, theme)
    pool = renderer.pool
    assert pool is not None and pool.fallbacks >= 1 and pool.restarts == 1
    died = [record for record in caplog.records if "render worker died" in record.getMessage()]
    assert len(died) == 1 and died[0].levelno == logging.WARNING
    # the next chart has a new pool
    assert (await renderer.render_async(variant(eth_rut, 4), "light")).startswith(PNG_SIGNATURE)
    assert renderer.worker_pids() and not set(renderer.worker_pids()) & set(pids)


@pytest.mark.reliability  # workers killed: a long run (`make test-reliability`)
async def test_a_worker_killed_mid_render_costs_the_caller_nothing(renderer: ChartRenderer, eth_rut: ChartData) -> None:
    await renderer.render_async(eth_rut, "light")
    pids = renderer.worker_pids()
    requests = [variant(eth_rut, day) for day in range(1, 7)]
    tasks = [asyncio.create_task(renderer.render_async(data, "dark")) for data in requests]
    await asyncio.sleep(0.05)  # the renders are submitted; some are running
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    pngs = await asyncio.gather(*tasks)
    assert pngs == [render_pair_chart(data, "dark") for data in requests]


@pytest.mark.reliability  # workers killed: a long run (`make test-reliability`)
async def test_workers_that_keep_dying_leave_charts_to_threads(
    eth_rut: ChartData, caplog: pytest.LogCaptureFixture
) -> None:
    renderer = ChartRenderer(workers=1)
    assert renderer.pool is not None
    renderer.pool.max_restarts = 1
    caplog.set_level(logging.WARNING, logger=chart_pool.__name__)
    try:
        for day in range(3):
            await renderer.render_async(variant(eth_rut, 10 + day), "light")
            for pid in renderer.worker_pids():
                os.kill(pid, signal.SIGKILL)
                assert gone(pid)
        png = await renderer.render_async(variant(eth_rut, 20), "light")
        assert png == render_pair_chart(variant(eth_rut, 20), "light")
        assert renderer.pool.given_up and renderer.worker_pids() == []
        assert [r.levelno for r in caplog.records if "render worker died" in r.getMessage()] == [
            logging.WARNING, logging.ERROR,
        ]
    finally:
        await renderer.aclose()


def test_pool_renders_keep_matplotlib_out_of_this_process() -> None:
    code = (
        "import asyncio, sys\n"
        "import bot.render.chart_cache\n"
        "assert 'matplotlib' not in sys.modules, 'importing the chart cache imported matplotlib'\n"
        "from bot.analysis.analyzer import PairAnalyzer\n"
        "from bot.assets import find_asset\n"
        "from bot.market.data import SnapshotMarketData\n"
        "from bot.render.chart_cache import ChartRenderer\n"
        "from bot.windows import parse_window\n"
        "async def main():\n"
        "    an = PairAnalyzer(SnapshotMarketData())\n"
        "    data = an.chart_data(an.correlation(find_asset('ETH'), find_asset('RUT'), parse_window('90d')))\n"
        "    charts = ChartRenderer()\n"
        "    png = await charts.render_async(data, 'dark')\n"
        "    assert png.startswith(b'\\x89PNG'), png[:8]\n"
        "    assert charts.worker_pids(), 'no render workers'\n"
        "    await charts.aclose()\n"
        "if __name__ == '__main__':\n"
        "    asyncio.run(main())\n"
        "    assert 'matplotlib' not in sys.modules, 'a pool render imported matplotlib in the bot process'\n"
    )
    env = {key: value for key, value in os.environ.items() if key != "MPLBACKEND"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.reliability  # workers killed: a long run (`make test-reliability`)
def test_workers_exit_when_the_bot_is_killed() -> None:
    """SIGKILL leaves the bot no chance to close its pool: the workers notice and exit on their own, and so
    does the forkserver, so nothing lingers holding memory or the bot's stdout/stderr pipes."""
    code = (
        "import asyncio, sys, time\n"
        "import multiprocessing.forkserver as forkserver\n"
        "from tests.test_charts import synthetic_chart_data\n"
        "from bot.render.chart_cache import ChartRenderer\n"
        "async def main():\n"
        "    charts = ChartRenderer(workers=2)\n"
        "    await charts.render_async(synthetic_chart_data(), 'dark')\n"
        "    server = forkserver._forkserver._forkserver_pid\n"
        "    print(*charts.worker_pids(), *([server] if server else []), flush=True)\n"
        "    time.sleep(600)\n"
        "if __name__ == '__main__':\n"
        "    asyncio.run(main())\n"
    )
    bot = subprocess.Popen(
        [sys.executable, "-c", code], cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert bot.stdout is not None
        pids = [int(pid) for pid in bot.stdout.readline().split()]
        assert len(pids) >= 2, bot.stderr.read() if bot.stderr else ""
        assert not any(gone(pid, within=0.2) for pid in pids)
    finally:
        bot.kill()
        bot.wait()
    assert all(gone(pid) for pid in pids)
    assert bot.stdout.read() == ""  # EOF: no process is left holding the pipe
