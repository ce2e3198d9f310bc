"""Threads asking for the same pair or series at once compute it once (bot/analysis/single_flight.py)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from bot.analysis.analyzer import PairAnalyzer
from bot.analysis.single_flight import SingleFlight
from bot.assets import find_asset
from bot.market.data import SnapshotMarketData
from bot.windows import parse_window


def _wait_until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the other callers never joined"
        time.sleep(0.001)


def test_callers_of_one_key_share_one_computation() -> None:
    flight = SingleFlight()
    release = threading.Event()
    computed: list[int] = []

    def compute() -> object:
        computed.append(1)
        release.wait(10)
        return object()

    with ThreadPoolExecutor(10) as pool:
        futures = [pool.submit(flight.run, "pair", compute) for _ in range(10)]
        _wait_until(lambda: flight.joined == 9)  # nine callers waiting on the first one's computation
        release.set()
        results = [f.result() for f in futures]
    assert len(computed) == 1
    assert all(r is results[0] for r in results)
    assert flight.run("pair", lambda: "again") == "again"  # nothing is kept once the call is over


def test_the_waiting_callers_get_the_error_too() -> None:
    flight = SingleFlight()
    release = threading.Event()

    def compute() -> object:
        release.wait(10)
        raise ValueError("no data for that pair")

    with ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(flight.run, "pair", compute) for _ in range(3)]
        _wait_until(lambda: flight.joined == 2)
        release.set()
        for future in futures:
            with pytest.raises(ValueError, match="no data"):
                future.result()
    assert flight.run("pair", lambda: 1) == 1


def test_a_cold_pair_asked_ten_times_at_once_is_built_once() -> None:
    analyzer = PairAnalyzer(SnapshotMarketData())
    eth, rut, window = find_asset("ETH"), find_asset("RUT"), parse_window("2y")
    start = threading.Barrier(10)

    def ask() -> tuple[object, object]:
        start.wait()
        data = analyzer.pair(eth, rut)
        return data, analyzer.window_history(data, window)

    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(lambda _: ask(), range(10)))
    assert all(data is answers[0][0] for data, _ in answers)
    assert all(history is answers[0][1] for _, history in answers)
