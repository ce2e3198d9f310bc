"""Chart rendering against a plain matplotlib chart drawn in the same run.

    .venv/bin/python bench/charts.py [--n 20] [--users 10] [--windows 3]

Every figure is printed next to its in-run baseline: a plain two-panel chart of the same size and DPI (one
`Figure` + Agg canvas, two axes sharing a date axis, two lines each, PNG through `print_png`) drawn from the
same ChartData. Chart data for every window comes from `PairAnalyzer.chart_data` on the bundled snapshot,
computed up front in this process, so only rendering is timed.

1. In one fresh worker process (spawned, nothing else running): the first plain chart and our first chart,
   then `--n` of each, interleaved so load on the machine hits both alike. Render time inside the process.
2. Through `ChartRenderer.render_async` (what the bot does): the first chart (starts the render workers),
   `--n` cache misses one after another (round trip: pickling, the worker, the PNG back), `--users` users at
   once each asking `--windows` new windows one after another, the same requests all at once, and cache hits.
3. Through the command layer (`dispatch`, what every transport calls): `--users` users at once each asking
   `/corr <new window>` `--windows` times, one after another — the analysis of each window (new to the bot,
   31 days to 10 years) and its chart. The same as the transports see it, without their network.
4. Peak RSS (VmHWM) of this process, which never draws, and the RSS of the render workers.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.analysis.analyzer import PairAnalyzer  # noqa: E402
from bot.analysis.results import ChartData  # noqa: E402
from bot.assets import find_asset  # noqa: E402
from bot.market.data import SnapshotMarketData  # noqa: E402
from bot.render.chart_cache import ChartRenderer  # noqa: E402
from bot.windows import parse_window  # noqa: E402

PAIRS = ("ETH:RUT", "BTC:SPY", "BTC:ETH", "SPY:QQQ")


def plain_chart(data: ChartData) -> bytes:
    """The baseline: two axes, two lines each, matplotlib's defaults, the same size and DPI as ours."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from bot.render.chart_style import DPI, HEIGHT_IN, WIDTH_IN

    fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI)
    canvas = FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, sharex=True)
    dates = data.prices.index.to_numpy()
    top.plot(dates, data.prices["a"].to_numpy())
    top.plot(dates, data.prices["b"].to_numpy())
    rho_dates = data.correlation.index.to_numpy()
    bottom.plot(rho_dates, data.correlation.to_numpy())
    bottom.plot(rho_dates, data.ewma.to_numpy())
    buffer = io.BytesIO()
    canvas.print_png(buffer)
    return buffer.getvalue()


def _timed(fn, *args) -> tuple[float, bytes]:
    start = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - start, out


def in_one_worker(datas: list[ChartData]) -> dict[str, object]:
    """Runs in a fresh spawned process: first renders, then plain and ours interleaved."""
    import_start = time.perf_counter()
    from bot.render.charts import render_pair_chart

    imported = time.perf_counter() - import_start
    first_plain, _ = _timed(plain_chart, datas[0])
    first_ours, png = _timed(render_pair_chart, datas[0], "light")
    plain: list[float] = []
    ours: list[float] = []
    for i, data in enumerate(datas[1:]):
        theme = ("light", "dark")[i % 2]
        if i % 2:
            ours.append(_timed(render_pair_chart, data, theme)[0])
            plain.append(_timed(plain_chart, data)[0])
        else:
            plain.append(_timed(plain_chart, data)[0])
            ours.append(_timed(render_pair_chart, data, theme)[0])
    return {"import": imported, "first_plain": first_plain, "first_ours": first_ours, "plain": plain,
            "ours": ours, "png_bytes": len(png), "rss": proc_status_mb(os.getpid())}


def proc_status_mb(pid: int | str = "self") -> dict[str, float]:
    out: dict[str, float] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) / 1024
    except OSError:
        pass
    return out


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.1f} ms"


def pcts(samples: list[float]) -> tuple[float, float]:
    p50, p90 = np.percentile(np.array(samples), [50, 90])
    return float(p50), float(p90)


def line(label: str, samples: list[float], plain_p50: float) -> str:
    p50, p90 = pcts(samples)
    return (f"{label:46s} n={len(samples):3d}  p50 {ms(p50)}  p90 {ms(p90)}  "
            f"p50/plain {p50 / plain_p50:5.2f}x")


def build_datas(count: int) -> list[ChartData]:
    analyzer = PairAnalyzer(SnapshotMarketData())
    days = np.random.default_rng(0).choice(np.arange(30, 400), count, replace=False)
    datas = []
    for i, day in enumerate(days):
        asset, benchmark = (find_asset(symbol) for symbol in PAIRS[i % len(PAIRS)].split(":"))
        result = analyzer.correlation(asset, benchmark, parse_window(f"{day}d"))
        datas.append(analyzer.chart_data(result))
    return datas


