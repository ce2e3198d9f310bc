"""What the universe scan and the matrix answer with (docs/methods.md §9): plain result types, apart from the
scanner so rendering and the command layer can name them without loading the maths."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.analysis.results import AsOf, CorrResult
from bot.assets import Asset, all_assets
from bot.windows import Window

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

SCAN_TOP = 10  # rows a chat sees by default; --json lists them all
MATRIX_MAX_ASSETS = 16  # more cells than this would not be readable in a chat photo
SNAPSHOT_LEFT_OUT = "no bundled history: live data only"


@dataclass(frozen=True)
class LeftOut:
    """A registered ticker that is not in the universe, and why."""

    symbol: str
    reason: str


@dataclass(frozen=True)
class Universe:
    crypto: tuple[Asset, ...]  # crypto assets with data, in registry order
    benchmarks: tuple[Asset, ...]  # equities and indices with data, in registry order
    left_out: tuple[LeftOut, ...]  # registered tickers without data
    version: tuple[tuple[str, str, int], ...]  # (symbol, source, version) of each leg with data: in cache keys

    @property
    def pairs(self) -> list[tuple[Asset, Asset]]:
        return [(a, b) for a in self.crypto for b in self.benchmarks]

    @property
    def assets(self) -> tuple[Asset, ...]:
        """Crypto first, then equities and indices (the matrix's order, docs/methods.md §9.4)."""
        return self.crypto + self.benchmarks


@dataclass(frozen=True)
class ScanRow:
    result: CorrResult  # the pair's /corr answer at as_of
    score: float | None  # decoupling score (bot/analytics/scan.py); None without a correlation before
    correlation_before: float | None  # the same window's correlation LOOKBACK observations earlier
    n_obs_before: int
    before: pd.Timestamp | None  # that earlier observation's date
    shared: int = 0  # returns the two windows have in common (the score's overlap term)

    @property
    def pair(self) -> str:
        return f"{self.result.asset.symbol}:{self.result.benchmark.symbol}"

    @property
    def correlation(self) -> float:
        return self.result.correlation

    @property
    def n_obs(self) -> int:
        return self.result.n_obs

    @property
    def as_of(self) -> pd.Timestamp:
        return self.result.as_of

    @property
    def divergence_z(self) -> float | None:
        return self.result.divergence_z


@dataclass(frozen=True)
class SkippedPair:
    """A pair of the universe that has data but no answer at the date asked (e.g. too few observations)."""

    pair: str
    reason: str


@dataclass(frozen=True)
class ScanResult:
    window: Window
    requested: pd.Timestamp | None  # the date asked (--as-of), if any
    rows: tuple[ScanRow, ...]  # every pair with an answer, in ranking order
    left_out: tuple[LeftOut, ...]
    skipped: tuple[SkippedPair, ...]
    lookback: int  # for this window (`lookback_for`: 20 up to a year, 20 per year beyond)

    @property
    def truncated(self) -> tuple[ScanRow, ...]:
        """Rows whose window reaches back before the pair's first observation (§3.10: less data than its name)."""
        return tuple(row for row in self.rows if row.result.window_truncated)

    @property
    def as_of(self) -> pd.Timestamp | None:
        """The newest as_of of the rows (each row is as of its pair's last observation on or before the date
        asked; with the bundled data all crypto–equity pairs share it)."""
        return max((row.as_of for row in self.rows), default=None)

    @property
    def universe_size(self) -> int:
        return len(self.rows) + len(self.skipped)


@dataclass(frozen=True)
class MatrixData:
    """Pairwise window correlations of a set of tickers at one date, as /corr gives each pair."""

    window: Window
    as_of: AsOf  # the date of every cell (and whether it is not the date asked)
    assets: tuple[Asset, ...]  # crypto first, then equities and indices
    correlation: np.ndarray  # k × k, symmetric, 1 on the diagonal, NaN where a pair has no answer
    n_obs: np.ndarray  # k × k returns per cell (0 on the diagonal and where there is no answer)
    alignment: dict[str, str]  # "A:B" -> the pair's alignment label (§1.4)
    sources: dict[str, str]  # symbol -> source of its prices
    left_out: tuple[LeftOut, ...]  # tickers asked for (or registered) without data
    missing: tuple[SkippedPair, ...]  # pairs without an answer at the matrix's date

    @property
    def symbols(self) -> list[str]:
        return [a.symbol for a in self.assets]

    def value(self, a: str, b: str) -> float:
        symbols = self.symbols
        return float(self.correlation[symbols.index(a.upper()), symbols.index(b.upper())])


def matrix_order(assets: Sequence[Asset]) -> tuple[Asset, ...]:
    """Crypto first, then equities and indices, each in registry order; duplicates dropped."""
    registry = {a.symbol: i for i, a in enumerate(all_assets())}
    unique = list({a.symbol: a for a in assets}.values())
    return tuple(sorted(unique, key=lambda a: (not a.is_crypto, registry.get(a.symbol, len(registry)), a.symbol)))
