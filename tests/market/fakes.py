"""Local fakes of Binance, Coinbase, Kraken and Yahoo for the real ccxt and yfinance code paths.

Each fake is an aiohttp app on 127.0.0.1 (port 0) that answers in the documented format of the real API,
serves prices from a shared `PriceBook`, logs every request, and can be told to fail (`Failure`).
The book is the bundled snapshot where it has data, continued (and, for symbols it lacks, replaced) by a
seeded random walk — plausible bars for any range. Nothing here touches a host other than 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import pandas as pd
from aiohttp import web

from bot.market import calendars, snapshot
from bot.market.sources.yahoo import BoundedSession

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


# ---- Binance ---------------------------------------------------------------------------------------


class FakeBinance(FakeServer):
    name = "binance"
    price_paths = ("/api/v3/klines",)
    listed = ("ETH", "BTC", "SOL")
    price_factor = 1.0
    recorded: list[list] | None = None  # klines served verbatim (a recorded answer) instead of the book

    async def route(self, request: web.Request, query: dict[str, str]) -> web.StreamResponse:
        if request.path == "/api/v3/exchangeInfo":
            return json_response({"timezone": "UTC", "serverTime": int(self.clock.now.value // 10**6),
                                  "rateLimits": [], "exchangeFilters": [],
                                  "symbols": [_binance_market(base) for base in self.listed]})
        if request.path == "/api/v3/klines":
            return json_response(self.recorded) if self.recorded is not None else self._klines(query)
        return json_response({"code": -1100, "msg": "unknown path"}, status=404)

    def _klines(self, query: dict[str, str]) -> web.Response:
        symbol = query["symbol"]
        base = symbol.removesuffix("USDT")
        if base not in self.listed or not symbol.endswith("USDT"):
            return json_response({"code": -1121, "msg": "Invalid symbol."}, status=400)
        interval = query["interval"]
        step = HOUR if interval == "1h" else DAY
        series = self.book.hourly(base) if interval == "1h" else self.book.daily(base, crypto=True)
        start = pd.Timestamp(int(query.get("startTime", 0)), unit="ms")
        limit = min(int(query.get("limit", 500)), 1000)
        now = self.clock.naive
        chosen = series[(series.index >= start) & (series.index <= now)]
        if "endTime" in query:
            chosen = chosen[chosen.index <= pd.Timestamp(int(query["endTime"]), unit="ms")]
        chosen = chosen.iloc[:limit]
        return json_response(binance_rows(chosen * self.price_factor, step, series))


def binance_rows(closes: pd.Series, step: pd.Timedelta, full: pd.Series) -> list[list]:
    """Klines as Binance sends them: 12 fields, prices and volumes as strings, close time = open + step − 1 ms."""
    previous = full.shift(1).reindex(closes.index).fillna(closes).to_numpy(float)
    opens_ms = (closes.index.as_unit("ms").asi8).tolist()
    step_ms = int(step / pd.Timedelta(milliseconds=1))
    rows = []
    for open_ms, close, prev in zip(opens_ms, closes.to_numpy(float).tolist(), previous.tolist(), strict=True):
        o, h, low, c = _ohlc(close, prev)
        rows.append([open_ms, f"{o:.8f}", f"{h:.8f}", f"{low:.8f}", f"{c:.8f}", "123.45600000", open_ms + step_ms - 1,
                     f"{123.456 * c:.8f}", 1000, "61.72800000", f"{61.728 * c:.8f}", "0"])
    return rows


def _binance_market(base: str) -> dict[str, Any]:
    return {
        "symbol": f"{base}USDT", "status": "TRADING", "baseAsset": base, "baseAssetPrecision": 8,
        "quoteAsset": "USDT", "quotePrecision": 8, "quoteAssetPrecision": 8, "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8, "orderTypes": ["LIMIT", "MARKET"], "icebergAllowed": True,
        "ocoAllowed": True, "quoteOrderQtyMarketAllowed": True, "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": "0.01000000", "maxPrice": "1000000.00000000",
             "tickSize": "0.01000000"},
            {"filterType": "LOT_SIZE", "minQty": "0.00010000", "maxQty": "9000.00000000", "stepSize": "0.00010000"},
        ],
        "permissions": [], "permissionSets": [["SPOT"]], "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_MAKER"],
    }


# ---- Coinbase (Advanced Trade public API) ------------------------------------------------------------


class FakeCoinbase(FakeServer):
    name = "coinbase"
    price_paths = ("/candles",)
    listed = ("ETH", "BTC", "SOL")
    price_factor = 1.0003  # USD, not USDT

    async def route(self, request: web.Request, query: dict[str, str]) -> web.StreamResponse:
        path = request.path
        if path == "/v2/currencies":
            return json_response({"data": [{"id": "USD", "name": "US Dollar", "min_size": "0.01"}]})
        if path == "/v2/currencies/crypto":
            return json_response({"data": [
                {"asset_id": f"id-{b}", "code": b, "name": b, "color": "#000000", "sort_index": "1", "exponent": "8",
                 "type": "crypto", "address_regex": "^.+$"} for b in self.listed]})
        if path == "/v2/exchange-rates":
            return json_response({"data": {"currency": "USD", "rates": {b: "1" for b in ("USD", *self.listed)}}})
        if path == "/api/v3/brokerage/market/products":
            if query.get("product_type") == "FUTURE":
                return json_response({"products": [], "num_products": 0})
            return json_response({"products": [_coinbase_product(b) for b in self.listed],
                                  "num_products": len(self.listed)})
        if path.startswith("/api/v3/brokerage/market/products/") and path.endswith("/candles"):
            return self._candles(path.split("/")[-2], query)
        return json_response({"error": "NOT_FOUND", "message": "unknown path"}, status=404)

    def _candles(self, product_id: str, query: dict[str, str]) -> web.Response:
        base, _, quote = product_id.partition("-")
        if base not in self.listed or quote != "USD":
            return json_response({"error": "NOT_FOUND", "message": "ProductID is invalid"}, status=404)
        granularity = query["granularity"]
        step = HOUR if granularity == "ONE_HOUR" else DAY
        start = pd.Timestamp(int(query["start"]), unit="s")
        end = pd.Timestamp(int(query["end"]), unit="s")
        if (end - start) / step > 350:
            return json_response({"error": "INVALID_ARGUMENT",
                                  "message": "number of candles requested should be less than 350"}, status=400)
        series = self.book.hourly(base) if step == HOUR else self.book.daily(base, crypto=True)
        chosen = series[(series.index >= start) & (series.index < end) & (series.index <= self.clock.naive)]
        candles = []
        for ts, close in chosen.iloc[::-1].items():  # newest first, like Coinbase
            o, h, low, c = _ohlc(float(close) * self.price_factor, float(close) * self.price_factor)
            candles.append({"start": str(int(ts.value // 10**9)), "low": f"{low:.2f}", "high": f"{h:.2f}",
                            "open": f"{o:.2f}", "close": f"{c:.2f}", "volume": "10.5"})
        return json_response({"candles": candles})

    def empty_answer(self, request: web.Request) -> web.StreamResponse:
        return json_response({"candles": []})


def _coinbase_product(base: str) -> dict[str, Any]:
    return {
        "product_id": f"{base}-USD", "price": "100", "price_percentage_change_24h": "0", "volume_24h": "1",
        "volume_percentage_change_24h": "0", "base_increment": "0.00000001", "quote_increment": "0.01",
        "quote_min_size": "1", "quote_max_size": "150000000", "base_min_size": "0.00000001",
        "base_max_size": "3400", "base_name": base, "quote_name": "US Dollar", "watched": False,
        "is_disabled": False, "new": False, "status": "online", "cancel_only": False, "limit_only": False,
        "post_only": False, "trading_disabled": False, "auction_mode": False, "product_type": "SPOT",
        "quote_currency_id": "USD", "base_currency_id": base, "fcm_trading_session_details": None,
        "mid_market_price": "", "alias": "", "alias_to": [], "base_display_symbol": base,
        "quote_display_symbol": "USD", "view_only": False, "price_increment": "0.01",
        "display_name": f"{base}-USD", "product_venue": "CBE",
    }


# ---- Kraken ------------------------------------------------------------------------------------------


KRAKEN_ASSETS = {"ETH": "XETH", "BTC": "XXBT", "SOL": "SOL", "USD": "ZUSD"}
KRAKEN_ALTNAMES = {"XETH": "ETH", "XXBT": "XBT", "SOL": "SOL", "ZUSD": "USD"}


class FakeKraken(FakeServer):
    name = "kraken"
    price_paths = ("/0/public/OHLC",)
    listed = ("ETH", "BTC", "SOL")
    price_factor = 0.9998
    window = 720  # Kraken serves only its latest 720 candles

    def pair_id(self, base: str) -> str:
        asset = KRAKEN_ASSETS[base]
        return f"{asset}ZUSD" if asset.startswith("X") else f"{asset}USD"

    async def route(self, request: web.Request, query: dict[str, str]) -> web.StreamResponse:
        if request.path == "/0/public/Assets":
            return json_response({"error": [], "result": {
                kid: {"aclass": "currency", "altname": alt, "decimals": 10, "display_decimals": 5,
                      "collateral_value": 1.0, "status": "enabled"} for kid, alt in KRAKEN_ALTNAMES.items()}})
        if request.path == "/0/public/AssetPairs":
            return json_response({"error": [], "result": {self.pair_id(b): self._pair(b) for b in self.listed}})
        if request.path == "/0/public/OHLC":
            return self._ohlc(query)
        return json_response({"error": ["EGeneral:Unknown method"]}, status=404)

    def _pair(self, base: str) -> dict[str, Any]:
        altbase = KRAKEN_ALTNAMES[KRAKEN_ASSETS[base]]
        return {
            "altname": f"{altbase}USD", "wsname": f"{altbase}/USD", "aclass_base": "currency",
            "base": KRAKEN_ASSETS[base], "aclass_quote": "currency", "quote": "ZUSD", "lot": "unit",
            "cost_decimals": 5, "pair_decimals": 2, "lot_decimals": 8, "lot_multiplier": 1, "leverage_buy": [],
            "leverage_sell": [], "fees": [[0, 0.26]], "fees_maker": [[0, 0.16]], "fee_volume_currency": "ZUSD",
            "margin_call": 80, "margin_stop": 40, "ordermin": "0.002", "costmin": "0.5", "tick_size": "0.01",
            "status": "online",
        }

    def _ohlc(self, query: dict[str, str]) -> web.Response:
        pair = query["pair"]
        bases = [b for b in self.listed if self.pair_id(b) == pair]
        if not bases:
            return json_response({"error": ["EQuery:Unknown asset pair"], "result": {}})
        minutes = int(query.get("interval", 1))
        step = HOUR if minutes == 60 else DAY
        series = self.book.hourly(bases[0]) if step == HOUR else self.book.daily(bases[0], crypto=True)
        visible = series[series.index <= self.clock.naive].iloc[-self.window:]
        if "since" in query:
            visible = visible[visible.index > pd.Timestamp(int(query["since"]), unit="s")]
        rows = []
        for ts, close in visible.items():
            c = float(close) * self.price_factor
            o, h, low, c = _ohlc(c, c)
            rows.append([int(ts.value // 10**9), f"{o:.2f}", f"{h:.2f}", f"{low:.2f}", f"{c:.2f}", f"{c:.2f}",
                         "12.5", 42])
        last = rows[-1][0] if rows else 0
        return json_response({"error": [], "result": {pair: rows, "last": last}})

    def empty_answer(self, request: web.Request) -> web.StreamResponse:
        return json_response({"error": [], "result": {request.query.get("pair", "X"): [], "last": 0}})


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


@dataclass
class Fakes:
    book: PriceBook
    clock: TestClock
    binance: FakeBinance
    coinbase: FakeCoinbase
    kraken: FakeKraken
    yahoo: FakeYahoo

    @property
    def exchanges(self) -> dict[str, FakeServer]:
        return {"binance": self.binance, "coinbase": self.coinbase, "kraken": self.kraken}

    def all(self) -> list[FakeServer]:
        return [self.binance, self.coinbase, self.kraken, self.yahoo]

    def clear(self) -> None:
        for fake in self.all():
            fake.requests.clear()

    def price_request_counts(self) -> dict[str, int]:
        return {fake.name: len(fake.price_requests()) for fake in self.all()}


async def start_fakes(clock: TestClock, book: PriceBook | None = None) -> Fakes:
    book = book or PriceBook()
    servers = [FakeBinance(book, clock), FakeCoinbase(book, clock), FakeKraken(book, clock), FakeYahoo(book, clock)]
    await asyncio.gather(*(s.start() for s in servers))
    return Fakes(book, clock, *servers)  # type: ignore[arg-type]


async def stop_fakes(fakes: Fakes) -> None:
    await asyncio.gather(*(s.stop() for s in fakes.all()))

