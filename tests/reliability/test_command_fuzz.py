"""The command-layer fuzz of tests/test_fuzz_commands.py with at least 10,000 inputs (`make test-reliability`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings

from tests.conftest import RELIABILITY_EXAMPLES
from tests.reliability.command_fuzz import Case, cases, check_session, fuzz_services


@pytest.fixture
async def services(tmp_path: Path):
    async with fuzz_services(tmp_path) as built:
        yield built


@settings(settings.get_profile("reliability"), max_examples=RELIABILITY_EXAMPLES)
@given(session=cases(chart_one_in=100, longest=1))
async def test_any_command_text_gets_one_specific_answer_at_length(services, session: list[Case]):
    await check_session(services, session)
