"""yfinance against a local fake of Yahoo's chart API: recorded answers, adjustment, and errors."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pandas as pd
import pytest
from curl_cffi import requests as curl_requests

from bot.assets import Asset, AssetKind, find_asset
from bot.market.sources import Scope, SourceError
from bot.market.sources.yahoo import BoundedSession, YahooSource
from tests.market.fake_base import Failure, fixture_text
from tests.market.fake_yahoo import LocalYahooSession

RUT = find_asset("RUT")


def stock(symbol: str) -> Asset:
    return Asset(symbol, symbol, AssetKind.EQUITY, "NYSE", "XNYS", yahoo=symbol)


def chart(name: str) -> dict:
    return json.loads(fixture_text(name))["chart"]["result"][0]


@pytest.fixture
def yahoo(fakes):
    session = LocalYahooSession(fakes.yahoo.port, max_timeout=2.0)
    return YahooSource(2.0, session)


async def test_closes_are_adjusted_the_same_way_every_time(fakes, yahoo):
    fakes.yahoo.fixtures["QQQ"] = fixture_text("body_chart-QQQ-2020-01-01-to-2020-01-03.json")
    fetched = await yahoo.fetch(find_asset("QQQ"), "1d", pd.Timestamp("2020-01-01"), pd.Timestamp("2020-01-03"))
    # auto_adjust=True: Yahoo's adjclose (209.638), not the raw close (216.16)
    assert fetched.bars.to_dict() == {pd.Timestamp("2020-01-02"): pytest.approx(209.6380615234375)}
    assert fetched.adjustment_events == ()


async def test_splits_and_dividends_in_the_answer_are_reported(fakes, yahoo):
    fakes.yahoo.fixtures["AAPL"] = fixture_text("body_chart-AAPL-2020-08-31-to-2020-11-07.json")
    fetched = await yahoo.fetch(stock("AAPL"), "1d", pd.Timestamp("2020-08-31"), pd.Timestamp("2020-11-08"))
    recorded = chart("body_chart-AAPL-2020-08-31-to-2020-11-07.json")
    assert len(fetched.bars) == 49
    assert fetched.bars.to_numpy() == pytest.approx(recorded["indicators"]["adjclose"][0]["adjclose"])
    assert fetched.adjustment_events == (pd.Timestamp("2020-08-31"), pd.Timestamp("2020-11-06"))  # 4:1, $0.205


async def test_a_year_of_dividends(fakes, yahoo):
    name = "body_chart-MSFT-dividends-2021-02-01-to-2022-01-31.json"
    fakes.yahoo.fixtures["MSFT"] = fixture_text(name)
    fetched = await yahoo.fetch(stock("MSFT"), "1d", pd.Timestamp("2021-02-01"), pd.Timestamp("2022-02-01"))
    assert len(fetched.bars) == 252 and len(fetched.adjustment_events) == 4
    assert fetched.bars.to_numpy() == pytest.approx(chart(name)["indicators"]["adjclose"][0]["adjclose"])


async def test_every_yahoo_host_goes_through_our_session(fakes, yahoo, clock):
    await yahoo.fetch(RUT, "1d", pd.Timestamp("2026-02-20"), clock.naive)
    hosts = {url.split("/")[2] for url, _ in yahoo.session.sent}
    assert hosts == {"fc.yahoo.com", "query1.finance.yahoo.com", "query2.finance.yahoo.com"}
    assert 30 in [timeout for _, timeout in yahoo.session.sent]  # yfinance's cookie/crumb wait: capped below
    assert len(fakes.yahoo.history_requests("^RUT")) == 1


def test_the_session_caps_every_timeout(monkeypatch):
    seen = []

    def request(self, method, url, *args, **kwargs):
        seen.append(kwargs.get("timeout"))
        return SimpleNamespace(status_code=200)

    monkeypatch.setattr(curl_requests.Session, "request", request)
    session = BoundedSession(2.0)
    for timeout in (30, (30, 1), None, 1):
        session.request("GET", "https://fc.yahoo.com", **({} if timeout is None else {"timeout": timeout}))
    assert seen == [2.0, (2.0, 1.0), 2.0, 1.0]


@pytest.mark.parametrize(
    ("failure", "reason", "scope"),
    [
        (Failure(status=429, body="Too Many Requests"), "rate limited by Yahoo (HTTP 429)", Scope.SOURCE),
        (Failure(status=503, body="Service Unavailable"), "Yahoo answered HTTP 503", Scope.SOURCE),
        (Failure(html=True), "not JSON", Scope.SOURCE),
        (Failure(empty=True), "no prices", Scope.SERIES),
        (Failure(delay=2.0), "timed out", Scope.SOURCE),
    ],
    ids=["429", "503", "html-200", "empty", "timeout"],
)
async def test_yahoo_failures_become_short_reasons(fakes, clock, failure, reason, scope):
    fakes.yahoo.failure = failure
    yahoo = YahooSource(0.5, LocalYahooSession(fakes.yahoo.port, max_timeout=0.5))
    with pytest.raises(SourceError) as caught:
        await yahoo.fetch(RUT, "1d", pd.Timestamp("2026-02-20"), clock.naive)
    assert reason in caught.value.reason and caught.value.scope is scope


async def test_an_unknown_symbol_is_the_symbols_problem_not_yahoos(fakes, yahoo, clock):
    with pytest.raises(SourceError) as caught:
        await yahoo.fetch(stock("NOPE"), "1d", pd.Timestamp("2026-02-20"), clock.naive)
    assert caught.value.scope is Scope.SERIES and "unknown symbol" in caught.value.reason
