"""At least 500 random inputs through each real chat adapter (`make test-reliability`), beside the command-layer
fuzz of test_command_fuzz.py: updates through python-telegram-bot against the fake Bot API
(tests/reliability/telegram_fuzz.py), interactions through discord.py against the fake Discord
(tests/reliability/discord_fuzz.py). One hypothesis example is one input; each run takes well under a minute."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings

from tests.reliability import discord_fuzz, telegram_fuzz

ADAPTER_EXAMPLES = 500


@pytest.fixture
async def telegram(tmp_path: Path):
    async with telegram_fuzz.telegram_fuzz(tmp_path) as harness:
        yield harness


@pytest.fixture
async def discord(tmp_path: Path):
    async with discord_fuzz.discord_fuzz(tmp_path) as harness:
        yield harness


@settings(settings.get_profile("reliability"), max_examples=ADAPTER_EXAMPLES)
@given(update=telegram_fuzz.inputs(chart_one_in=12))
async def test_any_telegram_update_gets_a_proper_answer_or_none(telegram, update: telegram_fuzz.Input):
    await telegram.run(update)


@settings(settings.get_profile("reliability"), max_examples=ADAPTER_EXAMPLES)
@given(interaction=discord_fuzz.inputs(chart_one_in=12))
async def test_any_discord_interaction_is_acknowledged_within_the_limits(discord, interaction: discord_fuzz.Input):
    await discord.run(interaction)
