"""The engine: shared rule instances, idempotency, replay = live, catch-up, stale data (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
from datetime import date

import pandas as pd
import pytest

from bot.alerts.engine import AlertEngine
from bot.alerts.payload import event_payload
from bot.alerts.replay import fold, observations, replay
from bot.alerts.rules import RuleParams, RuleState
from bot.alerts.service import AlertService
from bot.analysis.analyzer import PairAnalyzer
from bot.config import load_settings
from bot.market import calendars
from bot.market.align import LegPrices
from bot.market.data import LegData
from bot.render.alert_messages import AlertContent
from bot.render.alert_text import evaluation_status_lines
from bot.store import Store
from bot.store.alerts_repo import AlertsRepo
from handlers.commands import dispatch
from tests.alerts.support import ClockedMarketData, add_chats, at
from tests.helpers import make_services

ETH_RUT = RuleParams("ETH", "RUT", 90)


def _listed(events) -> list[tuple]:
    return [(e.kind, e.as_of.date(), json.dumps(event_payload(e), sort_keys=True)) for e in events]


def _stored(alerts) -> list[tuple]:
    return [(a.kind, a.as_of, json.dumps(a.payload, sort_keys=True)) for a in alerts]


async def test_subscriptions_with_equal_parameters_share_one_instance(store: Store, snapshot_analyzer):
    chats = await add_chats(store, 3)
    await store.set_thresholds(chats[2], {"dwell": 3}, pair=("ETH", "RUT"))
    engine = AlertEngine(store, snapshot_analyzer)
    await engine.run(until=date(2024, 4, 26))
    instances = await engine.repo.instances()
    assert sorted((i.key.thresholds, i.calendar) for i in instances) == [('{"dwell":3}', "XNYS"), ("{}", "XNYS")]
    deliveries = await engine.repo.deliveries()
    # the default instance fires its 2024-04-26 regime change for the two chats that share it, and only for them
    # (the third chat's own instance, dwell 3, has not fired by then): one alert, delivered twice
    pending = [d for d in deliveries if d["status"] == "pending"]
    assert sorted(d["chat_pk"] for d in pending) == [chats[0].id, chats[1].id]
    assert len({d["alert_id"] for d in pending}) == 1


async def test_evaluating_the_same_session_twice_creates_nothing_new(store: Store, snapshot_analyzer):
    await add_chats(store, 2)
    first = AlertEngine(store, snapshot_analyzer)
    report = await first.run(until=date(2024, 4, 26))
    assert report.pending == 2  # the regime change of 2024-04-26, to both chats
    alerts, deliveries = await first.repo.alerts(), await first.repo.deliveries()

    assert (await first.run(until=date(2024, 4, 26))).evaluated == 0
    # a second process (a fresh engine and repository, same database) finds the session done as well
    second = AlertEngine(store, snapshot_analyzer, repo=AlertsRepo.for_store(store))
    assert (await second.run(until=date(2024, 4, 26))).alerts == 0
    assert await first.repo.alerts() == alerts
    assert await first.repo.deliveries() == deliveries


async def test_two_engines_racing_on_one_session_write_it_once(database, snapshot_analyzer):
    stores = [await database.open(migrate=False) for _ in range(2)]
    try:
        await add_chats(stores[0], 2)
        engines = [AlertEngine(s, snapshot_analyzer, repo=AlertsRepo.for_store(s)) for s in stores]
        await asyncio.gather(*(e.run(until=date(2024, 4, 26)) for e in engines))
        deliveries = await engines[0].repo.deliveries()
        alerts = await engines[0].repo.alerts()
    finally:
        for s in stores:
            await s.close()
    assert len({(a.kind, a.as_of) for a in alerts}) == len(alerts)
    assert sorted((d["alert_id"], d["chat_pk"]) for d in deliveries if d["status"] == "pending") == \
        sorted({(d["alert_id"], d["chat_pk"]) for d in deliveries if d["status"] == "pending"})
    assert sum(d["status"] == "pending" for d in deliveries) == 2


async def test_engine_day_by_day_fires_exactly_what_the_replay_lists(store: Store, snapshot_analyzer):
    await add_chats(store, 1)
    engine = AlertEngine(store, snapshot_analyzer)
    start, end = pd.Timestamp("2024-01-01"), pd.Timestamp("2024-06-28")  # a divergence and a regime change
    sessions = calendars.session_closes("XNYS").loc[start:end].index
    fired_on: dict[tuple, date] = {}
    for session in sessions:
        report = await engine.run(until=session.date())
        assert report.evaluated == 1 and not report.refused
        if report.pending:
            for alert in await engine.repo.alerts(since=session.date(), until=session.date()):
                fired_on[(alert.kind, alert.as_of)] = session.date()
    listed = replay(snapshot_analyzer, ETH_RUT, start, end)
    assert listed, "2024 has alerts on ETH:RUT 90d"
    assert _stored(await engine.repo.alerts(since=start.date(), until=end.date())) == _listed(listed)
    # each alert was delivered by the run of its own session, not later
    assert fired_on == {(e.kind, e.as_of.date()): e.as_of.date() for e in listed}
    (instance,) = await engine.repo.instances()
    state, _ = fold(ETH_RUT, observations(snapshot_analyzer, ETH_RUT, until=end))
    assert RuleState.from_json(instance.state) == state


async def test_catch_up_evaluates_missed_sessions_in_order_and_delivers_only_the_newest(
    store: Store, snapshot_analyzer
):
    await add_chats(store, 1)
    engine = AlertEngine(store, snapshot_analyzer)
    await engine.run(until=date(2024, 1, 2))
    # the bot was down until 2024-10-22: the 2024-02-29 divergence and 2024-04-26 regime change are missed,
    # 2024-10-22 (neutral -> coupled) is the newest session
    report = await engine.run(until=date(2024, 10, 22))
    assert (report.alerts, report.pending, report.skipped) == (3, 1, 2)
    by_alert = {a.id: a for a in await engine.repo.alerts()}
    statuses = {(by_alert[d["alert_id"]].as_of, d["status"]) for d in await engine.repo.deliveries()}
    assert statuses == {(date(2024, 2, 29), "skipped"), (date(2024, 4, 26), "skipped"),
                        (date(2024, 10, 22), "pending")}
    assert _stored(await engine.repo.alerts(since=date(2024, 1, 3))) == _listed(
        replay(snapshot_analyzer, ETH_RUT, pd.Timestamp("2024-01-03"), pd.Timestamp("2024-10-22")))


async def test_a_new_instance_records_its_history_without_delivering_it(store: Store, snapshot_analyzer):
    await add_chats(store, 1)
    engine = AlertEngine(store, snapshot_analyzer)
    report = await engine.run(until=date(2024, 5, 1))
    assert report.pending == 0
    assert report.alerts == len(replay(snapshot_analyzer, ETH_RUT, None, pd.Timestamp("2024-05-01")))
    assert await engine.repo.deliveries() == []


async def test_a_stale_leg_is_refused_then_evaluated_in_order_when_its_data_arrives(store: Store, snapshot_analyzer):
    await add_chats(store, 1)
    market = ClockedMarketData(pd.Timestamp("2025-07-22 21:30", tz="UTC"))
    service = AlertService(store, PairAnalyzer(market), AlertContent())
    assert (await service.evaluate()).sessions == {"XNYS": pd.Timestamp("2025-07-22")}

    # RUT stops updating after 2025-07-22 while ETH goes on; on 2025-07-25 the rules would fire a regime change
    market.clock, market.frozen = pd.Timestamp("2025-07-25 21:30", tz="UTC"), {"RUT": pd.Timestamp("2025-07-22")}
    alerts_before = await service.repo.alerts()
    report = await service.evaluate()
    assert report.evaluated == 0 and report.alerts == 0 and market.refreshes == 2
    assert [(r.pair, f"{r.session:%Y-%m-%d}") for r in report.refused] == [("ETH:RUT", "2025-07-25")]
    assert "RUT data ends 2025-07-22" in report.refused[0].reason
    assert await service.repo.alerts() == alerts_before
    (evaluation, *_) = await service.repo.evaluations()
    assert (evaluation.session, evaluation.status) == (date(2025, 7, 25), "stale")
    status = evaluation_status_lines(await service.status())
    assert any(line.startswith("Alerts waiting for data: NYSE session 2025-07-25") for line in status), status

    market.frozen = {}  # the data arrives: 07-23, 07-24 and 07-25 are evaluated, in that order
    report = await service.evaluate()
    assert report.evaluated == 1 and report.pending == 1
    (instance,) = await service.repo.instances()
    assert instance.evaluated_through == date(2025, 7, 25)
    new = [a for a in await service.repo.alerts() if a not in alerts_before]
    assert _stored(new) == _listed(replay(snapshot_analyzer, ETH_RUT, pd.Timestamp("2025-07-23"),
                                          pd.Timestamp("2025-07-25")))
    assert [(a.kind, a.as_of) for a in new] == [("regime", date(2025, 7, 25))]
    assert not any("waiting" in line for line in evaluation_status_lines(await service.status()))


async def test_the_clock_decides_the_session_and_the_delay(store: Store, snapshot_analyzer):
    await add_chats(store, 1)
    market = ClockedMarketData(pd.Timestamp("2025-07-03 16:00", tz="UTC"))  # early close at 17:00 UTC
    engine = AlertEngine(store, PairAnalyzer(market))
    assert (await engine.run()).sessions == {"XNYS": pd.Timestamp("2025-07-02")}
    market.clock = pd.Timestamp("2025-07-04 18:00", tz="UTC")  # Independence Day: no session
    assert (await engine.run()).sessions == {"XNYS": pd.Timestamp("2025-07-03")}


@pytest.mark.parametrize("until", [date(2024, 4, 26)])
async def test_quiet_hours_hold_deliveries_until_they_end(store: Store, snapshot_analyzer, until):
    (chat,) = await add_chats(store, 1, platform="telegram")
    await store.set_timezone(chat, "Europe/Berlin")
    from bot.store.preferences import parse_quiet_hours

    await store.set_quiet_hours(chat, parse_quiet_hours("22:00-07:00"))
    engine = AlertEngine(store, snapshot_analyzer, clock=lambda: at("2024-04-26 20:20"))  # 22:20 in Berlin
    await engine.run(until=until)
    (delivery,) = await engine.repo.deliveries()
    assert delivery["bundle"] and delivery["not_before"] == at("2024-04-27 05:00")  # 07:00 CEST


class CorruptCandles(ClockedMarketData):
    """The clocked bundled prices, except that while `corrupt` is set the ETH hourly candles come out of
    order (as a broken cache read might hand them over): aligning them raises."""

    corrupt = False

    def leg(self, asset):
        data = super().leg(asset)
        if not self.corrupt or data.prices.hourly is None:
            return data
        prices = data.prices
        shuffled = LegPrices(prices.symbol, prices.is_crypto, prices.daily, prices.hourly.iloc[::-1])
        return LegData(shuffled, data.source, data.version + 1)

    async def status(self, assets):  # /status's market half: not what this test is about
        return []


async def test_an_instance_that_fails_is_shown_in_status_until_a_later_run_evaluates_it(store: Store):
    await add_chats(store, 1)
    market = CorruptCandles(pd.Timestamp("2025-07-22 21:30", tz="UTC"))
    services = make_services(load_settings(market_data="auto", database_url="sqlite://"), store=store, market=market)
    service = services.alerts
    assert (await service.evaluate()).sessions == {"XNYS": pd.Timestamp("2025-07-22")}

    market.clock, market.corrupt = pd.Timestamp("2025-07-25 21:30", tz="UTC"), True
    report = await service.evaluate()
    assert report.evaluated == 0 and report.alerts == 0 and not report.refused
    assert [(f.pair, f"{f.session:%Y-%m-%d}", f.error) for f in report.failed] == [("ETH:RUT", "2025-07-25",
                                                                                   "ValueError")]
    (evaluation, *_) = await service.repo.evaluations()
    assert (evaluation.session, evaluation.status) == (date(2025, 7, 25), "stale")
    assert evaluation.detail == "ETH:RUT could not be evaluated: ValueError"
    line = "Alerts: ETH:RUT could not be evaluated for 2025-07-25: ValueError."
    status = await dispatch(services, "/status")
    assert line in status.text.splitlines(), status.text
    assert status.data["alerts"]["failed"] == [{"calendar": "XNYS", "session": "2025-07-25", "pair": "ETH:RUT",
                                                "error": "ValueError"}]
    assert not any(text.startswith("Alerts waiting for data") for text in status.text.splitlines())
    # still failing on the next session's run: the newest failure is shown, once
    market.clock = pd.Timestamp("2025-07-28 21:30", tz="UTC")
    assert len((await service.evaluate()).failed) == 1
    lines = evaluation_status_lines(await service.status())
    assert [t for t in lines if "could not be evaluated" in t] == [
        "Alerts: ETH:RUT could not be evaluated for 2025-07-28: ValueError."]

    market.corrupt = False  # a later run evaluates it (07-23 … 07-28, in order): the line goes
    report = await service.evaluate()
    assert report.evaluated == 1 and not report.failed
    (instance,) = await service.repo.instances()
    assert instance.evaluated_through == date(2025, 7, 28)
    lines = evaluation_status_lines(await service.status())
    assert not any("could not be evaluated" in t for t in lines), lines
    assert lines[0].startswith("Alerts: NYSE session 2025-07-28 evaluated (1 rule instance")
