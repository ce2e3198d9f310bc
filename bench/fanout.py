"""Alert fan-out and evaluation benchmarks.

    .venv/bin/python bench/fanout.py [--runs 1000@300 10000@300 1000@100] [--database-url URL] [--days 1500]

1. Fan-out: one alert to N subscribers through the real DeliveryWorker and store, against a fake platform
   that answers 429 whenever a message would exceed the limit in any 1-second window or 1 a second for a
   chat. Prints messages/s as a share of the limit and of what PlatformLimiter alone reaches at that limit,
   429s drawn, lost and duplicated messages.
2. Evaluation: every rule instance of a 20-asset universe (190 pairs, synthetic daily prices) for one
   session, after warming them up to the session before.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
import tempfile
import time
from collections import Counter, deque
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import insert, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.alerts.delivery import DeliveryWorker
from bot.alerts.engine import AlertEngine
from bot.alerts.kinds import DEFAULT_KINDS
from bot.analysis.analyzer import PairAnalyzer
from bot.assets import Asset, AssetKind
from bot.config import MarketDataMode
from bot.market.align import LegPrices
from bot.market.data import LegData
from bot.ports.notifier import CHAT_RETRY, RetryLater, SendResult
from bot.ports.reply import Reply
from bot.render.alert_messages import AlertContent
from bot.sending.ratelimit import PlatformLimiter, PlatformLimits, Priority
from bot.store import Store, open_store
from bot.store.alert_records import InstanceKey, InstanceUpdate, NewAlert, Release
from bot.store.alerts_repo import AlertsRepo
from bot.store.models import ChatRow, SubscriptionRow
from bot.store.values import dump_kinds

ALL_KINDS = dump_kinds(DEFAULT_KINDS)

# ---------------------------------------------------------------- fan-out


class LimitedPlatform:
    """A fake chat platform with Telegram-style limits; counts what each chat received."""

    platform = "bench"

    def __init__(self, per_second: int) -> None:
        self.retry = CHAT_RETRY
        self.limiter = PlatformLimiter(PlatformLimits(per_second=per_second, per_chat_per_second=1))
        self.per_second = per_second
        self.window: deque[float] = deque()
        self.last_by_chat: dict[str, float] = {}
        self.too_many = 0
        self.received: Counter[str] = Counter()
        self.times: list[float] = []

    async def send(self, chat_id: str, reply: Reply, media: str | None = None, *, is_group: bool = False
                   ) -> SendResult:
        async with self.limiter.slot(chat_id, is_group, priority=Priority.ALERT):  # as the chat notifiers do
            return self._receive(chat_id)

    def _receive(self, chat_id: str) -> SendResult:
        now = time.monotonic()
        while self.window and self.window[0] <= now - 1.0:
            self.window.popleft()
        if len(self.window) >= self.per_second:
            self.too_many += 1
            raise RetryLater(1.0)
        if now - self.last_by_chat.get(chat_id, -10.0) < 1.0:
            self.too_many += 1
            raise RetryLater(1.0, chat_only=True)
        self.window.append(now)
        self.last_by_chat[chat_id] = now
        self.times.append(now)
        self.received[chat_id] += 1
        return SendResult(str(len(self.times)))


async def add_subscribers(store: Store, count: int, platform: str, pair: tuple[str, str]) -> None:
    async with store.engine.begin() as connection:
        for first in range(0, count, 2000):
            ids = [f"chat{i}" for i in range(first, min(first + 2000, count))]
            await connection.execute(insert(ChatRow), [{"platform": platform, "chat_id": c, "kind": "private"}
                                                       for c in ids])
            pks = (await connection.execute(select(ChatRow.id).where(ChatRow.chat_id.in_(ids)))).scalars().all()
            await connection.execute(insert(SubscriptionRow), [
                {"chat_pk": pk, "asset": pair[0], "benchmark": pair[1], "window_days": 90, "kinds": ALL_KINDS}
                for pk in pks])


async def user_replies_during(platform: LimitedPlatform, drain: asyncio.Task[object], every: float = 0.5
                              ) -> list[float]:
    """While the fan-out drains, a user's reply (priority REPLY, through the same limiter) every `every`
    seconds, each in a chat of its own; returns how long each waited for its slot."""
    waits: list[float] = []
    await asyncio.sleep(every)
    while not drain.done():
        asked = time.monotonic()
        async with platform.limiter.slot(f"user{len(waits)}", priority=Priority.REPLY):
            waits.append(time.monotonic() - asked)
        await asyncio.sleep(every)
    return waits


async def limiter_ceiling(limit: int, messages: int) -> float:
    """Messages/s that `PlatformLimiter` alone lets through at this limit (nothing else on the loop)."""
    limiter = PlatformLimiter(PlatformLimits(per_second=limit, per_chat_per_second=1))
    times: list[float] = []
    chats = iter(range(messages))

    async def sender() -> None:
        for chat in chats:
            async with limiter.slot(f"chat{chat}"):
                times.append(time.monotonic())

    await asyncio.gather(*(sender() for _ in range(8)))
    return (len(times) - 1) / (times[-1] - times[0])


async def fan_out(database_url: str, subscribers: int, limit: int) -> None:
    store = await open_store(database_url)
    try:
        await add_subscribers(store, subscribers, "bench", ("ETH", "RUT"))
        repo = AlertsRepo.for_store(store)
        (instance,) = await repo.ensure_instances([(InstanceKey("ETH", "RUT", 90, "{}"), "XNYS")])
        now = datetime.now(UTC)
        alert = NewAlert("regime", date(2026, 1, 16), {"value": 0.12, "from_regime": "neutral",
                                                       "to_regime": "decoupled", "since": "2026-01-12",
                                                       "detail": {"rho_rank": 0.1}})
        started = time.monotonic()
        await repo.record_run([InstanceUpdate(instance, "{}", alert.as_of, [alert])], [],
                              lambda recipient, at: Release(at, False), now)
        queued = time.monotonic() - started
        platform = LimitedPlatform(limit)
        worker = DeliveryWorker(store, {"bench": platform}, AlertContent(), repo=repo)
        started = time.monotonic()
        drain = asyncio.create_task(worker.drain_due())
        replies = await user_replies_during(platform, drain)
        await drain
        elapsed = time.monotonic() - started
        sent = len(platform.times)
        rate = (sent - 1) / (platform.times[-1] - platform.times[0]) if sent > 1 else 0.0
        lost = subscribers - len(platform.received)
        duplicated = sum(n - 1 for n in platform.received.values())
        ceiling = await limiter_ceiling(limit, min(subscribers, 3 * limit))
        print(f"fan-out {subscribers:>6} subscribers at {limit}/s: {rate:6.1f} msg/s = {rate / limit:.3f} of the limit "
              f"({rate / ceiling:.2f} of the {ceiling:.0f}/s PlatformLimiter alone reaches), "
              f"{platform.too_many} answers 429, lost {lost}, duplicated {duplicated} "
              f"(outbox written in {queued:.2f} s, drained in {elapsed:.1f} s)")
        if replies:
            print(f"    a user's reply sent during that fan-out (replies go first): {len(replies)} replies, "
                  f"waited p50 {np.percentile(replies, 50) * 1000:.0f} ms, max {max(replies) * 1000:.0f} ms")
    finally:
        await store.close()


# ---------------------------------------------------------------- evaluation of a 20-asset universe


def synthetic_universe(assets: int, days: int, seed: int = 7) -> dict[str, pd.Series]:
    """Daily closes with a common factor, so pairs are correlated to different degrees and regimes change."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2019-01-01", periods=days, freq="D")
    factor = rng.normal(0, 0.02, days)
    loadings = np.linspace(0.2, 1.2, assets)
    wobble = np.sin(np.linspace(0, 12, days))  # the common factor's weight drifts, so correlations move
    return {
        f"SYN{i:02d}": pd.Series(100 * np.exp(np.cumsum(loadings[i] * factor * (1 + 0.8 * wobble)
                                                        + rng.normal(0, 0.02, days))), index=dates)
        for i in range(assets)
    }


