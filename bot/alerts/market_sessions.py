"""Which session a rule instance is evaluated for, when it is due, and whether its data is fresh enough.

A pair with an equity or index leg follows that leg's exchange calendar (early closes and holidays come
from the calendar); a crypto–crypto pair follows UTC days (docs/methods.md §1.2, §5.6).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pandas as pd

from bot.analysis.results import PairData
from bot.assets import Asset
from bot.market import calendars
from bot.market.data import LegFreshness, pair_freshness

UTC_DAYS = "UTC"  # the calendar of crypto–crypto pairs: every UTC day is a session


def rule_calendar(asset: Asset, benchmark: Asset) -> str:
    return next((leg.calendar for leg in (asset, benchmark) if leg.calendar), UTC_DAYS)


def latest_session(calendar: str, now: pd.Timestamp) -> pd.Timestamp:
    """The newest session of `calendar` that is over at `now` (UTC)."""
    if calendar == UTC_DAYS:
        return calendars.last_completed_utc_day(now)
    return calendars.last_completed_session(now, calendar)


def session_on_or_before(calendar: str, day: pd.Timestamp) -> pd.Timestamp:
    day = pd.Timestamp(day).normalize()
    if calendar == UTC_DAYS:
        return day
    sessions = calendars.session_closes(calendar).index
    return sessions[sessions.searchsorted(day, side="right") - 1]


def week_end_on_or_before(calendar: str, day: pd.Timestamp) -> pd.Timestamp | None:
    """The newest session on or before `day` that is its week's last (weeks run Monday to Sunday): for NYSE
    usually the Friday, the Thursday when Friday is a holiday (Good Friday); for UTC days the Sunday. None
    before the calendar's first week."""
    day = pd.Timestamp(day).normalize()
    if calendar == UTC_DAYS:
        return day - pd.Timedelta(days=(day.weekday() + 1) % 7)
    sessions = calendars.session_closes(calendar).index
    i = int(sessions.searchsorted(day, side="right")) - 1
    while i >= 0:
        if i + 1 == len(sessions) or _monday(sessions[i + 1]) != _monday(sessions[i]):
            return sessions[i]
        i -= 1
    return None


def _monday(day: pd.Timestamp) -> pd.Timestamp:
    return day - pd.Timedelta(days=day.weekday())


def next_run(calendar: str, now: datetime, delay: timedelta) -> datetime:
    """When the engine should next run for `calendar`: `delay` after the next session close (UTC midnight for
    UTC days) that lies ahead of `now` once the delay is added."""
    if calendar == UTC_DAYS:
        midnight = datetime(now.year, now.month, now.day, tzinfo=UTC)
        run = midnight + delay
        return run if run > now else run + timedelta(days=1)
    runs = calendars.session_closes(calendar) + delay
    upcoming = runs[runs > pd.Timestamp(now)]
    run_at: datetime = upcoming.iloc[0].to_pydatetime()
    return run_at


@dataclass(frozen=True)
class Staleness:
    symbol: str
    last_bar: pd.Timestamp
    needed: pd.Timestamp
    source: str
    freshness: LegFreshness | None = None

    @property
    def reason(self) -> str:
        if self.freshness is not None and self.freshness.waits_for_candles(self.needed):
            # sync-close: the session is pending until the crypto candles reach its close (docs/methods.md §1.7)
            return self.freshness.candles_reason(self.needed)
        end = self.freshness.data_end if self.freshness is not None else self.last_bar
        return f"{self.symbol} data ends {end:%Y-%m-%d} ({self.source}), {self.needed:%Y-%m-%d} is needed"


def stale_legs(data: PairData, now: pd.Timestamp | None, target: pd.Timestamp) -> list[Staleness]:
    """Legs whose last complete bar is behind what the session needs: their market's last completed session
    by the clock (`leg_freshness`), or the target session when an earlier one is asked for. A crypto leg
    priced at the equity close (sync-close) is behind a session until its hourly candles reach that
    session's close. No clock (snapshot mode): never stale."""
    if now is None:
        return []
    stale = []
    legs = pair_freshness(data.asset, data.legs[0], data.benchmark, data.legs[1], now)
    for freshness in legs:
        if freshness.expected is None:
            continue
        needed = min(freshness.expected, target)
        if freshness.last_bar < needed:
            stale.append(Staleness(freshness.symbol, freshness.last_bar, needed, freshness.source, freshness))
    return stale
