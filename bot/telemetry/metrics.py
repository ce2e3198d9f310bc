"""What the bot counts, for /metrics (Prometheus text, prometheus-client). One registry per App, so two apps in
one process (tests) never share counters. Everything is named `decoupler_…`.

Counters are incremented where things happen (the runner, the delivery worker, the limiter, the market
data); gauges that describe a state (price age, leader) are read when /metrics is scraped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
REPLY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0)


class _Gauges(Collector):
    """Gauges computed at scrape time from callbacks (price ages, leadership)."""

    def __init__(self) -> None:
        self.price_ages: Callable[[], Iterable[tuple[str, float]]] = lambda: ()
        self.leader: Callable[[], bool] = lambda: True

    def collect(self) -> Iterable[GaugeMetricFamily]:
        ages = GaugeMetricFamily("decoupler_price_age_seconds", "Age of the newest price of each asset",
                                 labels=["asset"])
        for asset, age in self.price_ages():
            ages.add_metric([asset], age)
        yield ages
        yield GaugeMetricFamily("decoupler_leader", "1 if this process runs the alert scheduler",
                                value=1.0 if self.leader() else 0.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.commands = Counter("decoupler_commands", "Commands answered", ["command", "platform", "outcome"],
                                registry=r)
        self.reply_seconds = Histogram("decoupler_reply_seconds", "Time from a command to its answer",
                                       ["platform"], buckets=REPLY_BUCKETS, registry=r)
        self.alerts = Counter("decoupler_alerts", "Alerts fired", ["kind"], registry=r)
        self.deliveries = Counter("decoupler_deliveries", "Deliveries finished", ["platform", "outcome"], registry=r)
        self.platform_429 = Counter("decoupler_platform_429", "429 answers from a platform", ["platform"],
                                    registry=r)
        self.source_errors = Counter("decoupler_source_errors", "Failed requests to a market data source",
                                     ["source"], registry=r)
        self.gauges = _Gauges()
        r.register(self.gauges)

    def command(self, command: str, platform: str, ok: bool, seconds: float) -> None:
        self.commands.labels(command or "unknown", platform, "ok" if ok else "error").inc()
        self.reply_seconds.labels(platform).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
