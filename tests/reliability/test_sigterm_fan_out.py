"""SIGTERM after ~100 of 300 sends (the review's case): 0 failed attempts, nothing logged as an error, every
delivery once (the rest sent by the next process). The quick version (100 chats) is tests/test_shutdown.py."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.shutdown_support import sigterm_mid_fan_out


async def test_sigterm_after_100_of_300_sends(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    outcome = await sigterm_mid_fan_out(tmp_path, 300, stop_after=100, records=caplog.records)
    print(f"sigterm mid fan-out: {outcome.sent_before_stop} sent before the stop, "
          f"{outcome.refused_by_the_closed_client} refused by a closed client, {outcome.attempted_and_failed} failed "
          f"attempts, {len(outcome.errors_logged)} errors logged, {sum(outcome.received.values())} messages to "
          f"{len(outcome.received)} chats")
    assert outcome.refused_by_the_closed_client == 0 and outcome.attempted_and_failed == 0
    assert outcome.errors_logged == [] and len(outcome.given_back_logged) == 1
    assert len(outcome.received) == 300 and set(outcome.received.values()) == {1}
