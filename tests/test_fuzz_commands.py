"""Fuzz of the command layer (a few hundred examples per `make test`; the same property runs with at least
10,000 in tests/reliability/). What it found is pinned below as plain examples."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from bot.ports.reply import Reply
from handlers.registry import ChatContext
from tests.reliability.command_fuzz import Case, cases, check_case, check_session, fuzz_services


async def _yes() -> bool:
    return True


GROUP_ADMIN = ChatContext(platform="telegram", chat_id="-1009", chat_kind="group", title="T", is_admin=_yes)


@pytest.fixture
async def services(tmp_path: Path):
    async with fuzz_services(tmp_path) as built:
        yield built


@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(session=cases())
async def test_any_command_text_gets_one_specific_answer(services, session: list[Case]):
    await check_session(services, session)


# ---------------------------------------------------------------- what the fuzz found


async def ask(services, text: str, chat: ChatContext | None = None) -> Reply:
    return await check_case(services, Case(text, chat or ChatContext(), want_chart=False))


@pytest.mark.parametrize("count", ["½", "Ⅻ", "⅔"])
async def test_history_with_a_digit_that_is_not_a_number(services, count):
    reply = await ask(services, f"/history {count}")
    assert not reply.ok
    assert reply.text.startswith("Give how many alerts to show, as a number from 1 to 30, e.g. /history 20")


@pytest.mark.parametrize(("count", "limit"), [("٣", 3), ("𝟗", 9), ("１２", 12), ("99999999999999999999", 30),
                                             ("²", 2), ("③", 3)])  # NFKC reads a superscript or circled digit
async def test_history_reads_any_decimal_digits(services, count, limit):
    reply = await ask(services, f"/history {count}")
    assert reply.ok and reply.data["limit"] == limit


async def test_history_zero_is_refused(services):
    reply = await ask(services, "/history 0")
    assert not reply.ok and reply.text.startswith("Give how many alerts to show, as a number from 1 to 30")


async def test_preview_of_a_pair_without_bundled_data_says_so_in_one_line(services):
    subscribed = await ask(services, "/subscribe ETH SPX")
    assert subscribed.ok
    reply = await ask(services, "/preview")
    assert not reply.ok
    assert reply.text == (
        "No preview for ETH vs SPX: SPX has no bundled history; it needs live data (MARKET_DATA=auto or live)."
    )
    named = await ask(services, "/preview ETH SPX")
    assert named.text == reply.text


async def test_preview_leaves_out_only_the_pair_without_data(services):
    for text in ("/subscribe ETH SPX", "/subscribe BTC SPY regime"):
        assert (await ask(services, text, GROUP_ADMIN)).ok
    reply = await ask(services, "/preview", GROUP_ADMIN)
    assert reply.ok
    lines = reply.text.splitlines()
    assert lines[0].startswith("Preview: the alerts this chat's settings would have fired from ")
    assert lines[1].startswith("• BTC:SPY 90d: ")
    assert lines[-1] == ("• ETH vs SPX: no preview (SPX has no bundled history; it needs live data "
                         "(MARKET_DATA=auto or live)).")
    assert reply.data["pairs"] == {"BTC:SPY": reply.data["pairs"]["BTC:SPY"]}
    assert reply.data["skipped"] == {"ETH:SPX": "SPX has no bundled history; it needs live data "
                                                "(MARKET_DATA=auto or live)"}


@pytest.mark.parametrize(
    ("text", "first_line"),
    [
        ("/corr ٣d", "'٣d' is too short: at least 30 days, so the correlation means something"),
        ("/corr ²d", "'2d' is too short: at least 30 days"),  # NFKC: a superscript two is a 2
        ("/set window ²", "'2' is not a window"),
    ],
)
async def test_unicode_digits_in_windows(services, text, first_line):
    reply = await ask(services, text)
    assert not reply.ok and reply.text.startswith(first_line)


@pytest.mark.parametrize(("text", "label"), [("/beta ٩٠d", "90d"), ("/beta 𝟗𝟎d", "90d"), ("/beta ３０d", "30d")])
async def test_decimal_digits_of_any_script_make_a_window(services, text, label):
    reply = await ask(services, text)
    assert reply.ok and reply.data["window"] == label
