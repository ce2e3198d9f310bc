"""Per-user quotas: the sliding window itself, then through the real PTB path."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.ports.services import Services
from handlers.quotas import CommandQuotas, QuotaLimits, slow_down_reply
from tests.telegram import updates
from tests.telegram.conftest import FakeClock, Harness, make_transport
from tests.telegram.fake_bot_api import FakeBotAPI


def test_commands_beyond_the_limit_wait_for_the_window_to_slide() -> None:
    clock = FakeClock()
    quotas = CommandQuotas(QuotaLimits(commands=3, charts=1, period=60), clock=clock)
    assert all(quotas.check("u").allowed for _ in range(3))
    refused = quotas.check("u")
    assert not refused.allowed and refused.notify and refused.reason == "commands"
    assert refused.retry_after == 60
    again = quotas.check("u")
    assert not again.allowed and not again.notify  # told once, then quiet
    clock.advance(30)
    assert quotas.check("u").retry_after == 30
    assert quotas.check("someone else").allowed
    clock.advance(30)
    assert quotas.check("u").allowed


def test_charts_have_their_own_smaller_budget() -> None:
    clock = FakeClock()
    quotas = CommandQuotas(QuotaLimits(commands=10, charts=2, period=60), clock=clock)
    assert quotas.check("u", chart=True).allowed
    clock.advance(10)
    assert quotas.check("u", chart=True).allowed
    refused = quotas.check("u", chart=True)
    assert not refused.allowed and refused.reason == "charts" and refused.retry_after == 50
    assert quotas.check("u").allowed  # text commands still go through
    assert "Try again in 50 s" in slow_down_reply(refused).text


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=20), min_size=1, max_size=80))
def test_never_more_than_the_limit_in_any_window(gaps: list[float]) -> None:
    clock = FakeClock(0.0)
    quotas = CommandQuotas(QuotaLimits(commands=5, charts=5, period=60), clock=clock)
    accepted: list[float] = []
    for gap in gaps:
        clock.advance(gap)
        if quotas.check("u").allowed:
            accepted.append(clock.now)
    for i, start in enumerate(accepted):
        assert len([t for t in accepted[i:] if t < start + 60]) <= 5


def test_the_user_table_is_bounded() -> None:
    quotas = CommandQuotas(max_users=10)
    for n in range(100):
        quotas.check(f"user{n}")
    assert len(quotas._users) == 10


async def test_a_flooding_user_is_told_to_slow_down_once(services: Services, fake: FakeBotAPI) -> None:
    clock = FakeClock()
    transport = make_transport(services, quotas=CommandQuotas(QuotaLimits(commands=3, charts=1), clock=clock))
    async with transport.app:
        bot = Harness(transport, fake)
        for _ in range(3):
            (call,) = await bot.command("/assets")
            assert "Tickers" in call.params["text"]
        (warning,) = await bot.command("/assets")
        assert warning.method == "sendMessage" and "Slow down" in warning.params["text"]
        assert "try again in 60 s" in warning.params["text"].lower()
        assert await bot.command("/assets") == []  # no flood back
        assert (await bot.command("/help", sender=updates.BOB))[0].method == "sendMessage"  # others unaffected
        clock.advance(61)
        (call,) = await bot.command("/assets")
        assert "Tickers" in call.params["text"]


async def test_chart_renders_have_a_tighter_quota(services: Services, fake: FakeBotAPI) -> None:
    clock = FakeClock()
    transport = make_transport(services, quotas=CommandQuotas(QuotaLimits(commands=20, charts=1), clock=clock))
    async with transport.app:
        bot = Harness(transport, fake)
        assert "sendPhoto" in [c.method for c in await bot.command("/corr 90d")]
        (refused,) = await bot.command("/chart 1y")
        assert refused.method == "sendMessage" and "charts" in refused.params["text"]
        assert "sendMessage" in [c.method for c in await bot.command("/beta")]
