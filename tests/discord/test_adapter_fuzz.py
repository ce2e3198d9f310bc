"""A few dozen random interactions through the real Discord adapter on every `make test` (the same property runs
with at least 500 in tests/reliability/test_adapter_fuzz.py). What it found is pinned below as plain examples."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from bot.ports.services import Services
from handlers.discord.slash import autocomplete_choices
from tests.reliability.discord_fuzz import Autocomplete, Input, discord_fuzz, inputs


@pytest.fixture
async def fuzz(tmp_path: Path, shared_services: Services):
    async with discord_fuzz(tmp_path, shared_services) as harness:
        yield harness


@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(given_input=inputs())
async def test_any_interaction_is_acknowledged_within_the_limits(fuzz, given_input: Input):
    await fuzz.run(given_input)


# ---------------------------------------------------------------- what the fuzz found


async def test_a_long_window_typed_in_autocomplete_is_not_offered(fuzz):
    """Whatever starts like a window was offered back as a choice: over 100 characters, Discord refused the
    whole answer (400, 50035 "data.choices.0.name: Must be between 1 and 100 in length") and the transport
    logged a traceback; the person saw no suggestions."""
    for typed in ["1" + "x" * 150, "9" * 101, "-" + "5" * 120]:
        await fuzz.run(Autocomplete("corr", "window", typed))  # acknowledged, within the limits, nothing logged
        values = [c["value"] for c in fuzz.fake.interactions[-1].response.choices]
        assert values[:3] == ["30d", "90d", "1y"] and typed not in values
    await fuzz.run(Autocomplete("corr", "window", "9" * 100))  # a long one that fits is still offered first
    assert fuzz.fake.interactions[-1].response.choices[0]["value"] == "9" * 100


def test_autocomplete_choices_keep_to_discords_limits():
    assert autocomplete_choices([("ETH — " + "E" * 200, "ETH")]) == [("ETH — " + "E" * 93 + "…", "ETH")]
    assert autocomplete_choices([("x", "v" * 101), ("", "ETH"), (" ", "BTC")]) == []
    assert len(autocomplete_choices([(str(n), str(n)) for n in range(40)])) == 25
