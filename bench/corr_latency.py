"""In-process latency of `/corr` through the command layer, on the bundled snapshot.

Prints p50/p95/p99 for: text only (varied windows), with chart (cache misses: a new window each time),
with chart (cache hits), the cold first call, and the process's peak RSS.
Run: `make bench` or `.venv/bin/python bench/corr_latency.py [--n 200]`.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import time

import numpy as np

from bot.app import App
from bot.config import load_settings
from handlers.commands import dispatch


def percentiles(samples: list[float]) -> str:
    ms = np.array(samples) * 1000
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    mean = statistics.mean(ms)
    return f"n={len(ms):4d}  p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  p99 {p99:7.1f} ms  mean {mean:7.1f} ms"


async def timed(services, text: str, want_chart: bool) -> float:
    start = time.perf_counter()
    reply = await dispatch(services, text, want_chart=want_chart)
    elapsed = time.perf_counter() - start
    assert reply.ok, reply.text
    return elapsed


async def main(n: int) -> None:
    app = App(load_settings(market_data="snapshot", database_url="sqlite://"))
    app.serving = True  # charts in the render workers, as a server draws them
    services = app.services
    await services.charts.start_workers()
    rng = np.random.default_rng(0)
    cold = await timed(services, "/corr 90d", want_chart=False)
    print(f"cold first /corr 90d (loads snapshot, calendar, builds histories): {cold * 1000:.0f} ms")

    windows = [f"{d}d" for d in rng.integers(30, 400, n)]
    text_only = [await timed(services, f"/corr {w}", False) for w in windows]
    print(f"/corr text only, varied windows      {percentiles(text_only)}")

    warm = [await timed(services, "/corr 90d", False) for _ in range(n)]
    print(f"/corr 90d text only, warm            {percentiles(warm)}")

    n_chart = max(20, n // 4)
    miss_windows = [f"{d}d" for d in rng.choice(np.arange(30, 3650), n_chart, replace=False)]
    misses = [await timed(services, f"/corr {w}", True) for w in miss_windows]
    print(f"/corr with chart, cache miss          {percentiles(misses)}")

    hits = [await timed(services, "/corr 90d", True) for _ in range(n_chart)]
    print(f"/corr 90d with chart, cache hit       {percentiles(hits)}")
    print(f"chart cache: {services.charts.hits} hits, {services.charts.misses} misses")

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {peak_mb:.0f} MB (this process; the render workers are processes of their own)")
    await app.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=200)
    asyncio.run(main(parser.parse_args().n))
