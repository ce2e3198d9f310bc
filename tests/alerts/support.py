"""Fakes for the alert tests: a MarketData with a clock, notifiers, and builders of alerts in the store."""

from __future__ import annotations

import time
from collections import Counter, deque
from datetime import UTC, date, datetime, timedelta

import pandas as pd
from sqlalchemy import insert, select

from bot.assets import Asset
from bot.config import MarketDataMode
from bot.market import snapshot
from bot.market.align import LegPrices
from bot.market.data import LegData
from bot.ports.notifier import CHAT_RETRY, DeliveryError, RetryLater, SendResult
from bot.ports.reply import Reply
from bot.sending.ratelimit import PlatformLimiter, PlatformLimits
from bot.store import Chat, Store
from bot.store.alert_records import InstanceKey, InstanceUpdate, NewAlert, Recipient, Release
from bot.store.alerts_repo import AlertsRepo
from bot.store.models import ChatRow, SubscriptionRow


class ClockedMarketData:
    """Live-like market data: the bundled prices as they were at `clock` (crypto up to the last complete
    hourly candle, daily bars up to the last complete day), each leg optionally frozen at an end date."""

    mode = MarketDataMode.LIVE

    def __init__(self, clock: pd.Timestamp, frozen: dict[str, pd.Timestamp] | None = None) -> None:
        self.clock = clock
        self.frozen = dict(frozen or {})
        self.refreshes = 0

    def now(self) -> pd.Timestamp:
        return self.clock

    async def refresh(self, assets: list[Asset]) -> None:
        self.refreshes += 1

    def leg(self, asset: Asset) -> LegData:
        clock = self.clock.tz_convert("UTC").tz_localize(None)
        daily_end = self.frozen.get(asset.symbol, clock.normalize() - pd.Timedelta(days=1 if asset.is_crypto else 0))
        daily = snapshot.daily_closes(asset.symbol)
        daily = daily[daily.index <= min(daily_end, clock.normalize())]
        hourly = snapshot.hourly_closes(asset.symbol) if snapshot.has_series(asset.symbol, "1h") else None
        if hourly is not None:
            cut = pd.Timestamp(clock, tz="UTC") - pd.Timedelta(hours=1)  # candles that have closed
            if asset.symbol in self.frozen:
                cut = min(cut, pd.Timestamp(self.frozen[asset.symbol], tz="UTC") + pd.Timedelta(hours=23))
            hourly = hourly[hourly.index <= cut]
        prices = LegPrices(asset.symbol, asset.is_crypto, daily, hourly)
        version = hash((str(self.clock), str(self.frozen.get(asset.symbol))))
        return LegData(prices, "live", version)


UNLIMITED = PlatformLimits(per_second=10_000, per_chat_per_second=10_000)
ETH_RUT_90D = InstanceKey("ETH", "RUT", 90, "{}")


class RecordingNotifier:
    """Records every message; `failures[chat_id]` lists errors to raise, one per send, before succeeding."""

    def __init__(
        self, platform: str = "fake", *, handle: str | None = None, limits: PlatformLimits = UNLIMITED
    ) -> None:
        self.platform = platform
        self.retry = CHAT_RETRY
        self.limiter = PlatformLimiter(limits)
        self.handle = handle
        self.failures: dict[str, list[DeliveryError]] = {}
        self.sent: list[tuple[str, Reply, str | None]] = []

    async def send(self, chat_id: str, reply: Reply, media: str | None = None, *, is_group: bool = False
                   ) -> SendResult:
        async with self.limiter.slot(chat_id, is_group):
            return self._record(chat_id, reply, media)

    def _record(self, chat_id: str, reply: Reply, media: str | None) -> SendResult:
        queued = self.failures.get(chat_id)
        if queued:
            raise queued.pop(0)
        self.sent.append((chat_id, reply, media))
        uploaded = reply.chart is not None and media is None
        return SendResult(str(len(self.sent)), (self.handle if uploaded else media))

    def chats(self) -> Counter[str]:
        return Counter(chat_id for chat_id, _, _ in self.sent)


