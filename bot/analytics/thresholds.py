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


def classify(rho: float, adopted: Regime | None, th: Thresholds = DEFAULT_THRESHOLDS) -> Regime:
    """Candidate regime of one correlation value, judged against the adopted regime; first match wins."""
    if rho <= th.inverse_enter:
        return Regime.INVERSE
    if rho >= th.coupled_enter:
        return Regime.COUPLED
    if adopted is Regime.COUPLED and rho >= th.coupled_exit:
        return Regime.COUPLED
    if adopted is Regime.INVERSE and rho <= th.inverse_exit:
        return Regime.INVERSE
    if adopted is Regime.DECOUPLED and rho < th.decoupled_exit:
        return Regime.DECOUPLED
    if rho <= th.decoupled_enter:
        return Regime.DECOUPLED
    return Regime.NEUTRAL


# Regimes from the lowest correlation to the highest: a candidate below the adopted regime is a weakening.
REGIME_ORDER = (Regime.INVERSE, Regime.DECOUPLED, Regime.NEUTRAL, Regime.COUPLED)


@dataclass(frozen=True)
class Boundary:
    """The threshold a candidate regime's correlation has crossed, judged against the adopted regime."""

    relation: str  # "at or above" | "at or below" | "above" | "below" (as `classify` compares)
    level: float
    name: str  # "coupled entry", "coupled exit", …: the threshold's name in docs/methods.md §4.1


def change_boundary(adopted: Regime | None, candidate: Regime, th: Thresholds = DEFAULT_THRESHOLDS) -> Boundary | None:
    """Which line a value classified as `candidate` (against `adopted`) is beyond; None when the candidate is
    neutral and no regime is adopted yet (neutral is the space between the entries, not beyond a line)."""
    if candidate is Regime.INVERSE:
        return Boundary("at or below", th.inverse_enter, "inverse entry")
    if candidate is Regime.COUPLED:
        return Boundary("at or above", th.coupled_enter, "coupled entry")
    if adopted is Regime.INVERSE:  # decoupled or neutral after inverse: the value has risen above the exit
        return Boundary("above", th.inverse_exit, "inverse exit")
    if candidate is Regime.DECOUPLED:
        return Boundary("at or below", th.decoupled_enter, "decoupled entry")
    if adopted is Regime.COUPLED:
        return Boundary("below", th.coupled_exit, "coupled exit")
    if adopted is Regime.DECOUPLED:
        return Boundary("at or above", th.decoupled_exit, "decoupled exit")
    return None


def change_direction(adopted: Regime | None, candidate: Regime) -> str:
    """'weakening', 'strengthening', 'turning inverse' or 'easing' (an inverse link fading); '' without a
    regime adopted yet."""
    if adopted is None:
        return ""
    if adopted is Regime.INVERSE:
        return "easing"
    if candidate is Regime.INVERSE:
        return "turning inverse"
    return "weakening" if REGIME_ORDER.index(candidate) < REGIME_ORDER.index(adopted) else "strengthening"
