"""Local fakes of Binance, Coinbase and Kraken for ccxt's real code paths, in each API's documented format."""

from __future__ import annotations

from typing import Any

import pandas as pd
from aiohttp import web

from tests.market.fake_base import DAY, HOUR, FakeServer, _ohlc, json_response

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
