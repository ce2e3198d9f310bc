"""Daily closes of equities, ETFs and indices through yfinance (Yahoo's v8 chart API).

Closes are `auto_adjust=True` — adjusted for dividends and splits, like the bundled snapshot — every
time. An adjusted history changes as a whole when a dividend or split happens, so an answer that contains
one reports it (`Fetched.adjustment_events`) and the cache rescales what it stored before it.

yfinance is blocking: it runs in a worker thread, one call at a time (its session and crumb are process
globals). It gets its own curl_cffi session whose timeouts are capped (yfinance asks for 30 s on its
cookie and crumb requests), and its errors are raised, not logged and turned into an empty frame.
"""

from __future__ import annotations

import asyncio
import json
import threading
import warnings
from typing import Any

import pandas as pd
import yfinance as yf
from curl_cffi import requests as curl_requests
from curl_cffi.requests import exceptions as curl_errors
from yfinance import exceptions as yf_errors

from bot.assets import Asset
from bot.market.sources.base import DAILY, Fetched, Progress, Scope, SourceError, bars_from

# yfinance 1.7 calls DataFrame.rename(inplace=True), which pandas 3.1 deprecates; not ours to fix.
warnings.filterwarnings("ignore", message=".*inplace keyword.*", module="yfinance")

ADJUSTED = True  # auto_adjust: the one adjustment setting used for every Yahoo request
# What `probe` reports of Yahoo's description (other keys load lazily, with more requests).
META_KEYS = ("instrumentType", "exchangeTimezoneName", "longName", "shortName", "currency")


class BoundedSession(curl_requests.Session):
    """A browser-like curl_cffi session whose requests never wait longer than `max_timeout` seconds."""

    def __init__(self, max_timeout: float, **kwargs: Any):
        kwargs.setdefault("impersonate", "chrome")
        super().__init__(**kwargs)
        self.max_timeout = max_timeout
        self.last_status: int | None = None  # of the latest answer: yfinance does not always say

    def request(self, method: Any, url: str, *args: Any, **kwargs: Any) -> Any:
        timeout = kwargs.get("timeout")
        if isinstance(timeout, int | float):
            kwargs["timeout"] = min(float(timeout), self.max_timeout)
        elif isinstance(timeout, tuple):
            kwargs["timeout"] = tuple(min(float(t), self.max_timeout) for t in timeout)
        else:
            kwargs["timeout"] = self.max_timeout
        response = super().request(method, url, *args, **kwargs)
        self.last_status = response.status_code
        return response


def describe_error(exc: Exception, timeout_seconds: float, status: int | None = None) -> tuple[str, Scope]:
    """A short reason, and whether Yahoo (SOURCE) or this symbol (SERIES) is the problem. `status` is the
    HTTP status of the latest answer, which yfinance's own exceptions do not always carry."""
    if isinstance(exc, yf_errors.YFRateLimitError) or status == 429:
        return "rate limited by Yahoo (HTTP 429)", Scope.SOURCE
    if isinstance(exc, yf_errors.YFTickerMissingError):
        return f"no prices ({exc.rationale})", Scope.SERIES
    if isinstance(exc, curl_errors.Timeout):
        return f"timed out after {timeout_seconds:g} s", Scope.SOURCE
    if status == 404:
        return "unknown symbol (HTTP 404)", Scope.SERIES
    if status is not None and status >= 400:
        return f"Yahoo answered HTTP {status}", Scope.SOURCE
    if isinstance(exc, curl_errors.RequestException):
        return f"network error ({type(exc).__name__})", Scope.SOURCE
    if isinstance(exc, json.JSONDecodeError | curl_errors.JSONDecodeError):
        return "answer was not JSON (an HTML error page?)", Scope.SOURCE
    if isinstance(exc, yf_errors.YFException):
        return f"Yahoo error ({str(exc)[:120]})", Scope.SOURCE
    return f"unexpected error ({type(exc).__name__})", Scope.SOURCE


class YahooSource:
    name = "yahoo"
    adjusted = ADJUSTED

    def __init__(self, timeout_seconds: float, session: curl_requests.Session | None = None):
        self.timeout_seconds = timeout_seconds
        self.session = session if session is not None else BoundedSession(timeout_seconds)
        self._one_at_a_time = threading.Lock()
        yf.config.debug.hide_exceptions = False  # raise errors instead of logging them and returning nothing

    def __repr__(self) -> str:
        return "YahooSource()"

    def supports(self, asset: Asset, interval: str) -> bool:
        return asset.yahoo is not None and interval == DAILY and not asset.is_crypto

    async def fetch(
        self, asset: Asset, interval: str, since: pd.Timestamp, until: pd.Timestamp, progress: Progress | None = None
    ) -> Fetched:
        if not self.supports(asset, interval) or asset.yahoo is None:
            raise SourceError(self.name, f"no {interval} prices for {asset.symbol}", scope=Scope.SERIES)
        frame, _ = await asyncio.to_thread(self._history, asset.yahoo, {"start": f"{since:%Y-%m-%d}"})
        if progress is not None:
            progress(len(frame))
        return _fetched(frame, self.name, asset.yahoo)

    async def probe(self, yahoo_symbol: str) -> tuple[pd.DataFrame, dict[str, Any]]:
        """A month of daily bars and Yahoo's description of the symbol: is it a real, priced symbol?"""
        return await asyncio.to_thread(self._history, yahoo_symbol, {"period": "1mo"})

    def _history(self, yahoo_symbol: str, when: dict[str, str]) -> tuple[pd.DataFrame, dict[str, Any]]:
        with self._one_at_a_time:
            if isinstance(self.session, BoundedSession):
                self.session.last_status = None
            ticker = yf.Ticker(yahoo_symbol, session=self.session)
            try:
                frame = ticker.history(
                    interval="1d", auto_adjust=ADJUSTED, actions=True, timeout=self.timeout_seconds, **when
                )
            except Exception as exc:
                status = getattr(self.session, "last_status", None)
                reason, scope = describe_error(exc, self.timeout_seconds, status)
                raise SourceError(self.name, reason, scope=scope) from exc
            meta = ticker.history_metadata or {}
            return frame, {key: meta.get(key) for key in META_KEYS}

    async def close(self) -> None:
        await asyncio.to_thread(self.session.close)


def _fetched(frame: pd.DataFrame, source: str, yahoo_symbol: str) -> Fetched:
    if frame is None or frame.empty or "Close" not in frame:
        raise SourceError(source, f"empty answer for {yahoo_symbol} (no daily bars)", scope=Scope.SERIES)
    # Daily rows are dated at local midnight in the exchange's time zone: that date is the session.
    index = pd.DatetimeIndex(frame.index)
    dates = (index.tz_localize(None) if index.tz is not None else index).normalize()
    bars = bars_from(dates, frame["Close"].to_numpy())
    events = pd.Series(False, index=frame.index)
    for column in ("Dividends", "Stock Splits"):
        if column in frame:
            events |= frame[column].fillna(0).to_numpy() != 0
    return Fetched(bars, tuple(pd.DatetimeIndex(dates[events.to_numpy(bool)]).unique()))
