"""Shared test setup: tests never touch the network and always use the bundled snapshot.

Hypothesis profiles: "ci" (the default, what `make test` runs) tries a hundred examples per property that
does not set its own count; "reliability" (`make test-reliability`, `--hypothesis-profile=reliability`) at least
10,000. Neither has a deadline: run time varies with the machine's load, and `pytest-timeout` bounds a test.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, settings

if TYPE_CHECKING:
    from bot.ports.services import Services

os.environ.setdefault("MARKET_DATA", "snapshot")
os.environ.setdefault("MPLBACKEND", "Agg")
# The fake receivers listen on 127.0.0.1, which webhooks refuse by default; tests of that refusal unset it.
os.environ.setdefault("ALLOW_PRIVATE_WEBHOOKS", "1")

RELIABILITY_EXAMPLES = 10_000

settings.register_profile(
    "ci", max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.register_profile(
    "reliability", max_examples=RELIABILITY_EXAMPLES, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture], print_blob=True,
)
settings.load_profile("ci")


# Tests that must not share the machine with other tests: `make test` runs them after the parallel part,
# alone (marker `serial`). The Discord server test holds a real-time deadline against a whole bot started as a
# subprocess, which two busy xdist workers beside it can push past: the fake Discord refuses an interaction
# answered later than 3 s after it was sent, as Discord does.
SERIAL_TESTS = {"tests/discord/test_server.py::test_the_discord_bot_as_a_server_beside_telegram"}


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.nodeid in SERIAL_TESTS:
            item.add_marker(pytest.mark.serial)


@pytest.fixture(scope="module")
def services() -> Services:
    """The composition root's services on the bundled snapshot and a memory database, one per test module (with
    tests/helpers.ask). tests/telegram, tests/discord and the fuzz tests define their own."""
    from tests.helpers import make_services  # here, not above: the environment above is set before bot is imported

    return make_services()
