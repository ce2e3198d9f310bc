"""The weekly scan digest (`/subscribe scan`): subscribed through the commands, evaluated by the engine after the
week's last NYSE session, written to the outbox once and delivered once per chat (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

import pandas as pd
import pytest

from bot.alerts.delivery import DeliveryWorker
from bot.alerts.engine import AlertEngine
from bot.alerts.holding import release_for
from bot.alerts.kinds import DEFAULT_KINDS, SCAN, kinds_for_word
from bot.alerts.scan_digest import DIGEST_TOP
from bot.analysis.analyzer import PairAnalyzer
from bot.app import App
from bot.assets import Asset
from bot.config import load_settings
from bot.market import snapshot
from bot.market.data import LegData
from bot.market.errors import NoData
from bot.render.alert_messages import AlertContent
from bot.store import Store
from bot.store.alert_records import Recipient
from bot.store.alerts_repo import AlertsRepo
from bot.store.preferences import QuietHours
from bot.store.universe_subscriptions import UniverseSubscriptions
from bot.windows import Window
from handlers.commands import dispatch
from handlers.registry import ChatContext
from tests.alerts.support import ClockedMarketData, RecordingNotifier, add_chats

PNG = b"\x89PNG"


class UniverseMarket(ClockedMarketData):
    """The clocked fake, with no data at all for the tickers the snapshot lacks (SPX, NDX), as a live source
    without them would: /scan and /matrix leave them out."""

    def leg(self, asset: Asset) -> LegData:
        if not snapshot.has_series(asset.symbol, "1d"):
            raise NoData(f"no prices for {asset.symbol}")
        return super().leg(asset)


def _clock(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def _app(store: Store, market: UniverseMarket) -> App:
    return App(load_settings(market_data="snapshot", database_url="sqlite://"), store=store, market=market)


def _private(chat_id: str) -> ChatContext:
    return ChatContext(platform="fake", chat_id=chat_id, chat_kind="private")


def _group(chat_id: str, *, admin: bool) -> ChatContext:
    async def check() -> bool:
        return admin

    return ChatContext(platform="fake", chat_id=chat_id, chat_kind="group", is_admin=check)


async def _scan_alerts(repo: AlertsRepo) -> list:
    return [a for a in await repo.alerts() if a.kind == SCAN]


async def _scan_deliveries(repo: AlertsRepo) -> list[dict]:
    ids = {a.id for a in await _scan_alerts(repo)}
    return [d for d in await repo.deliveries() if d["alert_id"] in ids]


async def _run_at(app: App, market: UniverseMarket, when: str):
    market.clock = _clock(when)
    return await app.alerts.evaluate()


def test_scan_is_an_opt_in_universe_wide_kind():
    assert SCAN not in DEFAULT_KINDS and kinds_for_word("all") == DEFAULT_KINDS
    assert kinds_for_word("scan") == {SCAN} and kinds_for_word("weekly") == {SCAN}


@pytest.mark.parametrize(
    ("days", "friday", "sent_on", "later"),
    [
        # a normal week: Wednesday to Friday after the close, nothing; the digest of Friday 2025-04-11 goes out
        # with the 00:20 UTC run, once the UTC day of the matrix's crypto pair is over; then nothing until the
        # next week's last session
        (["2025-04-09 21:30", "2025-04-10 21:30", "2025-04-11 21:30"], date(2025, 4, 11), "2025-04-12 00:30",
         ["2025-04-12 12:00", "2025-04-13 23:00", "2025-04-14 21:30", "2025-04-15 00:30", "2025-04-17 21:30"]),
        # Good Friday 2025-04-18: NYSE is closed, the week's last session is Thursday 2025-04-17
        (["2025-04-16 21:30", "2025-04-17 21:30"], date(2025, 4, 17), "2025-04-18 00:30",
         ["2025-04-18 21:30", "2025-04-19 12:00", "2025-04-21 21:30", "2025-04-22 00:30"]),
    ],
)
async def test_the_digest_goes_out_once_after_the_weeks_last_session(store: Store, days, friday, sent_on, later):
    market = UniverseMarket(_clock(days[0]))
    app = _app(store, market)
    services, repo = app.services, app.alerts.repo
    for chat in (_private("a"), _private("b"), _group("g", admin=True)):
        reply = await dispatch(services, "/subscribe scan", chat)
        assert reply.ok and reply.data["created"] and reply.data["subscription"]["window"] == "90d", reply.text
    await dispatch(services, "/subscribe ETH RUT", _private("pairs-only"))  # pair alerts only: never the digest

    for day in days:
        report = await _run_at(app, market, day)
        assert SCAN not in report.fired and await _scan_alerts(repo) == [], day

    report = await _run_at(app, market, sent_on)
    assert report.fired.get(SCAN) == 1 and not report.refused
    (alert,) = await _scan_alerts(repo)
    assert alert.as_of == friday
    expected = services.scanner.scan(Window(90), friday).rows[:DIGEST_TOP]
    rows = alert.payload["detail"]["rows"]
    assert len(rows) == DIGEST_TOP == len(expected)
    assert [r["pair"] for r in rows] == [r.pair for r in expected]
    assert [r["score"] for r in rows] == [round(r.score, 4) for r in expected]
    chats = {c.chat_id: c.id for c in [await store.get_chat("fake", x) for x in ("a", "b", "g", "pairs-only")] if c}
    deliveries = await _scan_deliveries(repo)
    assert sorted(d["chat_pk"] for d in deliveries) == sorted([chats["a"], chats["b"], chats["g"]])
    assert {d["status"] for d in deliveries} == {"pending"}

    notifier = RecordingNotifier("fake")
    drained = await app.alerts.worker_for({"fake": notifier}).drain_due()
    digests = [(chat_id, reply) for chat_id, reply, _ in notifier.sent if reply.data.get("kind") == SCAN]
    assert sorted(chat_id for chat_id, _ in digests) == ["a", "b", "g"] and drained.failed == 0
    for _, reply in digests:
        assert reply.text.startswith(f"🔔 Weekly scan: the biggest decouplings, 90-day correlation, as of {friday}")
        assert all(f"{i}. {row.pair} · score" in reply.text for i, row in enumerate(expected, start=1))
        assert f"{DIGEST_TOP + 1}. " not in reply.text
        assert reply.chart is not None and reply.chart.startswith(PNG)
        assert reply.chart_name == f"scan-90d-{friday:%Y%m%d}.png"

    # a rerun, a restarted bot (a new engine and repository on the same database) and the following days:
    # nothing new, nothing sent again
    assert (await _run_at(app, market, sent_on)).fired.get(SCAN) is None
    restarted = AlertEngine(store, app.analysis, repo=AlertsRepo.for_store(store))
    assert (await restarted.run()).alerts == 0
    for day in later:
        assert (await _run_at(app, market, day)).fired.get(SCAN) is None, day
    assert [a.id for a in await _scan_alerts(repo)] == [alert.id]
    assert len(await _scan_deliveries(repo)) == 3
    again = RecordingNotifier("fake")
    await app.alerts.worker_for({"fake": again}).drain_due()
    assert not [reply for _, reply, _ in again.sent if reply.data.get("kind") == SCAN]

    history = await dispatch(services, "/history", _private("a"))
    assert f"• {friday} · weekly scan 90d · scan digest, top {expected[0].pair}" in history.text


async def test_two_workers_racing_write_and_send_it_once(database):
    stores = [await database.open(migrate=False) for _ in range(2)]
    try:
        market = UniverseMarket(_clock("2025-04-12 00:30"))
        app = _app(stores[0], market)
        for chat_id in ("a", "b"):
            assert (await dispatch(app.services, "/subscribe scan", _private(chat_id))).ok
        analyzer = app.analysis  # one process's caches: what races here is the database
        engines = [AlertEngine(s, analyzer, repo=AlertsRepo.for_store(s)) for s in stores]
        await asyncio.gather(*(e.run() for e in engines))
        repo = engines[0].repo
        assert len(await _scan_alerts(repo)) == 1 and len(await _scan_deliveries(repo)) == 2

        notifiers = [RecordingNotifier("fake"), RecordingNotifier("fake")]
        workers = [DeliveryWorker(s, {"fake": n}, AlertContent(analyzer), repo=AlertsRepo.for_store(s))
                   for s, n in zip(stores, notifiers, strict=True)]
        await asyncio.gather(*(w.drain_due() for w in workers))
        sent = [chat_id for n in notifiers for chat_id, _, _ in n.sent]
        assert sorted(sent) == ["a", "b"]
    finally:
        for s in stores:
            await s.close()


async def test_the_digest_waits_for_stale_data_and_a_missed_week_is_not_sent_late(store: Store):
    market = UniverseMarket(_clock("2025-04-10 21:30"))
    app = _app(store, market)
    assert (await dispatch(app.services, "/subscribe scan", _private("a"))).ok
    await _run_at(app, market, "2025-04-10 21:30")  # the instance exists from now on

    # SPY stops after Thursday: the digest of Friday 2025-04-11 is refused, like a pair's session
    market.frozen = {"SPY": pd.Timestamp("2025-04-10")}
    report = await _run_at(app, market, "2025-04-12 00:30")
    (refusal,) = [r for r in report.refused if r.pair == "universe:scan"]
    assert refusal.session == pd.Timestamp("2025-04-11") and "SPY data ends 2025-04-10" in refusal.reason
    assert await _scan_alerts(app.alerts.repo) == []

    # it arrives on Sunday: the digest goes out then, still about Friday
    market.frozen = {}
    report = await _run_at(app, market, "2025-04-13 10:00")
    assert report.fired.get(SCAN) == 1 and [a.as_of for a in await _scan_alerts(app.alerts.repo)] == [date(2025, 4, 11)]

    # the bot is down from Thursday to Monday evening: Friday 2025-04-18 is recorded, not sent late
    await _run_at(app, market, "2025-04-17 21:30")
    report = await _run_at(app, market, "2025-04-21 21:30")
    assert report.skipped == 1 and SCAN not in report.fired
    latest = max(await _scan_alerts(app.alerts.repo), key=lambda a: a.as_of)
    assert latest.as_of == date(2025, 4, 17)
    assert [d["status"] for d in await _scan_deliveries(app.alerts.repo)] == ["pending", "skipped"]


async def test_snapshot_mode_and_run_once_as_of_treat_it_like_the_other_kinds(store: Store, snapshot_analyzer):
    chat = await store.upsert_chat("fake", "a")
    await UniverseSubscriptions(store.db).subscribe(chat, {SCAN}, window_days=30)
    engine = AlertEngine(store, snapshot_analyzer)
    assert (await engine.run(until=date(2025, 4, 16))).alerts == 0  # a new instance: last week is not sent
    report = await engine.run(until=date(2025, 4, 18))  # Good Friday: the data's last session is Thursday
    assert report.fired == {SCAN: 1}
    (alert,) = await _scan_alerts(engine.repo)
    assert (alert.as_of, alert.key.window_days, len(alert.payload["detail"]["rows"])) == (date(2025, 4, 17), 30, 5)
    assert (await engine.run(until=date(2025, 4, 18))).alerts == 0


async def test_subscribe_and_unsubscribe_in_a_chat(store: Store):
    app = _app(store, UniverseMarket(_clock("2025-04-12 00:30")))
    services, chat = app.services, _private("a")
    reply = await dispatch(services, "/subscribe scan 30d", chat)
    assert reply.ok and "weekly scan digest" in reply.text and reply.data["subscription"]["window"] == "30d"
    same = await dispatch(services, "/subscribe scan", chat)  # no window: the subscription's stays
    assert same.ok and "Nothing changed" in same.text and same.data["subscription"]["window"] == "30d"
    wider = await dispatch(services, "/subscribe weekly 1y", chat)
    assert wider.ok and wider.data["subscription"]["window"] == "1y" and "was scan · window 30d" in wider.text
    await dispatch(services, "/subscribe BTC SPY", chat)

    listed = await dispatch(services, "/subscriptions", chat)
    assert "BTC vs SPY" in listed.text and "• the weekly scan digest: window 1y" in listed.text
    assert {s["pair"] for s in listed.data["subscriptions"]} == {"BTC:SPY", "universe"}

    for bad, words in (("/subscribe scan ETH", "takes no ticker"), ("/subscribe scan regime", "goes alone"),
                       ("/subscribe scan 30d 60d", "one window"), ("/unsubscribe scan BTC", "goes alone")):
        refused = await dispatch(services, bad, chat)
        assert not refused.ok and words in refused.text, bad

    stopped = await dispatch(services, "/unsubscribe scan", chat)
    assert stopped.ok and stopped.text.startswith("Stopped the weekly scan digest") and "BTC vs SPY" in stopped.text
    assert [s["pair"] for s in (await dispatch(services, "/subscriptions", chat)).data["subscriptions"]] == ["BTC:SPY"]
    twice = await dispatch(services, "/unsubscribe scan", chat)
    assert not twice.ok and "doesn't get the weekly scan digest" in twice.text

    # after /unsubscribe there is no digest to evaluate at all
    report = await app.alerts.evaluate()
    assert SCAN not in report.fired and await _scan_alerts(app.alerts.repo) == []
    assert not any(i.key.asset == "universe" for i in await app.alerts.repo.instances())

    await dispatch(services, "/subscribe scan", chat)
    everything = await dispatch(services, "/unsubscribe all", chat)
    assert "the weekly scan digest" in everything.text and "None" not in everything.text
    assert await store.list_subscriptions(await store.get_chat("fake", "a")) == []


async def test_in_a_group_only_admins_may_subscribe_or_unsubscribe(store: Store):
    app = _app(store, UniverseMarket(_clock("2025-04-12 00:30")))
    services = app.services
    refused = await dispatch(services, "/subscribe scan", _group("g", admin=False))
    assert not refused.ok and "admins" in refused.text
    chat = await store.get_chat("fake", "g")
    assert chat is None or await store.list_subscriptions(chat) == []

    assert (await dispatch(services, "/subscribe scan", _group("g", admin=True))).ok
    stop = await dispatch(services, "/unsubscribe scan", _group("g", admin=False))
    assert not stop.ok and "admins" in stop.text
    listed = await dispatch(services, "/subscriptions", _group("g", admin=False))  # anyone may read
    assert listed.ok and "the weekly scan digest" in listed.text


async def test_two_chats_subscribing_at_once_and_one_chat_twice_leave_one_row_each(store: Store):
    app = _app(store, UniverseMarket(_clock("2025-04-12 00:30")))
    replies = await asyncio.gather(*(dispatch(app.services, "/subscribe scan", _private(c)) for c in "aab"))
    assert all(r.ok for r in replies) and sum(r.data["created"] for r in replies) == 2
    chat = await store.get_chat("fake", "a")
    assert chat is not None and len(await store.list_subscriptions(chat)) == 1


def test_quiet_hours_hold_the_digest_but_never_bundle_it():
    quiet = QuietHours(*(datetime.strptime(t, "%H:%M").time() for t in ("22:00", "07:00")))
    late = datetime(2025, 4, 18, 23, 0, tzinfo=UTC)
    digest = release_for(Recipient(1, "fake", "UTC", quiet, False, frozenset({SCAN})), late)
    pairs = release_for(Recipient(1, "fake", "UTC", quiet, False, DEFAULT_KINDS), late)
    assert digest.not_before == pairs.not_before == datetime(2025, 4, 19, 7, 0, tzinfo=UTC)
    assert (digest.bundle, pairs.bundle) == (False, True)
    daily = release_for(Recipient(1, "fake", "UTC", None, True, frozenset({SCAN})), late)
    assert daily.not_before == datetime(2025, 4, 19, 8, 0, tzinfo=UTC) and not daily.bundle


async def test_a_pair_subscription_never_receives_the_digest(store: Store):
    await add_chats(store, 1)  # ETH:RUT, every pair kind
    market = UniverseMarket(_clock("2025-04-12 00:30"))
    engine = AlertEngine(store, PairAnalyzer(market))
    await engine.run()
    assert not any(i.key.asset == "universe" for i in await engine.repo.instances())
