"""The regimes and the thresholds that define them (docs/methods.md §4): plain values, no pandas, so settings,
the store and the command layer can name them without loading the maths."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from enum import StrEnum


class Regime(StrEnum):
    COUPLED = "coupled"
    NEUTRAL = "neutral"
    DECOUPLED = "decoupled"
    INVERSE = "inverse"


@dataclass(frozen=True)
class Thresholds:
    coupled_enter: float = 0.50
    coupled_exit: float = 0.40
    decoupled_enter: float = 0.20
    decoupled_exit: float = 0.35
    inverse_enter: float = -0.30
    inverse_exit: float = -0.20
    dwell: int = 5
    z_enter: float = 2.5
    z_rearm: float = 1.0
    horizon: int = 20
    min_history_days: int = 730

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    def with_values(self, **values: float) -> Thresholds:
        return replace(self, **values)  # type: ignore[arg-type]  # names are checked by the caller (preferences)


DEFAULT_THRESHOLDS = Thresholds()
