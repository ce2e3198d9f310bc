"""The engine and a pending sync-close session (docs/methods.md §1.7, §5.7): while the crypto candles have not
reached the close, the session is refused as stale — neither evaluated nor skipped — and /status says what it
waits for; when they arrive, the session is evaluated and its alerts are delivered (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from bot.alerts.replay import replay
from bot.alerts.rules import RuleParams
from bot.alerts.service import AlertService
from bot.analysis.analyzer import PairAnalyzer
from bot.render.alert_messages import AlertContent
from bot.render.alert_text import evaluation_status_lines
from bot.store import Store
from tests.alerts.support import add_chats
from tests.test_freshness_sync_close import CandlesUpTo, utc

ETH_RUT = RuleParams("ETH", "RUT", 90)
WAITING = ("Alerts waiting for data: NYSE session 2025-07-25 — ETH:RUT: ETH hourly candles up to the 2025-07-25 "
           "20:00 UTC close have not arrived yet (live")


@pytest.mark.parametrize("candles_end", ["2025-07-25 17:00", "2025-07-25 16:00"])
async def test_a_pending_session_is_refused_then_evaluated_and_delivered_when_the_candles_arrive(
    store: Store, snapshot_analyzer, candles_end
):
    await add_chats(store, 1)
    market = CandlesUpTo(utc("2025-07-24 20:30"), utc("2025-07-24 21:00"))
    service = AlertService(store, PairAnalyzer(market), AlertContent())
    assert (await service.evaluate()).sessions == {"XNYS": pd.Timestamp("2025-07-24")}
    alerts_before = await service.repo.alerts()

    # Friday 2025-07-25 20:30 UTC: RUT has settled, ETH's candles end at 17:00 (or 16:00); on this session the
    # rules change the regime (coupled -> neutral)
    market.clock, market.candles_end = utc("2025-07-25 20:30"), utc(candles_end)
    report = await service.evaluate()
    assert (report.evaluated, report.alerts, report.skipped) == (0, 0, 0)
    assert [(r.pair, f"{r.session:%Y-%m-%d}") for r in report.refused] == [("ETH:RUT", "2025-07-25")]
    assert "ETH hourly candles up to the 2025-07-25 20:00 UTC close have not arrived yet" in report.refused[0].reason
    (instance,) = await service.repo.instances()
    assert instance.evaluated_through == date(2025, 7, 24)
    assert await service.repo.alerts() == alerts_before
    status = evaluation_status_lines(await service.status())
    assert any(line.startswith(WAITING) for line in status), status

    # the candles arrive: the session is evaluated, its regime change delivered (not skipped as catch-up)
    market.clock, market.candles_end = utc("2025-07-25 21:10"), utc("2025-07-25 21:00")
    report = await service.evaluate()
    assert (report.evaluated, report.pending, report.skipped) == (1, 1, 0) and not report.refused
    new = [a for a in await service.repo.alerts() if a not in alerts_before]
    assert [(a.kind, a.as_of) for a in new] == [("regime", date(2025, 7, 25))]
    listed = replay(snapshot_analyzer, ETH_RUT, pd.Timestamp("2025-07-25"), pd.Timestamp("2025-07-25"))
    assert [(e.kind, e.as_of.date(), e.value) for e in listed] == [(a.kind, a.as_of, a.payload["value"]) for a in new]
    assert [d["status"] for d in await service.repo.deliveries()] == ["pending"]
    assert not any("waiting" in line for line in evaluation_status_lines(await service.status()))


async def test_a_real_gap_at_the_close_does_not_hold_the_session(store: Store, snapshot_analyzer):
    await add_chats(store, 1)
    market = CandlesUpTo(utc("2025-07-24 20:30"), utc("2025-07-24 21:00"))
    service = AlertService(store, PairAnalyzer(market), AlertContent())
    await service.evaluate()
    # the 19:00-20:00 candle never came, the 20:00-21:00 one did: the 3-hour rule prices the close
    market.clock, market.candles_end = utc("2025-07-25 21:10"), utc("2025-07-25 21:00")
    market.missing = (utc("2025-07-25 20:00"),)
    report = await service.evaluate()
    assert report.evaluated == 1 and not report.refused
    assert report.sessions == {"XNYS": pd.Timestamp("2025-07-25")}
