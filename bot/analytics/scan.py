"""The decoupling score that ranks the universe scan (docs/methods.md §9.2). Pure: numbers in, numbers out.

The score is the fall in a pair's window correlation over the last `LOOKBACK` observations, in units of its
Fisher standard error:

    score = (atanh ρ_before − atanh ρ_now) / sqrt( 1/(n_now − 3) + 1/(n_before − 3) )

ρ_now is the window's correlation at as_of, ρ_before the same window's correlation `LOOKBACK` observations
earlier, n their returns. Positive: the correlation fell (the pair is decoupling); negative: it rose.

Why this and not the plain difference ρ_before − ρ_now: the sampling error of ρ shrinks near ±1, and Fisher's
z evens it out, so a change weighs the same wherever it happens (0.90 → 0.75 moves z by 0.50, more than
0.30 → 0.00 does, 0.31, although its plain difference is half as large); and dividing by the standard error
makes pairs with different numbers of returns comparable (a 90d crypto–equity window holds about 61 returns, a
young user-added asset's fewer, and a short window's wobbles count for less). It is the change test's
formula (§3.9), so the bot explains one statistic, not two.

It is a descriptive ranking score, not a test: the two windows overlap (a 90d window and the same window 20
sessions earlier share about two thirds of their returns), so the two estimates are correlated and the
formula's independence assumption does not hold; and the scan looks at every pair at once. Read it as "how
many standard errors the correlation moved", never as a p-value.

Ties (equal scores, or no score at all) are broken by the size of the divergence z (§3.7): over the same last
20 sessions it measures how far the asset strayed from what its beta implies, the other face of a decoupling.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from bot.analytics.correlation import MIN_OBS, fisher_change_z

LOOKBACK = 20  # observations between "before" and "now": the divergence z's horizon, about four weeks of sessions


def decoupling_score(rho_now: float, n_now: int, rho_before: float | None, n_before: int) -> float | None:
    """Fall of the correlation in Fisher standard errors; None when either window has no correlation."""
    if rho_before is None or math.isnan(rho_now) or math.isnan(rho_before):
        return None
    if n_now < MIN_OBS or n_before < MIN_OBS:
        return None
    return fisher_change_z((rho_before, n_before), (rho_now, n_now))


def rank_key(score: float | None, divergence_z: float | None, pair: str) -> tuple[bool, float, bool, float, str]:
    """Sort key: score descending (no score last), then |divergence z| descending (none last), then the pair."""
    return (
        score is None,
        -(score if score is not None else 0.0),
        divergence_z is None,
        -(abs(divergence_z) if divergence_z is not None else 0.0),
        pair,
    )


def ranking(scores: Sequence[float | None], divergence_z: Sequence[float | None], pairs: Sequence[str]) -> list[int]:
    """Positions of the rows in ranking order (see `rank_key`)."""
    return sorted(range(len(pairs)), key=lambda i: rank_key(scores[i], divergence_z[i], pairs[i]))
