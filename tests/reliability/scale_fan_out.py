"""One alert fanned out to many chats through a deployment's bot processes (tests/reliability/scale_support.py
has the whole picture): the pair that fires (`firing_pair`), the run (`fan_out`) and its figures (`FanOut`)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from dataclasses import dataclass, field
from functools import cache

from tests.reliability.scale_deployment import Deployment
from tests.reliability.scale_support import eventually

# Pairs whose rule (default thresholds) fires on the snapshot's last session (2026-01-16): the first that does
# is used, checked at run time.
CANDIDATE_PAIRS = (("BTC", "RUT", 60), ("BTC", "IWM", 60))


@dataclass(frozen=True)
class Firing:
    """A pair and window whose rule fires `kind` on the snapshot's last session (`session`)."""

    asset: str
    benchmark: str
    window_days: int
    kind: str
    session: str  # YYYY-MM-DD

    @property
    def subscribe_command(self) -> str:
        return f"/subscribe {self.asset} {self.benchmark} {self.kind} {self.window_days}d"


@cache
def firing_pair() -> Firing:
    """The first of CANDIDATE_PAIRS whose rule (default thresholds) fires one of the default kinds on the bundled
    snapshot's last session; subscriptions made by `Deployment.subscribe` want that kind alone, so every chat has
    exactly one alert to get."""
    from bot.alerts.kinds import DEFAULT_KINDS, in_order
    from bot.alerts.replay import replay
    from bot.alerts.rules import RuleParams
    from bot.analysis.analyzer import PairAnalyzer
    from bot.assets import find_asset
    from bot.market.data import SnapshotMarketData
    from bot.store.preferences import effective_thresholds

    analyzer = PairAnalyzer(SnapshotMarketData())
    for asset, benchmark, days in CANDIDATE_PAIRS:
        last = analyzer.pair(find_asset(asset), find_asset(benchmark)).returns.index[-1]
        events = replay(analyzer, RuleParams(asset, benchmark, days, effective_thresholds({})), None, None)
        fired = frozenset(e.kind for e in events if e.as_of == last) & DEFAULT_KINDS
        if fired:
            return Firing(asset, benchmark, days, in_order(fired)[0], f"{last:%Y-%m-%d}")
    raise RuntimeError("no candidate pair fires on the bundled snapshot's last session: add one to CANDIDATE_PAIRS "
                       "(`python -m bot alerts --pair A:B --window Nd` lists what a pair fires)")


# ---------------------------------------------------------------- one fan-out


@dataclass
class FanOut:
    workers: int
    chats: int
    per_second: int
    reached: int = 0
    messages: int = 0  # accepted by the fake (200): reached + duplicates
    refused: int = 0  # 429s drawn
    seconds: float = 0.0  # first to last accepted message
    statuses: Counter[str] = field(default_factory=Counter)  # the outbox at the end, one status per delivery
    alerts: int = 0  # alerts recorded for the session (one: evaluated once)
    killed: str | None = None
    killed_after: int = 0  # messages accepted when the kill came
    victim_sent: int = 0  # of which by the killed process
    in_flight: int = 0  # accepted from the killed process, not recorded as sent at the kill
    failover: float | None = None  # seconds from the kill until another process led
    peak_rss_mb: dict[str, float] = field(default_factory=dict)
    exit_codes: dict[str, int] = field(default_factory=dict)  # of the graceful stop at the end

    @property
    def duplicates(self) -> int:
        return self.messages - self.reached

    @property
    def lost(self) -> int:
        return self.chats - self.reached

    @property
    def rate(self) -> float:
        return (self.messages - 1) / self.seconds if self.seconds > 0 else 0.0

    @property
    def fraction(self) -> float:
        return self.rate / self.per_second

    def summary(self) -> str:
        text = (f"{self.workers} worker(s), {self.chats} chats: {self.rate:.1f} msg/s = {self.fraction:.0%} of the "
                f"enforced {self.per_second}/s ({self.messages} messages in {self.seconds:.1f} s, {self.refused} "
                f"answered 429); lost {self.lost}, duplicates {self.duplicates}")
        if self.killed:
            text += (f"; {self.killed} (the leader) SIGKILLed after {self.killed_after} messages ({self.victim_sent} "
                     f"its own), {self.in_flight} in flight at the kill; failover {self.failover:.1f} s")
        rss = ", ".join(f"{name} {mb:.0f} MB" for name, mb in self.peak_rss_mb.items())
        return f"{text}; peak RSS {rss}"


