"""The price cache on SQLite and PostgreSQL: upserts (ON CONFLICT per dialect), seeding, re-basing, status."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import numpy as np
import pandas as pd
import pytest
import pytest_asyncio

from bot.assets import Asset, AssetKind
from bot.market.cache import PriceCache
from bot.store import normalise_database_url, open_store
from tests.store.conftest import postgres_url, require_postgres


async def _admin(sql: str) -> None:
    _, sync_url = normalise_database_url(postgres_url())
    connection = await asyncpg.connect("postgresql://" + sync_url.split("://", 1)[1], timeout=5)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@pytest_asyncio.fixture(params=["sqlite", "postgresql"])
async def cache(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[PriceCache]:
    if request.param == "sqlite":
        store = await open_store(f"sqlite:///{tmp_path}/cache.sqlite3")
        try:
            yield PriceCache(store.db)
        finally:
            await store.close()
        return
    require_postgres()
    schema = f"market_{uuid.uuid4().hex[:12]}"
    await _admin(f'CREATE SCHEMA "{schema}"')
    store = await open_store(postgres_url(), schema=schema)
    try:
        yield PriceCache(store.db)
    finally:
        await store.close()
        await _admin(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def hours(start: str, values: list[float] | np.ndarray) -> pd.Series:
    return pd.Series(np.asarray(values, dtype=float), index=pd.date_range(start, periods=len(values), freq="h"))


async def test_writes_replace_bars_with_the_same_timestamp(cache):
    await cache.write("ETH", "1h", hours("2026-02-25 00:00", [1.0, 2.0, 3.0]), "binance")
    await cache.write("ETH", "1h", hours("2026-02-25 02:00", [3.5, 4.0]), "coinbase")  # overlaps one bar
    stored = await cache.closes("ETH", "1h")
    assert stored.tolist() == [1.0, 2.0, 3.5, 4.0]
    last = await cache.last_bar("ETH", "1h")
    assert (last.ts, last.close, last.source) == (pd.Timestamp("2026-02-25 03:00"), 4.0, "coinbase")
    at = await cache.bar_at_or_before("ETH", "1h", pd.Timestamp("2026-02-25 01:30"))
    assert (at.ts, at.source) == (pd.Timestamp("2026-02-25 01:00"), "binance")
    assert (await cache.closes("ETH", "1h", since=pd.Timestamp("2026-02-25 02:00"))).tolist() == [3.5, 4.0]
    assert await cache.last_bar("BTC", "1h") is None


async def test_seeding_never_overwrites_and_large_batches_fit(cache):
    many = hours("2024-01-01", np.linspace(100, 200, 12_000))  # more rows than one INSERT batch
    assert await cache.seed("BTC", "1h", many) == 12_000
    await cache.write("BTC", "1h", hours("2024-01-01", [999.0]), "binance")
    await cache.seed("BTC", "1h", many)
    stored = await cache.closes("BTC", "1h")
    assert len(stored) == 12_000 and stored.iloc[0] == 999.0 and await cache.count("BTC", "1h") == 12_000
    assert (await cache.last_bar("BTC", "1h")).source == "snapshot"


async def test_rescaling_touches_only_bars_before_the_join(cache):
    days = pd.Series([10.0, 20.0, 30.0], index=pd.DatetimeIndex(["2026-02-20", "2026-02-23", "2026-02-24"]))
    await cache.write("IWM", "1d", days, "yahoo")
    assert await cache.rescale("IWM", "1d", pd.Timestamp("2026-02-24"), 0.99) == 2
    assert (await cache.closes("IWM", "1d")).tolist() == pytest.approx([9.9, 19.8, 30.0])


async def test_status_rows_are_upserted(cache):
    at = datetime(2026, 2, 25, 12, 0, tzinfo=UTC)
    await cache.record_error("RUT", "1d", "yahoo: rate limited by Yahoo (HTTP 429)", at=at)
    await cache.record_success("RUT", "1d", "yahoo", pd.Timestamp("2026-02-24"), at=at)
    await cache.record_success("ETH", "1h", "coinbase", pd.Timestamp("2026-02-25 11:00"),
                               error="binance: rate limited (HTTP 429)", at=at)
    rows = {(s.asset, s.interval): s for s in await cache.statuses()}
    rut = rows[("RUT", "1d")]
    assert rut.source == "yahoo" and rut.last_bar == pd.Timestamp("2026-02-24")
    assert rut.last_error == "yahoo: rate limited by Yahoo (HTTP 429)"  # kept until the next failure
    assert rows[("ETH", "1h")].last_error == "binance: rate limited (HTTP 429)"


async def test_user_added_assets_are_remembered_once(cache):
    vix = Asset("VIX", "CBOE Volatility Index", AssetKind.INDEX, "NYSE", "XNYS", yahoo="^VIX", aliases=("^VIX",),
                short="VIX")
    assert await cache.save_custom_asset(vix, "telegram:1") is True
    assert await cache.save_custom_asset(vix, "telegram:2") is False
    assert await cache.custom_assets() == [vix]