class SyntheticMarketData:
    mode = MarketDataMode.SNAPSHOT

    def __init__(self, closes: dict[str, pd.Series]) -> None:
        self.closes = closes

    def leg(self, asset: Asset) -> LegData:
        return LegData(LegPrices(asset.symbol, True, self.closes[asset.symbol], None), "snapshot")

    def now(self) -> None:
        return None

    async def refresh(self, assets: list[Asset]) -> None:
        return None


async def evaluate_universe(database_url: str, assets: int, days: int) -> None:
    closes = synthetic_universe(assets, days)
    registry = {s: Asset(s, s, AssetKind.CRYPTO, "24/7", None) for s in closes}
    pairs = list(itertools.combinations(sorted(registry), 2))
    store = await open_store(database_url)
    try:
        async with store.engine.begin() as connection:
            await connection.execute(insert(ChatRow).values(platform="bench", chat_id="universe", kind="private"))
            pk = (await connection.execute(select(ChatRow.id))).scalar_one()
            await connection.execute(insert(SubscriptionRow), [
                {"chat_pk": pk, "asset": a, "benchmark": b, "window_days": 90, "kinds": ALL_KINDS} for a, b in pairs])
        analyzer = PairAnalyzer(SyntheticMarketData(closes))
        engine = AlertEngine(store, analyzer, resolve=registry.get)
        dates = next(iter(closes.values())).index
        last, previous = dates[-1], dates[-2]

        started = time.monotonic()
        for a, b in pairs:  # the market data layer aligns pairs when their data changes; not the engine's work
            analyzer.pair(registry[a], registry[b])
        aligned = time.monotonic() - started
        started = time.monotonic()
        warm = await engine.run(until=previous.date())
        warm_up = time.monotonic() - started
        started = time.monotonic()
        report = await engine.run(until=last.date())
        session = time.monotonic() - started
        print(f"universe: {assets} assets, {len(pairs)} pairs = {report.evaluated} rule instances, {days} days; "
              f"one session evaluated in {session:.3f} s ({report.alerts} alerts); warm-up over the history "
              f"{warm_up:.1f} s ({warm.alerts} alerts recorded); aligning the pairs {aligned:.1f} s")
    finally:
        await store.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", nargs="+", default=["1000@300", "10000@300", "1000@100"],
                        help="fan-outs as SUBSCRIBERS@LIMIT (messages per second the fake platform enforces)")
    parser.add_argument("--database-url", help="default: a temporary SQLite file per run")
    parser.add_argument("--assets", type=int, default=20)
    parser.add_argument("--days", type=int, default=1500, help="synthetic daily history per asset")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for n, run in enumerate(args.runs):
            count, _, limit = run.partition("@")
            await fan_out(args.database_url or f"sqlite:///{folder}/fanout{n}.sqlite3", int(count), int(limit or 300))
        await evaluate_universe(args.database_url or f"sqlite:///{folder}/universe.sqlite3", args.assets, args.days)


if __name__ == "__main__":
    asyncio.run(main())
