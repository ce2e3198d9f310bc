"""/gap's grammar, the coupled-now answer and bad input: one line and the usage, never a traceback."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handlers.gap_commands import parse_gap_args
from handlers.parsing import UsageError
from handlers.registry import COMMANDS
from tests.helpers import ask

USAGE = "Usage: /gap [asset] [benchmark] [since YYYY-MM-DD]"


def test_the_command_is_in_the_table_after_the_universe_commands():
    command = COMMANDS["gap"]
    assert command.usage == "/gap [asset] [benchmark] [since YYYY-MM-DD]" and command.chart
    assert len(command.summary) <= 60 and all(len(o.description) <= 100 for o in command.options)
    names = list(COMMANDS)
    assert names.index("gap") == names.index("matrix") + 1


@pytest.mark.parametrize(("args", "want"), [
    ([], ("ETH", "RUT", None)),
    (["BTC"], ("BTC", "RUT", None)),
    (["ETH:QQQ", "since", "2025-07-25"], ("ETH", "QQQ", dt.date(2025, 7, 25))),
    (["since", "2025-07-25", "BTC", "SPY"], ("BTC", "SPY", dt.date(2025, 7, 25))),
    (["ETH", "RUT", "2025-07-25"], ("ETH", "RUT", dt.date(2025, 7, 25))),  # Discord sends the option's value alone
    (["SINCE=2024-02-29"], ("ETH", "RUT", dt.date(2024, 2, 29))),
])
def test_grammar(args, want):
    query = parse_gap_args(args, "ETH:RUT", "90d")
    assert (query.asset.symbol, query.benchmark.symbol, query.since) == want


async def test_a_pair_coupled_now_has_no_gap_to_close(services):
    reply = await ask(services, "/gap")
    assert reply.ok
    lines = reply.text.splitlines()
    assert lines[0] == "ETH and small caps are coupled since 2025-10-27 (90-day correlation 0.57): no gap to close."
    assert "/gap ETH RUT since 2025-07-18" in lines[1]
    assert [[b.command for b in row] for row in reply.buttons] == [["/gap ETH RUT since 2025-07-18"]]
    data = reply.data
    assert data["coupled"] is True and data["anchor"] is None and data["gap_log"] is None
    assert data["regime_since"] == "2025-10-27" and data["suggested_since"] == "2025-07-18"
    # with a date it measures anyway, and says the pair is coupled now
    given_date = await ask(services, "/gap since 2025-07-18")
    assert given_date.ok and given_date.data["coupled"] is True and given_date.data["anchor"] == "given"
    assert "regime now: coupled since 2025-10-27" in given_date.text


async def test_the_suggested_date_measures_from_the_default_anchor(services):
    # the button's date is where the default anchor would be once the pair is no longer coupled
    suggested = await ask(services, "/gap ETH RUT since 2025-07-18", "2025-09-30")
    default = await ask(services, "/gap ETH RUT", "2025-09-30")
    for key in ("since", "beta", "gap_log", "n_obs"):
        assert suggested.data[key] == default.data[key]


@pytest.mark.parametrize(("text", "as_of", "needle"), [
    ("/gap ETH RUT since 2010-01-01", None, "No ETH:RUT data before 2017-08-17 (its first price; its first return "
                                            "is on 2017-08-18): pick a later since date."),
    ("/gap ETH RUT since 2017-08-17", None, "Only 0 returns of ETH:RUT in the year to 2017-08-17"),
    ("/gap ETH RUT since 2099-01-01", None, "Since 2099-01-01 is in the future"),
    ("/gap ETH RUT since 2025-07-25", "2025-06-30", "Since 2025-07-25 is after 2025-06-30, the date of the answer"),
    ("/gap ETH RUT since 2026-01-16", None, "is the last session of the answer (2026-01-16)"),
    ("/gap ETH RUT since 2017-10-02", None, "Only 31 returns of ETH:RUT in the year to 2017-10-02; the beta needs "
                                           "at least 60"),
    ("/gap ETH RUT", "2021-06-30", "have had no coupled regime at the 90-day window up to 2021-06-30"),
    ("/gap ETH RUT since 2025-13-45", None, "'2025-13-45' is not a date: use YYYY-MM-DD"),
    ("/gap ETH RUT since 2025-02-30", None, "'2025-02-30' is not a date"),
    ("/gap ETH RUT since tomorrow", None, "'tomorrow' is not a date"),
    ("/gap ETH RUT since", None, "since needs a date"),
    ("/gap ETH since 2025-07-25 since 2025-08-01", None, "Give one since date only"),
    ("/gap 90d ETH", None, "/gap takes no window"),
    ("/gap 2025-07", None, "'2025-07' is not a date"),
    ("/gap DOGE", None, "Unknown ticker 'DOGE'"),
    ("/gap ETH ETH", None, "against itself"),
    ("/gap ETH RUT SPY", None, "at most two tickers"),
    ("/gap SPX since 2025-07-25", None, "SPX"),  # no bundled history
    ("/gap ETH RUT since 2025-07-25", "2010-01-01", "before"),
])
async def test_bad_input_gets_one_line_and_the_usage(services, text, as_of, needle):
    reply = await ask(services, text, as_of)
    assert not reply.ok
    assert needle in reply.text, reply.text
    lines = reply.text.splitlines()
    assert len(lines) == 2 and lines[1] == USAGE, reply.text
    assert "Traceback" not in reply.text and "Something went wrong" not in reply.text


def test_bad_dates_are_usage_errors():
    for args in (["since", "20250725"], ["since", "2025-7-25"], ["2025-07-25T00:00"]):
        with pytest.raises(UsageError):
            parse_gap_args(args, "ETH:RUT", "90d")


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(["ETH", "BTC", "RUT", "SPY", "QQQ", "SPX", "since", "SINCE", "2025-07-25",
                                 "2017-08-01", "2030-01-01", "2026-01-16", "2021-02-29", "90d", "x", ":", "/",
                                 "ETH:RUT", "since=2024-01-05", "-1", "２０２５-07-25"]), max_size=5))
async def test_grammar_never_crashes(services, words):
    reply = await ask(services, " ".join(["/gap", *words]))
    assert reply.text and "Something went wrong" not in reply.text
    if not reply.ok:
        assert reply.text.endswith(USAGE), reply.text
