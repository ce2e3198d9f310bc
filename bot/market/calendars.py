"""Exchange session calendars (close times in UTC, early closes included)."""

from __future__ import annotations

import warnings
from functools import lru_cache

import exchange_calendars as xcals
import pandas as pd

# The libraries' default range reaches only about 20 years back; the snapshot's equity history is longer.
CALENDAR_START = "1990-01-01"
# A live daily bar counts as final once fetched this long after its session closed (docs/methods.md §1.6).
SETTLE = pd.Timedelta(minutes=15)


@lru_cache(maxsize=4)
def session_closes(code: str = "XNYS") -> pd.Series:
    """Session date (naive midnight) -> official close time (UTC), for every session the calendar knows."""
    with warnings.catch_warnings():
        # exchange_calendars still uses Series.values on tz-aware data, which pandas 3.1 deprecates
        warnings.simplefilter("ignore")
        cal = xcals.get_calendar(code, start=CALENDAR_START)
    # a new Series: exchange_calendars caches its calendars, so the schedule's own column is shared by every caller
    # (renaming its index in place raced between threads on pandas 2.x, which has no copy-on-write)
    schedule = cal.schedule["close"]
    dates = pd.DatetimeIndex(schedule.index).tz_localize(None).as_unit("ns").rename("date")
    return pd.Series(schedule.array, index=dates, name="close")


def last_completed_session(now: pd.Timestamp, code: str = "XNYS") -> pd.Timestamp:
    """The newest session whose close (plus settling time) is not after `now` (a UTC timestamp)."""
    closes = session_closes(code)
    done = closes[closes + SETTLE <= now]
    return done.index[-1]


def last_completed_utc_day(now: pd.Timestamp) -> pd.Timestamp:
    return (now.tz_convert("UTC").tz_localize(None).normalize()) - pd.Timedelta(days=1)
