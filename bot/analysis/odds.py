"""/odds: how past gaps like today's ended (docs/methods.md §10), on top of /gap's service and the episodes of
bot/analysis/episodes.py.

Today's gap is /gap's (the same anchor, beta and g) with its gap_z = z₀. The comparable episodes are the past
ones whose |gap_z| reached the level max(|z₀|, 1.5), each timed from the session it did; the pair's own episode
still open at as_of is today's gap, not a past one. Kaplan–Meier treats the episodes still open (or ended by a
re-coupling) as censored. Fewer than `MIN_ESTIMATE` comparable episodes are listed, not estimated.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from bot.analysis.episodes import (
    OPEN,
    RECOUPLED,
    Episode,
    default_anchor_paths,
    gap_path,
    pair_episodes,
    path_episodes,
)
from bot.analysis.gap import GapService
from bot.analysis.gap_results import END_OF_COUPLED, CoupledNow, GapResult
from bot.analytics import episodes as ep
from bot.analytics import gap as gm
from bot.assets import Asset
from bot.windows import Window

if TYPE_CHECKING:
    from bot.analysis.analyzer import PairAnalyzer

HORIZONS = (20, 60, 120)  # sessions: "closed within …"
MIN_ESTIMATE = 5  # comparable episodes an estimate needs; fewer are listed instead


@dataclass(frozen=True)
class Interval:
    """An estimate with its 95% interval."""

    value: float
    lower: float
    upper: float


@dataclass(frozen=True)
class Comparable:
    """A past episode whose |gap_z| reached the level, timed from the session it did."""

    episode: Episode
    reached: pd.Timestamp
    sessions: int  # from `reached` to the episode's end

    @property
    def closed(self) -> bool:
        return self.episode.closed


BEYOND_FOLLOW_UP = "beyond the longest follow-up"
NO_INTERVAL = "every episode followed that long closed: no interval"


@dataclass(frozen=True)
class Horizon:
    sessions: int
    closed: int  # comparable episodes seen to close within it
    estimate: Interval | None  # Kaplan–Meier P(closed within); None with the reason
    withheld: str | None = None  # BEYOND_FOLLOW_UP, or NO_INTERVAL when S fell to 0 (the log-log interval is
    # undefined there: a few episodes, all closed, would read as "100% (95% 100–100%)")


@dataclass(frozen=True)
class Summary:
    level: float  # |gap_z| the comparable episodes reached
    episodes: tuple[Comparable, ...]
    km: ep.KaplanMeier | None  # None below MIN_ESTIMATE
    horizons: tuple[Horizon, ...]  # empty below MIN_ESTIMATE
    median: tuple[int | None, int | None, int | None] | None  # sessions to close and its interval
    by_asset: Interval | None  # Wilson: share of the closed ones closed mostly by the asset
    by_benchmark: Interval | None

    @property
    def n(self) -> int:
        return len(self.episodes)

    @property
    def closed(self) -> int:
        return sum(c.closed for c in self.episodes)

    @property
    def still_open(self) -> int:
        return sum(c.episode.outcome == OPEN for c in self.episodes)

    @property
    def recoupled(self) -> int:
        return sum(c.episode.outcome == RECOUPLED for c in self.episodes)

    @property
    def closed_by_asset(self) -> int:
        return sum(bool(c.episode.closed_by_asset) for c in self.episodes)

    @property
    def estimated(self) -> bool:
        return self.km is not None


def comparable(episodes: Sequence[Episode], level: float, paths_z: dict[tuple[str, pd.Timestamp], pd.Series]
               ) -> list[Comparable]:
    """The episodes whose |gap_z| reached `level`, timed from the first session it did."""
    found = []
    for episode in episodes:
        z = paths_z[(episode.pair, episode.anchor)].loc[episode.start:episode.end]
        position = ep.first_reach(z.to_numpy(float), level, 0, len(z) - 1)
        if position is not None:
            found.append(Comparable(episode, z.index[position], episode.duration - position))
    return found


def summarise(found: Sequence[Comparable], level: float) -> Summary:
    found = tuple(sorted(found, key=lambda c: (c.reached, c.episode.pair)))
    if len(found) < MIN_ESTIMATE:
        return Summary(level, found, None, (), None, None, None)
    km = ep.kaplan_meier(np.array([c.sessions for c in found]), np.array([c.closed for c in found]))
    horizons = []
    for sessions in HORIZONS:
        at = ep.survival_at(km, sessions)
        seen = sum(c.closed and c.sessions <= sessions for c in found)
        if at is None:
            horizons.append(Horizon(sessions, seen, None, BEYOND_FOLLOW_UP))
        elif at[0] == 0:
            horizons.append(Horizon(sessions, seen, None, NO_INTERVAL))
        else:  # P(closed within t) = 1 − S(t): its interval is the survival interval turned over
            horizons.append(Horizon(sessions, seen, Interval(1 - at[0], 1 - at[2], 1 - at[1])))
    closed = sum(c.closed for c in found)
    by_asset = sum(bool(c.episode.closed_by_asset) for c in found)
    asset_share = Interval(*ep.wilson(by_asset, closed)) if closed else None
    bench_share = Interval(*ep.wilson(closed - by_asset, closed)) if closed else None
    return Summary(level, found, km, tuple(horizons), ep.median_time(km), asset_share, bench_share)


@dataclass(frozen=True)
class TodayGap:
    """Today's gap as /gap measures it, with its gap_z and the episode it is in (if any)."""

    gap: GapResult
    gap_z: float
    episode: Episode | None  # the episode open today, if |gap_z| reached 1.5 since the anchor or the last close
    age: int | None  # sessions since today's episode first reached the comparable level