class RateLimitedServer:
    """The fake platform's limits: 429 (retry_after) when a message would make more than `per_second` in any
    1-second window, or come less than a second after the previous one to the same chat."""

    def __init__(self, per_second: int = 30, retry_after: float = 1.0) -> None:
        self.per_second = per_second
        self.retry_after = retry_after
        self.accepted: deque[float] = deque()
        self.last_by_chat: dict[str, float] = {}
        self.too_many = 0
        self.delivered: Counter[tuple[str, int]] = Counter()
        self.times: list[float] = []

    def receive(self, chat_id: str, delivery_ids: list[int]) -> None:
        now = time.monotonic()
        while self.accepted and self.accepted[0] <= now - 1.0:
            self.accepted.popleft()
        if len(self.accepted) >= self.per_second:
            self.too_many += 1
            raise RetryLater(self.retry_after)
        if now - self.last_by_chat.get(chat_id, -10.0) < 1.0:
            self.too_many += 1
            raise RetryLater(self.retry_after, chat_only=True)
        self.accepted.append(now)
        self.times.append(now)
        self.last_by_chat[chat_id] = now
        for delivery_id in delivery_ids:
            self.delivered[(chat_id, delivery_id)] += 1


class RateLimitedNotifier:
    def __init__(self, server: RateLimitedServer, limits: PlatformLimits) -> None:
        self.platform = "telegram"
        self.retry = CHAT_RETRY
        self.limiter = PlatformLimiter(limits)
        self.server = server

    async def send(self, chat_id: str, reply: Reply, media: str | None = None, *, is_group: bool = False
                   ) -> SendResult:
        async with self.limiter.slot(chat_id, is_group):
            self.server.receive(chat_id, list(reply.data.get("delivery_ids", [])))
        return SendResult()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC) if "+" not in text else datetime.fromisoformat(text)


def send_now(recipient: Recipient, now: datetime) -> Release:
    return Release(now, bundle=False)


async def add_chats(store: Store, count: int, *, platform: str = "fake", pair: tuple[str, str] = ("ETH", "RUT"),
                    window_days: int = 90, prefix: str = "chat") -> list[Chat]:
    """`count` private chats subscribed to `pair` (all alert kinds, default thresholds), in two statements."""
    chat_ids = [f"{prefix}{i}" for i in range(count)]
    async with store.engine.begin() as connection:
        await connection.execute(insert(ChatRow), [{"platform": platform, "chat_id": c, "kind": "private"}
                                                   for c in chat_ids])
        rows = (await connection.execute(
            select(ChatRow.id, ChatRow.chat_id).where(ChatRow.platform == platform, ChatRow.chat_id.in_(chat_ids))
        )).all()
        pks = {chat_id: pk for pk, chat_id in rows}
        await connection.execute(insert(SubscriptionRow), [
            {"chat_pk": pks[c], "asset": pair[0], "benchmark": pair[1], "window_days": window_days,
             "kinds": "divergence,record,regime"}
            for c in chat_ids
        ])
    return [chat for c in chat_ids if (chat := await store.get_chat(platform, c)) is not None]


async def fire(
    repo: AlertsRepo, kinds_and_dates: list[tuple[str, date]], *, now: datetime, release=send_now,
    key: InstanceKey = ETH_RUT_90D,
) -> None:
    """Record alerts of one rule instance (as the engine would) and fan them out to its subscribers."""
    (instance,) = await repo.ensure_instances([(key, "XNYS")])
    last = max(day for _, day in kinds_and_dates)
    alerts = [NewAlert(kind, day, {"value": 0.1 if kind != "divergence" else 2.7, "from_regime": "neutral",
                                   "to_regime": "decoupled", "since": f"{day - timedelta(days=6)}",
                                   "detail": {"side": "low", "horizon": 20, "rho": 0.1, "rho_rank": 0.1}})
              for kind, day in kinds_and_dates]
    await repo.record_run([InstanceUpdate(instance, "{}", last, alerts)], [], release, now)
