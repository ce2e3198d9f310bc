"""Local fakes of Binance, Coinbase, Kraken and Yahoo for the real ccxt and yfinance code paths.

Each fake is an aiohttp app on 127.0.0.1 (port 0) that answers in the documented format of the real API,
serves prices from a shared `PriceBook`, logs every request, and can be told to fail (`Failure`).
The book is the bundled snapshot where it has data, continued (and, for symbols it lacks, replaced) by a
seeded random walk — plausible bars for any range. Nothing here touches a host other than 127.0.0.1.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from tests.market.fake_base import FakeServer, PriceBook, TestClock
from tests.market.fake_exchanges import FakeBinance, FakeCoinbase, FakeKraken
from tests.market.fake_yahoo import FakeYahoo


@dataclass
class Fakes:
    book: PriceBook
    clock: TestClock
    binance: FakeBinance
    coinbase: FakeCoinbase
    kraken: FakeKraken
    yahoo: FakeYahoo

    @property
    def exchanges(self) -> dict[str, FakeServer]:
        return {"binance": self.binance, "coinbase": self.coinbase, "kraken": self.kraken}

    def all(self) -> list[FakeServer]:
        return [self.binance, self.coinbase, self.kraken, self.yahoo]

    def clear(self) -> None:
        for fake in self.all():
            fake.requests.clear()

    def price_request_counts(self) -> dict[str, int]:
        return {fake.name: len(fake.price_requests()) for fake in self.all()}


async def start_fakes(clock: TestClock, book: PriceBook | None = None) -> Fakes:
    book = book or PriceBook()
    servers = [FakeBinance(book, clock), FakeCoinbase(book, clock), FakeKraken(book, clock), FakeYahoo(book, clock)]
    await asyncio.gather(*(s.start() for s in servers))
    return Fakes(book, clock, *servers)  # type: ignore[arg-type]


async def stop_fakes(fakes: Fakes) -> None:
    await asyncio.gather(*(s.stop() for s in fakes.all()))