@dataclass(frozen=True)
class OddsResult:
    today: TodayGap
    pooled: bool  # every pair of the universe, not only this one
    pairs: tuple[str, ...]  # the pairs whose episodes were searched
    summary: Summary
    window: Window

    @property
    def level(self) -> float:
        return self.summary.level


def comparable_level(z0: float) -> float:
    return max(abs(z0), ep.EPISODE_Z) if math.isfinite(z0) else ep.EPISODE_Z


class OddsService:
    """Answers /odds and the gap alert's base rate from the analyzer's caches; keeps no state of its own."""

    def __init__(self, analyzer: PairAnalyzer):
        self.analyzer = analyzer
        self.gaps = GapService(analyzer)

    def episodes(self, pairs: Sequence[tuple[Asset, Asset]], window: Window, when: pd.Timestamp
                 ) -> tuple[list[Episode], dict[tuple[str, pd.Timestamp], pd.Series]]:
        """Every episode of `pairs` as known at `when`, and each path's gap_z by date (for the timing)."""
        found: list[Episode] = []
        z: dict[tuple[str, pd.Timestamp], pd.Series] = {}
        for asset, benchmark in pairs:
            found.extend(pair_episodes(self.analyzer, asset, benchmark, window, when))
            for path in default_anchor_paths(self.analyzer, asset, benchmark, window):
                z[(path.pair, path.anchor)] = pd.Series(path.gap_z, index=path.dates)
        return found, z

    def summary(self, pairs: Sequence[tuple[Asset, Asset]], window: Window, when: pd.Timestamp, z0: float,
                today_pair: str | None = None) -> Summary:
        """The comparable episodes of `pairs` known at `when` for a gap of gap_z z0 (the pair `today_pair`'s
        own episode open at `when` left out: it is the gap asked about)."""
        episodes, z = self.episodes(pairs, window, when)
        past = [e for e in episodes if not (e.pair == today_pair and e.outcome == OPEN and e.end == when)]
        level = comparable_level(z0)
        return summarise(comparable(past, level, z), level)

    def today(self, gap: GapResult) -> TodayGap:
        when = gap.pair.when
        data = self.analyzer.pair(gap.pair.asset, gap.pair.benchmark)
        first = gap.coupled_end.changed if gap.anchor_kind == END_OF_COUPLED and gap.coupled_end else gap.anchor
        path = gap_path(data, gap.anchor, gap.fit, first, None).until(when)
        z0 = gm.gap_z(gap.gap, gap.fit.resid_sd, gap.n_obs)
        episodes = path_episodes(path)
        current = episodes[-1] if episodes and episodes[-1].outcome == OPEN and episodes[-1].end == when else None
        age = None
        if current is not None:
            z = pd.Series(path.gap_z, index=path.dates).loc[current.start:when]
            reached = ep.first_reach(z.to_numpy(float), comparable_level(z0), 0, len(z) - 1)
            age = None if reached is None else len(z) - 1 - reached
        return TodayGap(gap, z0, current, age)

    def odds(self, asset: Asset, benchmark: Asset, window: Window, pairs: Sequence[tuple[Asset, Asset]],
             since: date | None = None, as_of: date | None = None, pooled: bool = False) -> OddsResult | CoupledNow:
        """`pairs`: the universe's pairs (searched when `pooled`); CoupledNow for a coupled pair without a date;
        AnalysisError as /gap raises it."""
        measured = self.gaps.gap(asset, benchmark, window, since, as_of)
        if isinstance(measured, CoupledNow):
            return measured
        today = self.today(measured)
        searched = list(pairs) if pooled else [(asset, benchmark)]
        summary = self.summary(searched, window, measured.pair.when, today.gap_z, measured.pair.asset.symbol + ":"
                               + measured.pair.benchmark.symbol)
        return OddsResult(today, pooled, tuple(f"{a.symbol}:{b.symbol}" for a, b in searched), summary, window)
