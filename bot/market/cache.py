"""What bot/market keeps in the store: price bars, per-series source status, user-added assets.

Tables from migration 0002 (bot/store/models.py). Writes are upserts — ON CONFLICT in the dialect's own
syntax (SQLite and PostgreSQL both have it) — so a refresh that overlaps what is stored just rewrites it.
Timestamps in `price_bars` are naive UTC: the session date at midnight for 1d bars, the open time for 1h.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import delete, func, select, update

from bot.assets import Asset, AssetKind
from bot.clock import utcnow
from bot.store.database import Database
from bot.store.models import CustomAssetRow, PriceBarRow, SourceStatusRow

SNAPSHOT = "snapshot"  # price_bars.source of bars copied from the bundled snapshot
_BATCH = 5000  # rows per INSERT: keeps statements well under SQLite's and asyncpg's parameter limits
_ERROR_LIMIT = 500


@dataclass(frozen=True)
class StoredBar:
    ts: pd.Timestamp
    close: float
    source: str


@dataclass(frozen=True)
class SeriesStatus:
    asset: str
    interval: str
    source: str | None  # where the last good bars came from
    last_bar: pd.Timestamp | None
    last_success_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None



class PriceCache:
    """Reads and writes Core rows (bulk bars) through the store's shared `Database`: its lock, its readiness."""

    def __init__(self, db: Database):
        self.db = db
        self._insert = db.insert

    def _read(self) -> Any:
        return self.db.connection(write=False)

    def _write(self) -> Any:
        return self.db.connection(write=True)

    # ---------------------------------------------------------------- bars

    async def closes(self, asset: str, interval: str, since: pd.Timestamp | None = None) -> pd.Series:
        """Stored closes of a series (from `since` on), oldest first (naive UTC timestamp -> close)."""
        query = select(PriceBarRow.ts, PriceBarRow.close).where(
            PriceBarRow.asset == asset, PriceBarRow.interval == interval
        )
        if since is not None:
            query = query.where(PriceBarRow.ts >= _py(since))
        query = query.order_by(PriceBarRow.ts)
        async with self._read() as conn:
            rows = (await conn.execute(query)).all()
        index = pd.DatetimeIndex([r[0] for r in rows], name="ts").as_unit("ns")
        return pd.Series([r[1] for r in rows], index=index, dtype=float, name=asset)

    async def last_bar(self, asset: str, interval: str) -> StoredBar | None:
        return await self._one(asset, interval, None, newest=True)

    async def bar_at_or_before(self, asset: str, interval: str, ts: pd.Timestamp) -> StoredBar | None:
        return await self._one(asset, interval, ts, newest=True)

    async def count(self, asset: str, interval: str) -> int:
        query = select(func.count()).where(PriceBarRow.asset == asset, PriceBarRow.interval == interval)
        async with self._read() as conn:
            return int((await conn.execute(query)).scalar_one())

    async def _one(self, asset: str, interval: str, upto: pd.Timestamp | None, newest: bool) -> StoredBar | None:
        query = select(PriceBarRow.ts, PriceBarRow.close, PriceBarRow.source).where(
            PriceBarRow.asset == asset, PriceBarRow.interval == interval
        )
        if upto is not None:
            query = query.where(PriceBarRow.ts <= _py(upto))
        query = query.order_by(PriceBarRow.ts.desc() if newest else PriceBarRow.ts).limit(1)
        async with self._read() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else StoredBar(pd.Timestamp(row[0]), float(row[1]), row[2])

    async def write(
        self, asset: str, interval: str, bars: pd.Series, source: str, at: datetime | None = None
    ) -> int:
        """Store bars, replacing stored bars with the same timestamps. Returns how many were given."""
        stmt = self._insert(PriceBarRow)
        stmt = stmt.on_conflict_do_update(
            index_elements=["asset", "interval", "ts"],
            set_={"close": stmt.excluded.close, "source": stmt.excluded.source, "fetched_at": stmt.excluded.fetched_at},
        )
        return await self._insert_rows(stmt, asset, interval, bars, source, at)

    async def seed(self, asset: str, interval: str, bars: pd.Series, source: str = SNAPSHOT) -> int:
        """Store bars where nothing is stored yet (a cold start from the bundled snapshot)."""
        stmt = self._insert(PriceBarRow).on_conflict_do_nothing(index_elements=["asset", "interval", "ts"])
        return await self._insert_rows(stmt, asset, interval, bars, source)

    async def _insert_rows(
        self, stmt: Any, asset: str, interval: str, bars: pd.Series, source: str, at: datetime | None = None
    ) -> int:
        fetched_at = at or utcnow()
        rows = [
            {"asset": asset, "interval": interval, "ts": ts, "close": close, "source": source, "fetched_at": fetched_at}
            for ts, close in zip(bars.index.to_pydatetime(), bars.to_numpy(float).tolist(), strict=True)
        ]
        async with self._write() as conn:
            for start in range(0, len(rows), _BATCH):
                await conn.execute(stmt, rows[start : start + _BATCH])
        return len(rows)

    async def rescale(self, asset: str, interval: str, before: pd.Timestamp, factor: float) -> int:
        """Multiply stored closes before `before` by `factor`: a dividend or split re-based the adjusted history."""
        stmt = (
            update(PriceBarRow)
            .where(PriceBarRow.asset == asset, PriceBarRow.interval == interval, PriceBarRow.ts < _py(before))
            .values(close=PriceBarRow.close * factor)
        )
        async with self._write() as conn:
            return (await conn.execute(stmt)).rowcount or 0

    # ---------------------------------------------------------------- status

    async def record_success(
        self,
        asset: str,
        interval: str,
        source: str,
        last_bar: pd.Timestamp | None,
        *,
        error: str | None = None,
        at: datetime | None = None,
    ) -> None:
        """A source answered. `error`: what the sources tried before it said (kept as the last error)."""
        now = at or utcnow()
        values: dict[str, Any] = {"source": source, "last_success_at": now, "updated_at": now}
        if last_bar is not None:
            values["last_bar"] = _py(last_bar)
        if error:
            values.update(last_error=error[:_ERROR_LIMIT], last_error_at=now)
        await self._upsert_status(asset, interval, values)

    async def record_error(self, asset: str, interval: str, error: str, *, at: datetime | None = None) -> None:
        now = at or utcnow()
        await self._upsert_status(
            asset, interval, {"last_error": error[:_ERROR_LIMIT], "last_error_at": now, "updated_at": now}
        )

    async def _upsert_status(self, asset: str, interval: str, values: dict[str, Any]) -> None:
        stmt = self._insert(SourceStatusRow).values(asset=asset, interval=interval, **values)
        stmt = stmt.on_conflict_do_update(index_elements=["asset", "interval"], set_=values)
        async with self._write() as conn:
            await conn.execute(stmt)

    async def statuses(self) -> list[SeriesStatus]:
        query = select(SourceStatusRow).order_by(SourceStatusRow.asset, SourceStatusRow.interval)
        async with self._read() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [
            SeriesStatus(
                r["asset"], r["interval"], r["source"],
                None if r["last_bar"] is None else pd.Timestamp(r["last_bar"]),
                r["last_success_at"], r["last_error"], r["last_error_at"],
            )
            for r in rows
        ]

    # ---------------------------------------------------------------- user-added assets

    async def custom_assets(self) -> list[Asset]:
        async with self._read() as conn:
            rows = (await conn.execute(select(CustomAssetRow).order_by(CustomAssetRow.created_at))).mappings().all()
        return [
            Asset(r["symbol"], r["name"], AssetKind(r["kind"]), r["market"], r["calendar"], yahoo=r["yahoo"],
                  ccxt=r["ccxt"], aliases=(r["yahoo"],) if r["yahoo"] and r["yahoo"] != r["symbol"] else (),
                  short=r["symbol"])
            for r in rows
        ]

    async def save_custom_asset(self, asset: Asset, added_by: str | None) -> bool:
        """Remember a user-added asset; False when one with that symbol is already stored."""
        stmt = self._insert(CustomAssetRow).values(
            symbol=asset.symbol, name=asset.name[:255], kind=asset.kind.value, market=asset.market,
            calendar=asset.calendar, yahoo=asset.yahoo, ccxt=asset.ccxt, added_by=(added_by or None),
            created_at=utcnow(),
        )
        async with self._write() as conn:
            result = await conn.execute(stmt.on_conflict_do_nothing(index_elements=["symbol"]))
        return bool(result.rowcount)

    async def delete_custom_asset(self, symbol: str) -> bool:
        """Forget a user-added asset (its stored prices stay, for a later add); False when it was not stored."""
        async with self._write() as conn:
            result = await conn.execute(delete(CustomAssetRow).where(CustomAssetRow.symbol == symbol))
        return bool(result.rowcount)


def _py(ts: pd.Timestamp) -> datetime:
    stamp = pd.Timestamp(ts)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return stamp.to_pydatetime()
