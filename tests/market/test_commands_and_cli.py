"""/status, /assets add, `backfill` and `doctor`, and how services pick the market data."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import math

import pandas as pd
import pytest

from bot.alerts.kinds import DEFAULT_KINDS
from bot.alerts.reports import AlertStatus, EvaluatedSession
from bot.app import App
from bot.assets import find_asset
from bot.cli import build_parser
from bot.cli import main as cli_main
from bot.cli.market import doctor_report, run_doctor
from bot.config import SUPPORTED_EXCHANGES, ConfigError, MarketDataMode
from bot.market.backfill import backfill
from bot.market.cache import PriceCache
from bot.market.data import SnapshotMarketData
from bot.market.live import LiveMarketData
from bot.market.sources.crypto import QUOTE_CURRENCY
from bot.ports.services import Services
from handlers.commands import dispatch
from handlers.registry import ChatContext
from tests.helpers import make_services
from tests.market.conftest import TrimmedSnapshot, make_live, market_settings
from tests.market.fake_base import Failure
from tests.store.support import admin_check

ETH, RUT = find_asset("ETH"), find_asset("RUT")


def services_for(market, store=None, alerts=None, mode: str = "auto") -> Services:
    services = make_services(market_settings(market_data=mode), store=store, market=market)
    return services if alerts is None else services.replace(alerts=alerts)


def group(admin: bool) -> ChatContext:
    return ChatContext(platform="telegram", chat_id="-100777", user_id="55", chat_kind="group", title="Desk",
                       is_admin=admin_check(admin))


class FakeAlerts:
    async def status(self) -> AlertStatus:
        at = pd.Timestamp("2026-02-24 21:20", tz="UTC").to_pydatetime()
        return AlertStatus([EvaluatedSession("XNYS", pd.Timestamp("2026-02-24"), 2, 0, at)])


# ---------------------------------------------------------------------------------------------- /status


async def test_status_shows_source_last_bar_age_and_last_error_per_asset(fakes, live, store, clock):
    chat = await store.upsert_chat("telegram", "1001", "private")
    await store.subscribe(chat, "ETH", "NDX", window_days=90, kinds=DEFAULT_KINDS)
    fakes.binance.failure = Failure(status=429, body='{"code":-1003,"msg":"Too many requests."}')
    await live.refresh([ETH, RUT])
    reply = await dispatch(services_for(live, store, FakeAlerts()), "/status")
    lines = reply.text.splitlines()
    assert reply.ok and lines[0].startswith("Market data: live sources, falling back")
    assert ("ETH 1h [live]: coinbase, last bar 2026-02-25 11:00, age 0m, up to date; "
            "last error (2026-02-25 12:00 UTC): binance: rate limited (HTTP 429)") in lines
    assert "RUT 1d [live]: yahoo, last bar 2026-02-24, age 15h 0m, up to date" in lines
    assert "NDX 1d: nothing stored yet" in lines  # subscribed, not fetched yet
    assert any(line.startswith("BTC 1h: ") for line in lines)  # bundled
    assert lines[-2:] == [
        "Alerts: NYSE session 2026-02-24 evaluated (2 rule instances, 0 alerts) at 2026-02-24 21:20 UTC.",
        "Deliveries pending: 0.",
    ]
    symbols = [a["symbol"] for a in reply.data["assets"]]
    assert symbols[:3] == ["ETH", "RUT", "NDX"]


async def test_status_survives_a_failing_alert_engine():
    class BrokenAlerts:
        async def status(self) -> AlertStatus:
            raise RuntimeError("database gone")

    reply = await dispatch(services_for(SnapshotMarketData(), alerts=BrokenAlerts(), mode="snapshot"), "/status")
    assert reply.ok and reply.text.splitlines()[-1] == "Alerts: status unavailable (logged)."


async def test_status_in_snapshot_mode_names_the_bundled_data():
    reply = await dispatch(services_for(SnapshotMarketData(), mode="snapshot"), "/status")
    assert reply.text.splitlines()[0] == "Market data: the bundled snapshot only (no network) (MARKET_DATA=snapshot)."
    assert "RUT: snapshot, last daily bar 2026-02-20" in reply.text


# ---------------------------------------------------------------------------------------------- /assets add


async def test_a_crypto_asset_is_added_after_an_exchange_lists_it(fakes, store, sources, clock, settings):
    live = make_live(store, sources, clock, settings, budget_seconds=0.05)
    reply = await dispatch(services_for(live), "/assets add sol")
    assert reply.ok and reply.text.startswith("Added SOL (crypto, SOL/USDT).")
    assert find_asset("SOL").ccxt == "SOL/USDT"
    assert fakes.binance.count("/api/v3/exchangeInfo") == 1
    listing = await dispatch(services_for(live), "/assets")
    assert "  SOL: SOL (crypto, 24/7)" in listing.text
    # remembered: a new process registers it from the store at start-up
    from bot.assets import unregister_asset

    unregister_asset("SOL")
    assert find_asset("SOL") is None
    await make_live(store, sources, clock, settings).start()
    assert find_asset("SOL").is_crypto


async def test_a_stock_is_added_after_a_yahoo_test_fetch(fakes, live):
    fakes.yahoo.meta_overrides["TSLA"] = {"instrumentType": "EQUITY", "longName": "Tesla, Inc.\u0007"}
    reply = await dispatch(services_for(live), "/assets add TSLA")
    assert reply.ok, reply.text
    assert reply.text.startswith("Added TSLA: Tesla, Inc. (equity, Yahoo TSLA). Prices up to 2026-02-24 are in.")
    assert find_asset("TSLA").calendar == "XNYS"


@pytest.mark.parametrize(
    ("yahoo", "symbol", "kind"), [("^VIX", "VIX", "index"), ("BRK-B", "BRK.B", "equity")]
)
async def test_index_and_class_share_symbols_become_plain_tickers(fakes, live, yahoo, symbol, kind):
    fakes.yahoo.symbols[yahoo] = symbol
    reply = await dispatch(services_for(live), f"/assets add {yahoo.lower()}")
    assert reply.ok and reply.text.startswith(f"Added {symbol}: Fake {yahoo} ({kind}, Yahoo {yahoo}).")
    assert find_asset(yahoo) is find_asset(symbol) and find_asset(symbol).yahoo == yahoo
    corr = await dispatch(services_for(live), f"/beta 90d {symbol} SPY", want_chart=False)
    assert corr.ok and corr.data["sources"] == {symbol: "live", "SPY": "live"}


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("/assets add ../../etc", "is not a ticker"),
        ("/assets add ETH", "already known as ETH"),
        ("/assets add XBT", "already known as BTC"),
        ("/assets add SOL bond", "unknown kind"),
        ("/assets add", "Name one ticker"),
    ],
)
async def test_bad_tickers_never_reach_a_source(fakes, live, text, answer):
    reply = await dispatch(services_for(live), text)
    assert not reply.ok and answer in reply.text
    assert "eTH" not in reply.text and "bTC" not in reply.text
    assert all(fake.requests == [] for fake in fakes.all())


async def test_unknown_and_foreign_symbols_are_refused(fakes, live):
    reply = await dispatch(services_for(live), "/assets add NOPE")
    assert not reply.ok and "no market lists NOPE" in reply.text and "yahoo: unknown symbol" in reply.text
    fakes.yahoo.symbols["VOD.L"] = "VOD"
    fakes.yahoo.meta_overrides["VOD.L"] = {"instrumentType": "EQUITY", "exchangeTimezoneName": "Europe/London"}
    reply = await dispatch(services_for(live), "/assets add VOD.L stock")
    assert not reply.ok and "trades on Europe/London time" in reply.text
    assert find_asset("NOPE") is None and find_asset("VOD.L") is None


def dm(user: str) -> ChatContext:
    return ChatContext(platform="telegram", chat_id=user, user_id=user, chat_kind="private", title="dm")


@pytest.mark.parametrize("chat", [group(admin=True), group(admin=False), dm("55")], ids=["admin", "member", "dm"])
async def test_only_operators_add_tickers_on_any_platform(fakes, live, chat):
    reply = await dispatch(services_for(live), "/assets add SOL", chat)  # today: anyone in a DM, admins in groups
    assert not reply.ok and reply.text.splitlines()[0] == (
        "Only the bot's operators can add tickers (the list is every chat's): the command line (python -m bot "
        "ask), or a user listed in OPERATOR_IDS (you are telegram:55).")
    assert all(fake.requests == [] for fake in fakes.all()) and find_asset("SOL") is None
    listing = await dispatch(services_for(live), "/assets", chat)
    assert listing.ok
    discord = ChatContext(platform="discord", chat_id="9", user_id="55", chat_kind="private")
    services = make_services(market_settings(operator_ids="discord:55"), market=live)
    refused = await dispatch(services, "/assets add SOL", chat)  # discord:55 is not telegram:55
    assert not refused.ok and "OPERATOR_IDS" in refused.text
    added = await dispatch(services, "/assets add SOL", discord)
    assert added.ok and added.text.startswith("Added SOL")


async def test_the_ticker_list_is_capped(fakes, store, sources, clock, settings):
    live = make_live(store, sources, clock, settings, budget_seconds=0.05, max_custom_assets=1)
    assert (await dispatch(services_for(live), "/assets add SOL")).ok
    fakes.yahoo.meta_overrides["TSLA"] = {"instrumentType": "EQUITY", "longName": "Tesla"}
    full = await dispatch(services_for(live), "/assets add TSLA")  # today: no limit
    assert not full.ok and full.text.splitlines()[0] == (
        "Cannot add that ticker: the list of added tickers is full (1 of MAX_CUSTOM_ASSETS=1).")
    assert fakes.yahoo.count("TSLA") == 0 and find_asset("TSLA") is None  # no source was asked
    assert App(market_settings(max_custom_assets=7)).market.max_custom_assets == 7


async def test_operators_remove_added_tickers_that_nothing_watches(fakes, store, sources, clock, settings):
    live = make_live(store, sources, clock, settings, budget_seconds=0.05)
    assert (await dispatch(services_for(live, store), "/assets add SOL")).ok
    refused = await dispatch(services_for(live, store), "/assets remove SOL", dm("55"))  # today: unknown argument
    assert not refused.ok and refused.text.startswith("Only the bot's operators can remove tickers")
    built_in = await dispatch(services_for(live, store), "/assets remove ETH")
    assert not built_in.ok and "ETH is built in; only added tickers can be removed" in built_in.text
    chat = await store.upsert_chat("telegram", "77", "private")
    await store.subscribe(chat, "SOL", "SPY", window_days=90, kinds=DEFAULT_KINDS)
    watched = await dispatch(services_for(live, store), "/assets remove sol")
    assert not watched.ok and watched.text.startswith("SOL is watched by 1 subscription;")
    await store.unsubscribe(chat, "SOL", "SPY")
    removed = await dispatch(services_for(live, store), "/assets remove sol")
    assert removed.ok and removed.text == "Removed SOL: /assets add SOL brings it back."
    assert find_asset("SOL") is None
    await make_live(store, sources, clock, settings).start()  # a new process does not bring it back
    assert find_asset("SOL") is None
    again = await dispatch(services_for(live, store), "/assets remove SOL")
    assert not again.ok and "SOL is not a ticker anyone added" in again.text


async def test_adding_needs_live_data():
    reply = await dispatch(services_for(SnapshotMarketData(), mode="snapshot"), "/assets add SOL")
    assert not reply.ok and "needs live data" in reply.text


# ---------------------------------------------------------------------------------------------- CLI


def test_backfill_and_doctor_are_subcommands():
    args = build_parser().parse_args(["backfill", "--assets", "eth, rut", "--since", "2025-01-01"])
    assert (args.assets, args.since) == (["ETH", "RUT"], dt.date(2025, 1, 1))
    assert build_parser().parse_args(["doctor"]).handler is run_doctor
    with pytest.raises(SystemExit):
        build_parser().parse_args(["backfill", "--since", "yesterday"])


async def test_backfill_pages_from_since_with_progress_and_a_summary(fakes, store, sources, clock):
    out, progress = io.StringIO(), io.StringIO()
    cache = PriceCache(store.db)
    results = await backfill(cache, sources, [ETH, RUT], dt.date(2025, 11, 1), clock=clock,
                             bundled=TrimmedSnapshot(), out=out, progress_file=progress)
    assert all(r.ok for r in results)
    hourly_pages = [q for q in fakes.binance.price_requests() if q["interval"] == "1h"]
    served = len(fakes.book.hourly("ETH")["2025-11-01":clock.naive])
    assert len(hourly_pages) == math.ceil(served / 1000) == 3
    assert pd.Timestamp(int(hourly_pages[0]["startTime"]), unit="ms") == pd.Timestamp("2025-11-01")
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("ETH 1d: ") and "new bars from binance" in lines[0]
    assert "ETH 1h" in progress.getvalue() and "bars" in progress.getvalue()
    report = await doctor_report(cache, [ETH, RUT], clock())
    assert "ETH 1h: binance, last bar 2026-02-25 11:00, age 0m, up to date" in report
    assert "RUT 1d: yahoo, last bar 2026-02-24" in report


async def test_doctor_runs_from_the_command_line(store, capsys, monkeypatch):
    await PriceCache(store.db).record_error("RUT", "1d", "yahoo: rate limited by Yahoo (HTTP 429)")
    monkeypatch.setenv("DATABASE_URL", str(store.engine.url).replace("+aiosqlite", ""))
    monkeypatch.setattr("bot.telemetry.logs.setup_logging", lambda settings: None)
    code = await asyncio.to_thread(cli_main, ["doctor", "--assets", "RUT"])
    printed = capsys.readouterr().out
    assert code == 0 and "RUT 1d: nothing stored yet; last error" in printed and "HTTP 429" in printed


# ---------------------------------------------------------------------------------------------- wiring


async def test_the_composition_root_picks_the_market_data_by_mode(store):
    snapshot = App(market_settings(market_data="snapshot"), store=store).market
    assert isinstance(snapshot, SnapshotMarketData) and snapshot.now() is None
    for mode in ("auto", "live"):
        app = App(market_settings(market_data=mode), store=store)
        live = app.market
        assert isinstance(live, LiveMarketData) and live.mode is MarketDataMode(mode)
        assert live.cache.db is store.db  # the price cache shares the store's database
        assert [s.name for s in live.sources.crypto] == ["binance", "coinbase", "kraken"]
        await live.close()


def test_exchanges_setting():
    assert market_settings(exchanges="Kraken, coinbase").exchanges == ["kraken", "coinbase"]
    with pytest.raises(ConfigError, match=r"Invalid setting EXCHANGES: .*unknown exchange 'ftx'"):
        market_settings(exchanges="binance,ftx")
    with pytest.raises(ConfigError, match="EXCHANGES"):
        market_settings(exchanges="binance,binance")
    assert set(SUPPORTED_EXCHANGES) == set(QUOTE_CURRENCY)