async def fan_out(setup: Deployment, *, workers: int, chats: int, kill_after: int | None = None,
                  timeout: float = 300.0) -> FanOut:
    """One alert to `chats` subscribers through `workers` processes; with `kill_after`, the leader is SIGKILLed
    once that many messages were accepted (and each process has sent some), and the others carry on."""
    firing = firing_pair()
    subscribers = await setup.subscribe(chats, firing)
    result = FanOut(workers, chats, setup.fake.per_second)
    started = await asyncio.gather(*(setup.start_worker() for _ in range(workers)))
    failover: asyncio.Task[float] | None = None
    if kill_after is not None:
        def from_every_worker() -> bool:
            return {s.worker for s in setup.fake.delivered(subscribers)} == {w.name for w in started}

        async def ready_to_kill() -> bool:
            sent = len(setup.fake.delivered(subscribers))
            return sent >= len(subscribers) or (sent >= kill_after and from_every_worker())

        await eventually(ready_to_kill, timeout, f"{kill_after} messages out, from every worker", every=0.02)
        if len(setup.fake.delivered(subscribers)) >= len(subscribers):
            raise AssertionError(f"the fan-out ended before every worker had sent after {kill_after} messages: "
                                 "more chats, or kill earlier")
        victim, _ = await setup.one_leader()
        await victim.kill()
        killed_at = time.monotonic()
        result.killed, result.killed_after = victim.name, len(setup.fake.delivered(subscribers))

        async def takeover() -> float:
            await eventually(lambda: _any_leader(setup), 120, "another process takes the lead", every=0.1)
            return time.monotonic() - killed_at

        failover = asyncio.create_task(takeover())
        await setup.fake.settled(victim.name)  # what was on the wire when it died is in the log now
        # Read at once, long before the victim's claims run out (the lease) and the others take them over.
        recorded = await setup.delivery_statuses(subscribers)
        by_victim = {s.chat_id for s in setup.fake.delivered(subscribers, victim.name)}
        result.victim_sent = len(by_victim)
        result.in_flight = sum(1 for chat in by_victim if "sent" not in recorded.get(chat, []))

    async def everyone_reached() -> bool:
        return {s.chat_id for s in setup.fake.delivered(subscribers)} == subscribers

    async def outbox_done() -> bool:
        statuses = await setup.delivery_statuses(subscribers)
        return len(statuses) == len(subscribers) and all(s == ["sent"] for s in statuses.values())

    with contextlib.suppress(AssertionError):  # a shortfall is reported by the figures, and asserted by the test
        await eventually(everyone_reached, timeout, "every chat reached", every=0.25)
        await eventually(outbox_done, 30, "the outbox records every send", every=0.25)
    if failover is not None:
        result.failover = await failover
    await asyncio.sleep(1.0)  # a late duplicate would show now
    sent = setup.fake.delivered(subscribers)
    result.messages, result.reached = len(sent), len({s.chat_id for s in sent})
    result.seconds = sent[-1].at - sent[0].at if len(sent) > 1 else 0.0
    result.refused = setup.fake.refused()
    result.statuses = Counter(s for statuses in (await setup.delivery_statuses(subscribers)).values() for s in statuses)
    result.alerts = await setup.alerts_recorded(firing)
    for worker in started:
        worker.sample_rss()
    result.exit_codes = await setup.stop_all()
    result.peak_rss_mb = {w.name: w.peak_rss_kb / 1024 for w in started}
    return result


async def _any_leader(setup: Deployment) -> bool:
    return bool(await setup.leaders())
