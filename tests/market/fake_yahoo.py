"""A local fake of Yahoo Finance's chart API for yfinance's real code path, and the session that points it here."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import pandas as pd
from aiohttp import web

from bot.market.sources.yahoo import BoundedSession
from tests.market.fake_base import FakeServer, PriceBook, TestClock, fixture_text, json_response

# ---- Yahoo -------------------------------------------------------------------------------------------


YAHOO_SYMBOLS = {"^RUT": "RUT", "IWM": "IWM", "SPY": "SPY", "QQQ": "QQQ", "^GSPC": "SPX", "^NDX": "NDX",
                 "TSLA": "TSLA"}
_TEMPLATE_META = json.loads(fixture_text("body_chart-QQQ-2020-01-01-to-2020-01-03.json"))["chart"]["result"][0]["meta"]


class FakeYahoo(FakeServer):
    """fc.yahoo.com, query1 …/v1/test/getcrumb and query2 …/v8/finance/chart/SYMBOL on one port."""

    name = "yahoo"
    price_paths = ("/v8/finance/chart/",)

    def __init__(self, book: PriceBook, clock: TestClock):
        super().__init__(book, clock)
        self.fixtures: dict[str, str] = {}  # symbol -> chart body served verbatim
        self.meta_overrides: dict[str, dict[str, Any]] = {}
        self.dividends: dict[str, dict[pd.Timestamp, float]] = {}  # symbol -> ex-date -> amount
        self.symbols = dict(YAHOO_SYMBOLS)

    def history_requests(self, symbol: str | None = None) -> list[dict[str, str]]:
        """Chart requests for a date range (the history itself, not yfinance's time-zone lookups)."""
        return [q for path, q in self.requests
                if "/v8/finance/chart/" in path and "period1" in q and (symbol is None or path.endswith(symbol))]

    async def route(self, request: web.Request, query: dict[str, str]) -> web.StreamResponse:
        path = request.path
        if path.startswith("/v1/test/getcrumb"):
            return web.Response(text="FakeCrumb0", content_type="text/plain")
        if path.startswith("/v8/finance/chart/"):
            return self._chart(path.rsplit("/", 1)[-1], query)
        if path == "/":
            return web.Response(text="ok", content_type="text/plain")
        return web.Response(status=404, text="Not Found", content_type="text/plain")

    def empty_answer(self, request: web.Request) -> web.StreamResponse:
        return web.Response(
            text=fixture_text("body_chart-AAPL-2025-02-01-to-2025-02-02-includePrePost-false-interval-1m.json"),
            content_type="application/json",
        )

    def _chart(self, symbol: str, query: dict[str, str]) -> web.Response:
        if symbol in self.fixtures:
            return web.Response(text=self.fixtures[symbol], content_type="application/json")
        name = self.symbols.get(symbol)
        if name is None:
            return json_response({"chart": {"result": None, "error": {
                "code": "Not Found", "description": "No data found, symbol may be delisted"}}}, status=404)
        closes = self.book.daily(name, crypto=False)
        opens = _session_opens(closes.index)
        now = self.clock.naive
        visible = closes[opens <= now]
        if "period1" in query:
            start = pd.Timestamp(int(query["period1"]), unit="s")
            end = pd.Timestamp(int(query["period2"]), unit="s")
            window_opens = _session_opens(visible.index)
            visible = visible[(window_opens >= start) & (window_opens < end)]
        else:
            visible = visible.iloc[-(22 if query.get("range") == "1mo" else 1):]
        return json_response(self.chart_body(symbol, visible))

    def chart_body(self, symbol: str, closes: pd.Series) -> dict[str, Any]:
        dividends = {d: a for d, a in self.dividends.get(symbol, {}).items() if d <= self.clock.naive}
        adjclose = _adjusted(closes, self.book.daily(self.symbols[symbol], crypto=False), dividends)
        meta = dict(_TEMPLATE_META)
        meta.update({
            "symbol": symbol, "instrumentType": "INDEX" if symbol.startswith("^") else "ETF",
            "longName": f"Fake {symbol}", "shortName": f"Fake {symbol}",
            "regularMarketTime": int(self.clock.now.value // 10**9),
        })
        meta.update(self.meta_overrides.get(symbol, {}))
        timestamps = [int(t.value // 10**9) for t in _session_opens(closes.index)]
        values = [round(float(v), 6) for v in closes.to_numpy()]
        result: dict[str, Any] = {
            "meta": meta,
            "timestamp": timestamps,
            "indicators": {
                "quote": [{"open": values, "high": values, "low": values, "close": values,
                           "volume": [1000000] * len(values)}],
                "adjclose": [{"adjclose": [round(float(v), 6) for v in adjclose]}],
            },
        }
        shown = {d: a for d, a in dividends.items() if closes.index[0] <= d <= closes.index[-1]} if len(closes) else {}
        if shown:
            result["events"] = {"dividends": {
                str(t): {"amount": a, "date": t}
                for d, a in shown.items() for t in [int(_session_opens(pd.DatetimeIndex([d]))[0].value // 10**9)]}}
        if not len(closes):
            result.pop("timestamp")
            result["indicators"] = {"quote": [{}], "adjclose": [{}]}
        return {"chart": {"result": [result], "error": None}}


def _session_opens(dates: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """09:30 New York on each date, in naive UTC (what Yahoo's daily timestamps are)."""
    local = pd.DatetimeIndex(dates) + pd.Timedelta(hours=9, minutes=30)
    return local.tz_localize("America/New_York").tz_convert("UTC").tz_localize(None)


def _adjusted(closes: pd.Series, full: pd.Series, dividends: dict[pd.Timestamp, float]) -> np.ndarray:
    """Yahoo's dividend adjustment: before each ex-date, multiply by (1 - dividend / previous close)."""
    factor = np.ones(len(closes))
    for ex_date, amount in dividends.items():
        previous = full[full.index < ex_date]
        if previous.empty:
            continue
        factor *= np.where(closes.index < ex_date, 1.0 - amount / float(previous.iloc[-1]), 1.0)
    return closes.to_numpy(float) * factor


class LocalYahooSession(BoundedSession):
    """yfinance's session, redirected: every Yahoo host goes to the local fake (the host rides along)."""

    def __init__(self, port: int, max_timeout: float = 2.0):
        super().__init__(max_timeout)
        self.port = port
        self.sent: list[tuple[str, Any]] = []  # (original URL, timeout actually used)

    def request(self, method: Any, url: str, *args: Any, **kwargs: Any) -> Any:
        parts = urlsplit(url)
        local = urlunsplit(("http", f"127.0.0.1:{self.port}", parts.path or "/", parts.query, ""))
        headers = dict(kwargs.pop("headers", None) or {})
        headers["X-Fake-Host"] = parts.netloc
        self.sent.append((url, kwargs.get("timeout")))
        return super().request(method, local, *args, headers=headers, **kwargs)


def point_exchange_at(exchange: Any, base_url: str) -> Any:
    """Rewrite the host of every API URL of a ccxt exchange to the local fake (paths stay)."""
    api = exchange.urls["api"]
    for key, value in list(api.items()):
        if isinstance(value, str):
            parts = urlsplit(value)
            api[key] = base_url + parts.path
    return exchange
