"""What the local market fakes share: the fixtures, a test clock, the price book, failures to inject, and the
base aiohttp server on 127.0.0.1 (port 0) that logs every request."""

from __future__ import annotations

import asyncio
import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from aiohttp import web

from bot.market import calendars, snapshot

FIXTURES = Path(__file__).parent / "fixtures"
HORIZON_END = pd.Timestamp("2027-12-31")
HOUR = pd.Timedelta(hours=1)
DAY = pd.Timedelta(days=1)


def fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


class TestClock:
    """The clock the bot and the fakes share; tests move it."""

    __test__ = False

    def __init__(self, now: str):
        self.now = pd.Timestamp(now, tz="UTC")

    def __call__(self) -> pd.Timestamp:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now = self.now + pd.Timedelta(**delta)

    def set(self, now: str) -> None:
        self.now = pd.Timestamp(now, tz="UTC")

    @property
    def naive(self) -> pd.Timestamp:
        return self.now.tz_convert("UTC").tz_localize(None)


# ---------------------------------------------------------------------------------------------- prices


def _walk(symbol: str, index: pd.DatetimeIndex, start_price: float, sigma: float) -> pd.Series:
    rng = np.random.default_rng(zlib.crc32(symbol.encode()))
    steps = rng.normal(0.0, sigma, len(index))
    steps[0] = 0.0
    return pd.Series(start_price * np.exp(np.cumsum(steps)), index=index)


START_PRICE = {"SOL": 20.0, "TSLA": 250.0, "SPX": 4000.0, "NDX": 12000.0, "AAPL": 120.0, "ETH": 1000.0,
               "BTC": 30000.0}


class PriceBook:
    """Closes by symbol: crypto hourly (open time) and UTC daily, equities per NYSE session date."""

    def __init__(self) -> None:
        self._hourly: dict[str, pd.Series] = {}
        self._daily: dict[str, pd.Series] = {}
        self.overrides: dict[tuple[str, str], pd.Series] = {}  # (symbol, interval) -> closes that win

    def hourly(self, symbol: str) -> pd.Series:
        if symbol not in self._hourly:
            self._hourly[symbol] = self._make_hourly(symbol)
        return self._with_overrides(symbol, "1h", self._hourly[symbol])

    def daily(self, symbol: str, crypto: bool) -> pd.Series:
        if symbol not in self._daily:
            self._daily[symbol] = self._make_crypto_daily(symbol) if crypto else self._make_sessions(symbol)
        return self._with_overrides(symbol, "1d", self._daily[symbol])

    def _with_overrides(self, symbol: str, interval: str, series: pd.Series) -> pd.Series:
        override = self.overrides.get((symbol, interval))
        if override is None:
            return series
        merged = series.copy()
        merged.loc[override.index] = override.to_numpy()
        return merged.sort_index()

    def _make_hourly(self, symbol: str) -> pd.Series:
        if snapshot.has_series(symbol, "1h"):
            real = snapshot.hourly_closes(symbol)
            real = pd.Series(real.to_numpy(), index=(real.index - HOUR).tz_localize(None))
            after = pd.date_range(real.index[-1] + HOUR, HORIZON_END, freq="h")
            walk = _walk(symbol + "h", after.insert(0, real.index[-1]), float(real.iloc[-1]), 0.006)
            return pd.concat([real, walk.iloc[1:]])
        index = pd.date_range("2018-01-01", HORIZON_END, freq="h")
        return _walk(symbol + "h", index, START_PRICE.get(symbol, 50.0), 0.006)

    def _make_crypto_daily(self, symbol: str) -> pd.Series:
        hourly = self.hourly(symbol)
        # the UTC day's close is the close of its last hourly candle (23:00 open)
        last_of_day = hourly[hourly.index.hour == 23]
        from_hourly = pd.Series(last_of_day.to_numpy(), index=last_of_day.index.normalize())
        if snapshot.has_series(symbol, "1d"):
            real = snapshot.daily_closes(symbol)
            return pd.concat([real, from_hourly[from_hourly.index > real.index[-1]]])
        return from_hourly

    def _make_sessions(self, symbol: str) -> pd.Series:
        sessions = calendars.session_closes("XNYS").index
        sessions = sessions[sessions <= HORIZON_END]
        if snapshot.has_series(symbol, "1d"):
            real = snapshot.daily_closes(symbol)
            after = sessions[sessions > real.index[-1]]
            walk = _walk(symbol, after.insert(0, real.index[-1]), float(real.iloc[-1]), 0.01)
            return pd.concat([real, walk.iloc[1:]])
        sessions = sessions[sessions >= pd.Timestamp("2000-01-03")]
        return _walk(symbol, sessions, START_PRICE.get(symbol, 100.0), 0.01)


# ---------------------------------------------------------------------------------------------- servers


@dataclass
class Failure:
    """How a fake misbehaves: an HTTP status (with a body), a delay, an HTML page or an empty answer."""

    status: int | None = None
    body: str = ""
    delay: float = 0.0
    html: bool = False
    empty: bool = False
    everything: bool = False  # also market lists, cookies and crumbs, not only price requests
    headers: dict[str, str] = field(default_factory=dict)


HTML_PAGE = "<!doctype html><html><head><title>Just a moment...</title></head><body>Checking…</body></html>"


class FakeServer:
    name = "fake"
    price_paths: tuple[str, ...] = ()

    def __init__(self, book: PriceBook, clock: TestClock):
        self.book = book
        self.clock = clock
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.failure: Failure | None = None
        self.port = 0
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> FakeServer:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def count(self, path_part: str = "") -> int:
        return sum(1 for path, _ in self.requests if path_part in path)

    def price_requests(self) -> list[dict[str, str]]:
        return [q for path, q in self.requests if any(p in path for p in self.price_paths)]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        query = dict(request.query)
        self.requests.append((request.path, query))
        failure = self.failure
        is_price = any(p in request.path for p in self.price_paths)
        if failure is not None and (is_price or failure.everything):
            if failure.delay:
                await asyncio.sleep(failure.delay)
            if failure.status is not None:
                return web.Response(status=failure.status, text=failure.body, headers=failure.headers,
                                    content_type="application/json" if failure.body.startswith("{") else "text/plain")
            if failure.html:
                return web.Response(status=200, text=HTML_PAGE, content_type="text/html")
            if failure.empty:
                return self.empty_answer(request)
        return await self.route(request, query)

    async def route(self, request: web.Request, query: dict[str, str]) -> web.StreamResponse:
        raise NotImplementedError

    def empty_answer(self, request: web.Request) -> web.StreamResponse:
        return json_response([])


def json_response(payload: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, text=json.dumps(payload), content_type="application/json")


def _ohlc(close: float, previous: float) -> tuple[float, float, float, float]:
    return previous, max(previous, close) * 1.002, min(previous, close) * 0.998, close
