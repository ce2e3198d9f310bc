"""Window grammar: `Nd`, `Nw`, `Nm`, `Ny` as calendar spans (docs/methods.md §2)."""

from __future__ import annotations

import re
from dataclasses import dataclass

MIN_DAYS = 30
MAX_DAYS = 3650
UNIT_DAYS = {"d": 1, "w": 7, "m": 30, "y": 365}
_WINDOW = re.compile(r"^(\d{1,6})([dwmy])$", re.IGNORECASE)
WINDOW_USAGE = "a window is a number and a unit: 30d, 12w, 6m, 1y (from 30 days to 10 years)"


class WindowError(ValueError):
    pass


@dataclass(frozen=True, order=True)
class Window:
    days: int

    @property
    def label(self) -> str:
        """Normalised form: whole years as `Ny`, everything else in days."""
        if self.days % 365 == 0:
            return f"{self.days // 365}y"
        return f"{self.days}d"

    @property
    def long_label(self) -> str:
        if self.days % 365 == 0:
            years = self.days // 365
            return "1-year" if years == 1 else f"{years}-year"
        return f"{self.days}-day"

    def __str__(self) -> str:
        return self.label


def looks_like_window(text: str) -> bool:
    """True for anything that starts like a window (a digit or a sign and a digit)."""
    return bool(re.match(r"^[+-]?\d", text.strip()))


def parse_window(text: str) -> Window:
    raw = text.strip()
    match = _WINDOW.match(raw)
    if not match:
        if raw.startswith("-"):
            raise WindowError(f"'{_short(raw)}' is negative: {WINDOW_USAGE}")
        raise WindowError(f"'{_short(raw)}' is not a window: {WINDOW_USAGE}")
    days = int(match.group(1)) * UNIT_DAYS[match.group(2).lower()]
    if days < MIN_DAYS:
        raise WindowError(f"'{_short(raw)}' is too short: at least 30 days, so the correlation means something")
    if days > MAX_DAYS:
        raise WindowError(f"'{_short(raw)}' is too long: at most 10 years (3650d)")
    return Window(days)


def _short(text: str, limit: int = 20) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
