"""A few dozen random updates through the real Telegram adapter on every `make test` (the same property runs with
at least 500 in tests/reliability/test_adapter_fuzz.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from bot.ports.services import Services
from tests.reliability.telegram_fuzz import Input, inputs, telegram_fuzz


@pytest.fixture
async def fuzz(tmp_path: Path, shared_services: Services):
    async with telegram_fuzz(tmp_path, shared_services) as harness:
        yield harness


@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(given_input=inputs())
async def test_any_update_gets_a_proper_answer_or_none(fuzz, given_input: Input):
    await fuzz.run(given_input)
