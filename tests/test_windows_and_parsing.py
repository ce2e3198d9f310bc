from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.windows import Window, WindowError, parse_window
from handlers.parsing import UsageError, parse_pair_args


@pytest.mark.parametrize(
    ("text", "days", "label"),
    [("90d", 90, "90d"), ("1y", 365, "1y"), ("12w", 84, "84d"), ("3m", 90, "90d"), ("30D", 30, "30d"),
     ("10y", 3650, "10y"), ("3650d", 3650, "10y"), ("2y", 730, "2y")],
)
def test_windows_normalise(text, days, label):
    window = parse_window(text)
    assert window == Window(days) and window.label == label


@pytest.mark.parametrize(
    ("text", "reason"),
    [("90x", "not a window"), ("5d", "too short"), ("14d", "too short"), ("99999d", "too long"),
     ("-5d", "negative"), ("11y", "too long"), ("d", "not a window"), ("1.5y", "not a window")],
)
def test_bad_windows_say_why(text, reason):
    with pytest.raises(WindowError, match=reason):
        parse_window(text)


def _parse(*args: str):
    return parse_pair_args(list(args), "ETH:RUT", "90d")


def test_defaults_and_one_asset():
    q = _parse()
    assert (q.window.label, q.asset.symbol, q.benchmark.symbol) == ("90d", "ETH", "RUT")
    q = _parse("1y", "BTC")
    assert (q.window.label, q.asset.symbol, q.benchmark.symbol) == ("1y", "BTC", "RUT")
    q = _parse("btc", "spy", "1y")  # any order, any case
    assert (q.window.label, q.asset.symbol, q.benchmark.symbol) == ("1y", "BTC", "SPY")
    q = _parse("ETH:R2K")
    assert q.benchmark.symbol == "RUT"
    assert _parse("RUT").benchmark.symbol == "ETH"  # the benchmark alone: against the default asset


@pytest.mark.parametrize(
    ("args", "reason"),
    [(("FOO",), "Unknown ticker 'FOO'"), (("ETH", "ETH"), "against itself"), (("ETH", "BTC", "SPY"), "at most two"),
     (("90d", "1y"), "one window"), (("90d", "ETH", "RUT", "x"), "Too many words"), (("90x",), "not a window")],
)
def test_bad_pair_arguments(args, reason):
    with pytest.raises(UsageError, match=reason):
        _parse(*args)


@given(st.lists(st.text(max_size=30), max_size=6))
def test_parser_raises_only_usage_errors(args):
    try:
        _parse(*args)
    except UsageError as exc:
        assert str(exc) and len(str(exc)) < 300
