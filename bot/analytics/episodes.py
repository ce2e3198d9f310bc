"""Gap episodes and how they ended (docs/methods.md §10). Pure: arrays in, records and arrays out.

An episode is a stretch of one gap path (the gap g from one anchor, bot/analytics/gap.py) that starts on the
first session its |gap_z| reaches `EPISODE_Z` and ends on the first later session the asset move that closes
it, exp(−g) − 1, is within `CLOSED_MOVE` (the gap alert's closing rule, §8.6); one still open on the path's
last session is censored there. After a close the same path can start another episode.

Kaplan–Meier with Greenwood's variance and the log-log 95% interval (Kalbfleisch & Prentice), and Wilson's
interval for a share, are written out here: a few lines each, and the tests check them against an
independent computation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

EPISODE_Z = 1.5  # |gap_z| that starts an episode
CLOSED_MOVE = 0.05  # |asset move to close| at or under which a gap is closed (§8.6)
Z95 = 1.959963984540054  # the standard normal's 97.5% quantile


@dataclass(frozen=True)
class EpisodeSpan:
    """One episode of a gap path, as positions in the path's arrays."""

    start: int  # first session with |gap_z| >= EPISODE_Z
    peak: int  # the session of the largest |g| from start to end
    end: int  # the closing session, or the path's last (censored)
    closed: bool
    asset_leg: float  # the asset's log move from peak to end
    benchmark_leg: float  # −β · the benchmark's log move from peak to end: its part of the change in g

    @property
    def duration(self) -> int:
        """Sessions from start to end."""
        return self.end - self.start

    @property
    def asset_share(self) -> float | None:
        """The asset's share of the change in g from peak to end (None when g did not change)."""
        total = self.asset_leg + self.benchmark_leg
        return None if total == 0 else self.asset_leg / total


def find_episodes(gap: np.ndarray, gap_z: np.ndarray, log_a: np.ndarray, log_b: np.ndarray, beta: float,
                  z_start: float = EPISODE_Z, closed_move: float = CLOSED_MOVE) -> list[EpisodeSpan]:
    """The episodes of one gap path: `gap` (g), `gap_z`, and the two legs' log prices, session by session."""
    g = np.asarray(gap, float)
    z = np.abs(np.asarray(gap_z, float))
    move = np.abs(np.expm1(-g))
    spans: list[EpisodeSpan] = []
    i, last = 0, len(g) - 1
    while i <= last:
        if not z[i] >= z_start:  # NaN z (no return yet) starts nothing
            i += 1
            continue
        start = i
        later = np.flatnonzero(move[start + 1:] <= closed_move)
        closed = len(later) > 0
        end = start + 1 + int(later[0]) if closed else last
        peak = start + int(np.argmax(np.abs(g[start:end + 1])))
        asset_leg = float(log_a[end] - log_a[peak])
        benchmark_leg = float(-beta * (log_b[end] - log_b[peak]))
        spans.append(EpisodeSpan(start, peak, end, closed, asset_leg, benchmark_leg))
        i = end + 1
    return spans


def first_reach(gap_z: np.ndarray, level: float, start: int, end: int) -> int | None:
    """The first position in [start, end] whose |gap_z| is at least `level`."""
    inside = np.flatnonzero(np.abs(np.asarray(gap_z, float)[start:end + 1]) >= level)
    return start + int(inside[0]) if len(inside) else None


# ---- Kaplan–Meier ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KaplanMeier:
    """The open fraction S(t) = P(T > t) at each distinct closing time, with its 95% interval."""

    times: np.ndarray  # distinct durations at which at least one episode closed, ascending
    at_risk: np.ndarray  # episodes still open just before each time
    closed: np.ndarray  # episodes closing at each time
    survival: np.ndarray  # S right after each time
    lower: np.ndarray  # log-log 95% interval of S (Greenwood's variance)
    upper: np.ndarray
    n: int  # episodes
    longest: int  # the longest duration observed, closed or not: S is not known beyond it


def kaplan_meier(durations: np.ndarray, closed: np.ndarray, z: float = Z95) -> KaplanMeier:
    t = np.asarray(durations, int)
    event = np.asarray(closed, bool)
    times = np.unique(t[event])
    at_risk = np.array([int((t >= u).sum()) for u in times], int)
    deaths = np.array([int(((t == u) & event).sum()) for u in times], int)
    survival = np.cumprod(1.0 - deaths / at_risk) if len(times) else np.array([], float)
    with np.errstate(divide="ignore", invalid="ignore"):
        greenwood = np.cumsum(deaths / (at_risk * (at_risk - deaths)))
        log_s = np.log(survival)
        se = np.sqrt(greenwood) / np.abs(log_s)
        lower = survival ** np.exp(z * se)
        upper = survival ** np.exp(-z * se)
    # S = 0 (everyone closed) has no spread; S = 1 cannot occur after a closing
    lower = np.where(survival == 0, 0.0, lower)
    upper = np.where(survival == 0, 0.0, upper)
    return KaplanMeier(times, at_risk, deaths, survival, lower, upper, len(t), int(t.max()) if len(t) else 0)


def survival_at(km: KaplanMeier, t: int) -> tuple[float, float, float] | None:
    """(S, lower, upper) at duration t; None beyond the longest follow-up (unless S already reached 0)."""
    position = int(np.searchsorted(km.times, t, side="right")) - 1
    if t > km.longest and not (position >= 0 and km.survival[position] == 0):
        return None
    if position < 0:
        return 1.0, 1.0, 1.0
    return float(km.survival[position]), float(km.lower[position]), float(km.upper[position])


def median_time(km: KaplanMeier) -> tuple[int | None, int | None, int | None]:
    """The median time to close (first t with S(t) <= 0.5) and its 95% interval (the first t at which the
    interval's upper and lower bounds reach 0.5, Brookmeyer–Crowley style); None where not reached."""

    def first(values: np.ndarray) -> int | None:
        hits = np.flatnonzero(values <= 0.5)
        return int(km.times[hits[0]]) if len(hits) else None

    return first(km.survival), first(km.lower), first(km.upper)


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float, float]:
    """k of n as a share with Wilson's 95% interval."""
    if n <= 0:
        return math.nan, math.nan, math.nan
    p = k / n
    denominator = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return p, max(0.0, centre - half), min(1.0, centre + half)