async def through_renderer(renderer: ChartRenderer, datas: list[ChartData], n: int, users: int, windows: int,
                           plain_p50: float) -> None:
    it = iter(datas)

    async def ask(data: ChartData, theme: str = "light") -> float:
        start = time.perf_counter()
        png = await renderer.render_async(data, theme)
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        return time.perf_counter() - start

    cold = await ask(next(it))
    print(f"{'first chart (starts the workers), miss':46s}        {ms(cold)}"
          f"           {cold / plain_p50:5.2f}x")
    misses = [await ask(next(it), ("light", "dark")[i % 2]) for i in range(n)]
    print(line("warm workers, cache miss, one at a time", misses, plain_p50))

    async def user(mine: list[ChartData]) -> list[float]:
        return [await ask(data) for data in mine]

    batch = [[next(it) for _ in range(windows)] for _ in range(users)]
    start = time.perf_counter()
    each = [t for times in await asyncio.gather(*(user(mine) for mine in batch)) for t in times]
    wall = time.perf_counter() - start
    print(line(f"{users} users x {windows} new windows, one after another", each, plain_p50)
          + f"  ({len(each) / wall:.1f} charts/s)")

    start = time.perf_counter()
    burst = list(await asyncio.gather(*(ask(next(it)) for _ in range(users * windows))))
    wall = time.perf_counter() - start
    print(line(f"{users * windows} new windows all at once", burst, plain_p50)
          + f"  ({len(burst) / wall:.1f} charts/s)")

    hits = [await ask(datas[0]) for _ in range(200)]
    p50, p90 = pcts(hits)
    print(f"{'cache hit':46s} n={len(hits):3d}  p50 {ms(p50)}  p90 {ms(p90)}")


async def through_commands(users: int, windows: int, plain_p50: float) -> None:
    """`--users` users each asking `--windows` new windows, one after another, all users at once: analysis and
    chart (a window no one asked before, so nothing is cached), as a transport gets it from the runner."""
    from bot.app import App
    from bot.config import load_settings
    from handlers.commands import dispatch

    app = App(load_settings(market_data="snapshot", database_url="sqlite://"))
    app.serving = True  # render workers, as `run` has them
    services = app.services
    try:
        await services.charts.start_workers()
        assert (await dispatch(services, "/corr 90d", want_chart=True)).ok  # loads the snapshot, first render
        days = iter(np.random.default_rng(1).choice(np.arange(31, 3650), users * windows, replace=False))
        mine = [[f"{next(days)}d" for _ in range(windows)] for _ in range(users)]

        async def ask(window: str) -> float:
            start = time.perf_counter()
            reply = await dispatch(services, f"/corr {window}", want_chart=True)
            assert reply.ok and reply.chart is not None, reply.text
            return time.perf_counter() - start

        async def user(asks: list[str]) -> list[float]:
            return [await ask(window) for window in asks]

        start = time.perf_counter()
        each = [t for times in await asyncio.gather(*(user(asks) for asks in mine)) for t in times]
        wall = time.perf_counter() - start
        print(line(f"{users} users x {windows} new windows, /corr", each, plain_p50)
              + f"  ({len(each) / wall:.1f} answers/s)")
    finally:
        await services.charts.aclose()
        await app.close()


async def main(n: int, users: int, windows: int) -> None:
    started = time.perf_counter()
    datas = build_datas(2 * (n + 1) + 2 * users * windows + 1)
    print(f"chart data for {len(datas)} windows in {time.perf_counter() - started:.1f} s; "
          f"{os.cpu_count()} cores")

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        solo = pool.submit(in_one_worker, datas[: n + 1]).result()
    plain_p50, plain_p90 = pcts(solo["plain"])
    print("\n-- in one fresh process, render time only --")
    print(f"{'import bot.render.charts (matplotlib)':46s}        {ms(solo['import'])}")
    print(f"{'plain chart, first':46s}        {ms(solo['first_plain'])}")
    print(f"{'our chart, first (builds the figure)':46s}        {ms(solo['first_ours'])}"
          f"           {solo['first_ours'] / solo['first_plain']:5.2f}x first plain")
    print(f"{'plain chart (baseline)':46s} n={len(solo['plain']):3d}  p50 {ms(plain_p50)}  p90 {ms(plain_p90)}")
    print(line("our chart", solo["ours"], plain_p50) + f"  PNG {solo['png_bytes'] / 1024:.0f} KiB")
    print(f"that process: RSS {solo['rss'].get('VmRSS', 0):.0f} MB, peak {solo['rss'].get('VmHWM', 0):.0f} MB")

    print("\n-- through ChartRenderer.render_async --")
    renderer = ChartRenderer()
    try:
        await through_renderer(renderer, datas[n + 1:], n, users, windows, plain_p50)
        print("\n-- through the command layer: analysis and chart of new windows --")
        await through_commands(users, windows, plain_p50)
        print("\n-- memory --")
        main_status = proc_status_mb()
        print(f"this process (never draws): peak RSS (VmHWM) {main_status.get('VmHWM', 0):.0f} MB, "
              f"RSS {main_status.get('VmRSS', 0):.0f} MB, matplotlib imported: {'matplotlib' in sys.modules}")
        pids = renderer.worker_pids() if hasattr(renderer, "worker_pids") else []
        for pid in pids:
            status = proc_status_mb(pid)
            print(f"render worker {pid}: RSS {status.get('VmRSS', 0):.0f} MB, "
                  f"peak {status.get('VmHWM', 0):.0f} MB")
        if not pids:
            print("render workers: none (renders ran in this process)")
    finally:
        close = getattr(renderer, "close", None)
        if close is not None:
            await asyncio.to_thread(close)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20, help="renders per sequential measurement")
    parser.add_argument("--users", type=int, default=10, help="users asking at once")
    parser.add_argument("--windows", type=int, default=3, help="new windows each user asks")
    args = parser.parse_args()
    asyncio.run(main(args.n, args.users, args.windows))
