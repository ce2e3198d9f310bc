"""The command layer end to end on the bundled snapshot: replies, fields, and bad input."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.config import load_settings
from bot.ports.reply import Reply
from handlers.registry import COMMANDS, ChatContext
from tests.helpers import ask, make_services


async def test_corr_reference_value(services):
    reply = await ask(services, "/corr 90d ETH RUT", as_of=dt.date(2025, 6, 30))
    assert reply.ok
    d = reply.data
    assert (d["command"], d["asset"], d["benchmark"], d["window"]) == ("corr", "ETH", "RUT", "90d")
    assert d["as_of"] == "2025-06-30" and d["n_obs"] == 61
    assert d["correlation"] == pytest.approx(0.56, abs=0.005)
    assert d["ci95"][0] < d["correlation"] < d["ci95"][1]
    assert d["alignment"] == "sync-close" and d["source"] == "snapshot" and d["stale"] is False
    assert d["sources"] == {"ETH": "snapshot", "RUT": "snapshot"}
    # the reply says window, n_obs, as-of, alignment and source in words
    for needle in ("90-day correlation 0.56", "61 daily returns", "as of 2025-06-30", "sync-close", "snapshot"):
        assert needle in reply.text


async def test_corr_defaults_and_buttons(services):
    reply = await ask(services, "/corr")
    assert reply.ok and reply.data["window"] == "90d" and reply.data["as_of"] == "2026-01-16"
    commands = [b.command for row in reply.buttons for b in row]
    assert commands == ["/corr 30d ETH RUT", "/corr 90d ETH RUT", "/corr 1y ETH RUT", "/corr 90d RUT ETH"]


async def test_corr_with_chart(services):
    reply = await ask(services, "/corr 1y BTC SPY", want_chart=True)
    assert reply.ok and reply.chart is not None and reply.chart.startswith(b"\x89PNG")
    assert reply.chart_name == "BTC-SPY-1y-20260116.png"


async def test_as_of_before_data_and_after_data(services):
    early = await ask(services, "/corr 90d", as_of=dt.date(2010, 1, 4))
    assert not early.ok and "before" in early.text
    late = await ask(services, "/corr 90d", as_of=dt.date(2026, 6, 1))
    # snapshot mode: the bundled data just ends there (docs/methods.md §1.7); the answer is still not for that date
    assert late.ok and late.data["stale"] is True
    assert late.text.startswith("The bundled data ends on 2026-01-16: numbers below are as of that day, "
                                "not 2026-06-01.")


async def test_too_few_observations(services):
    reply = await ask(services, "/corr 30d", as_of=dt.date(2017, 9, 1))
    assert not reply.ok and "observations" in reply.text and "at least 15" in reply.text


async def test_crypto_pair_and_equity_pair(services):
    crypto = await ask(services, "/corr 1y BTC ETH")
    assert crypto.ok and crypto.data["alignment"] == "daily-close" and crypto.data["as_of"] == "2026-01-18"
    equity = await ask(services, "/corr 1y SPY QQQ")
    assert equity.ok and equity.data["correlation"] > 0.8 and equity.data["as_of"] == "2026-02-20"


async def test_asset_without_bundled_history(services):
    reply = await ask(services, "/corr 90d ETH SPX")
    assert not reply.ok and "no bundled history" in reply.text


async def test_other_commands(services):
    beta = await ask(services, "/beta 1y BTC")
    assert beta.ok and "beta" in beta.text and beta.data["beta"] is not None
    div = await ask(services, "/div")
    assert div.ok and "Divergence z" in div.text and "standard deviations" in div.text
    regime = await ask(services, "/regime BTC SPY")
    assert regime.ok and [r["window"] for r in regime.data["regimes"]] == ["30d", "90d", "1y"]
    assets = await ask(services, "/assets")
    assert assets.ok and "R2K" in assets.text
    report = await ask(services, "/report")
    assert report.ok and len(report.data["report"]) == 3
    chart = await ask(services, "/chart 1y", want_chart=True)
    assert chart.ok and chart.chart is not None


async def test_help_and_start_are_generated_from_the_table(services):
    help_reply = await ask(services, "/help")
    for name in COMMANDS:
        assert f"/{name}" in help_reply.text
    detail = await ask(services, "/help corr")
    assert COMMANDS["corr"].usage in detail.text
    start = await ask(services, "/start")
    assert start.ok and "/corr" in start.text and start.buttons


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("/corr 90x", "not a window"),
        ("/corr 5d", "too short"),
        ("/corr 14d", "too short"),
        ("/corr 99999d", "too long"),
        ("/corr -5d", "negative"),
        ("/corr 90d FOO", "Unknown ticker 'FOO'"),
        ("/corr ETH ETH", "against itself"),
        ("/corr 90d ETH RUT SPY", "Too many words"),
        ("/corr " + "x" * 4000, "too long for a command"),
        ("", "Empty message"),
        ("   ", "Empty message"),
        ("/nope", "Unknown command /nope"),
        ("/corrr", "Did you mean /corr?"),
        ("/regime 90d", "takes no window"),
        ("/help nope", "No command /nope"),
    ],
)
async def test_bad_input_gets_a_reason_and_usage(services, text, needle):
    reply = await ask(services, text)
    assert not reply.ok
    assert needle in reply.text
    assert "Traceback" not in reply.text and len(reply.text) < 400


async def test_addressed_commands(services):
    mine = await ask(services, "/corr@DecouplerBot 90d", bot_username="decouplerbot")
    assert mine.ok
    other = await ask(services, "/corr@SomeOtherBot 90d", bot_username="decouplerbot")
    assert not other.ok and other.text == ""


# Every command that changes a chat's settings: in a group, only its admins may run it.
SETTINGS_COMMANDS = {"subscribe", "unsubscribe", "set", "quiet", "tz", "digest"}


async def test_admin_only_commands_refuse_non_admins_in_groups(services):
    admin_only = {c.name for c in COMMANDS.values() if c.admin_only}
    assert admin_only >= SETTINGS_COMMANDS

    async def no() -> bool:
        return False

    async def yes() -> bool:
        return True

    group = ChatContext(platform="telegram", chat_id="-100", chat_kind="group", is_admin=no)
    for name in sorted(admin_only):
        reply = await ask(services, f"/{name}", chat=group)
        assert not reply.ok and reply.text == f"Only chat admins can change settings here (/{name})."
    # an admin gets past the check, and so does anyone in a private chat (no settings change: /tz alone shows it)
    admin = ChatContext(platform="telegram", chat_id="-100", chat_kind="group", is_admin=yes)
    private = ChatContext(platform="telegram", chat_id="7", chat_kind="private", is_admin=no)
    for chat in (admin, private):
        reply = await ask(services, "/tz", chat=chat)
        assert reply.ok and reply.text.startswith("This chat's time zone is UTC.")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=400))
async def test_any_text_gets_a_reply(services, text):
    reply = await ask(services, text)
    assert isinstance(reply, Reply)
    assert reply.text or reply.data.get("error")
    assert "Traceback" not in reply.text


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(["90d", "1y", "30d", "5d", "ETH", "BTC", "RUT", "SPY", "x", "-1d", "ETH:RUT",
                                 "/", ":", "9999999999d", "0d", "１２d"]), max_size=5),
       st.sampled_from(["corr", "beta", "div", "regime", "chart", "report"]))
async def test_command_grammar_never_crashes(services, words, name):
    reply = await ask(services, " ".join([f"/{name}", *words]))
    assert reply.text
    assert "Something went wrong" not in reply.text


def _services_at(clock: str):
    import pandas as pd

    from bot.config import MarketDataMode
    from bot.market.data import SnapshotMarketData

    market = SnapshotMarketData(MarketDataMode.AUTO, clock=pd.Timestamp(clock, tz="UTC"))
    return make_services(load_settings(market_data="auto", database_url="sqlite://"), market=market)


async def test_auto_mode_judges_the_snapshot_by_the_clock():
    reply = await ask(_services_at("2026-11-24 12:00"), "/corr 90d")
    assert reply.ok and reply.data["stale"] is True
    assert reply.text.startswith("⚠️ Stale data: ETH data ends 2026-01-18")
    assert "2026-11-23" in reply.text.splitlines()[0]  # the last completed NYSE session by that clock


async def test_fresh_when_the_clock_is_the_snapshot_end():
    # Saturday 2026-01-17 01:00 UTC: the last NYSE session (Fri 16th) and the last full UTC day (16th) are in
    reply = await ask(_services_at("2026-01-17 01:00"), "/corr 90d")
    assert reply.ok and reply.data["stale"] is False and not reply.text.startswith("⚠️")
    # a few days later, with no new data, the crypto leg is behind
    later = await ask(_services_at("2026-01-21 12:00"), "/corr 90d")
    assert later.data["stale"] is True and "ETH" in later.data["stale_reason"]


async def test_scan_and_matrix_are_in_the_table_and_help(services):
    assert COMMANDS["scan"].usage == "/scan [window] [top N]"
    assert COMMANDS["matrix"].usage == "/matrix [window] [assets…]" and COMMANDS["matrix"].chart
    help_reply = await ask(services, "/help")
    assert "/scan [window] [top N] — " in help_reply.text and "/matrix [window] [assets…] — " in help_reply.text
    names = list(COMMANDS)
    assert names.index("scan") == names.index("report") + 1  # right after the market commands


async def test_scan_default_is_the_latest_data(services):
    reply = await ask(services, "/scan")
    assert reply.ok and reply.data["window"] == "90d" and reply.data["as_of"] == "2026-01-16"
    assert reply.headline.startswith("Biggest decouplings, 90-day correlation, as of 2026-01-16")


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(["90d", "1y", "30d", "5d", "ETH", "BTC", "SPY", "SPX", "top", "3", "0", "x",
                                 "-1", "ETH:RUT", "/", ":", "9999999999", "１２", "top5", "tops"]), max_size=5),
       st.sampled_from(["scan", "matrix"]))
async def test_scan_and_matrix_grammar_never_crashes(services, words, name):
    reply = await ask(services, " ".join([f"/{name}", *words]))
    assert reply.text
    assert "Something went wrong" not in reply.text
    if not reply.ok:
        assert f"Usage: /{name}" in reply.text or "No pair" in reply.text
