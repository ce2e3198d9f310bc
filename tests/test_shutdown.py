"""SIGTERM mid fan-out: the outbox stops before the transports, so no send meets a closed client; what it had
claimed and not sent is given back (and logged), and the next process sends it: every delivery once."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.shutdown_support import sigterm_mid_fan_out

CHATS = 100


async def test_sigterm_mid_fan_out_fails_nothing_and_every_delivery_goes_once(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    outcome = await sigterm_mid_fan_out(tmp_path, CHATS, stop_after=CHATS // 3, records=caplog.records)
    assert 0 < outcome.sent_before_stop < CHATS
    # today: the transport closed first, the sends under way met its closed client and were counted as failed tries
    assert outcome.refused_by_the_closed_client == 0 and outcome.attempted_and_failed == 0
    assert outcome.errors_logged == []
    assert len(outcome.given_back_logged) == 1, outcome.given_back_logged
    assert len(outcome.received) == CHATS and set(outcome.received.values()) == {1}
